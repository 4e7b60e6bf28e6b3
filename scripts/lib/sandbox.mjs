// One temp folder per benchmark run, every child process tracked, and a
// cleanup that leaves nothing behind on any exit: normal end, failure,
// Ctrl-C, SIGTERM, an uncaught error, or the run's own deadline.
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const exited = (child) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once("exit", r))

/**
 * @param {{ prefix: string, keep: boolean, deadlineMs?: number, graceMs?: number }} opts
 * Without `deadlineMs` the caller keeps its own watchdog.
 */
export const makeSandbox = ({ prefix, keep, deadlineMs, graceMs = 5_000 }) => {
  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  /** Every child started here (supervisors, nodes, CLI runs). */
  const children = new Set()
  const track = (child) => {
    children.add(child)
    child.once("exit", () => children.delete(child))
    return child
  }

  /** Pids of every live process whose command line mentions our temp folder (node wrappers, anvils, sleeps). */
  const ourProcesses = () => {
    const pids = []
    for (const entry of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
      try {
        if (fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(tmpRoot)) pids.push(Number(entry))
      } catch {
        // gone meanwhile
      }
    }
    return pids
  }

  let cleaned = false
  const cleanup = async () => {
    if (cleaned) return
    cleaned = true
    // Supervisors first, gracefully: each stops its node.
    const live = [...children]
    for (const c of live) {
      try {
        c.kill("SIGTERM")
      } catch {
        // already gone
      }
    }
    await Promise.race([Promise.all(live.map(exited)), sleep(graceMs)])
    for (const c of children) {
      try {
        c.kill("SIGKILL")
      } catch {
        // already gone
      }
    }
    // Then anything left that belongs to this run (a node orphaned by a killed supervisor, a bare node's group).
    for (let round = 0; round < 20; round++) {
      const left = ourProcesses()
      if (left.length === 0) break
      for (const pid of left) {
        try {
          process.kill(pid, round < 5 ? "SIGTERM" : "SIGKILL")
        } catch {
          // gone
        }
      }
      await sleep(100)
    }
    const survivors = ourProcesses()
    if (survivors.length > 0) console.error(`bench: processes still alive after cleanup: ${survivors.join(" ")}`)
    if (keep) console.error(`bench: temp folder kept at ${tmpRoot}`)
    else fs.rmSync(tmpRoot, { recursive: true, force: true })
  }

  const abort = (code, why) => {
    if (why) console.error(`bench: ${why}`)
    cleanup().finally(() => process.exit(code))
  }
  process.on("SIGINT", () => abort(130, "interrupted"))
  process.on("SIGTERM", () => abort(143, "terminated"))
  process.on("uncaughtException", (e) => abort(1, `uncaught: ${e?.stack ?? e}`))
  process.on("unhandledRejection", (e) => abort(1, `unhandled rejection: ${e?.stack ?? e}`))
  if (deadlineMs !== undefined) {
    setTimeout(() => abort(1, `the whole run took longer than ${Math.round(deadlineMs / 1000)} s`), deadlineMs).unref()
  }

  return { tmpRoot, track, ourProcesses, cleanup, abort }
}
