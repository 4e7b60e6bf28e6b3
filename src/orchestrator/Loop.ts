import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as fs from "node:fs"
import { Backups } from "../binaries/Backup.js"
import { AppConfig } from "../config/Config.js"
import { findUpgrade, pendingUpgrades, setStatus } from "../domain/Plan.js"
import { isPending, type UpgradePlan } from "../domain/Upgrade.js"
import { Events } from "../events/Events.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { NodeProcess } from "../node/NodeProcess.js"
import * as Cadence from "../platform/Cadence.js"
import type { Journal } from "../upgrades/Journal.js"
import { UpgradeSource } from "../upgrades/UpgradeSource.js"
import type { Outcome } from "./Outcome.js"
import type { Preparations } from "./Preparations.js"
import type { Records } from "./Records.js"
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
export const quietTick = (pollInterval: Cadence.Period) => Cadence.spaced(pollInterval, Duration.seconds(1))

export interface LoopParts {
  readonly state: State.StateRef
  readonly journal: Journal
  readonly preparations: Preparations
  readonly outcome: Outcome
  readonly run: Run
  readonly recovery: Recovery
  readonly records: Records
  /** Held while the loop acts on the node (an upgrade, recovery, a journal replay): `node restart` is refused meanwhile. */
  readonly actor: Effect.Semaphore
}

const pending = (plan: UpgradePlan) => pendingUpgrades(plan).length

/** Forks the feeds (heights, plans, the quiet tick) and the loop into the scope; `wake` makes it look again now. */
export const start = (
  parts: LoopParts
): Effect.Effect<
  { readonly wake: Effect.Effect<void> },
  never,
  AppConfig | HeightProvider | UpgradeSource | Backups | Events | NodeProcess | Scope.Scope
