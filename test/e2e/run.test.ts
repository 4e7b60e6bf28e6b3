import { afterEach, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  anvilWrapper,
  blockNumber,
  cleanup,
  freePort,
  isAlive,
  sleep,
  tempDir,
  waitFor,
  writeScript
} from "../support/fixtures.js"
import { cli, killAll, startRun, type Supervisor } from "./support.js"

const homes: Array<string> = []
const sups: Array<Supervisor> = []
afterEach(() => {
  for (const h of homes) {
    for (const s of sups) killAll(s, h)
    cleanup(h)
  }
  homes.length = 0
  sups.length = 0
})

const newHome = () => {
  const home = tempDir()
  homes.push(home)
  return { home, env: { DAEMON_HOME: home, DAEMON_NAME: "gwemix" } }
}

const run = (env: Record<string, string>, args: ReadonlyArray<string> = []) => {
  const s = startRun(env, args)
  sups.push(s)
  return s
}

const nodePid = (home: string): { pid: number; pgid: number; start_time: string } =>
  JSON.parse(fs.readFileSync(path.join(home, "wemixvisor", "node.pid"), "utf8"))

describe("CLI basics", () => {
  it("--help and version exit 0 and print on stdout", () => {
    const help = cli(["--help"], {})
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("init")
    expect(help.stdout).toContain("run")
    const v = cli(["version"], {})
    expect(v.code).toBe(0)
    expect(v.stdout.trim()).toMatch(/^wemixvisor \d+\.\d+\.\d+$/)
  })

  it("bad usage exits 2", () => {
    expect(cli(["no-such-command"], {}).code).toBe(2)
    expect(cli(["init", "--bogus"], {}).code).toBe(2)
  })

  it("a missing or invalid config value exits 2 naming the variable and the value", () => {
    const { env } = newHome()
    const noHome = cli(["config"], { DAEMON_NAME: "gwemix" })
    expect(noHome.code).toBe(2)
    expect(noHome.stderr).toContain("DAEMON_HOME")
    const bad = cli(["config"], { ...env, DAEMON_SHUTDOWN_GRACE: "soonish" })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("DAEMON_SHUTDOWN_GRACE")
    expect(bad.stderr).toContain("soonish")
    const badRun = cli(["run"], { ...env, DAEMON_MAX_RESTARTS: "many" })
    expect(badRun.code).toBe(2)
    expect(badRun.stderr).toContain("DAEMON_MAX_RESTARTS")
  })

  it("config prints the effective configuration, flags over env", () => {
    const { home, env } = newHome()
    const c = cli(["--name", "fromflag", "config", "--json"], { ...env, DAEMON_POLL_INTERVAL: "1s" })
    expect(c.code).toBe(0)
    const json = JSON.parse(c.stdout)
    expect(json.daemon_home).toBe(home)
    expect(json.daemon_name).toBe("fromflag")
    expect(json.daemon_poll_interval).toBe("1s")
  })

  it("init creates the layout; refuses a missing binary and an existing home (exit 2)", () => {
    const { home, env } = newHome()
    const missing = cli(["init", path.join(home, "nope")], env)
    expect(missing.code).toBe(2)
    expect(fs.existsSync(path.join(home, "wemixvisor"))).toBe(false)
    const bin = writeScript(path.join(home, "node-v1"), "exec sleep 1000\n")
    const ok = cli(["init", bin], env)
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain("current -> genesis")
    expect(fs.readlinkSync(path.join(home, "wemixvisor", "current"))).toBe("genesis")
    const again = cli(["init", bin], env)
    expect(again.code).toBe(2)
    expect(again.stderr).toContain("--force")
    expect(cli(["init", bin, "--force"], env).code).toBe(0)
  })

  it("run on a home without init exits 2 and says to run init", () => {
    const { env } = newHome()
    const r = cli(["run"], env)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("init")
  })
})

