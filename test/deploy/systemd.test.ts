/*
 * The shipped systemd unit (deploy/systemd/): systemd-analyze verify accepts
 * it; its settings keep the contract of docs/OPERATIONS.md "Running under
 * systemd" (the node survives wemixvisor's death and is adopted, `systemctl
 * stop` stops the node gracefully, `systemctl reload` is SIGHUP); and the
 * commands it runs work, with the env file's values, as systemd would run
 * them: ExecStart, ExecReload, a crash and Restart=always, then KillSignal.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { NETWORKS } from "../../src/config/Networks.js"
import { cleanup, cliBin, freePort, isAlive, repoRoot, tempDir, waitFor, writeScript } from "../support/fixtures.js"
import { attachOutput } from "../support/output.js"
import { haveTools } from "../support/tools.js"

const unitFile = path.join(repoRoot, "deploy/systemd/wemixvisor.service")
const envFile = path.join(repoRoot, "deploy/systemd/wemixvisor.env.example")
const unitText = fs.readFileSync(unitFile, "utf8")
const envText = fs.readFileSync(envFile, "utf8")

// Outside CI a missing systemd-analyze skips the verify with a reason; under CI (.ci/run installs it) it fails.
const analyze = haveTools(["systemd-analyze"], "systemd")

/** The unit's sections: each key's values in order (a key may repeat). */
const parseUnit = (text: string): Record<string, Record<string, Array<string>>> => {
  const sections: Record<string, Record<string, Array<string>>> = {}
  let current: Record<string, Array<string>> | undefined
  for (const raw of text.split("\n")) {
    const line = raw.trim()
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue
    const section = /^\[(.+)\]$/.exec(line)
    if (section) {
      current = sections[section[1]!] ??= {}
      continue
    }
    const eq = line.indexOf("=")
    if (current === undefined || eq < 0) throw new Error(`unit line outside a section or without '=': ${line}`)
    ;(current[line.slice(0, eq).trim()] ??= []).push(line.slice(eq + 1).trim())
  }
  return sections
}

/** The one value of a [Service] key (the last one wins, as in systemd). */
const service = (key: string): string | undefined => parseUnit(unitText).Service?.[key]?.at(-1)

/** The env file's assignments, as systemd reads an EnvironmentFile (quotes removed); `commented` reads the `#VAR=value` examples. */
const parseEnv = (text: string, commented = false): Record<string, string> => {
  const env: Record<string, string> = {}
  const assignment = commented ? /^#([A-Z][A-Z0-9_]*)=(.*)$/ : /^([A-Z][A-Z0-9_]*)=(.*)$/
  for (const raw of text.split("\n")) {
    const m = assignment.exec(raw.trim())
    if (!m) continue
    const value = m[2]!.trim()
    env[m[1]!] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value
  }
  return env
}

/** Seconds of a systemd time span ("120", "90s", "2min", "1min 30s"). */
const systemdSeconds = (span: string): number => {
  const units: Record<string, number> = { "": 1, ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600, hr: 3600 }
  let total = 0
  for (const part of span.trim().split(/\s+/)) {
    const m = /^(\d+(?:\.\d+)?)([a-z]*)$/.exec(part)
    if (!m || units[m[2]!] === undefined) throw new Error(`not a systemd time span: ${span}`)
    total += Number(m[1]) * units[m[2]!]!
  }
  return total
}

/** Seconds of a wemixvisor duration ("30s", "1m30s", "500ms"). */
const wemixvisorSeconds = (d: string): number => {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 }
  const parts = [...d.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== d) throw new Error(`not a duration: ${d}`)
  return parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]!]!, 0)
}

/**
 * ExecStart as systemd expands it: `$VAR` is split at whitespace into words
 * (none when empty), `${VAR}` is one word. The program, wemixvisor on PATH,
 * becomes the built CLI under this Node.
 */
const execStart = (env: Record<string, string>): Array<string> => {
  const words = service("ExecStart")!.split(/\s+/).flatMap((w) => {
    const split = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(w)
    if (split) return (env[split[1]!] ?? "").split(/\s+/).filter((s) => s !== "")
    return [w.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? "")]
  })
  expect(path.basename(words[0]!)).toBe("wemixvisor")
  return [process.execPath, cliBin, ...words.slice(1)]
}

