import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { AppConfig } from "../config/Config.js"
import { Events, type WemixvisorEvent } from "../events/Events.js"
import { ChainPace } from "../height/ChainPace.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { Orchestrator } from "../orchestrator/Orchestrator.js"
import * as Rules from "./Rules.js"

/*
 * The warnings of Rules.ts, run for the life of `run`: the stall and
 * upgrade-soon rules every CHECK_EVERY on the Clock (from the status and the
 * chain's pace), the blind rule on each `upgrade-started`. Each becomes an
 * event (so the log, SSE, WatchEvents, the metrics and the notifications
 * all carry it). No tag: nothing calls into it.
 */

/** How often the stall and upgrade-soon rules are checked: far finer than their 60 s and 10 min. */
export const CHECK_EVERY = Duration.seconds(5)

/** How long a blind check waits for the heights it follows to reach the head the upgrade fired at. */
const SIGHT_WAIT = Duration.seconds(5)

const make = Effect.gen(function*() {
  const config = yield* AppConfig
  const pace = yield* ChainPace
  const heights = yield* HeightProvider
  const events = yield* Events
  const orchestrator = yield* Orchestrator

  const stall = yield* Ref.make<Rules.StallState>(Option.none())
  const soon = yield* Ref.make<Rules.SoonState>(new Map())
  const check = Effect.gen(function*() {
    const status = yield* orchestrator.status
    const p = yield* pace.now
    const step = yield* Ref.modify(stall, (s) => {
      const [next, out] = Rules.stallStep(s, p, config.stallAfter, status.pending)
      return [out, next] as const
    })
    if (step._tag === "Stalled") yield* events.publish(step.event)
    if (step._tag === "Moving") yield* Effect.logInfo(`the chain head moves again: ${step.from} → ${step.to}`)
    const due = yield* Ref.modify(soon, (s) => {
      const [next, out] = Rules.soonStep(s, status.pending, status.upgrades_paused !== null)
      return [out, next] as const
    })
    yield* Effect.forEach(due, events.publish, { discard: true })
  }).pipe(
    // A check that fails is logged; the next one runs as usual.
    Effect.catchAllCause((cause) => Effect.logError("warning check failed", cause))
  )
  yield* check.pipe(Effect.repeat(Schedule.spaced(CHECK_EVERY)), Effect.forkScoped)

  // The heights as this rule needs them: each head, and the reads that failed since.
  // A fiber per feed rather than a Stream.merge: no queue hand-off per height (scripts/bench-idle.mjs).
  const sight = yield* SubscriptionRef.make(Rules.initialSight)
  const seen = (f: (s: Rules.Sight, at: number) => Rules.Sight) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) => SubscriptionRef.update(sight, (s) => f(s, at)))
  yield* heights.heights.pipe(
    Stream.runForEach((h) => seen((s, at) => Rules.sawHead(s, h, at))),
    Effect.forkScoped
  )
  if (heights.rpcReads) {
    yield* heights.rpcReads.pipe(
      Stream.runForEach((r) => (r._tag === "Failed" ? seen(Rules.readFailed) : Effect.void)),
      Effect.forkScoped
    )
  }

  const blind = (started: Extract<WemixvisorEvent, { type: "upgrade-started" }>) =>
    sight.changes.pipe(
      // The orchestrator fired on a head this fiber may not have taken in yet.
      Stream.filter((s) => Option.exists(s.head, (h) => h >= started.current_height)),
      Stream.runHead,
      Effect.timeout(SIGHT_WAIT),
      Effect.option,
      Effect.flatMap(() => SubscriptionRef.get(sight)),
      Effect.flatMap((s) =>
        Option.match(Rules.passedBlind(s, started), {
          onNone: () => Effect.void,
          onSome: events.publish
        })
      )
    )
  // Subscribed before the layer is built, so no upgrade-started is missed.
  const stream = yield* events.subscribe
  yield* stream.pipe(
    Stream.filter((e): e is Extract<WemixvisorEvent, { type: "upgrade-started" }> => e.type === "upgrade-started"),
    Stream.runForEach(blind),
    Effect.forkScoped
  )
})

/** Live: the warnings of one supervisor, for the life of the layer. */
export const layer: Layer.Layer<never, never, AppConfig | ChainPace | HeightProvider | Events | Orchestrator> = Layer
  .scopedDiscard(make)
