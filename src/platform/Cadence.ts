import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"

/*
 * Repeating on a Schedule, for the loops that run all the time.
 *
 * Effect.repeat and Stream.repeatEffectWithSchedule hand every iteration the
 * schedule's CurrentIterationMetadata through the fiber's Context: two Context
 * updates per iteration, and the runtime compares each new Context with the
 * last one by Equal.equals, which hashes every service in it. An idle
 * supervisor does little else than three such loops every 300 ms (height
 * poll, plan check, orchestrator tick), and this was a third of its CPU
 * (scripts/bench-idle.mjs). Nothing of ours reads that metadata, so these
 * drive the same Schedule values with Schedule.driver directly: same cadence,
 * same policies, no Context traffic.
 */

/** `self` now, then again at each step of `schedule`, until the schedule ends or `self` fails. */
export const repeat = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  schedule: Schedule.Schedule<unknown, A>
): Effect.Effect<void, E, R> =>
  Effect.flatMap(Schedule.driver(schedule), (driver) => {
    const loop: Effect.Effect<void, E, R> = Effect.flatMap(self, (a) =>
      Effect.matchEffect(driver.next(a), { onFailure: () => Effect.void, onSuccess: () => loop }))
    return loop
  })

/** A stream of `self`'s results: the first at once, then one per step of `schedule`, until it ends. */
export const stream = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  schedule: Schedule.Schedule<unknown, A>
): Stream.Stream<A, E, R> =>
  Stream.unwrap(
    Effect.map(Schedule.driver(schedule), (driver) =>
      Stream.unfoldEffect(Option.none<A>(), (last) =>
        Effect.matchEffect(Option.isNone(last) ? Effect.void : driver.next(last.value), {
          onFailure: () =>
            Effect.succeed(Option.none()),
          onSuccess: () =>
            Effect.map(self, (a) => Option.some([a, Option.some(a)] as const))
        })))
  )

/**
 * A loop's period: fixed, or read again at each step — a reload of
 * DAEMON_POLL_INTERVAL (config/Reload.ts) reaches the loops that run all the
 * time without restarting them: `() => config.pollInterval` over the live
 * configuration view.
 */
export type Period = Duration.DurationInput | (() => Duration.DurationInput)

/** The period's length now. */
export const periodNow = (period: Period): Duration.Duration =>
  Duration.decode(typeof period === "function" ? period() : period)

/**
 * One step per `period` (read at each step), after the step before: a slow
 * iteration delays the next, never stacks them. `atLeast` bounds it below.
 */
export const spaced = (period: Period, atLeast: Duration.DurationInput = Duration.zero): Schedule.Schedule<number> =>
  Schedule.addDelay(Schedule.forever, () => Duration.max(periodNow(period), Duration.decode(atLeast)))
