import type * as HttpClient from "@effect/platform/HttpClient"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as os from "node:os"
import { type Channel, describeChannel } from "../config/Channels.js"
import { AppConfig } from "../config/Config.js"
import { LiveConfig } from "../config/Reload.js"
import type { NotifyFailed } from "../domain/Errors.js"
import { Events, SEVERITIES, severityOf, type WemixvisorEvent } from "../events/Events.js"
import { Metrics, type NotifyResult } from "../metrics/Metrics.js"
import { deliver } from "./Deliver.js"
import type { Notice, Origin } from "./Message.js"

/*
 * Notifications for the life of `run` (ARCHITECTURE §10). One subscriber to
 * the event stream hands each event to every channel that wants it; each
 * channel has its own bounded queue and its own fiber, so a dead or slow
 * receiver delays nothing but its own later messages — never an upgrade,
 * never another channel. No tag: nothing calls into it.
 */

/** Notices a channel holds while it cannot send; more are dropped (counted, logged). */
export const QUEUE_CAPACITY = 100

/** Attempts at one notice before it is given up on. */
export const ATTEMPTS = 5

/** The attempts after the first: 1 s, 2 s, 4 s, 8 s apart. */
export const retrySchedule = Schedule.exponential("1 second", 2).pipe(Schedule.intersect(Schedule.recurs(ATTEMPTS - 1)))

const rank = (s: Channel["minSeverity"]) => SEVERITIES.indexOf(s)

/** Whether `c` sends `e`: its type is one of the channel's events, and it is as severe as the channel asks. */
export const wants = (c: Channel, e: WemixvisorEvent) =>
  c.events.has(e.type) && rank(severityOf(e)) >= rank(c.minSeverity)

/** Events alike for coalescing: the same type, about the same upgrade, with the same reason. */
export const coalesceKey = (e: WemixvisorEvent) =>
  [e.type, "name" in e ? e.name : "", "reason" in e ? e.reason : ""].join("\u0000")

interface Window {
  readonly last: WemixvisorEvent
  /** Events like the first held back since the window opened (or since the last summary). */
  readonly held: number
}

type Send = (c: Channel, n: Notice) => Effect.Effect<void, NotifyFailed>

/** One channel's lane: what it accepts (`offer`, never blocks) and the fiber that sends, in the caller's scope. */
const lane = (c: Channel, coalesce: Duration.Duration, send: Send, count: (r: NotifyResult) => Effect.Effect<void>) =>
  Effect.gen(function*() {
    const queue = yield* Effect.acquireRelease(Queue.dropping<Notice>(QUEUE_CAPACITY), Queue.shutdown)
    const windows = yield* Ref.make(new Map<string, Window>())
    const timers = yield* FiberMap.make<string>()

    const enqueue = (n: Notice) =>
      Effect.flatMap(Queue.offer(queue, n), (taken) =>
        taken ? Effect.void : Effect.zipRight(
          count("dropped"),
          Effect.logWarning(`notification to ${c.name} dropped: ${QUEUE_CAPACITY} are already waiting`).pipe(
            Effect.annotateLogs({ channel: c.name, event: n.event.type })
          )
        ))

    /** At each window's end: a summary of what it held back (and another window), or the window closes. */
    const closeWindow = (key: string): Effect.Effect<void> =>
      Effect.sleep(coalesce).pipe(
        Effect.zipRight(Ref.modify(windows, (m): readonly [Option.Option<Notice>, Map<string, Window>] => {
          const w = m.get(key)
          const next = new Map(m)
          if (w === undefined || w.held === 0) {
            next.delete(key)
            return [Option.none(), next]
          }
          next.set(key, { last: w.last, held: 0 })
          // The latest of the held events, saying how many came in all.
          return [Option.some({ event: w.last, repeats: w.held - 1 }), next]
        })),
        Effect.flatMap(Option.match({
          onNone: () => Effect.void,
          onSome: (n) => Effect.zipRight(enqueue(n), closeWindow(key))
        }))
      )

    const offer = (e: WemixvisorEvent): Effect.Effect<void> => {
      if (!wants(c, e)) return Effect.void
      if (Duration.toMillis(coalesce) === 0) return enqueue({ event: e, repeats: 0 })
      const key = coalesceKey(e)
      return Ref.modify(windows, (m): readonly [boolean, Map<string, Window>] => {
        const w = m.get(key)
        return [w === undefined, new Map(m).set(key, { last: e, held: w === undefined ? 0 : w.held + 1 })]
      }).pipe(
        Effect.flatMap((opens) =>
          opens
            ? Effect.zipRight(enqueue({ event: e, repeats: 0 }), FiberMap.run(timers, key, closeWindow(key)))
            : Effect.void
        ),
        Effect.asVoid
      )
    }

    const sendOne = (n: Notice) =>
      send(c, n).pipe(
        Effect.retry(retrySchedule),
        Effect.matchCauseEffect({
          onSuccess: () =>
            Effect.zipRight(
              count("delivered"),
              Effect.logInfo(`notification to ${c.name} delivered: ${n.event.type}`)
            ),
          onFailure: (cause) =>
            Effect.zipRight(
              count("failed"),
              Effect.logWarning(
                `notification to ${c.name} (${describeChannel(c)}) given up after ${ATTEMPTS} attempts: ${
                  Option.match(Cause.failureOption(cause), {
                    onNone: () => Cause.pretty(cause),
                    onSome: (e) => e.reason
                  })
                }`
              ).pipe(Effect.annotateLogs({ channel: c.name, event: n.event.type }))
            )
        })
      )
    yield* Queue.take(queue).pipe(Effect.flatMap(sendOne), Effect.forever, Effect.forkScoped)
    return { offer }
  })

