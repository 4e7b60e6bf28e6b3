import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { findUpgrade, setStatus } from "../domain/Plan.js"
import { NodeProcess } from "../node/NodeProcess.js"
import { type Journal, JournalEntry } from "../upgrades/Journal.js"
import { PlanStore } from "../upgrades/PlanStore.js"
import type { Outcome } from "./Outcome.js"
import type { Records } from "./Records.js"
import type { Run } from "./Run.js"
import * as State from "./State.js"

/*
 * Recovery at start, before the node is started: the journal of an upgrade a
 * previous run left unfinished is replayed forward (ARCHITECTURE §7) — never
 * applied twice, never two nodes.
 */

export interface Recovery {
  /** Replays the journal, if any; a corrupt one pauses upgrades. */
  readonly recover: Effect.Effect<void>
  /** Starts the node unless it runs already or a halt left it stopped on purpose. */
  readonly ensureStarted: Effect.Effect<void>
}

export const make = (
  state: State.StateRef,
  records: Records,
  journal: Journal,
  outcome: Outcome,
  run: Run
): Effect.Effect<Recovery, never, PlanStore | NodeProcess> =>
  Effect.gen(function*() {
    const plans = yield* PlanStore
    const node = yield* NodeProcess
    const { record, updatePlan } = records
    const { close } = outcome
    const { execute } = run

    /**
     * An upgrade is marked `upgrading` in the background as its first step
     * is journaled (the height never waits for the plan lock), and a run
     * older than that marked it just before. Upgrading without a journal
     * means no step was taken: the upgrade goes back to `scheduled`, is
     * prepared again and fires as usual.
     */
    const unmarkUnjournaled = Effect.gen(function*() {
      const plan = yield* Effect.either(plans.read)
      if (Either.isLeft(plan)) {
        yield* Effect.logWarning(
          `the plan cannot be read (${plan.left.message}); an upgrade it marks upgrading without a journal stays so until the next start`
        )
        return
      }
      for (const u of plan.right.upgrades) {
        if (u.status !== "upgrading") continue
        yield* Effect.logWarning(
          `upgrade ${u.name} was marked upgrading but no step was taken (no journal); scheduling it again`
        )
        yield* updatePlan((p, now) =>
          [
            undefined,
            findUpgrade(p, u.name)?.status === "upgrading" ? setStatus(p, u.name, "scheduled", null, now).plan : p
          ] as const
        ).pipe(
          Effect.catchAll((e) => Effect.logError(`upgrade ${u.name} could not be scheduled again: ${e.message}`))
        )
      }
    })

    /**
     * The journaled upgrade as the plan has it, for the "done is final" guard.
     * A plan that cannot be read is said so, and the last valid plan this run
     * has seen stands in for it.
     */
    const recordedUpgrade = (entry: JournalEntry) =>
      Effect.gen(function*() {
        const read = yield* Effect.either(plans.read)
        if (Either.isRight(read)) return Option.fromNullable(findUpgrade(read.right, entry.name))
        const { lastValid } = yield* SubscriptionRef.get(state)
        yield* Effect.logError(
          `resuming upgrade ${entry.name}: the plan cannot be read (${read.left.message}); ` +
            (Option.isSome(lastValid)
              ? "checking whether it is done in the last valid plan seen instead"
              : "no valid plan was seen to check whether it is done already; replaying the journal forward")
        )
        return Option.flatMap(lastValid, (p) => Option.fromNullable(findUpgrade(p, entry.name)))
      })

    const recover = Effect.gen(function*() {
      const read = yield* Effect.either(journal.read)
      if (Either.isLeft(read)) {
        const why = `upgrades paused: ${read.left.message}`
        yield* Effect.logError(
          `${why}; the node is supervised on the current binary; fix or remove ${journal.file} (picked up without a restart: a removed journal resumes upgrades, a fixed one is replayed)`
        )
        yield* SubscriptionRef.update(state, State.pauseByJournal(why, true))
        return
      }
      if (Option.isNone(read.right)) return yield* unmarkUnjournaled
      const entry = read.right.value
      yield* Effect.logWarning(`resuming upgrade ${entry.name} from step ${entry.step} (${journal.file})`)
      yield* record(entry.name, "recover", "started", `journal at ${entry.step}`)
      yield* SubscriptionRef.update(
        state,
        (s) => State.entered(entry.name, entry.step)(State.fire(entry.name, null)(s))
      )
      // `done` in the plan is final: never switch to (or away from) it again.
      if (entry.step !== "rollback" && Option.exists(yield* recordedUpgrade(entry), (u) => u.status === "done")) {
        yield* close({
          entry: new JournalEntry({ ...entry, step: "done" }),
          status: "done",
          reason: null,
          rolledBack: false,
          announced: "yes"
        })
        return
      }
      switch (entry.step) {
        // The node was reaped when `run` started: the pre-stop hook (a hand-off) is not run again.
        case "pre-stop":
        case "stop":
          return yield* execute(entry, "stop")
        case "backup":
          return yield* execute(entry, "backup")
        case "switch":
          return yield* execute(entry, "switch")
        case "pre-upgrade":
          return yield* execute(entry, "pre-upgrade")
        case "start":
        case "verify":
          // Start it again and verify from scratch.
          return yield* execute(entry, "start")
        case "done":
          yield* close({ entry, status: "done", reason: null, rolledBack: false, announced: "maybe" })
          return
        case "rollback":
          return yield* outcome.rollback(entry, entry.reason ?? "the upgrade was rolling back when wemixvisor stopped")
      }
    })

    const ensureStarted = Effect.gen(function*() {
      if ((yield* SubscriptionRef.get(state)).halted !== null) return
      const s = yield* node.status
      if (s.state !== "stopped") return
      yield* node.start.pipe(Effect.catchAll((e) => Effect.logError(e.message)))
    })

    return { recover, ensureStarted }
  })
