import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { BinaryStore } from "../binaries/BinaryStore.js"
import { AppConfig } from "../config/Config.js"
import { findUpgrade, pendingUpgrades, setStatus } from "../domain/Plan.js"
import { failurePolicy, type Upgrade } from "../domain/Upgrade.js"
import { Events } from "../events/Events.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { NodeProcess } from "../node/NodeProcess.js"
import { JournalEntry } from "../upgrades/Journal.js"
import { PlanStore } from "../upgrades/PlanStore.js"
import { type ChainIdReader, chainMismatch, readChainIdLive, warnOnMismatchAtStart } from "./ChainGuard.js"
import { StartFailed, SwitchFailed } from "./Errors.js"
import { Hooks } from "./Hooks.js"
import type { Outcome } from "./Outcome.js"
import type { Preparations } from "./Preparations.js"
import type { Records } from "./Records.js"
import * as State from "./State.js"
import type { Steps } from "./Steps.js"
import { verify } from "./Verify.js"

/*
 * Running an upgrade, fresh or replayed from the journal: pre-stop → stop →
 * backup → switch → pre-upgrade → start → verify → done, every failure after
 * the node was touched recovered by tag into a rollback (or a halt).
 */

/** How often an upgrade's `upgrading` mark is tried again while the plan cannot take it (each try waits for the lock first). */
export const markRetry = Schedule.spaced("1 second")

/** The journaled steps a (replayed) upgrade can run from, in order. */
export type Resume = "pre-stop" | "stop" | "backup" | "switch" | "pre-upgrade" | "start"
const RESUME_ORDER: ReadonlyArray<Resume> = ["pre-stop", "stop", "backup", "switch", "pre-upgrade", "start"]

export interface Run {
  /** The upgrade of `first` from step `from` on, to its end (done, rolled back or halted). */
  readonly execute: (first: JournalEntry, from: Resume) => Effect.Effect<void>
  /** Fires `u` (its height is reached). False when the plan could not be marked and the next tick should retry. */
  readonly runUpgrade: (u: Upgrade) => Effect.Effect<boolean>
}

export const make = (
  state: State.StateRef,
  records: Records,
  steps: Steps,
  outcome: Outcome,
  preparations: Preparations,
  readChainId: ChainIdReader = readChainIdLive
): Effect.Effect<
  Run,
  never,
  AppConfig | Events | NodeProcess | HeightProvider | BinaryStore | Hooks | PlanStore | Scope.Scope