/**
 * Every channel's lane, fed from the event stream (subscribed before this
 * returns, so nothing published afterwards is missed). `send` is one attempt
 * (Deliver.ts in `run`; a recorder in tests).
 */
export const make = (channels: ReadonlyArray<Channel>, coalesce: Duration.Duration, send: Send) =>
  Effect.gen(function*() {
    const events = yield* Events
    const metrics = yield* Metrics
    if (channels.length === 0) return
    const lanes = yield* Effect.forEach(channels, (c) => lane(c, coalesce, send, (r) => metrics.notified(c.name, r)))
    const stream = yield* events.subscribe
    yield* stream.pipe(
      Stream.runForEach((e) => Effect.forEach(lanes, (l) => l.offer(e), { discard: true })),
      Effect.forkScoped
    )
    yield* Effect.logInfo(
      `notifications to ${channels.map((c) => `${c.name} (${describeChannel(c)})`).join(", ")}`
    )
  })

/** This machine and home, as every message names them. */
export const originOf = (home: string): Origin => ({ host: os.hostname(), home })

/**
 * Live: the configured channels, sending with Deliver.ts over the HTTP
 * client. A reload that changes the channels (config/Reload.ts) starts new
 * lanes before the old ones close: an event published in between may go out
 * twice, none is missed; notices still queued in the old lanes are dropped.
 */
export const layer: Layer.Layer<never, never, AppConfig | Events | Metrics | HttpClient.HttpClient> = Layer
  .scopedDiscard(
    Effect.gen(function*() {
      const config = yield* AppConfig
      const origin = originOf(config.home)
      const context = yield* Effect.context<HttpClient.HttpClient | Events | Metrics>()
      const layerScope = yield* Effect.scope
      const start = (channels: ReadonlyArray<Channel>, coalesce: Duration.Duration) =>
        Effect.gen(function*() {
          const scope = yield* Scope.fork(layerScope, ExecutionStrategy.sequential)
          yield* make(channels, coalesce, (c, n) => deliver(c, n, origin).pipe(Effect.provide(context))).pipe(
            Scope.extend(scope),
            Effect.provide(context)
          )
          return scope
        })
      let running = yield* start(config.notify, config.notifyCoalesce)
      const live = yield* Effect.serviceOption(LiveConfig)
      if (Option.isNone(live)) return
      const key = (c: { readonly notify: ReadonlyArray<Channel>; readonly notifyCoalesce: Duration.Duration }) =>
        JSON.stringify([c.notify, Duration.toMillis(c.notifyCoalesce)])
      let runningKey = key(config)
      yield* live.value.changes.pipe(
        Stream.filter((c) => key(c) !== runningKey),
        Stream.runForEach((c) =>
          Effect.gen(function*() {
            const next = yield* start(c.notify, c.notifyCoalesce)
            yield* Scope.close(running, Exit.void)
            running = next
            runningKey = key(c)
          })
        ),
        Effect.forkScoped
      )
    })
  )