> =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const heights = yield* HeightProvider
    const source = yield* UpgradeSource
    const backups = yield* Backups
    const events = yield* Events
    const node = yield* NodeProcess
    const { actor, state, journal, preparations, outcome, run, recovery, records } = parts
    const wake = yield* Queue.sliding<void>(1)
    const signal = Queue.offer(wake, undefined)
    const acting = actor.withPermits(1)

    /** The due upgrade last said to be held by the operator's pause: said once per upgrade. */
    const toldHeld = yield* Ref.make<string | null>(null)

    /** What was last said about a corrupt plan file upgrades go on without: said once per problem. */
    const toldCorrupt = yield* Ref.make<string | null>(null)

    /**
     * A corrupt journal is re-read on every tick (a height, the quiet tick)
     * until it is fixed or removed, as its log line says to: an absent one
     * resumes upgrades, a valid one is replayed forward as at a start. True
     * when upgrades may go on.
     */
    const journalFixed = Effect.gen(function*() {
      const read = yield* Effect.either(journal.read)
      if (Either.isLeft(read)) return false
      yield* SubscriptionRef.update(state, State.resumeByJournal)
      if (Option.isNone(read.right)) {
        yield* Effect.logInfo(`${journal.file} is gone; upgrades resumed`)
      } else {
        const entry = read.right.value
        yield* Effect.logWarning(
          `${journal.file} is valid again (upgrade ${entry.name} at step ${entry.step}); replaying it forward`
        )
      }
      yield* acting(Effect.gen(function*() {
        // Recovery replays as at a start, where no node runs yet: the one running the current binary is stopped first.
        if (Option.isSome(read.right) && read.right.value.step !== "done") {
          yield* Effect.zipRight(node.suspendRestarts, node.stop)
        }
        yield* recovery.recover
        yield* recovery.ensureStarted
      }))
      return (yield* SubscriptionRef.get(state)).pausedByJournal === null
    })

    /** plan-invalid for each newly refused hand edit; each marked `failed` with its reason (retried while the plan cannot take it). */
    const refuse = Effect.gen(function*() {
      const { refused } = yield* SubscriptionRef.get(state)
      const fresh = [...refused.entries()].filter(([, r]) => !r.reported)
      for (const [, r] of fresh) {
        yield* Effect.logError(`${config.layout.plan}: upgrade ${r.upgrade.name} refused: ${r.reason}`)
        yield* events.publish({
          type: "plan-invalid",
          path: config.layout.plan,
          reason: `upgrade '${r.upgrade.name}': ${r.reason}`
        })
      }
      if (fresh.length > 0) yield* SubscriptionRef.update(state, State.refusalsReported(fresh.map(([k]) => k)))
      const plan = State.actingPlan(yield* SubscriptionRef.get(state))
      if (Option.isNone(plan)) return
      for (const [key, r] of refused) {
        const cur = findUpgrade(plan.value, r.upgrade.name)
        if (cur === undefined || State.entryKey(cur) !== key || !isPending(cur.status)) continue
        yield* records
          .updatePlan((p, now) => {
            const u = findUpgrade(p, r.upgrade.name)
            return [
              undefined,
              u !== undefined && State.entryKey(u) === key && isPending(u.status)
                ? setStatus(p, u.name, "failed", r.reason, now).plan
                : p
            ] as const
          })
          .pipe(Effect.catchAll((e) =>
            Effect.logWarning(`upgrade ${r.upgrade.name} refused, but the plan does not say so yet: ${e.message}`)
          ))
      }
    })

    /** A plan file deleted under us is written again from the last valid plan (ARCHITECTURE §7). */
    const restore = (plan: UpgradePlan) =>
      records.restorePlan(plan).pipe(
        Effect.catchAll((e) =>
          Effect.logError(
            `${config.layout.plan} is missing and could not be re-created yet: ${e.message}; upgrades go on from the last valid plan`
          )
        )
      )

    const tick = Effect.gen(function*() {
      const s = yield* SubscriptionRef.get(state)
      if (s.halted !== null) {
        return
      }
      if (s.pausedByJournal !== null && !(s.pausedByJournal.recheck && (yield* journalFixed))) {
        return
      }
      const before = yield* SubscriptionRef.get(state)
      const missing = Option.exists(before.snapshot, (snap) =>
        snap._tag === "Missing")
      if (missing && Option.isSome(before.lastValid) && before.lastValid.value.upgrades.length > 0) {
        yield* restore(before.lastValid.value)
      }
      if (Option.isSome(before.unclosed) && !(yield* outcome.close(before.unclosed.value))) return
      const now = yield* SubscriptionRef.get(state)
      if (Option.isNone(now.snapshot)) return
      const snap = now.snapshot.value
      if (snap._tag === "Corrupt") {
        if (Option.isNone(now.lastValid)) {
          const why = `upgrades paused: ${snap.error.message}`
          if ((yield* SubscriptionRef.modify(state, State.pauseByPlan(why))) !== why) {
            yield* Effect.logError(
              `${why}; no valid plan was read before it to go on from; the node is supervised on the current binary`
            )
          }
          return
        }
        if ((yield* Ref.getAndSet(toldCorrupt, snap.error.message)) !== snap.error.message) {
          yield* Effect.logError(
            `${snap.error.message}; upgrades go on from the last valid plan read (${
              pending(now.lastValid.value)
            } pending) until it is fixed; the file is never overwritten`
          )
        }
      } else {
        yield* Ref.set(toldCorrupt, null)
      }
      if ((yield* SubscriptionRef.modify(state, State.pauseByPlan(null))) !== null) {
        yield* Effect.logInfo("the plan file is readable again; upgrades resumed")
      }
      yield* refuse
      // Preparation writes the plan as it goes: only over a plan file that can take it.
      if (snap._tag === "Valid") yield* preparations.reconcile(snap.plan)
      // One at a time, lowest first; after each, look again at the latest height and plan.
      for (;;) {
        const now = yield* SubscriptionRef.get(state)
        if (now.halted !== null || Option.isSome(now.unclosed)) return
        const due = State.nextDue(now)
        if (Option.isNone(due)) return
        if (now.pausedByOperator !== null) {
          // Held, not dropped: it stays pending and fires at once on `upgrade resume`.
          if ((yield* Ref.getAndSet(toldHeld, due.value.name)) !== due.value.name) {
            yield* Effect.logWarning(
              `upgrade ${due.value.name} reached its height ${due.value.height} but upgrades are paused by the operator; it fires on \`wemixvisor upgrade resume\``
            )
          }
          return
        }
        yield* Ref.set(toldHeld, null)
        if (!(yield* acting(run.runUpgrade(due.value)))) return
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
          Effect.gen(function*() {
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
      Stream.runForEach((s) =>
        Effect.all([SubscriptionRef.update(state, State.planSeen(s)), preparations.planChanged, signal])
      ),
      Effect.forkScoped
    )
    // The fallback tick: binary checks and retries happen even when neither heights nor plans change
    // (a stalled chain). Heights and plan changes wake the loop at once; this only covers the quiet.
    yield* Cadence.repeat(signal, quietTick(() => config.pollInterval)).pipe(Effect.forkScoped)

    // Recovery runs in the background too: a replayed verify takes up to DAEMON_VERIFY_TIMEOUT,
    // and the rest of `run` (API, status) must not wait for it.
    yield* Effect.gen(function*() {
      // A restore of the data dir cut short by a crash is finished (or undone) before any node touches the data.
      if (config.backup || fs.existsSync(config.layout.backups)) {
        yield* survive(backups.recover.pipe(Effect.catchAll((e) =>
          Effect.logError(`checking ${config.dataDir} after a restore: ${e.message}`)
        )))
      }
      yield* acting(Effect.zipRight(survive(recovery.recover), survive(recovery.ensureStarted)))
      yield* Effect.forever(Queue.take(wake).pipe(Effect.zipRight(survive(tick))))
    }).pipe(Effect.forkScoped)
    return { wake: signal }
  })
