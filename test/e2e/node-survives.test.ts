/*
 * Issue #12 items 1–3 with the built CLI and real processes: nothing that
 * happens to wemixvisor costs the node (ARCHITECTURE §7 "The node never dies
 * because wemixvisor did", "Signals"), and `run` refuses a home where no
 * node can run.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { cleanup, freePort, isAlive, tempDir, waitFor, writeScript } from "../support/fixtures.js"
import { cli, killAll, startRun, type Supervisor } from "./support.js"

const homes: Array<string> = []
const sups: Array<Supervisor> = []
afterEach(() => {
  for (const h of homes) {
    for (const s of sups) killAll(s, h)
    for (const pid of leftovers(h)) process.kill(pid, "SIGKILL")
    cleanup(h)
  }
  homes.length = 0
  sups.length = 0
})

/** The pids of every process the fake node recorded (leaders and their `sleep &`) that are still alive. */
const leftovers = (home: string): Array<number> => {
  const file = path.join(home, "pids.log")
  if (!fs.existsSync(file)) return []
  return fs.readFileSync(file, "utf8").split(/\s+/).filter((p) => p !== "").map(Number).filter(isAlive)
}

const newHome = async () => {
  const home = tempDir()
  homes.push(home)
  const env = { DAEMON_HOME: home, DAEMON_NAME: "gwemix", WEMIXVISOR_API_ADDR: `127.0.0.1:${await freePort()}` }
  return { home, root: path.join(home, "wemixvisor"), env }
}

const run = (env: Record<string, string>) => {
  const s = startRun(env)
  sups.push(s)
  return s
}

/**
 * A node that logs continuously on stdout (20 lines every 10 ms) and leaves
 * a `sleep` grandchild in its group; each start appends "<pid> <sleep pid>"
 * to pids.log (not a `version` probe). A Node process dies of EPIPE on a broken stdout, as a Go node
 * dies of SIGPIPE.
 */
const loggingNode = (home: string) =>
  writeScript(
    path.join(home, "node-v1"),
    // The version probe behind the status object runs the binary too: it is answered, not started.
    `case "$1" in version|--version) echo v1; exit 0;; esac\n` +
      `sleep 1000 &\necho "$$ $!" >> "${path.join(home, "pids.log")}"\n` +
      `exec "${process.execPath}" -e 'let i = 0; setInterval(() => { for (let k = 0; k < 20; k++) process.stdout.write("node log line " + i++ + "\\n") }, 10)'\n`
  )

const starts = (home: string): Array<{ pid: number; sleep: number }> =>
  fs.existsSync(path.join(home, "pids.log"))
    ? fs.readFileSync(path.join(home, "pids.log"), "utf8").trim().split("\n").map((l) => {
      const [pid, sleep] = l.split(" ").map(Number)
      return { pid: pid!, sleep: sleep! }
    })
    : []

const nodePid = (root: string): { pid: number; pgid: number; start_time: string } | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, "node.pid"), "utf8"))
  } catch {
    return undefined
  }
}

/** Bytes arriving on `run`'s stdout: the node's own output (inherited fd). */
const stdoutBytes = (sup: Supervisor) => {
  let bytes = 0
  sup.proc.stdout!.on("data", (c: Buffer) => (bytes += c.length))
  return () => bytes
}

/** The JSON log lines of an event type. */
const events = (sup: Supervisor, type: string): Array<{ annotations: Record<string, unknown> }> =>
  sup
    .logs()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { annotations: Record<string, unknown> })
    .filter((l) => l.annotations?.event === type)

/** GET the status object from the running supervisor's API, with the token it generated in the home. */
const status = async (env: Record<string, string>) => {
  const token = fs.readFileSync(path.join(env.DAEMON_HOME!, "wemixvisor", "api.token"), "utf8").trim()
  const res = await fetch(`http://${env.WEMIXVISOR_API_ADDR}/api/v1/upgrades/status`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(2000)
  })
  return (await res.json()) as { node_state: string; node_pid: number | null }
}

const groupGone = (pgid: number) => {
  try {
    process.kill(-pgid, 0)
    return false
  } catch {
    return true
  }
}

describe("SIGHUP", () => {
  it(
    "reloads the configuration, never fatal: the supervisor still runs, the node is the same; SIGTERM then exits 0",
    async () => {
      const { home, root, env } = await newHome()
      expect(cli(["init", loggingNode(home)], env).code).toBe(0)
      const sup = run(env)
      const first = await waitFor("node.pid", () => nodePid(root))
      sup.proc.kill("SIGHUP")
      await sup.waitLog("SIGHUP received")
      sup.proc.kill("SIGHUP")
      await waitFor("the second SIGHUP logged", () => sup.logs().split("SIGHUP received").length === 3)
      expect(sup.proc.exitCode).toBeNull()
      expect(sup.proc.signalCode).toBeNull()
      expect(nodePid(root)?.pid).toBe(first.pid)
      expect(isAlive(first.pid)).toBe(true)
      const s = await waitFor("the API", () => status(env).catch(() => undefined))
      expect(s).toMatchObject({ node_state: "running", node_pid: first.pid })
      sup.proc.kill("SIGTERM")
      expect(await sup.exited).toBe(0)
      await waitFor("the node group to be gone", () => groupGone(first.pgid), 5000)
    },
    30_000
  )
})

