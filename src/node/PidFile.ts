import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { AppConfig } from "../config/Config.js"
import { NodePidFile } from "../domain/Node.js"
import { readJsonIfExists, removeIfExists, writeJsonAtomic } from "../platform/Files.js"
import { groupMembers, groupsWithEnv, processStartTime } from "../platform/Proc.js"
import { terminateGroup } from "../platform/ProcessGroup.js"
import { NODE_MARKER } from "./Spawner.js"

/*
 * node.pid (ARCHITECTURE §3): which process is our node, so that the next `run`
 * after a wemixvisor that was SIGKILLed finds the node it left running —
 * adopts it, or stops it mid-upgrade — and never two nodes run on one home. A node is named by pid *and*
 * start time: pids are reused, and a wrapper that `exec`s the real node
 * changes its command line.
 */

/** Records a freshly spawned node. A node that already died (no start time) is not recorded. */
export const writePidFile = (file: string, pid: number, pgid: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    const startTime = processStartTime(pid)
    if (startTime === undefined) return Effect.void
    const record: NodePidFile = { pid, pgid, start_time: startTime }
    return writeJsonAtomic(file, record)
  }).pipe(
    // The node is running either way; a missing node.pid only weakens stale-node recovery.
    Effect.catchAll((e) => Effect.logWarning(`could not record the node's pid: ${e.message}`))
  )

export const removePidFile = (file: string): Effect.Effect<void> =>
  removeIfExists(file).pipe(Effect.catchAll((e) => Effect.logWarning(`could not remove ${file}: ${e.message}`)))

const settleStale = (adopt: boolean): Effect.Effect<Option.Option<NodePidFile>, never, AppConfig> =>
  Effect.gen(function*() {
    const { layout, shutdownGrace } = yield* AppConfig
    const adopted = yield* settleRecorded(layout.nodePid, shutdownGrace, adopt)
    for (const pgid of groupsWithEnv(`${NODE_MARKER}=${layout.currentBinary}`)) {
      if (Option.exists(adopted, (a) => a.pgid === pgid)) continue
      yield* Effect.logWarning(
        `a node of this home (process group ${pgid}) is running but was never recorded in node.pid; stopping it`
      )
      yield* terminateGroup(pgid, shutdownGrace)
    }
    return adopted
  })

const settleRecorded = (
  file: string,
  shutdownGrace: Duration.Duration,
  adopt: boolean
): Effect.Effect<Option.Option<NodePidFile>> =>
  Effect.gen(function*() {
    const read = yield* Effect.either(readJsonIfExists(NodePidFile, file))
    if (Either.isLeft(read)) {
      const e = read.left
      if (e._tag === "IoError") {
        yield* Effect.logWarning(`cannot check for a node left running: ${e.message}`)
        return Option.none()
      }
      yield* Effect.logWarning(`${e.message}; removing it`)
      yield* removePidFile(file)
      return Option.none()
    }
    if (Option.isNone(read.right)) return Option.none()
    const record = read.right.value
    const { pid, pgid, start_time } = record

    const startTime = processStartTime(pid)
    if (startTime === start_time && adopt) {
      yield* Effect.logWarning(
        `the node (pid ${pid}) of a previous wemixvisor is still running; adopting it (no restart)`
      )
      return Option.some(record)
    }
    if (startTime === start_time) {
      yield* Effect.logWarning(
        `the node (pid ${pid}) of a previous wemixvisor is still running; stopping its process group before starting a new one`
      )
      yield* terminateGroup(pgid, shutdownGrace)
    } else if (startTime === undefined && pgid === pid && groupMembers(pgid).length > 0) {
      yield* Effect.logWarning(`processes of the previous node's group ${pgid} are still running; stopping them`)
      yield* terminateGroup(pgid, shutdownGrace)
    } else if (startTime !== undefined) {
      yield* Effect.logInfo(`node.pid names pid ${pid}, which is now another process; leaving it alone`)
    }
    yield* removePidFile(file)
    return Option.none()
  })

/**
 * Stops a node left running by a previous wemixvisor, then removes node.pid.
 *
 * Run it only while holding run.lock and before the NodeProcess layer starts
 * anything: it kills whatever node.pid names, and with two supervisors on one
 * home that would be the other one's node.
 *
 * - pid alive with the recorded start time: our old node — SIGTERM its group,
 *   DAEMON_SHUTDOWN_GRACE, then SIGKILL until the group is gone.
 * - pid alive with another start time: the pid was reused — left alone.
 * - pid gone: nothing to stop, except members of its group that outlived it
 *   (Linux does not hand out a pid number while a group of that id exists, so
 *   they can only be the old node's children).
 * - corrupt file: logged and removed (it cannot name anything to stop).
 * - then any process still carrying this home's NODE_MARKER: a node spawned
 *   by a supervisor killed before it wrote node.pid (or whose node.pid was
 *   lost) — its group is stopped the same way.
 */
export const reapStale: Effect.Effect<void, never, AppConfig> = Effect.asVoid(settleStale(false))

/**
 * What `run` does at start with a node a previous wemixvisor left running
 * (ARCHITECTURE §7 "The node never dies because wemixvisor did"), under run.lock:
 * with no upgrade in flight (journal.json absent), a node that node.pid names
 * and that is still that process (pid + start time) is adopted — left
 * running, node.pid kept, and returned for NodeProcess to supervise from its
 * first `start`. Mid-upgrade the journal's replay decides, from a clean
 * slate: every node of the home is stopped (reapStale). Processes that carry
 * this home's NODE_MARKER but were never recorded are stopped either way.
 */
export const reapOrAdopt: Effect.Effect<Option.Option<NodePidFile>, never, AppConfig> = Effect.gen(function*() {
  const { layout } = yield* AppConfig
  const inFlight = fs.existsSync(layout.journal)
  if (inFlight && fs.existsSync(layout.nodePid)) {
    yield* Effect.logInfo(`an upgrade is in flight (${layout.journal}): the node left running is stopped, not adopted`)
  }
  return yield* settleStale(!inFlight)
})
