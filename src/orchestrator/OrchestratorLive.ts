import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { Backups } from "../binaries/Backup.js"
import { BinaryStore } from "../binaries/BinaryStore.js"
import type { Preparer } from "../binaries/Preparer.js"
import { AppConfig } from "../config/Config.js"
import type { StatusObject } from "../domain/Status.js"
import type { Target } from "../domain/Target.js"
import type { Events } from "../events/Events.js"
import { ChainPace } from "../height/ChainPace.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { etaOf, headAgeSeconds } from "../height/Pace.js"
import { NodeProcess } from "../node/NodeProcess.js"
import type { History } from "../upgrades/History.js"
import * as Journal from "../upgrades/Journal.js"
import type { PlanStore } from "../upgrades/PlanStore.js"
import type { UpgradeSource } from "../upgrades/UpgradeSource.js"
import type { CrashPoints } from "./CrashPoints.js"
import type { Hooks } from "./Hooks.js"
import * as Loop from "./Loop.js"
import { Orchestrator } from "./Orchestrator.js"
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

/** Seconds to the millisecond: what the clock resolves, no float noise (`2.0000000001`) in the JSON. */
const toMillis = (seconds: number) => Math.round(seconds * 1000) / 1000

const make = Effect.gen(function*() {
  const config = yield* AppConfig
  const node = yield* NodeProcess
  const heights = yield* HeightProvider
  const binaries = yield* BinaryStore
  const pace = yield* ChainPace
  const journal = Journal.make(config.layout.journal)
  const state = yield* SubscriptionRef.make(State.initial)

  const records = yield* Records.make(state)
  const preparations = yield* Preparations.make(state, records)
  const steps = yield* Steps.make(state, records, journal)
  const outcome = yield* Outcome.make(state, records, journal)
  const run = yield* Run.make(state, records, steps, outcome, preparations)
  const recovery = yield* Recovery.make(state, records, journal, outcome, run)

  const current = yield* Effect.either(binaries.current)
  if (Either.isLeft(current)) yield* Effect.logError(current.left.message)
  else yield* SubscriptionRef.update(state, State.currentIs(current.right))

  yield* Loop.start({ state, journal, preparations, outcome, run, recovery, records })

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
        plan_problem: State.planProblem(now)
      } satisfies StatusObject
    }),
    paused: SubscriptionRef.get(state).pipe(Effect.map(State.paused)),
    halted: SubscriptionRef.get(state).pipe(Effect.map((s) => s.halted)),
    prepare: preparations.prepare
  })
})

/** Live: every service the orchestrator drives, CrashPoints included (its live layer injects nothing). */
export const layer: Layer.Layer<
  Orchestrator,
  never,
  | AppConfig
  | Events
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