describe("a SIGKILLed wemixvisor", () => {
  it(
    "leaves a continuously logging node alive; the next run adopts it, restarts its crash, and stops it on SIGTERM",
    async () => {
      const { home, root, env } = await newHome()
      expect(cli(["init", loggingNode(home)], env).code).toBe(0)
      const runEnv = { ...env, DAEMON_RESTART_DELAY: "100ms" }
      const first = run(runEnv)
      const out = stdoutBytes(first)
      const orphan = await waitFor("node.pid", () => nodePid(root))
      await waitFor("the node's output on run's stdout", () => out() > 10_000)

      first.proc.kill("SIGKILL")
      await first.exited
      // Its output does not depend on wemixvisor: it goes on writing (a broken pipe would have killed it).
      const atKill = out()
      await waitFor("the node to go on logging after the kill", () => out() > atKill + 50_000, 10_000)
      expect(isAlive(orphan.pid)).toBe(true)

      const second = run(runEnv)
      await second.waitLog("node-adopted")
      // The same process, not restarted: one start in pids.log, node.pid unchanged, no node-started.
      expect(nodePid(root)).toEqual(orphan)
      expect(starts(home)).toHaveLength(1)
      expect(events(second, "node-started")).toEqual([])
      expect(events(second, "node-adopted")[0]!.annotations.pid).toBe(orphan.pid)
      await waitFor("status: running, the adopted pid", async () => {
        const s = await status(env).catch(() => undefined)
        return s?.node_state === "running" && s.node_pid === orphan.pid
      })

      // Its crash: restarted by the policy, with a new process; nothing of the old group is left.
      const grandchild = starts(home)[0]!.sleep
      process.kill(orphan.pid, "SIGKILL")
      await second.waitLog("node-started")
      const restarted = await waitFor("the restarted node in node.pid", () => {
        const p = nodePid(root)
        return p !== undefined && p.pid !== orphan.pid ? p : undefined
      })
      expect(events(second, "node-restarting")).toHaveLength(1)
      expect(starts(home).map((s) => s.pid)).toEqual([orphan.pid, restarted.pid])
      await waitFor("the adopted node's grandchild to be gone", () => !isAlive(grandchild), 5000)

      second.proc.kill("SIGTERM")
      expect(await second.exited).toBe(0)
      await waitFor("the node group to be gone", () => groupGone(restarted.pgid), 5000)
      expect(leftovers(home)).toEqual([])
      expect(fs.existsSync(path.join(root, "node.pid"))).toBe(false)
    },
    60_000
  )

  it("an adopted node is stopped by SIGTERM of run: SIGTERM to its group, no grandchild left", async () => {
    const { home, root, env } = await newHome()
    expect(cli(["init", loggingNode(home)], env).code).toBe(0)
    const first = run(env)
    const orphan = await waitFor("node.pid", () => nodePid(root))
    first.proc.kill("SIGKILL")
    await first.exited
    const second = run(env)
    await second.waitLog("node-adopted")
    second.proc.kill("SIGTERM")
    expect(await second.exited).toBe(0)
    expect(events(second, "node-exited")[0]!.annotations).toMatchObject({ pid: orphan.pid, expected: true })
    await waitFor("the adopted group to be gone", () => groupGone(orphan.pgid), 5000)
    expect(leftovers(home)).toEqual([])
    expect(starts(home)).toHaveLength(1)
  }, 30_000)
})

describe("run and the current binary", () => {
  it("refuses to start (exit 1) when current/bin/$DAEMON_NAME is missing or not executable, naming the path", async () => {
    const { home, root, env } = await newHome()
    expect(cli(["init", loggingNode(home)], env).code).toBe(0)
    const binary = path.join(root, "current", "bin", "gwemix")
    fs.chmodSync(path.join(root, "genesis", "bin", "gwemix"), 0o644)
    const notExecutable = cli(["run"], env)
    expect(notExecutable.code).toBe(1)
    expect(notExecutable.stderr).toContain(binary)
    expect(notExecutable.stderr).toContain("not executable")
    fs.rmSync(path.join(root, "genesis", "bin", "gwemix"))
    const missing = cli(["run"], env)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(binary)
    expect(missing.stderr).toContain("does not exist")
    expect(fs.existsSync(path.join(root, "run.lock"))).toBe(false)
  })

  it("keeps supervising when the binary disappears later: the failed restart is a crash, run stays up", async () => {
    const { home, root, env } = await newHome()
    expect(cli(["init", writeScript(path.join(home, "node-v1"), "exec sleep 1000\n")], env).code).toBe(0)
    const sup = run({
      ...env,
      DAEMON_RESTART_DELAY: "20ms",
      DAEMON_RESTART_MAX_DELAY: "40ms",
      DAEMON_MAX_RESTARTS: "2"
    })
    const node = await waitFor("node.pid", () => nodePid(root))
    fs.rmSync(path.join(root, "genesis", "bin", "gwemix"))
    process.kill(node.pid, "SIGKILL")
    await sup.waitLog("could not be restarted")
    await sup.waitLog("node-error")
    expect(sup.proc.exitCode).toBeNull()
    sup.proc.kill("SIGTERM")
    expect(await sup.exited).toBe(0)
  }, 30_000)
})