describe("run supervises a node", () => {
  it("passes node args through, stops on SIGTERM with exit 0 and leaves no process", async () => {
    const { home, env } = newHome()
    const out = path.join(home, "args.txt")
    const bin = writeScript(
      path.join(home, "node-v1"),
      // The version probe (DAEMON_VERSION_ARGS) runs this binary too: only the node writes its args.
      `[ "$1" = version ] && exit 0\necho "$@" > "${out}"\nsleep 1000 & sleep 1000\n`
    )
    expect(cli(["init", bin], env).code).toBe(0)
    const sup = run(env, ["--datadir", "/x y", "--syncmode=full"])
    await waitFor("the node to start", () => fs.existsSync(out) && fs.readFileSync(out, "utf8").length > 0)
    expect(fs.readFileSync(out, "utf8").trim()).toBe("--datadir /x y --syncmode=full")
    await waitFor("node.pid", () => fs.existsSync(path.join(home, "wemixvisor", "node.pid")))
    const { pgid } = nodePid(home)
    sup.proc.kill("SIGTERM")
    expect(await sup.exited).toBe(0)
    await waitFor("the node group to be gone", () => {
      try {
        process.kill(-pgid, 0)
        return false
      } catch {
        return true
      }
    }, 5000)
    expect(fs.existsSync(path.join(home, "wemixvisor", "run.lock"))).toBe(false)
  })

  it("refuses a second run on the same home with exit 2 naming the holder's pid", async () => {
    const { home, env } = newHome()
    const bin = writeScript(path.join(home, "node-v1"), "exec sleep 1000\n")
    expect(cli(["init", bin], env).code).toBe(0)
    const sup = run(env)
    await waitFor("node.pid", () => fs.existsSync(path.join(home, "wemixvisor", "node.pid")))
    const second = cli(["run"], env)
    expect(second.code).toBe(2)
    expect(second.stderr).toContain(`pid ${sup.proc.pid}`)
    sup.proc.kill("SIGTERM")
    expect(await sup.exited).toBe(0)
  })

  it("a crash loop ends in the error state while wemixvisor stays up", async () => {
    const { home, env } = newHome()
    const bin = writeScript(path.join(home, "node-v1"), "exit 3\n")
    expect(cli(["init", bin], env).code).toBe(0)
    const sup = run({
      ...env,
      DAEMON_RESTART_DELAY: "20ms",
      DAEMON_RESTART_MAX_DELAY: "40ms",
      DAEMON_MAX_RESTARTS: "3"
    })
    await sup.waitLog("node-error")
    await sleep(300)
    expect(sup.proc.exitCode).toBeNull()
    sup.proc.kill("SIGTERM")
    expect(await sup.exited).toBe(0)
  })
})

describe("run with a real node (anvil)", () => {
  it("keeps it alive across kill -9, the chain continues; SIGTERM frees the port", async () => {
    const { home, env } = newHome()
    const port = await freePort()
    const data = path.join(home, "data")
    fs.mkdirSync(data)
    const bin = anvilWrapper({ file: path.join(home, "gwemix-v1"), version: "v1", port, dataDir: data })
    expect(cli(["init", bin], env).code).toBe(0)
    const sup = run({ ...env, DAEMON_RPC_URL: `http://127.0.0.1:${port}`, DAEMON_RESTART_DELAY: "200ms" })
    await waitFor("the chain to reach height 8", async () => ((await blockNumber(port)) ?? 0) >= 8)
    await sleep(1200) // anvil persists state every second
    const before = (await blockNumber(port))!
    const { pid } = nodePid(home)
    process.kill(pid, "SIGKILL")
    await waitFor("a new node process", () => {
      try {
        return nodePid(home).pid !== pid
      } catch {
        return false
      }
    })
    const after = await waitFor("the RPC to answer again", () => blockNumber(port))
    // anvil may lose up to its one-second state interval (5 blocks at 0.2 s), never the whole chain
    expect(after).toBeGreaterThanOrEqual(before - 6)
    expect(after).toBeGreaterThan(0)
    expect(fs.readFileSync(path.join(data, "versions.log"), "utf8").trim().split("\n")).toHaveLength(2)
    const restarted = nodePid(home).pid
    sup.proc.kill("SIGTERM")
    expect(await sup.exited).toBe(0)
    expect(await blockNumber(port)).toBeUndefined()
    expect(isAlive(restarted)).toBe(false)
  })

  it("a node left running by a SIGKILLed wemixvisor is found by pid and start time and adopted: no restart", async () => {
    const { home, env } = newHome()
    const port = await freePort()
    const data = path.join(home, "data")
    fs.mkdirSync(data)
    const bin = anvilWrapper({ file: path.join(home, "gwemix-v1"), version: "v1", port, dataDir: data })
    expect(cli(["init", bin], env).code).toBe(0)
    const runEnv = { ...env, DAEMON_RPC_URL: `http://127.0.0.1:${port}` }
    const first = run(runEnv)
    await waitFor("the RPC", () => blockNumber(port))
    // anvil can answer before wemixvisor has written node.pid for it: what adoption reads is the file.
    await waitFor("node.pid", () => fs.existsSync(path.join(home, "wemixvisor", "node.pid")))
    const orphan = nodePid(home)
    first.proc.kill("SIGKILL")
    await first.exited
    const before = (await blockNumber(port))!
    const second = run(runEnv)
    await second.waitLog("node-adopted")
    // The same node, never stopped: node.pid unchanged, the wrapper started once, the chain went on.
    expect(nodePid(home)).toEqual(orphan)
    expect(isAlive(orphan.pid)).toBe(true)
    expect(second.logs()).not.toContain("\"node-started\"")
    await waitFor(
      "the chain to go on under the adopted node",
      async () => ((await blockNumber(port)) ?? 0) > before + 2
    )
    expect(fs.readFileSync(path.join(data, "versions.log"), "utf8").trim().split("\n")).toHaveLength(1)
    expect(second.proc.exitCode).toBeNull()
    second.proc.kill("SIGTERM")
    expect(await second.exited).toBe(0)
    expect(await blockNumber(port)).toBeUndefined()
    expect(isAlive(orphan.pid)).toBe(false)
  })
})
