import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { backupAt, Backups } from "../binaries/Backup.js"
import { BinaryStore } from "../binaries/BinaryStore.js"
import { AppConfig } from "../config/Config.js"
import { findUpgrade, setStatus } from "../domain/Plan.js"
import { failurePolicy, type OnFailure, type Upgrade, type UpgradePlan } from "../domain/Upgrade.js"
import { Events } from "../events/Events.js"
import { NodeProcess } from "../node/NodeProcess.js"
import { type Journal, JournalEntry } from "../upgrades/Journal.js"
import { CrashPoints } from "./CrashPoints.js"
import type { Records } from "./Records.js"
import * as State from "./State.js"

/*
 * How an upgrade ends: closed (plan, history, events, then the journal goes),
 * rolled back or halted after the node was touched, or failed before.
 */

export interface Outcome {
  /**
   * Events → history → plan → (restarts resumed) → journal removed. When the
   * plan cannot be written the journal stays, no other upgrade starts, and
   * every tick tries again; a restart finishes it from the journal. False
   * when it could not be closed yet.
   */
  readonly close: (c: State.Closing) => Effect.Effect<boolean>
  /**
   * Failure after the node was touched: `current` back to the previous
   * target (when it had moved), the data dir restored from the backup taken
   * at step `backup` (if any), then (rollback) the previous binary started,
   * or (halt) the node left stopped. The policy is the journal's (recorded
   * when the upgrade started), else DAEMON_ON_UPGRADE_FAILURE.
   */
  readonly rollback: (entry: JournalEntry, reason: string) => Effect.Effect<void>
  /** Failed before anything was touched (`current` unreadable): the node runs on. */
  readonly failUntouched: (u: Upgrade, reason: string) => Effect.Effect<void>
  /**
   * The height is reached and the upgrade is not ready (ARCHITECTURE §3: only
   * now does a missing or broken binary fail it). The upgrade's `on_failure`,
   * else DAEMON_ON_UPGRADE_FAILURE, decides, as for any failed upgrade: rollback = the node goes on with
   * the binary it runs (nothing was switched); halt = the node is stopped
   * and stays stopped until wemixvisor is restarted.
   */
  readonly notReady: (u: Upgrade, problem: string) => Effect.Effect<void>
}

