import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { Backups } from "../binaries/Backup.js"
import { BinaryStore } from "../binaries/BinaryStore.js"
import type { Preparer } from "../binaries/Preparer.js"
import { AppConfig } from "../config/Config.js"
import { UpgradeConflict } from "../domain/Errors.js"
import { openProposals, type OperatorPause, type StatusObject } from "../domain/Status.js"
import type { Target } from "../domain/Target.js"
import { Events } from "../events/Events.js"
import { Governance } from "../governance/Governance.js"
import { Proposals } from "../governance/Proposals.js"
import { ChainPace } from "../height/ChainPace.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { etaOf, headAgeSeconds } from "../height/Pace.js"
import { NodeProcess } from "../node/NodeProcess.js"
import { History, type HistoryEntry, type Origin, originFields } from "../upgrades/History.js"
import * as Journal from "../upgrades/Journal.js"
import * as PauseMarker from "../upgrades/PauseMarker.js"
import type { PlanStore } from "../upgrades/PlanStore.js"
import type { UpgradeSource } from "../upgrades/UpgradeSource.js"
import type { CrashPoints } from "./CrashPoints.js"
import type { Hooks } from "./Hooks.js"
import * as Loop from "./Loop.js"
import { type NodeRestarted, Orchestrator } from "./Orchestrator.js"
import * as Outcome from "./Outcome.js"
import * as Preparations from "./Preparations.js"
import * as Records from "./Records.js"
import * as Recovery from "./Recovery.js"
import * as Run from "./Run.js"
import * as State from "./State.js"
import * as Steps from "./Steps.js"

/*
 * The Orchestrator (Orchestrator.ts) wired from its parts: one state cell,
 * the records, preparations, steps, outcomes, the run of an upgrade, recovery
 * and the loop that drives them.
 */

/** What `node restart` answers while an upgrade (or its recovery) has the node. */
export const NODE_BUSY =
  "an upgrade (or its recovery) is acting on the node; it is not restarted meanwhile (see `wemixvisor upgrade status`)"

/** The history's name for lines about the node and the upgrades as a whole (an upgrade name cannot have parentheses). */
export const NODE_ENTRY = "(node)"
export const UPGRADES_ENTRY = "(upgrades)"

/** Seconds to the millisecond: what the clock resolves, no float noise (`2.0000000001`) in the JSON. */
const toMillis = (seconds: number) => Math.round(seconds * 1000) / 1000

