import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { NodeUnreachable } from "../domain/Errors.js"
import type { Height } from "../domain/Height.js"
import * as Cadence from "../platform/Cadence.js"
import { monotonic, type Observed, type Reorg } from "./Monotonic.js"

/*
 * The timing core of the height watcher, free of viem: it takes "read the head
 * once" as an Effect and "subscribe to new heads" as a Stream, so the rules
 * (poll cadence, retries, logging on transitions, the monotonic filter) run the
 * same against a real node and against a scripted fetcher under TestClock.
 */

/** One poll every `interval` (read at each poll: it follows a reload); a slow answer delays the next poll, never stacks them. */
export const pollSchedule = (interval: Cadence.Period) => Cadence.spaced(interval)

/**
 * Reconnecting the push subscription: 100 ms, doubling, capped at 5 s, forever
 * (a node that restarts or is upgraded comes back; polling covers the gap).
 * Stream.retry resets it as soon as a height arrives again.
 */
export const pushRetrySchedule: Schedule.Schedule<unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.either(Schedule.spaced("5 seconds"))
)

/**
 * While the push subscription delivers, polling is only a safety net for a
 * subscription that goes quiet without failing: one read per this interval
 * (or per DAEMON_POLL_INTERVAL when that is longer). Polling every 300 ms
 * next to a working subscription was most of an idle supervisor's CPU
 * (scripts/bench-idle.mjs); the subscription is faster anyway.
 */
export const pushHealthyPollInterval = Duration.seconds(5)

type Reach = "unknown" | "up" | "down"

/**
 * Heights read by polling. Never fails, never ends: a failed read is skipped.
 * Logs once when the node becomes unreachable (warning) and once when it
 * answers again (info) — not once per failed poll. `reach` carries that
 * state across pollers that replace one another (watchHeights).
 *
 * A read that returns the height the previous one did is not emitted: with a
 * block every second or more and a poll every 300 ms, that is most polls,
 * and what follows (monotonic filter, subscribers) would only drop it again.
 * One effect per poll and one filter keep the idle cost down
 * (scripts/bench-idle.mjs).
 */
export const polled = (
  fetchHead: Effect.Effect<Height, NodeUnreachable>,
  interval: Cadence.Period,
  reach?: Ref.Ref<Reach>
): Stream.Stream<Height> =>
  Stream.unwrap(
    Effect.gen(function*() {
      const state = reach ?? (yield* Ref.make<Reach>("unknown"))
      const last = yield* Ref.make<Option.Option<Height>>(Option.none())
      const pollOnce: Effect.Effect<Option.Option<Height>> = Effect.matchEffect(fetchHead, {
        onFailure: (error) =>
          Ref.getAndSet(state, "down").pipe(
            Effect.flatMap((was) =>
              was === "down"
                ? Effect.void
                : Effect.logWarning(`${error.message}; retrying every ${Duration.format(Cadence.periodNow(interval))}`)
                  .pipe(
                    Effect.annotateLogs({ url: error.url })
                  )
            ),
            Effect.as(Option.none())
          ),
        onSuccess: (height) =>
          Ref.getAndSet(state, "up").pipe(
            Effect.flatMap((was) =>
              was === "up"
                ? Effect.void
                : Effect.logInfo(was === "down" ? "node RPC reachable again" : "node RPC reachable").pipe(
                  Effect.annotateLogs({ height })
                )
            ),
            Effect.zipRight(Ref.getAndSet(last, Option.some(height))),
            Effect.map((
              previous
            ) => (Option.isSome(previous) && previous.value === height ? Option.none() : Option.some(height)))
          )
      })
      return Cadence.stream(pollOnce, pollSchedule(interval)).pipe(Stream.filterMap(identity))
    })
  )

/**
 * Heights pushed by a subscription (`connect` opens one connection and fails
 * when it is lost), reconnected on `retry` forever. Logs once when the
 * subscription is lost and once when it is back; `up` (when given) follows
 * the same transitions: true from the first height of a connection, false
 * from its loss.
 */
export const pushed = (
  connect: Stream.Stream<Height, NodeUnreachable>,
  retry: Schedule.Schedule<unknown, NodeUnreachable> = pushRetrySchedule,
  up?: SubscriptionRef.SubscriptionRef<boolean>
): Stream.Stream<Height> =>
  Stream.unwrap(
    Effect.map(Ref.make<Reach>("unknown"), (reach) =>
      connect.pipe(
        Stream.tap((height) =>
          Ref.getAndSet(reach, "up").pipe(
            Effect.flatMap((was) =>
              was === "up"
                ? Effect.void
                : Effect.logInfo(was === "down" ? "head subscription restored" : "head subscription active").pipe(
                  Effect.annotateLogs({ height }),
                  Effect.zipRight(up === undefined ? Effect.void : SubscriptionRef.set(up, true))
                )
            )
          )
        ),
        Stream.tapError((error) =>
          Ref.getAndSet(reach, "down").pipe(
            Effect.flatMap((was) =>
              was === "down"
                ? Effect.void
                : Effect.logWarning(`head subscription lost (${error.message}); polling until it is back`).pipe(
                  Effect.annotateLogs({ url: error.url }),
                  Effect.zipRight(up === undefined ? Effect.void : SubscriptionRef.set(up, false))
                )
            )
          )
        ),
        Stream.retry(retry),
        // The schedule never gives up, so no failure gets past retry.
        Stream.orDie
      ))
  )

export interface HeightSources {
  /** One direct read of the head. */
  readonly fetchHead: Effect.Effect<Height, NodeUnreachable>
  readonly pollInterval: Cadence.Period
  /**
   * One push connection (e.g. WebSocket newHeads), merged with polling, which
   * stays as the fallback: at `pollInterval` while the subscription is down,
   * at pushHealthyPollInterval while it delivers.
   */
  readonly push: Option.Option<Stream.Stream<Height, NodeUnreachable>>
  readonly pushRetry?: Schedule.Schedule<unknown, NodeUnreachable>
}

/**
 * Strictly increasing heights from every source, merged. Never fails, never
 * ends. A drop is handed to `onReorg` once; `start` is the highest height
 * already emitted by an earlier run.
 */
export const watchHeights = (
  sources: HeightSources,
  onReorg: (reorg: Reorg) => Effect.Effect<void>,
  start: Option.Option<Height> = Option.none()
): Stream.Stream<Height> => {
  const tag = (source: string) => (height: Height): Observed => ({ source, height })
  const all = Option.match(sources.push, {
    onNone: () => polled(sources.fetchHead, sources.pollInterval).pipe(Stream.map(tag("poll"))),
    onSome: (connect) =>
      Stream.unwrap(
        Effect.gen(function*() {
          const pushUp = yield* SubscriptionRef.make(false)
          const reach = yield* Ref.make<Reach>("unknown")
          const slow = () => Duration.max(Cadence.periodNow(sources.pollInterval), pushHealthyPollInterval)
          // A new poller each time the subscription comes or goes: its first read is at once, so a lost one is covered at once.
          const poll = pushUp.changes.pipe(
            Stream.changes,
            Stream.flatMap((up) => polled(sources.fetchHead, up ? slow : sources.pollInterval, reach), { switch: true })
          )
          return Stream.merge(
            poll.pipe(Stream.map(tag("poll"))),
            pushed(connect, sources.pushRetry, pushUp).pipe(Stream.map(tag("push")))
          )
        })
      )
  })
  return all.pipe(monotonic(onReorg, start))
}
