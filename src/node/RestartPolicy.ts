import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"

/*
 * When a crashed node is started again (ARCHITECTURE §1, §3).
 *
 * - Backoff: DAEMON_RESTART_DELAY, doubling each crash, jittered upward only
 *   (×1–1.2) so a fleet of nodes that crashed together does not restart in
 *   lockstep while no restart ever comes sooner than the operator configured,
 *   capped at DAEMON_RESTART_MAX_DELAY (the cap applies after the jitter).
 * - A node that stayed up at least DAEMON_RESTART_MAX_DELAY before crashing
 *   was not crash-looping: the backoff starts again from DAEMON_RESTART_DELAY.
 *   (Any threshold shorter than the cap would let a node that crashes every
 *   cap+ε seconds reset to the shortest delay forever.)
 * - More than DAEMON_MAX_RESTARTS restarts within DAEMON_RESTART_WINDOW: give
 *   up, the node goes to `error` (counted by the supervisor, not here).
 */

export interface RestartPolicyOptions {
  readonly restartDelay: Duration.DurationInput
  readonly restartMaxDelay: Duration.DurationInput
}

/** The backoff as a Schedule whose output is the delay before each restart (whole milliseconds). */
export const restartPolicy = (options: RestartPolicyOptions): Schedule.Schedule<Duration.Duration> => {
  const capMs = Duration.toMillis(options.restartMaxDelay)
  return Schedule.exponential(options.restartDelay, 2).pipe(
    Schedule.jitteredWith({ min: 1, max: 1.2 }),
    Schedule.modifyDelay((_, delay) => Duration.millis(Math.round(Math.min(Duration.toMillis(delay), capMs)))),
    Schedule.delays
  )
}

/** How long a node must stay up for its next crash to start the backoff from the beginning. */
export const stableAfter = (options: RestartPolicyOptions): Duration.Duration =>
  Duration.decode(options.restartMaxDelay)

/**
 * The restart policy stepped by hand, one crash at a time: the supervisor
 * needs each delay *before* sleeping it (to publish `node-restarting`), which
 * a ScheduleDriver does not give.
 */
export interface Backoff {
  /** The delay before the next restart; advances the policy. */
  readonly next: Effect.Effect<Duration.Duration>
  /** Back to the first delay. */
  readonly reset: Effect.Effect<void>
}

export const makeBackoff = (policy: Schedule.Schedule<Duration.Duration>): Effect.Effect<Backoff> =>
  Effect.map(Ref.make<unknown>(policy.initial), (state) => ({
    next: Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const [next, delay] = yield* policy.step(now, undefined, yield* Ref.get(state))
      yield* Ref.set(state, next)
      return delay
    }),
    reset: Ref.set(state, policy.initial)
  }))
