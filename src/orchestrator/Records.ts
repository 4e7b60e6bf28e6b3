import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { FileCorrupt, IoError, PlanLocked } from "../domain/Errors.js"
import type { UpgradePlan } from "../domain/Upgrade.js"
import { History, type HistoryResult } from "../upgrades/History.js"
import { PlanStore } from "../upgrades/PlanStore.js"
import * as State from "./State.js"

/*
 * What the orchestrator writes besides the journal: the plan (statuses and
 * reasons) and the history (one line per step and result).
 */

export interface Records {
  /** One history line; a failed write is logged, never fatal. */
  readonly record: (name: string, step: string, result: HistoryResult, detail?: string) => Effect.Effect<void>
  /** An absent option (no hook, no backup) skips its step: recorded, never journaled. */
  readonly skipped: (name: string, step: "pre-stop" | "backup" | "pre-upgrade") => Effect.Effect<void>
  /**
   * Applies `f` to the plan under its lock; our own write becomes the local
   * snapshot at once. A lock held by another writer is PlanStore's to wait
   * for (its one retry policy); PlanLocked here means it gave up.
   */
  readonly updatePlan: <A>(
    f: (plan: UpgradePlan, now: string) => readonly [A, UpgradePlan]
  ) => Effect.Effect<A, FileCorrupt | IoError | PlanLocked>
}

export const make = (state: State.StateRef): Effect.Effect<Records, never, History | PlanStore> =>
  Effect.gen(function* () {
    const history = yield* History
    const plans = yield* PlanStore
    // One plan write at a time from this process, so our own snapshot never goes back to an older write.
    const planLock = yield* Effect.makeSemaphore(1)

    const record: Records["record"] = (name, step, result, detail) =>
      history
        .append({ name, step, result, ...(detail !== undefined ? { detail } : {}) })
        .pipe(Effect.catchAll((e) => Effect.logError(`upgrade history not written: ${e.message}`)))

    const updatePlan: Records["updatePlan"] = (f) =>
      planLock.withPermits(1)(
        Effect.gen(function* () {
          const now = DateTime.formatIso(yield* DateTime.now)
          const [a, next] = yield* plans.update((plan) =>
            Effect.sync(() => {
              const [a, next] = f(plan, now)
              return [[a, next] as const, next] as const
            })
          )
          yield* SubscriptionRef.update(state, State.planWritten(next))
          return a
        })
      )

    return { record, skipped: (name, step) => record(name, step, "skipped"), updatePlan }
  })