const dirs: Array<string> = []
const procs: Array<ChildProcess> = []
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL")
  for (const d of dirs.splice(0)) {
    try {
      const { pgid } = JSON.parse(fs.readFileSync(path.join(d, "home", "wemixvisor", "node.pid"), "utf8"))
      process.kill(-pgid, "SIGKILL")
    } catch {
      // no node left
    }
    cleanup(d)
  }
})

describe("deploy/systemd/wemixvisor.service", () => {
  it.skipIf(!analyze)("passes systemd-analyze verify without a warning about the unit", () => {
    const dir = tempDir("wemixvisor-unit-")
    dirs.push(dir)
    // verify checks that the programs exist: the unit as installed, with its paths made to exist here.
    const program = writeScript(path.join(dir, "wemixvisor"), "exit 0\n")
    fs.copyFileSync(envFile, path.join(dir, "wemixvisor.env"))
    const rewrite = (text: string) =>
      text
        .replace(/^ExecStart=\S+/m, `ExecStart=${program}`)
        .replace(/^EnvironmentFile=.*$/m, `EnvironmentFile=${path.join(dir, "wemixvisor.env")}`)
    const verify = (text: string) => {
      const file = path.join(dir, "wemixvisor.service")
      fs.writeFileSync(file, text)
      const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8", timeout: 60_000 })
      const aboutUnit = r.stderr.split("\n").filter((l) => l.includes("wemixvisor.service") || l.includes(dir))
      return { code: r.status, aboutUnit, stderr: r.stderr }
    }

    expect(rewrite(unitText)).toContain(`ExecStart=${program} run -- $GWEMIX_ARGS`)
    const good = verify(rewrite(unitText))
    expect(good.aboutUnit, good.stderr).toEqual([])
    expect(good.code, good.stderr).toBe(0)
    // The check can fail: a misspelt value is a warning about the unit, which this test would see.
    const bad = verify(rewrite(unitText).replace(/^KillMode=process$/m, "KillMode=proces"))
    expect(bad.aboutUnit.join("\n")).toMatch(/kill mode/i)
  })

  it("keeps the node-survives contract: KillMode=process, Restart=always, reload is SIGHUP, stop outlasts the grace", () => {
    const unit = parseUnit(unitText)
    expect(Object.keys(unit)).toEqual(["Unit", "Service", "Install"])
    // systemd signals wemixvisor alone; wemixvisor stops the node. control-group or mixed would kill the node with a crashed wemixvisor.
    expect(service("KillMode")).toBe("process")
    expect(service("KillSignal") ?? "SIGTERM").toBe("SIGTERM")
    expect(service("Restart")).toBe("always")
    expect(systemdSeconds(service("RestartSec")!)).toBeGreaterThan(0)
    // A restart cannot fix a bad configuration (exit 2), and must follow anything else, a crash above all.
    expect(service("RestartPreventExitStatus") ?? "2").toBe("2")
    // The OOM killer taking the node (restarted by wemixvisor) or wemixvisor (by Restart=) must not stop the unit.
    expect(service("OOMPolicy")).toBe("continue")
    expect(service("ExecReload")).toMatch(/^\/(usr\/)?bin\/kill (-HUP|-s HUP|-SIGHUP|--signal HUP) \$MAINPID$/)
    // No readiness protocol: wemixvisor does not speak sd_notify.
    expect(["exec", "simple"]).toContain(service("Type"))
    expect(service("NotifyAccess")).toBeUndefined()

    // TimeoutStopSec outlasts every grace wemixvisor may be given: the default, the networks' config files, the env file's example.
    const graces = [
      30,
      ...Object.values(NETWORKS).map((n) => wemixvisorSeconds(String(n.keys.daemon_shutdown_grace!.value))),
      ...[parseEnv(envText), parseEnv(envText, true)].flatMap((e) =>
        e.DAEMON_SHUTDOWN_GRACE === undefined ? [] : [wemixvisorSeconds(e.DAEMON_SHUTDOWN_GRACE)]
      )
    ]
    expect(systemdSeconds(service("TimeoutStopSec")!)).toBeGreaterThanOrEqual(Math.max(...graces) + 30)

    expect(service("EnvironmentFile")).toBe("/etc/wemixvisor/wemixvisor.env")
    expect(service("ExecStart")).toMatch(/^\/\S+\/wemixvisor run -- \$GWEMIX_ARGS$/)
    expect(Number(service("LimitNOFILE"))).toBeGreaterThanOrEqual(65536)
    expect(service("User")).toBeDefined()
    expect(service("User")).not.toBe("root")
    expect(service("NoNewPrivileges")).toBe("true")
    expect(service("PrivateTmp")).toBe("true")
    expect(unit.Install?.WantedBy).toEqual(["multi-user.target"])
  })

  it("lets the node write where the env file says it writes (ProtectSystem=strict, ReadWritePaths)", () => {
    const env = parseEnv(envText)
    const writable = (service("ReadWritePaths") ?? "").split(/\s+/).filter((p) => p !== "")
    const under = (p: string) => writable.some((w) => p === w || p.startsWith(`${w}/`))
    expect(service("ProtectSystem")).toBe("strict")
    expect(env.DAEMON_HOME).toBeDefined()
    expect(under(env.DAEMON_HOME!)).toBe(true)
    const datadir = /--datadir\s+(\S+)/.exec(env.GWEMIX_ARGS ?? "")?.[1]
    expect(datadir).toBeDefined()
    expect(under(datadir!)).toBe(true)
    const backups = parseEnv(envText, true).DAEMON_DATA_DIR
    if (backups !== undefined) expect(under(backups)).toBe(true)
  })
})

