import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { AppConfig } from "../config/Config.js"
import { type FileCorrupt, type IoError, PlanLocked } from "../domain/Errors.js"
import type { UpgradePlan } from "../domain/Upgrade.js"
import { Events } from "../events/Events.js"
import { History, type HistoryResult, type Origin, originFields } from "../upgrades/History.js"
import { PlanStore } from "../upgrades/PlanStore.js"
import * as State from "./State.js"

/*
 * What the orchestrator writes besides the journal: the plan (statuses and
 * reasons) and the history (one line per step and result).
 */

export interface Records {
  /** One history line (`origin`: the door of an operator's request); a failed write is logged, never fatal. */
  readonly record: (
    name: string,
    step: string,
    result: HistoryResult,
    detail?: string,
    origin?: Origin
  ) => Effect.Effect<void>
  /**
   * Whether the history holds a `step`/`result` line for `name` stamped at or
   * after `since` (a journal's started_at): how a replay knows a killed run
   * already recorded an outcome. An unreadable history answers false (the
   * line is then written again rather than lost).
   */
  readonly recordedSince: (name: string, step: string, result: HistoryResult, since: string) => Effect.Effect<boolean>
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
  /** Re-creates a missing plan file from `plan` (PlanStore.restore); false when a file exists. */
  readonly restorePlan: (plan: UpgradePlan) => Effect.Effect<boolean, IoError | PlanLocked>
}

export const make = (state: State.StateRef): Effect.Effect<Records, never, AppConfig | Events | History | PlanStore> =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const events = yield* Events
    const history = yield* History
    const plans = yield* PlanStore
    // One plan write at a time from this process, so our own snapshot never goes back to an older write.
    const planLock = yield* Effect.makeSemaphore(1)

    const record: Records["record"] = (name, step, result, detail, origin) =>
      history
        .append({ name, step, result, ...(detail !== undefined ? { detail } : {}), ...originFields(origin) })
        .pipe(Effect.catchAll((e) => Effect.logError(`upgrade history not written: ${e.message}`)))

    /**
     * A lock held past PlanStore's wait is said once (with its holder) and
     * shown in the status (`plan_problem`) and on /health until a write
     * gets through again.
     */
    const watchLock = <A, E extends { readonly _tag: string }>(self: Effect.Effect<A, E>) =>
      self.pipe(
        Effect.tapBoth({
          onFailure: (e) =>
            e instanceof PlanLocked
              ? Effect.gen(function*() {
                const holder = e.pid > 0 ? `pid ${e.pid}` : "a process that has not written its pid"
                const why =
                  `${e.path} is held by ${holder} and was not freed within a plan writer's wait: plan status updates wait for it (upgrades still start at their height)`
                if ((yield* SubscriptionRef.modify(state, State.lockIs(why))) !== why) yield* Effect.logError(why)
              })
              : Effect.void,
          onSuccess: () =>
            Effect.gen(function*() {
              if ((yield* SubscriptionRef.modify(state, State.lockIs(null))) !== null) {
                yield* Effect.logInfo("the plan lock is free again; plan status updates caught up")
              }
            })
        })
      )

    const restoreUnlocked = (plan: UpgradePlan) =>
      Effect.gen(function*() {
        const restored = yield* plans.restore(plan)
        if (!restored) return false
        yield* SubscriptionRef.update(state, State.planWritten(plan))
        yield* Effect.logWarning(
          `${config.layout.plan} was missing: re-created from the last valid plan (${plan.upgrades.length} upgrades)`
        )
        yield* events.publish({ type: "plan-restored", path: config.layout.plan, upgrades: plan.upgrades.length })
        return true
      })

    const restorePlan: Records["restorePlan"] = (plan) => planLock.withPermits(1)(restoreUnlocked(plan)).pipe(watchLock)

    /**
     * A write over a plan file deleted under us would start from an empty
     * plan and lose every upgrade: the file is re-created from the last
     * valid plan first (the UpgradeSource may not have seen it go yet).
     */
    const ensureFile = Effect.gen(function*() {
      const { lastValid } = yield* SubscriptionRef.get(state)
      if (Option.isNone(lastValid) || lastValid.value.upgrades.length === 0) return
      const file = yield* Effect.either(plans.readFile)
      if (Either.isRight(file) && Option.isNone(file.right)) yield* restoreUnlocked(lastValid.value)
    })

    const updatePlan: Records["updatePlan"] = (f) =>
      planLock.withPermits(1)(
        Effect.gen(function*() {
          yield* ensureFile
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
      ).pipe(watchLock)

    const recordedSince: Records["recordedSince"] = (name, step, result, since) =>
      history.read.pipe(
        Effect.map((all) =>
          all.some((r) => r.name === name && r.step === step && r.result === result && r.time >= since)
        ),
        Effect.catchAll((e) =>
          Effect.logWarning(`upgrade history not readable (${e.message}): ${name}'s outcome is recorded again`).pipe(
            Effect.as(false)
          )
        )
      )

    return {
      record,
      recordedSince,
      skipped: (name, step) => record(name, step, "skipped"),
      updatePlan,
      restorePlan
    }
  })