export const make = (
  state: State.StateRef,
  records: Records,
  journal: Journal
): Effect.Effect<Outcome, never, AppConfig | Events | NodeProcess | BinaryStore | Backups | CrashPoints> =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const events = yield* Events
    const node = yield* NodeProcess
    const binaries = yield* BinaryStore
    const backups = yield* Backups
    const crash = (yield* CrashPoints).reached
    const { record, recordedSince, updatePlan } = records
    /** The policy a journaled upgrade runs under: the one recorded when it started, else the env's. */
    const journaledPolicy = (entry: JournalEntry): OnFailure => entry.on_failure ?? config.onUpgradeFailure
    /** Where the policy came from, for the log. */
    const policySource = (own: boolean) => (own ? "on_failure" : "DAEMON_ON_UPGRADE_FAILURE")

    /** The outcome's history line: what a replay looks for. */
    const outcomeLine = (c: State.Closing) =>
      c.status === "done" ? { step: "done", result: "ok" as const } : { step: "upgrade", result: "failed" as const }

    /** Events first, then the history line: a kill between them repeats the events (at least once), never the line. */
    const announce = (c: State.Closing, line: ReturnType<typeof outcomeLine>) =>
      Effect.gen(function*() {
        const { name } = c.entry
        if (c.status === "done") {
          yield* events.publish({ type: "upgrade-completed", name, height: c.entry.height })
          yield* record(name, line.step, line.result)
        } else {
          const reason = c.reason ?? "failed"
          yield* events.publish({ type: "upgrade-failed", name, reason })
          if (c.rolledBack) yield* events.publish({ type: "rollback-completed", name, current: c.entry.from })
          yield* record(name, line.step, line.result, reason)
        }
      })

    const close: Outcome["close"] = (c) =>
      Effect.gen(function*() {
        const { name } = c.entry
        // The plan is written after the events and the history line, so a plan that says the outcome means
        // they are out; a replay that finds the plan short of it asks the history (ARCHITECTURE §7.6).
        const line = outcomeLine(c)
        const out = c.announced === "yes" ||
          (c.announced === "maybe" && (yield* recordedSince(name, line.step, line.result, c.entry.started_at)))
        if (!out) yield* announce(c, line)
        const wrote = yield* updatePlan(
          (plan, now): readonly [string | null, UpgradePlan] => {
            const u = findUpgrade(plan, name)
            return u ? [u.created_at, setStatus(plan, name, c.status, c.reason, now).plan] : [null, plan]
          }
        ).pipe(Effect.either)
        if (Either.isLeft(wrote)) {
          const why =
            `upgrade ${name} ended (${c.status}) but the plan could not be updated: ${wrote.left.message}; no other upgrade starts until it is`
          yield* Effect.logError(why)
          yield* SubscriptionRef.update(state, State.unclosedAt({ ...c, announced: "yes" }))
          return false
        }
        yield* SubscriptionRef.update(state, State.fire(name, wrote.right))
        if (c.status === "done") yield* node.resumeRestarts
        if (c.entry.step === "done") yield* crash("done", "applied")
        yield* journal.remove.pipe(
          Effect.catchAll((e) =>
            Effect.logError(`${e.message}; the next start will finish this upgrade's bookkeeping again`)
          )
        )
        yield* SubscriptionRef.update(state, State.closed({ name, status: c.status, reason: c.reason }))
        return true
      })

    const rollback: Outcome["rollback"] = (entry, reason) =>
      Effect.gen(function*() {
        const name = entry.name
        const policy = journaledPolicy(entry)
        const rolling = new JournalEntry({ ...entry, step: "rollback", reason, on_failure: policy })
        yield* Effect.logError(
          `upgrade ${name} failed: ${reason}; ${policy === "halt" ? "halting" : `rolling back to ${entry.from}`}`
        )
        yield* journal.write(rolling).pipe(Effect.catchAll((e) => Effect.logError(`${e.message}; rolling back anyway`)))
        yield* crash("rollback", "journaled")
        yield* SubscriptionRef.update(state, State.entered(name, "rollback"))
        yield* events.publish({ type: "upgrade-step", name, step: "rollback" })
        yield* record(name, "rollback", "started", reason)

        yield* node.stop
        let problem: string | null = null
        const now = yield* Effect.option(binaries.current)
        // A failure before `switch` (backup, journal) left `current` where it was.
        if (!Option.contains(now, entry.from)) {
          const switched = yield* Effect.either(binaries.switchTo(entry.from))
          if (Either.isLeft(switched)) {
            problem = `could not switch current back to ${entry.from}: ${switched.left.message}`
          }
        }
        if (problem === null) yield* SubscriptionRef.update(state, State.currentIs(entry.from))
        if (problem === null && entry.backup !== null) {
          // The new binary may have changed the data in place: the old one gets the data it left.
          const restored = yield* Effect.either(backups.restore(backupAt(entry.backup, name)))
          if (Either.isLeft(restored)) {
            problem =
              `could not restore ${config.dataDir} from ${entry.backup}: ${restored.left.message}; the previous binary is not started on data the new one may have changed`
            yield* record(name, "restore", "failed", problem)
          } else {
            yield* record(name, "restore", "ok", entry.backup)
          }
        }
        // Never start a binary `current` may still point at when the switch back failed, nor on unrestored data.
        const leaveStopped = policy === "halt" || problem !== null
        if (!leaveStopped) {
          const started = yield* Effect.either(node.start)
          if (Either.isLeft(started)) problem = `the previous binary did not start: ${started.left.message}`
          yield* node.resumeRestarts
        }
        yield* crash("rollback", "applied")
        yield* record(name, "rollback", problem === null ? "ok" : "failed", problem ?? `current -> ${entry.from}`)
        if (leaveStopped) {
          const why = `halted after failed upgrade ${name}: ${reason}${problem !== null ? `; ${problem}` : ""}`
          yield* SubscriptionRef.update(state, State.halt(why))
          yield* Effect.logError(`${why}; restarting wemixvisor starts ${entry.from} again`)
        } else if (problem !== null) {
          yield* Effect.logError(problem)
        }
        yield* close({
          entry: rolling,
          status: "failed",
          reason,
          rolledBack: !leaveStopped && problem === null,
          // A journal already at rollback is a replay: the killed run may have recorded the outcome.
          announced: entry.step === "rollback" ? "maybe" : "no"
        })
      })

    const markFailedUntouched = (u: Upgrade, reason: string) =>
      Effect.gen(function*() {
        yield* record(u.name, "check", "failed", reason)
        yield* updatePlan((plan, now) => {
          const cur = findUpgrade(plan, u.name)
          return [
            undefined,
            cur && cur.created_at === u.created_at ? setStatus(plan, u.name, "failed", reason, now).plan : plan
          ] as const
        }).pipe(Effect.catchAll((e) => Effect.logError(`could not mark ${u.name} failed: ${e.message}`)))
        yield* events.publish({ type: "upgrade-failed", name: u.name, reason })
        yield* SubscriptionRef.update(state, State.failedUntouched(u.name, reason))
      })

    const failUntouched: Outcome["failUntouched"] = (u, reason) =>
      Effect.gen(function*() {
        yield* Effect.logError(
          `upgrade ${u.name} at height ${u.height} failed: ${reason}; the node keeps running on the current binary`
        )
        yield* markFailedUntouched(u, reason)
      })

    const notReady: Outcome["notReady"] = (u, problem) =>
      Effect.gen(function*() {
        const reason = `not ready at its height ${u.height}: ${problem}`
        const on = Option.getOrElse(yield* Effect.option(binaries.current), (): string => "the current binary")
        const source = policySource(u.on_failure !== undefined)
        if (failurePolicy(u, config.onUpgradeFailure) === "halt") {
          yield* Effect.logError(
            `upgrade ${u.name} is ${reason}; ${source}=halt: stopping the node (current stays ${on})`
          )
          yield* node.suspendRestarts
          yield* node.stop
          yield* SubscriptionRef.update(state, State.halt(`halted after failed upgrade ${u.name}: ${reason}`))
        } else {
          yield* Effect.logError(
            `upgrade ${u.name} is ${reason}; ${source}=rollback: the node keeps running on ${on}`
          )
        }
        yield* markFailedUntouched(u, reason)
      })

    return { close, rollback, failUntouched, notReady }
  })