describe("deploy/systemd/wemixvisor.env.example", () => {
  /** The env file's values on a temp home: its DAEMON_HOME (/srv/wemix) replaced everywhere, nothing of this process's env but PATH. */
  const onTempHome = (dir: string, values: Record<string, string>): Record<string, string> => {
    const home = path.join(dir, "home")
    const env: Record<string, string> = { PATH: process.env.PATH ?? "" }
    const from = parseEnv(envText).DAEMON_HOME!
    for (const [k, v] of Object.entries(values)) env[k] = v.split(from).join(home)
    return env
  }
  const cli = (args: ReadonlyArray<string>, env: Record<string, string>) =>
    spawnSync(process.execPath, [cliBin, ...args], { env, encoding: "utf8", timeout: 30_000 })

  it("sets the required variables and reads as wemixvisor's: no unknown variable, no invalid value, commented examples included", async () => {
    const dir = tempDir("wemixvisor-env-")
    dirs.push(dir)
    const active = parseEnv(envText)
    expect(Object.keys(active)).toEqual(expect.arrayContaining(["DAEMON_HOME", "DAEMON_NAME", "GWEMIX_ARGS"]))
    const env = {
      ...onTempHome(dir, active),
      DAEMON_RPC_URL: `http://127.0.0.1:${await freePort()}`,
      DAEMON_WS_URL: `ws://127.0.0.1:${await freePort()}`
    }
    expect(cli(["version"], env).stdout).toMatch(/^wemixvisor \d+\.\d+\.\d+/)
    expect(cli(["run", "--help"], env).status).toBe(0)
    const node = writeScript(
      path.join(dir, "gwemix"),
      "case \"$1\" in version) echo v1; exit 0;; esac\nexec sleep 1000\n"
    )
    const init = cli(["init", node], env)
    expect(init.status, init.stderr).toBe(0)

    const check = cli(["config", "check", "--json"], env)
    expect(check.status, check.stderr).toBe(0)
    const findings = JSON.parse(check.stdout) as Array<{ level: string; check: string; message: string }>
    expect(findings.filter((f) => f.level === "error")).toEqual([])
    // Every DAEMON_/WEMIXVISOR_ variable it sets is one wemixvisor reads (a typo would read as the default).
    expect(findings.filter((f) => /is not a wemixvisor variable/.test(f.message))).toEqual([])

    // The commented examples, all uncommented, are valid values too.
    const all = { ...onTempHome(dir, { ...active, ...parseEnv(envText, true) }), DAEMON_RPC_URL: env.DAEMON_RPC_URL }
    const config = cli(["config", "--json"], all)
    expect(config.status, config.stderr).toBe(0)
    expect(JSON.parse(config.stdout)).toMatchObject({ daemon_home: path.join(dir, "home"), daemon_name: "gwemix" })
    const unknown = cli(["config", "check", "--json"], all)
    expect(
      (JSON.parse(unknown.stdout) as Array<{ message: string }>).filter((f) =>
        /is not a wemixvisor variable/.test(f.message)
      )
    ).toEqual([])
  })
})

