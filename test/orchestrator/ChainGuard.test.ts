import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Logger, Option, TestClock } from "effect"
import {
  type ChainIdReader,
  chainMismatch,
  START_CHECK_RETRY,
  warnOnMismatchAtStart
} from "../../src/orchestrator/ChainGuard.js"

/** Runs `self`, keeping what it logs (level and text). */
const logged = <A>(self: Effect.Effect<A>) =>
  Effect.gen(function*() {
    const logs: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      logs.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
    const value = yield* self.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return { value, logs }
  })

const reports = (id: number): ChainIdReader => () => Effect.succeed(id)
const asked: Array<string> = []
const recording: ChainIdReader = (url) => Effect.sync(() => (asked.push(url), 1111))

describe("chain-id guard", () => {
  it.effect("a mismatch is the reason the upgrade must not run", () =>
    Effect.gen(function*() {
      const r = yield* chainMismatch(Option.some(1111), "http://node", reports(1112))
      expect(r).toEqual(Option.some("node reports chain id 1112, DAEMON_CHAIN_ID is 1111"))
    }))

  it.effect("a match lets it run, asking the configured RPC", () =>
    Effect.gen(function*() {
      const r = yield* logged(chainMismatch(Option.some(1111), "http://node:8588", recording))
      expect(r.value).toEqual(Option.none())
      expect(r.logs).toEqual([])
      expect(asked).toEqual(["http://node:8588"])
    }))

  it.effect("no DAEMON_CHAIN_ID: the node is not asked", () =>
    Effect.gen(function*() {
      const r = yield* chainMismatch(Option.none(), "http://node", () => Effect.die("asked"))
      expect(r).toEqual(Option.none())
    }))

  it.effect("an unreachable RPC lets it run, with a warning", () =>
    Effect.gen(function*() {
      const r = yield* logged(
        chainMismatch(Option.some(1111), "http://node", () => Effect.fail({ message: "connection refused" }))
      )
      expect(r.value).toEqual(Option.none())
      expect(r.logs).toHaveLength(1)
      expect(r.logs[0]).toMatch(/^WARN chain id could not be checked \(connection refused\)/)
    }))
})

/** A node that refuses the first `down` reads, then reports `id`; `tries` counts every read. */
const startsLate = (down: number, id: number) => {
  const tries = { count: 0 }
  const read: ChainIdReader = () =>
    Effect.suspend(() => ++tries.count <= down ? Effect.fail({ message: "connection refused" }) : Effect.succeed(id))
  return { tries, read }
}

const warnings = (logs: ReadonlyArray<string>) => logs.filter((l) => l.startsWith("WARN"))

describe("chain-id check at run's start", () => {
  it.effect("another chain: one warning naming both ids and the RPC", () =>
    Effect.gen(function*() {
      const r = yield* logged(warnOnMismatchAtStart(Option.some(1112), "http://127.0.0.1:8588", reports(31337)))
      expect(r.logs).toEqual([
        "WARN DAEMON_CHAIN_ID is 1112 but the node at http://127.0.0.1:8588 reports chain id 31337: every upgrade will be refused until they agree"
      ])
    }))

  it.effect("the same chain: nothing is said", () =>
    Effect.gen(function*() {
      const r = yield* logged(warnOnMismatchAtStart(Option.some(31337), "http://node", reports(31337)))
      expect(r.logs).toEqual([])
    }))

  it.effect("no DAEMON_CHAIN_ID: the node is not asked", () =>
    Effect.gen(function*() {
      const r = yield* logged(warnOnMismatchAtStart(Option.none(), "http://node", () => Effect.die("asked")))
      expect(r.logs).toEqual([])
    }))

  it.effect("a node that answers late is asked again on the schedule, then warned about once", () =>
    Effect.gen(function*() {
      const node = startsLate(3, 31337)
      const fiber = yield* Effect.fork(logged(warnOnMismatchAtStart(Option.some(1112), "http://node", node.read)))
      yield* TestClock.adjust("1 second")
      // The first read failed at once; the next waits for the schedule's 2 s.
      expect(node.tries.count).toBe(1)
      yield* TestClock.adjust("5 seconds")
      const r = yield* Fiber.join(fiber)
      expect(node.tries.count).toBe(4)
      expect(warnings(r.logs)).toHaveLength(1)
      expect(r.logs[0]).toMatch(/^WARN DAEMON_CHAIN_ID is 1112 but the node at http:\/\/node reports chain id 31337/)
    }))

  it.effect("a node that never answers: bounded, then given up silently, never failing", () =>
    Effect.gen(function*() {
      const node = startsLate(Number.POSITIVE_INFINITY, 31337)
      const fiber = yield* Effect.fork(logged(warnOnMismatchAtStart(Option.some(1112), "http://node", node.read)))
      yield* TestClock.adjust("1 minute")
      expect(fiber.unsafePoll()).toBeNull() // still asking
      yield* TestClock.adjust("2 minutes")
      const r = yield* Fiber.join(fiber)
      expect(r.logs).toEqual([])
      // every 2 s for 2 minutes, plus the first read
      expect(node.tries.count).toBeGreaterThan(50)
      expect(node.tries.count).toBeLessThanOrEqual(62)
      yield* TestClock.adjust("10 minutes")
      expect(node.tries.count).toBeLessThanOrEqual(62)
    }))

  it.effect("a read that hangs is cut short by its timeout and retried, still bounded", () =>
    Effect.gen(function*() {
      let tries = 0
      const hangs: ChainIdReader = () => Effect.suspend(() => (tries++, Effect.never))
      const fiber = yield* Effect.fork(
        logged(warnOnMismatchAtStart(Option.some(1112), "http://node", hangs, START_CHECK_RETRY))
      )
      yield* TestClock.adjust("11 seconds")
      expect(tries).toBe(1)
      yield* TestClock.adjust("3 seconds") // the 2 s wait after the 10 s timeout
      expect(tries).toBe(2)
      yield* TestClock.adjust("5 minutes")
      const r = yield* Fiber.join(fiber)
      expect(r.logs).toEqual([])
      expect(tries).toBeLessThanOrEqual(12)
    }))
})
