/*
 * Drives the built CLI (dist/bin.js) as an operator would: real processes,
 * real files, a real node. `npm test` builds before it runs the suite.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { cliBin, waitFor } from "../support/fixtures.js"
import { attachOutput } from "../support/output.js"

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs one CLI command to completion. */
export const cli = (args: ReadonlyArray<string>, env: Record<string, string>): CliResult => {
  const r = spawnSync(process.execPath, [cliBin, ...args], {
    env: { PATH: process.env.PATH ?? "", WEMIXVISOR_LOG_FORMAT: "json", ...env },
    encoding: "utf8",
    timeout: 30_000
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** A running `wemixvisor run`, with its stderr collected. */
export interface Supervisor {
  readonly proc: ChildProcess
  readonly logs: () => string
  readonly exited: Promise<number | null>
  /** Resolves when a log line contains `needle`. */
  readonly waitLog: (needle: string, timeoutMs?: number) => Promise<void>
}

export const startRun = (env: Record<string, string>, nodeArgs: ReadonlyArray<string> = []): Supervisor => {
  const proc = spawn(process.execPath, [cliBin, "run", ...(nodeArgs.length ? ["--", ...nodeArgs] : [])], {
    env: { PATH: process.env.PATH ?? "", WEMIXVISOR_LOG_FORMAT: "json", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let logs = ""
  proc.stderr!.on("data", (c) => (logs += String(c)))
  proc.stdout!.on("data", () => {})
  attachOutput(`wemixvisor run (pid ${proc.pid}), stderr`, () => logs)
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)))
  return {
    proc,
    logs: () => logs,
    exited,
    waitLog: (needle, timeoutMs = 20_000) =>
      waitFor(`log line containing ${needle}`, () => logs.includes(needle), timeoutMs).then(() => undefined)
  }
}

/** Stops a supervisor if a test left it running (SIGKILL, then its node group by node.pid). */
export const killAll = (sup: Supervisor | undefined, home: string) => {
  if (sup && sup.proc.exitCode === null && sup.proc.signalCode === null) sup.proc.kill("SIGKILL")
  try {
    const pidFile = JSON.parse(fs.readFileSync(path.join(home, "wemixvisor", "node.pid"), "utf8"))
    process.kill(-pidFile.pgid, "SIGKILL")
  } catch {
    // no node left
  }
}
