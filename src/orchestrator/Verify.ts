import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { AppConfig } from "../config/Config.js"
import type { Height } from "../domain/Height.js"
import { describeExit } from "../domain/Node.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { NodeProcess } from "../node/NodeProcess.js"
import { VerifyFailed } from "./Errors.js"

/**
 * ARCHITECTURE §7 verify: within DAEMON_VERIFY_TIMEOUT the new process stays up
 * for DAEMON_VERIFY_MIN_UP (any exit fails at once: restarts are
 * suspended), its RPC answers, its head (read directly, not the monotonic
 * stream) is not below the head at stop and — with DAEMON_VERIFY_PROGRESS —
 * has advanced beyond the first head it reported during verify.
 */
export const verify = (
  headAtStop: Height | null
): Effect.Effect<void, VerifyFailed, AppConfig | NodeProcess | HeightProvider> =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const node = yield* NodeProcess
    const heights = yield* HeightProvider
    const startedAt = yield* Clock.currentTimeMillis
    const minUp = Duration.toMillis(config.verifyMinUp)
    const poll = Duration.toMillis(config.pollInterval)
    const pid = (yield* node.status).pid
    const problem = yield* Ref.make("the node's RPC has not answered yet")
    const baseline = yield* Ref.make(Option.none<Height>())

    /** One look: how long to wait before the next one, or 0 when verify passed. */
    const look = Effect.gen(function*() {
      const head = yield* Effect.either(heights.head)
      const upFor = (yield* Clock.currentTimeMillis) - startedAt
      if (Either.isLeft(head)) {
        yield* Ref.set(problem, `the node's RPC does not answer (${head.left.message})`)
        return poll
      }
      const h = head.right
      const base = yield* Ref.modify(baseline, (b) => {
        const v = Option.getOrElse(b, () => h)
        return [v, Option.some(v)]
      })
      if (headAtStop !== null && h < headAtStop) {
        yield* Ref.set(problem, `its head ${h} is below the head at stop (${headAtStop})`)
        return poll
      }
      if (config.verifyProgress && h <= base) {
        yield* Ref.set(problem, `its head has not advanced beyond ${base}`)
        return poll
      }
      if (upFor < minUp) {
        yield* Ref.set(problem, `it was up for only ${upFor} ms of the ${minUp} ms required`)
        return Math.min(poll, minUp - upFor)
      }
      return 0
    })
    const passes: Effect.Effect<void> = Effect.suspend(() =>
      look.pipe(Effect.flatMap((wait) => (wait === 0 ? Effect.void : Effect.zipRight(Effect.sleep(wait), passes))))
    )

    const died = node.changes.pipe(
      Stream.filter((s) => s.state !== "running" && s.state !== "starting"),
      Stream.runHead,
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.never,
          onSome: (s) =>
            Effect.fail(
              new VerifyFailed({
                reason: `the node is ${s.state}${s.lastExit ? ` (${describeExit(s.lastExit)})` : ""}`
              })
            )
        })
      )
    )
    const exited = node.exits.pipe(
      Stream.filter((e) => pid === null || e.pid === pid),
      Stream.runHead,
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.never,
          onSome: (e) => Effect.fail(new VerifyFailed({ reason: `the node ${describeExit(e)}` }))
        })
      )
    )

    yield* Effect.raceFirst(passes, Effect.raceFirst(died, exited)).pipe(
      Effect.timeout(config.verifyTimeout),
      Effect.catchTag("TimeoutException", () =>
        Ref.get(problem).pipe(
          Effect.flatMap((p) =>
            Effect.fail(
              new VerifyFailed({ reason: `did not pass within ${Duration.format(config.verifyTimeout)}: ${p}` })
            )
          )
        ))
    )
  })
