/*
 * Helpers for the operator-interface end-to-end suites (test/e2e/upgrade-*):
 * the built CLI run as a process, a home with anvil "versions", a `run`
 * whose JSON log lines can be searched by event.
 *
 * The CLI runs from a private copy of dist/: other suites rebuild dist/
 * meanwhile, and a `run` loads its code-split chunks lazily.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { baseEnv, cliCopy as cliPath } from "../e2e/upgrade-support.js"
import { anvilWrapper, cleanup, freePort, tempDir, waitFor, writeScript } from "../support/fixtures.js"
import { attachOutput } from "../support/output.js"

// One private copy of dist/ per test file, shared with the upgrade suites.
export { cliCopy as cliPath, removeCliCopy } from "../e2e/upgrade-support.js"

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export const cli = (args: ReadonlyArray<string>, env: Record<string, string>): CliResult => {
  const r = spawnSync(process.execPath, [cliPath(), ...args], { env: baseEnv(env), encoding: "utf8", timeout: 60_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The same, without blocking the event loop (for calls made while this process serves something). */
export const cliAsync = (args: ReadonlyArray<string>, env: Record<string, string>): Promise<CliResult> =>
  new Promise((resolve) => {
    const p = spawn(process.execPath, [cliPath(), ...args], { env: baseEnv(env), stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    p.stdout!.on("data", (c) => (stdout += String(c)))
    p.stderr!.on("data", (c) => (stderr += String(c)))
    p.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

export interface Run {
  readonly proc: ChildProcess
  readonly logs: () => string
  /** JSON log lines whose `event` annotation is `type`. */
  readonly events: (type: string) => Array<Record<string, unknown>>
  readonly ended: Promise<number | null>
  readonly alive: () => boolean
}

export const startRun = (env: Record<string, string>): Run => {
  const proc = spawn(process.execPath, [cliPath(), "run"], { env: baseEnv(env), stdio: ["ignore", "ignore", "pipe"] })
  let logs = ""
  proc.stderr!.on("data", (c) => (logs += String(c)))
  attachOutput(`wemixvisor run (pid ${proc.pid}), stderr`, () => logs)
  const ended = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)))
  const events = (type: string) =>
    logs
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .flatMap((l): Array<Record<string, unknown>> => {
        try {
          return [JSON.parse(l) as Record<string, unknown>]
        } catch {
          return []
        }
      })
      .filter((j) => ((j.annotations ?? {}) as Record<string, unknown>).event === type)
  return { proc, logs: () => logs, events, ended, alive: () => proc.exitCode === null && proc.signalCode === null }
}

export const stopRun = async (run: Run, timeoutMs = 10_000): Promise<number | null> => {
  if (!run.alive()) return run.ended
  run.proc.kill("SIGTERM")
  const timer = setTimeout(() => run.proc.kill("SIGKILL"), timeoutMs)
  const code = await run.ended
  clearTimeout(timer)
  return code
}

export interface Home {
  readonly home: string
  readonly root: string
  readonly data: string
  /** The node's RPC port (every version serves on it). */
  readonly port: number
  readonly apiPort: number
  readonly api: string
  /** The token the home's `run` requires: WEMIXVISOR_API_TOKEN, else the api.token it generated. */
  readonly token: () => string
  readonly env: Record<string, string>
  /** An anvil wrapper that records `version` in data/versions.log. */
  readonly version: (version: string) => string
  readonly planFile: string
  readonly planText: () => string | undefined
  readonly versions: () => Array<string>
  readonly run: (env?: Record<string, string>) => Run
  readonly dispose: () => Promise<void>
}

/** A temp home initialised with an anvil "v1", fast upgrade timings and a private API port. */
export const makeHome = async (env: Record<string, string> = {}): Promise<Home> => {
  const home = tempDir("wemixvisor-ops-")
  const root = path.join(home, "wemixvisor")
  const data = path.join(home, "data")
  fs.mkdirSync(data)
  const port = await freePort()
  const apiPort = await freePort()
  const fullEnv: Record<string, string> = {
    DAEMON_HOME: home,
    DAEMON_NAME: "gwemix",
    DAEMON_RPC_URL: `http://127.0.0.1:${port}`,
    DAEMON_POLL_INTERVAL: "100ms",
    DAEMON_VERIFY_MIN_UP: "1s",
    DAEMON_VERIFY_TIMEOUT: "10s",
    DAEMON_SHUTDOWN_GRACE: "2s",
    DAEMON_RESTART_DELAY: "200ms",
    WEMIXVISOR_API_ADDR: `127.0.0.1:${apiPort}`,
    ...env
  }
  const version = (v: string) =>
    anvilWrapper({ file: path.join(home, "bins", `gwemix-${v}`), version: v, port, dataDir: data })
  const init = cli(["init", version("v1")], fullEnv)
  if (init.code !== 0) throw new Error(`init exited ${init.code}: ${init.stderr}`)
  const runs: Array<Run> = []
  const planFile = path.join(root, "upgrade-plan.json")
  return {
    home,
    root,
    data,
    port,
    apiPort,
    api: `http://127.0.0.1:${apiPort}`,
    token: () => fullEnv.WEMIXVISOR_API_TOKEN ?? fs.readFileSync(path.join(root, "api.token"), "utf8").trim(),
    env: fullEnv,
    version,
    planFile,
    planText: () => (fs.existsSync(planFile) ? fs.readFileSync(planFile, "utf8") : undefined),
    versions: () => {
      try {
        return fs.readFileSync(path.join(data, "versions.log"), "utf8").trim().split("\n").filter((l) => l !== "").map((
          l
        ) => l.split(" ")[0]!)
      } catch {
        return []
      }
    },
    run: (extra = {}) => {
      const r = startRun({ ...fullEnv, ...extra })
      runs.push(r)
      return r
    },
    dispose: async () => {
      for (const r of runs) await stopRun(r)
      try {
        const pidFile = JSON.parse(fs.readFileSync(path.join(root, "node.pid"), "utf8")) as { pgid: number }
        process.kill(-pidFile.pgid, "SIGKILL")
      } catch {
        // no node left
      }
      cleanup(home)
    }
  }
}

/** Waits until the API of a `run` answers /health (whatever the verdict). */
export const waitForApi = (base: string, timeoutMs = 20_000) =>
  waitFor("the API", () => fetch(`${base}/health`).then(() => true, () => false), timeoutMs)

/** A plain executable that is not the node (for --binary). */
export const fakeBinary = (dir: string, name: string, body = "exec sleep 1000\n") =>
  writeScript(path.join(dir, name), body)