const make = Effect.gen(function*() {
  const config = yield* AppConfig
  const node = yield* NodeProcess
  const heights = yield* HeightProvider
  const binaries = yield* BinaryStore
  const pace = yield* ChainPace
  const journal = Journal.make(config.layout.journal)
  const history = yield* History
  const events = yield* Events
  const proposals = yield* Proposals
  const governance = yield* Governance
  const state = yield* SubscriptionRef.make(State.initial)
  /**
   * Held by whatever acts on the node — an upgrade, its recovery, a journal
   * replay (Loop.ts) — and by `node restart`, which is refused rather than
   * queued when it is taken: never two actors on the node.
   */
  const actor = yield* Effect.makeSemaphore(1)

  const records = yield* Records.make(state)
  const preparations = yield* Preparations.make(state, records)
  const steps = yield* Steps.make(state, records, journal)
  const outcome = yield* Outcome.make(state, records, journal)
  const run = yield* Run.make(state, records, steps, outcome, preparations)
  const recovery = yield* Recovery.make(state, records, journal, outcome, run)

  const current = yield* Effect.either(binaries.current)
  if (Either.isLeft(current)) yield* Effect.logError(current.left.message)
  else yield* SubscriptionRef.update(state, State.currentIs(current.right))

  // The operator's pause outlives a restart; one that cannot be read is kept, never guessed away.
  const marker = yield* Effect.either(PauseMarker.read(config.layout))
  const kept: OperatorPause | null = Either.isLeft(marker)
    ? { since: "unknown", by: "unknown", reason: `${marker.left.message}; \`wemixvisor upgrade resume\` removes it` }
    : Option.getOrNull(marker.right)
  if (kept !== null) {
    yield* SubscriptionRef.modify(state, State.pauseByOperator(kept))
    yield* Effect.logWarning(`${PauseMarker.describe(kept)}; no upgrade fires until \`wemixvisor upgrade resume\``)
  }

  const { wake } = yield* Loop.start({ state, journal, preparations, outcome, run, recovery, records, actor })

  /** A line of the audit trail; one that cannot be written is a warning, never a failed request. */
  const audit = (entry: HistoryEntry) =>
    history.append(entry).pipe(Effect.catchAll((e) => Effect.logWarning(`upgrade history not written: ${e.message}`)))

  const restartNode = (origin: Origin): Effect.Effect<NodeRestarted, UpgradeConflict> =>
    actor.withPermitsIfAvailable(1)(Effect.gen(function*() {
      const before = yield* node.status
      const halted = (yield* SubscriptionRef.get(state)).halted
      yield* Effect.logWarning(
        `node restart requested (${
          PauseMarker.byOf(origin)
        }; node ${before.state}): stopping it gracefully, then starting ${config.layout.currentBinary}`
      )
      if (halted !== null) {
        // As a restart of wemixvisor would: `current` points at the previous binary again, and upgrades go on.
        yield* SubscriptionRef.update(state, (s) => ({ ...s, halted: null }))
        yield* Effect.logWarning(`lifting the halt (${halted}): the node starts on the previous binary again`)
      }
      // A halt (or a verify cut short) may have left restarts suspended; a node started by hand is supervised again.
      yield* node.resumeRestarts
      yield* node.stop
      const started = yield* Effect.either(node.start)
      const after = yield* node.status
      yield* audit({
        name: NODE_ENTRY,
        step: "node-restart",
        result: Either.isLeft(started) ? "failed" : "ok",
        detail: Either.isLeft(started)
          ? started.left.message
          : `was ${before.state}${before.pid !== null ? ` (pid ${before.pid})` : ""}; now pid ${after.pid ?? "?"}${
            halted !== null ? "; halt lifted" : ""
          }`,
        ...originFields(origin)
      })
      yield* wake
      return {
        state: after.state,
        pid: after.pid,
        reason: Either.isLeft(started) ? started.left.message : after.reason
      }
    })).pipe(
      Effect.flatMap(Option.match({
        onNone: () => Effect.fail(new UpgradeConflict({ name: "", problem: NODE_BUSY })),
        onSome: Effect.succeed
      }))
    )

  const pause = (reason: string | null, origin: Origin) =>
    Effect.gen(function*() {
      const was = (yield* SubscriptionRef.get(state)).pausedByOperator
      const since = was?.since ?? (yield* Effect.map(DateTime.now, DateTime.formatIso))
      const next: OperatorPause = { since, by: PauseMarker.byOf(origin), reason }
      // The file first: a pause that is not on disk would be lost by a crash.
      yield* PauseMarker.write(config.layout, next)
      yield* SubscriptionRef.modify(state, State.pauseByOperator(next))
      yield* events.publish({
        type: "upgrades-paused",
        by: next.by,
        reason,
        message: `${PauseMarker.describe(next)}; no upgrade fires until \`wemixvisor upgrade resume\``
      })
      yield* audit({
        name: UPGRADES_ENTRY,
        step: "pause",
        result: "ok",
        ...(reason !== null ? { detail: reason } : {}),
        ...originFields(origin)
      })
      return next
    })

  const resume = (origin: Origin) =>
    Effect.gen(function*() {
      yield* PauseMarker.remove(config.layout)
      const was = yield* SubscriptionRef.modify(state, State.pauseByOperator(null))
      if (was === null) return null
      yield* events.publish({
        type: "upgrades-resumed",
        by: PauseMarker.byOf(origin),
        message: `upgrades resumed by the operator (${PauseMarker.byOf(origin)}; ${PauseMarker.describe(was)})`
      })
      yield* audit({ name: UPGRADES_ENTRY, step: "resume", result: "ok", ...originFields(origin) })
      // An upgrade whose height passed during the pause fires now, not at the next block.
      yield* wake
      return was
    })

  return Orchestrator.of({
    status: Effect.gen(function*() {
      const s = yield* node.status
      const seen = yield* heights.latest
      const now = yield* SubscriptionRef.get(state)
      const target = Option.getOrElse(
        yield* binaries.current.pipe(
          Effect.map(Option.some),
          Effect.orElse(() => SubscriptionRef.get(state).pipe(Effect.map((st) => st.lastCurrent)))
        ),
        (): Target => "genesis"
      )
      const at = yield* pace.now
      const pending = State.pending(now).map((u) => ({ ...u, ...etaOf(at, u.height) }))
      return {
        supervisor: "running",
        home: config.home,
        supervisor_pid: process.pid,
        current_height: Option.getOrNull(Option.orElse(seen, () => now.latest)),
        block_interval_seconds: Option.getOrNull(Option.map(at.interval, toMillis)),
        head_age_seconds: Option.isSome(at.head) ? toMillis(headAgeSeconds(at)) : null,
        node_state: s.state,
        node_pid: s.pid,
        restarts: s.restarts,
        current: target,
        version: yield* preparations.versionOf(target),
        pending_upgrade: pending[0] ?? null,
        pending,
        upgrading: now.inProgress !== null,
        in_progress: now.inProgress,
        last: State.last(now),
        paused: State.paused(now),
        upgrades_paused: now.pausedByOperator,
        plan_problem: State.planProblem(now),
        // The governance proposals not decided yet: an upgrade an operator sees coming.
        proposals: openProposals(yield* proposals.list),
        governance: yield* governance.state
      } satisfies StatusObject
    }),
    paused: SubscriptionRef.get(state).pipe(Effect.map(State.paused)),
    halted: SubscriptionRef.get(state).pipe(Effect.map((s) => s.halted)),
    prepare: preparations.prepare,
    restartNode,
    pause,
    resume,
    operatorPause: SubscriptionRef.get(state).pipe(Effect.map((s) => s.pausedByOperator))
  })
})

/**
 * Live: every service the orchestrator drives, CrashPoints included (its live
 * layer injects nothing), and the governance source and proposals its status shows.
 */
export const layer: Layer.Layer<
  Orchestrator,
  never,
  | AppConfig
  | Events
  | Proposals
  | Governance
  | NodeProcess
  | HeightProvider
  | ChainPace
  | BinaryStore
  | PlanStore
  | UpgradeSource
  | History
  | Backups
  | Hooks
  | Preparer
  | CrashPoints
> = Layer.scoped(Orchestrator, make)
