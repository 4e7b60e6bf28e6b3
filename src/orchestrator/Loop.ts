import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as fs from "node:fs"
import { Backups } from "../binaries/Backup.js"
import { AppConfig } from "../config/Config.js"
import { HeightProvider } from "../height/HeightProvider.js"
import * as Cadence from "../platform/Cadence.js"
import { UpgradeSource } from "../upgrades/PlanStore.js"
import type { Journal } from "./Journal.js"
import type { Outcome } from "./Outcome.js"
import type { Preparations } from "./Preparations.js"
import type { Recovery } from "./Recovery.js"
import type { Run } from "./Run.js"
import * as State from "./State.js"

/*
 * The orchestrator's one fiber: recovery, the first start of the node, then a
 * tick whenever a height or a plan change wakes it (or the quiet tick does).
 * One upgrade at a time, lowest height first.
 */

/**
 * How often the orchestrator looks again when nothing wakes it: every poll
 * interval, but at most once a second. A new height (every block) or a plan
 * change wakes it at once anyway; this covers a stalled chain, where checking
 * binaries every 300 ms bought nothing and cost an idle supervisor a tenth of
 * its CPU (scripts/bench-idle.mjs).
 */
export const quietTick = (pollInterval: Duration.DurationInput) => Schedule.spaced(Duration.max(Duration.decode(pollInterval), Duration.seconds(1)))

export interface LoopParts {
  readonly state: State.StateRef
  readonly journal: Journal
  readonly preparations: Preparations
  readonly outcome: Outcome
  readonly run: Run
  readonly recovery: Recovery
}

/** Forks the feeds (heights, plans, the quiet tick) and the loop into the scope. */
export const start = (
  parts: LoopParts
): Effect.Effect<void, never, AppConfig | HeightProvider | UpgradeSource | Backups | Scope.Scope> =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const heights = yield* HeightProvider
    const source = yield* UpgradeSource
    const backups = yield* Backups
    const { state, journal, preparations, outcome, run, recovery } = parts
    const wake = yield* Queue.sliding<void>(1)
    const signal = Queue.offer(wake, undefined)

    const tick = Effect.gen(function* () {
      const s = yield* SubscriptionRef.get(state)
      if (s.halted !== null || s.pausedByJournal !== null) return
      if (Option.isSome(s.unclosed) && !(yield* outcome.close(s.unclosed.value))) return
      const snap = (yield* SubscriptionRef.get(state)).snapshot
      if (Option.isNone(snap)) return
      if (snap.value._tag === "Corrupt") {
        const why = `upgrades paused: ${snap.value.error.message}`
        if ((yield* SubscriptionRef.modify(state, State.pauseByPlan(why))) !== why) {
          yield* Effect.logError(`${why}; the node is supervised on the current binary`)
        }
        return
      }
      if ((yield* SubscriptionRef.modify(state, State.pauseByPlan(null))) !== null) {
        yield* Effect.logInfo("the plan file is readable again; upgrades resumed")
      }
      yield* preparations.reconcile(snap.value.plan)
      // One at a time, lowest first; after each, look again at the latest height and plan.
      for (;;) {
        const now = yield* SubscriptionRef.get(state)
        if (now.halted !== null || Option.isSome(now.unclosed)) return
        const due = State.nextDue(now)
        if (Option.isNone(due)) return
        if (!(yield* run.runUpgrade(due.value))) return
      }
    })

    /**
     * A defect is a bug, but the node must stay supervised. One that cuts an
     * upgrade short leaves its journal: no other upgrade may overwrite it, so
     * upgrades pause until a restart replays it.
     */
    const survive = <A>(self: Effect.Effect<A>) =>
      self.pipe(
        Effect.asVoid,
        Effect.catchAllDefect((defect) =>
          Effect.gen(function* () {
            yield* Effect.logError("orchestrator: unexpected defect; still supervising the node", defect)
            const flight = (yield* SubscriptionRef.get(state)).inProgress
            if (flight !== null) {
              yield* SubscriptionRef.update(
                state,
                State.pauseByJournal(
                  `upgrade ${flight.name} was cut short by an internal error at step ${flight.step}; restart wemixvisor to replay it from ${journal.file}`
                )
              )
            }
          })
        )
      )

    yield* heights.heights.pipe(
      Stream.runForEach((h) => SubscriptionRef.update(state, State.heightSeen(h)).pipe(Effect.zipRight(signal))),
      Effect.forkScoped
    )
    yield* source.plans.pipe(
      Stream.runForEach((s) => Effect.all([SubscriptionRef.update(state, State.planSeen(s)), preparations.planChanged, signal])),
      Effect.forkScoped
    )
    // The fallback tick: binary checks and retries happen even when neither heights nor plans change
    // (a stalled chain). Heights and plan changes wake the loop at once; this only covers the quiet.
    yield* Cadence.repeat(signal, quietTick(config.pollInterval)).pipe(Effect.forkScoped)

    // Recovery runs in the background too: a replayed verify takes up to DAEMON_VERIFY_TIMEOUT,
    // and the rest of `run` (API, status) must not wait for it.
    yield* Effect.gen(function* () {
      // A restore of the data dir cut short by a crash is finished (or undone) before any node touches the data.
      if (config.backup || fs.existsSync(config.layout.backups)) {
        yield* survive(backups.recover.pipe(Effect.catchAll((e) => Effect.logError(`checking ${config.dataDir} after a restore: ${e.message}`))))
      }
      yield* survive(recovery.recover)
      yield* survive(recovery.ensureStarted)
      yield* Effect.forever(Queue.take(wake).pipe(Effect.zipRight(survive(tick))))
    }).pipe(Effect.forkScoped)
  })
