import { Duration, Effect, Either, Option, Ref, Schedule, Stream } from "effect"
import type { NodeUnreachable } from "../domain/Errors.js"
import type { Height } from "../domain/Height.js"
import { monotonic, type Observed, type Reorg } from "./Monotonic.js"

/*
 * The timing core of the height watcher, free of viem: it takes "read the head
 * once" as an Effect and "subscribe to new heads" as a Stream, so the rules
 * (poll cadence, retries, logging on transitions, the monotonic filter) run the
 * same against a real node and against a scripted fetcher under TestClock.
 */

/** One poll every `interval`, on a fixed cadence; a slow answer delays the next poll, never stacks them. */
export const pollSchedule = (interval: Duration.DurationInput) => Schedule.fixed(interval)

/**
 * Reconnecting the push subscription: 100 ms, doubling, capped at 5 s, forever
 * (a node that restarts or is upgraded comes back; polling covers the gap).
 * Stream.retry resets it as soon as a height arrives again.
 */
export const pushRetrySchedule: Schedule.Schedule<unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.either(Schedule.spaced("5 seconds"))
)

type Reach = "unknown" | "up" | "down"

/**
 * Heights read by polling. Never fails, never ends: a failed read is skipped.
 * Logs once when the node becomes unreachable (warning) and once when it
 * answers again (info) — not once per failed poll.
 */
export const polled = (
  fetchHead: Effect.Effect<Height, NodeUnreachable>,
  interval: Duration.DurationInput
): Stream.Stream<Height> =>
  Stream.unwrap(
    Effect.map(Ref.make<Reach>("unknown"), (reach) =>
      Stream.repeatEffectWithSchedule(Effect.either(fetchHead), pollSchedule(interval)).pipe(
        Stream.tap(
          Either.match({
            onLeft: (error) =>
              Ref.getAndSet(reach, "down").pipe(
                Effect.flatMap((was) =>
                  was === "down"
                    ? Effect.void
                    : Effect.logWarning(`${error.message}; retrying every ${Duration.format(interval)}`).pipe(
                        Effect.annotateLogs({ url: error.url })
                      )
                )
              ),
            onRight: (height) =>
              Ref.getAndSet(reach, "up").pipe(
                Effect.flatMap((was) =>
                  was === "up"
                    ? Effect.void
                    : Effect.logInfo(was === "down" ? "node RPC reachable again" : "node RPC reachable").pipe(
                        Effect.annotateLogs({ height })
                      )
                )
              )
          })
        ),
        Stream.filterMap(Either.getRight)
      )
    )
  )

/**
 * Heights pushed by a subscription (`connect` opens one connection and fails
 * when it is lost), reconnected on `retry` forever. Logs once when the
 * subscription is lost and once when it is back.
 */
export const pushed = (
  connect: Stream.Stream<Height, NodeUnreachable>,
  retry: Schedule.Schedule<unknown, NodeUnreachable> = pushRetrySchedule
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
                    Effect.annotateLogs({ height })
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
                    Effect.annotateLogs({ url: error.url })
                  )
            )
          )
        ),
        Stream.retry(retry),
        // The schedule never gives up, so no failure gets past retry.
        Stream.orDie
      )
    )
  )

export interface HeightSources {
  /** One direct read of the head. */
  readonly fetchHead: Effect.Effect<Height, NodeUnreachable>
  readonly pollInterval: Duration.DurationInput
  /** One push connection (e.g. WebSocket newHeads), merged with polling, which stays as the fallback. */
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
  const tag =
    (source: string) =>
    (height: Height): Observed => ({ source, height })
  const poll = polled(sources.fetchHead, sources.pollInterval).pipe(Stream.map(tag("poll")))
  const all = Option.match(sources.push, {
    onNone: () => poll,
    onSome: (connect) => Stream.merge(poll, pushed(connect, sources.pushRetry).pipe(Stream.map(tag("push"))))
  })
  return all.pipe(monotonic(onReorg, start))
}