describe("the unit's commands, run as systemd runs them", () => {
  it(
    "ExecStart supervises the node with GWEMIX_ARGS; ExecReload reloads; a SIGKILLed wemixvisor is restarted and adopts the node; KillSignal stops it, exit 0",
    async () => {
      const dir = tempDir("wemixvisor-unit-run-")
      dirs.push(dir)
      const home = path.join(dir, "home")
      const root = path.join(home, "wemixvisor")
      const values = parseEnv(envText)
      const env: Record<string, string> = { PATH: process.env.PATH ?? "" }
      for (const [k, v] of Object.entries(values)) env[k] = v.split(values.DAEMON_HOME!).join(home)
      Object.assign(env, {
        DAEMON_RPC_URL: `http://127.0.0.1:${await freePort()}`,
        DAEMON_WS_URL: `ws://127.0.0.1:${await freePort()}`,
        WEMIXVISOR_API_ADDR: `127.0.0.1:${await freePort()}`
      })
      // The node records its pid and arguments, then waits for a signal.
      const node = writeScript(
        path.join(dir, "gwemix"),
        `case "$1" in version) echo v1; exit 0;; esac\necho "$$ $*" > "${dir}/node.args"\nexec sleep 1000\n`
      )
      expect(spawnSync(process.execPath, [cliBin, "init", node], { env, encoding: "utf8" }).status).toBe(0)
      const nodePid = (): { pid: number; pgid: number } | undefined => {
        try {
          return JSON.parse(fs.readFileSync(path.join(root, "node.pid"), "utf8"))
        } catch {
          return undefined
        }
      }

      const start = () => {
        const [program, ...args] = execStart(env)
        const proc = spawn(program!, args, { env, stdio: ["ignore", "ignore", "pipe"] })
        procs.push(proc)
        let logs = ""
        proc.stderr!.on("data", (c) => (logs += String(c)))
        attachOutput(`ExecStart (pid ${proc.pid}), stderr`, () => logs)
        const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)))
        const waitLog = (needle: string) =>
          waitFor(`log line containing ${needle}`, () => logs.includes(needle), 20_000)
        return { proc, exited, waitLog }
      }

      const first = start()
      const node1 = await waitFor("the node to start", () => fs.existsSync(path.join(dir, "node.args")) && nodePid())
      const gwemixArgs = values.GWEMIX_ARGS!.split(values.DAEMON_HOME!).join(home).split(/\s+/)
      expect(fs.readFileSync(path.join(dir, "node.args"), "utf8")).toBe(`${node1.pid} ${gwemixArgs.join(" ")}\n`)
      await waitFor(
        "the API",
        () => fetch(`http://${env.WEMIXVISOR_API_ADDR}/health`).then(() => true, () => false),
        15_000
      )

      // ExecReload, with $MAINPID: the config is read again; wemixvisor and the node keep running.
      const [kill, ...killArgs] = service("ExecReload")!.replace("$MAINPID", String(first.proc.pid)).split(/\s+/)
      expect(spawnSync(kill!, killArgs).status).toBe(0)
      await first.waitLog("config-reloaded")
      expect(first.proc.exitCode).toBeNull()
      expect(nodePid()?.pid).toBe(node1.pid)

      // A crash: systemd (KillMode=process) leaves the node alone, and Restart=always starts ExecStart again.
      first.proc.kill("SIGKILL")
      await first.exited
      expect(isAlive(node1.pid)).toBe(true)
      const second = start()
      await second.waitLog("node-adopted")
      expect(nodePid()?.pid).toBe(node1.pid)
      expect(isAlive(node1.pid)).toBe(true)

      // systemctl stop: KillSignal to wemixvisor alone; it stops the node and exits 0 well within TimeoutStopSec.
      const stopped = Date.now()
      second.proc.kill((service("KillSignal") ?? "SIGTERM") as NodeJS.Signals)
      expect(await second.exited).toBe(0)
      expect(Date.now() - stopped).toBeLessThan(systemdSeconds(service("TimeoutStopSec")!) * 1000)
      await waitFor("the node to be gone", () => !isAlive(node1.pid), 5000)
      expect(fs.existsSync(path.join(root, "node.pid"))).toBe(false)
    },
    60_000
  )
})
