import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, PubSub, Ref, Stream, SubscriptionRef, TestClock } from "effect"
import { AppConfig } from "../../src/config/Config.js"
import { NodeUnreachable } from "../../src/domain/Errors.js"
import { type Height } from "../../src/domain/Height.js"
import { initialNodeStatus, type NodeStatus } from "../../src/domain/Node.js"
import { HeightProvider } from "../../src/height/HeightProvider.js"
import { NodeProcess } from "../../src/node/NodeProcess.js"
import { verify } from "../../src/orchestrator/Verify.js"
import { h, makeWorld, settle } from "./fakes.js"

/* Verify alone (ARCHITECTURE §7), on the TestClock: min-up 5 s, timeout 20 s, poll 1 s (makeWorld's config). */

const setup = (env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const w = yield* makeWorld(env)
    const head = yield* Ref.make(Option.none<Height>())
    const status = yield* SubscriptionRef.make<NodeStatus>({ ...initialNodeStatus, state: "running", pid: 7 })
    const exits = yield* PubSub.unbounded<
      { readonly pid: number; readonly code: number | null; readonly signal: string | null; readonly expected: boolean }
    >()
    const layer = Layer.mergeAll(
      Layer.succeed(AppConfig, w.config),
      Layer.succeed(
        NodeProcess,
        NodeProcess.of({
          start: Effect.void,
          stop: Effect.void,
          status: SubscriptionRef.get(status),
          changes: status.changes,
          exits: Stream.fromPubSub(exits),
          suspendRestarts: Effect.void,
          resumeRestarts: Effect.void
        })
      ),
      Layer.succeed(
        HeightProvider,
        HeightProvider.of({
          heights: Stream.empty,
          latest: Effect.succeed(Option.none()),
          head: Ref.get(head).pipe(
            Effect.flatMap(Option.match({
              onNone: () => Effect.fail(new NodeUnreachable({ url: w.config.rpcUrl, cause: new Error("refused") })),
              onSome: Effect.succeed
            }))
          )
        })
      )
    )
    const run = (headAtStop: Height | null) => verify(headAtStop).pipe(Effect.provide(layer), Effect.exit, Effect.fork)
    return { head, exits, run }
  })

describe("Verify", () => {
  it.scoped("passes once the node was up for DAEMON_VERIFY_MIN_UP with its RPC answering, not before", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* Ref.set(t.head, Option.some(h(100)))
      const fiber = yield* t.run(h(100))
      yield* settle
      yield* TestClock.adjust("4 seconds")
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toEqual(Exit.void)
    }))

  /** With the head at `head` (none: RPC down), verify runs out its timeout saying `problem`. */
  const timesOut = (head: number | null, headAtStop: number | null, problem: string) =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* Ref.set(t.head, head === null ? Option.none() : Option.some(h(head)))
      const fiber = yield* t.run(headAtStop === null ? null : h(headAtStop))
      yield* settle
      yield* TestClock.adjust("20 seconds")
      const exit = yield* Fiber.join(fiber)
      expect(Exit.isFailure(exit) && String(exit.cause).includes(`did not pass within 20s: ${problem}`)).toBe(true)
    })

  it.scoped("fails at DAEMON_VERIFY_TIMEOUT with the last problem seen", () =>
    timesOut(null, null, "the node's RPC does not answer"))

  it.scoped("a head below the head at stop never passes", () =>
    timesOut(90, 100, "its head 90 is below the head at stop (100)"))

  it.scoped("an exit of the new node fails verify at once", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* Ref.set(t.head, Option.some(h(100)))
      const fiber = yield* t.run(h(100))
      yield* settle
      yield* PubSub.publish(t.exits, { pid: 7, code: 2, signal: null, expected: false })
      const exit = yield* Fiber.join(fiber)
      expect(Exit.isFailure(exit) && String(exit.cause).includes("verify failed: the node")).toBe(true)
    }))
})