> =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const events = yield* Events
    const node = yield* NodeProcess
    const heights = yield* HeightProvider
    const binaries = yield* BinaryStore
    const hooks = yield* Hooks
    const plans = yield* PlanStore
    const scope = yield* Effect.scope
    const context = yield* Effect.context<AppConfig | NodeProcess | HeightProvider>()
    const { skipped, updatePlan } = records
    const { step, enter } = steps
    const { close, rollback } = outcome
    // A wrong network said at the start, in the background: the guard below is what refuses.
    yield* Effect.forkIn(warnOnMismatchAtStart(config.chainId, config.rpcUrl, readChainId), scope)

    const execute: Run["execute"] = (first, from) => {
      const name = first.name
      const ctx = { name, height: first.height }
      const reached = (s: Resume) => RESUME_ORDER.indexOf(s) >= RESUME_ORDER.indexOf(from)
      // The entry as it grows: head at stop after the pre-stop hook, the backup once taken.
      let entry = first
      const forward = Effect.gen(function*() {
        // Replayed past `stop`: nobody in this run suspended them yet.
        if (!reached("stop")) yield* node.suspendRestarts
        if (reached("pre-stop")) {
          if (Option.isSome(config.preStop)) entry = yield* steps.preStop(entry)
          else yield* skipped(name, "pre-stop")
        }
        if (reached("stop")) {
          yield* step(entry, "stop", Effect.zipRight(node.suspendRestarts, node.stop))
          // Let the old node's database locks go before anything else touches its data.
          if (Duration.toMillis(config.upgradeDelay) > 0) yield* Effect.sleep(config.upgradeDelay)
        }
        if (reached("backup")) {
          if (config.backup) entry = yield* steps.backup(entry)
          else yield* skipped(name, "backup")
        }
        if (reached("switch")) {
          yield* step(
            entry,
            "switch",
            binaries.switchTo(name).pipe(
              Effect.mapError((cause) => new SwitchFailed({ target: name, cause })),
              Effect.zipRight(SubscriptionRef.update(state, State.currentIs(name)))
            )
          )
        }
        if (reached("pre-upgrade")) {
          // Replayed from here, the hook runs again: hooks are expected to be idempotent.
          if (Option.isSome(config.preUpgrade)) yield* step(entry, "pre-upgrade", hooks.preUpgrade(ctx))
          else yield* skipped(name, "pre-upgrade")
        }
        yield* step(entry, "start", node.start.pipe(Effect.mapError((cause) => new StartFailed({ cause }))))
        yield* step(entry, "verify", Effect.provide(verify(entry.head_at_stop), context))
        // The node runs the verified binary: a journal that cannot say "done" only means a replay verifies it again.
        const done = yield* enter(entry, "done").pipe(
          Effect.catchAll((e) =>
            Effect.logError(e.message).pipe(Effect.as(new JournalEntry({ ...entry, step: "done" })))
          )
        )
        yield* close({ entry: done, status: "done", reason: null, rolledBack: false, announced: "no" })
      })
      return forward.pipe(
        Effect.catchTags({
          BackupStepFailed: (e) => rollback(entry, e.message),
          SwitchFailed: (e) => rollback(entry, e.message),
          HookFailed: (e) => rollback(entry, e.message),
          StartFailed: (e) => rollback(entry, e.message),
          VerifyFailed: (e) => rollback(entry, e.message),
          JournalFailed: (e) =>
            e.step === "pre-stop" || e.step === "stop"
              // Nothing was touched yet: the old node runs on (or, after a replay, is started by the caller).
              ? close({ entry, status: "failed", reason: e.message, rolledBack: false, announced: "no" })
              : rollback(entry, e.message)
        }),
        Effect.asVoid,
        Effect.withSpan("Orchestrator.upgrade", { attributes: { name, from } })
      )
    }

    /** `upgrading` in the plan, retried until the lock frees (or the upgrade ended meanwhile). */
    const markUpgrading = (u: Upgrade) => {
      let told = false
      return updatePlan((plan, now) => {
        const cur = findUpgrade(plan, u.name)
        const waiting = cur !== undefined && cur.created_at === u.created_at && pendingUpgrades(plan).includes(cur)
        return [undefined, waiting ? setStatus(plan, u.name, "upgrading", null, now).plan : plan] as const
      }).pipe(
        Effect.tapError((e) =>
          told
            ? Effect.void
            : Effect.logWarning(
              `upgrade ${u.name}: the plan does not say upgrading yet (${e.message}); it will once the plan can take it`
            ).pipe(
              Effect.zipRight(Effect.sync(() => (told = true)))
            )
        ),
        Effect.retry(markRetry),
        Effect.ignore,
        Effect.forkIn(scope)
      )
    }

    const runUpgrade: Run["runUpgrade"] = (u) =>
      Effect.gen(function*() {
        yield* SubscriptionRef.update(state, State.fire(u.name, u.created_at))
        // The file as it is now, read without its lock: an upgrade cancelled or replaced since our
        // snapshot is not started. A file that is missing or corrupt leaves the last valid plan in charge.
        const onDisk = yield* Effect.either(plans.readFile)
        if (Either.isRight(onDisk) && Option.isSome(onDisk.right)) {
          const cur = findUpgrade(onDisk.right.value, u.name)
          if (!cur || cur.created_at !== u.created_at || !pendingUpgrades(onDisk.right.value).includes(cur)) return true
        }
        const problem = yield* preparations.readyAtHeight(u)
        if (Option.isSome(problem)) {
          yield* outcome.notReady(u, problem.value)
          return true
        }
        const from = yield* Effect.either(binaries.current)
        if (Either.isLeft(from)) {
          yield* outcome.failUntouched(u, `cannot read current: ${from.left.message}`)
          return true
        }
        // Before anything touches the node: on another chain, it keeps running the old binary.
        const wrongChain = yield* chainMismatch(config.chainId, config.rpcUrl, readChainId)
        if (Option.isSome(wrongChain)) {
          yield* outcome.failUntouched(u, wrongChain.value)
          return true
        }
        // The journal is what starts an upgrade, not the plan lock (ARCHITECTURE §7): the plan is marked
        // `upgrading` in the background, whenever its lock frees; cancel refuses an upgrade the
        // journal names. A crash before the journal leaves at most an `upgrading` mark, which
        // recovery turns back into a pending upgrade that simply fires again.
        yield* markUpgrading(u)
        const seen = (yield* SubscriptionRef.get(state)).latest
        yield* events.publish({
          type: "upgrade-started",
          name: u.name,
          height: u.height,
          current_height: Option.getOrElse(seen, () => u.height)
        })
        // The head at stop, read directly; the last height seen when the RPC is down.
        const headAtStop = yield* heights.head.pipe(
          Effect.map(Option.some),
          Effect.orElse(() => Effect.succeed(seen))
        )
        const entry = new JournalEntry({
          name: u.name,
          height: u.height,
          from: from.right,
          step: "stop",
          head_at_stop: Option.getOrNull(headAtStop),
          started_at: DateTime.formatIso(yield* DateTime.now),
          reason: null,
          // Journaled with the first step: a replay keeps this policy even if the plan or the env changed.
          on_failure: failurePolicy(u, config.onUpgradeFailure)
        })
        yield* Effect.logInfo(`upgrade ${u.name} at height ${u.height}: ${from.right} -> ${u.name}`)
        yield* execute(entry, "pre-stop")
        return true
      })

    return { execute, runUpgrade }
  })
