/*
 * The height watcher's rules under TestClock: the timing core is driven by a
 * scripted "read the head" Effect (a unit test of timing logic; the live viem
 * side is tested against a real anvil in HeightProvider.anvil.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Duration, Effect, Fiber, Logger, Option, Ref, Schedule, Stream, TestClock } from "effect"
import { NodeUnreachable } from "../../src/domain/Errors.js"
import { type Height, makeHeight } from "../../src/domain/Height.js"
import { initialState, type Observed, type Reorg, step } from "../../src/height/Monotonic.js"
import { polled, pushed, watchHeights } from "../../src/height/Watch.js"

const h = (n: number): Height => makeHeight(n)
const down = new NodeUnreachable({ url: "http://127.0.0.1:1", cause: new Error("ECONNREFUSED") })

/** A scripted node: each read takes the next answer (a height, or "down"); the last one repeats. */
const scriptedHead = (answers: ReadonlyArray<number | "down">) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    const fetchHead = Ref.getAndUpdate(calls, (n) => n + 1).pipe(
      Effect.flatMap((i) => {
        const answer = answers[Math.min(i, answers.length - 1)]!
        return answer === "down" ? Effect.fail(down) : Effect.succeed(h(answer))
      })
    )
    return { fetchHead, calls: Ref.get(calls) }
  })

/** Log lines (level and text) written by the effects it wraps. */
const captureLogs = Effect.gen(function*() {
  const lines = yield* Ref.make(Chunk.empty<string>())
  const logger = Logger.make(({ logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    Effect.runSync(Ref.update(lines, Chunk.append(`${logLevel.label} ${text}`)))
  })
  return {
    layer: Logger.replace(Logger.defaultLogger, logger),
    lines: Ref.get(lines).pipe(Effect.map(Chunk.toReadonlyArray))
  }
})

/** Runs a stream in the background, collecting what it emits. */
const collect = <A>(stream: Stream.Stream<A>) =>
  Effect.gen(function*() {
    const out = yield* Ref.make(Chunk.empty<A>())
    const fiber = yield* stream.pipe(
      Stream.runForEach((a) => Ref.update(out, Chunk.append(a))),
      Effect.fork
    )
    return { fiber, items: Ref.get(out).pipe(Effect.map(Chunk.toReadonlyArray)) }
  })

describe("Monotonic.step", () => {
  const run = (observations: ReadonlyArray<Observed>) => {
    let state = initialState()
    const emitted: Array<number> = []
    const reorgs: Array<Reorg> = []
    for (const o of observations) {
      const next = step(state, o)
      state = next.state
      if (Option.isSome(next.emit)) emitted.push(next.emit.value)
      if (Option.isSome(next.reorg)) reorgs.push(next.reorg.value)
    }
    return { emitted, reorgs }
  }
  const poll = (n: number): Observed => ({ source: "poll", height: h(n) })
  const push = (n: number): Observed => ({ source: "push", height: h(n) })

  it("emits strictly increasing heights and drops repeats", () => {
    expect(run([poll(1), poll(1), poll(2), poll(4), poll(4), poll(5)])).toEqual({ emitted: [1, 2, 4, 5], reorgs: [] })
  })

  it("reports a drop once, then emits only past the old highest", () => {
    const r = run([poll(5), poll(6), poll(7), poll(3), poll(4), poll(5), poll(6), poll(7), poll(8), poll(9)])
    expect(r).toEqual({ emitted: [5, 6, 7, 8, 9], reorgs: [{ from: 7, to: 3 }] })
  })

  it("a late answer from a slower source is not a drop", () => {
    // The WebSocket said 101 before the poll that read 100 was handled.
    expect(run([poll(99), push(100), push(101), poll(100), poll(101), poll(102)])).toEqual({
      emitted: [99, 100, 101, 102],
      reorgs: []
    })
  })

  it("the same drop seen by a second source is not reported again; a deeper one is", () => {
    const r = run([poll(10), push(11), push(4), poll(5), poll(6), push(5), push(2), poll(3)])
    expect(r).toEqual({ emitted: [10, 11], reorgs: [{ from: 11, to: 4 }, { from: 11, to: 2 }] })
  })

  it("a new drop after the chain passed the old highest is a new event", () => {
    const r = run([poll(5), poll(2), poll(6), poll(7), poll(1), poll(8)])
    expect(r).toEqual({ emitted: [5, 6, 7, 8], reorgs: [{ from: 5, to: 2 }, { from: 7, to: 1 }] })
  })

  it("a restarted watcher does not repeat what was already emitted", () => {
    let state = initialState(Option.some(h(10)))
    const first = step(state, poll(9))
    state = first.state
    expect(Option.isNone(first.emit)).toBe(true)
    expect(Option.isNone(first.reorg)).toBe(true)
    expect(step(state, poll(11)).emit).toEqual(Option.some(11))
  })
})

describe("polled (TestClock)", () => {
  it.effect("reads the head once at start, then once per poll interval", () =>
    Effect.gen(function*() {
      const node = yield* scriptedHead([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      const { fiber, items } = yield* collect(polled(node.fetchHead, "1 second"))
      yield* TestClock.adjust(0)
      expect(yield* node.calls).toBe(1)
      expect(yield* items).toEqual([1])
      yield* TestClock.adjust("999 millis")
      expect(yield* node.calls).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* node.calls).toBe(2)
      expect(yield* items).toEqual([1, 2])
      yield* TestClock.adjust("3 seconds")
      expect(yield* node.calls).toBe(5)
      expect(yield* items).toEqual([1, 2, 3, 4, 5])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a period read at each poll: a changed interval paces the polls after the next one", () =>
    Effect.gen(function*() {
      const node = yield* scriptedHead([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      let interval: Duration.DurationInput = "1 second"
      const { fiber } = yield* collect(polled(node.fetchHead, () => interval))
      yield* TestClock.adjust("2 seconds")
      expect(yield* node.calls).toBe(3)
      // A reload of DAEMON_POLL_INTERVAL: the wait already under way ends as planned, the next ones are short.
      interval = "100 millis"
      yield* TestClock.adjust("1 second")
      expect(yield* node.calls).toBe(4)
      yield* TestClock.adjust("300 millis")
      expect(yield* node.calls).toBe(7)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("emits a height once, however many polls read it again", () =>
    Effect.gen(function*() {
      const node = yield* scriptedHead([7, 7, 7, 8, 8, "down", 8, 9, 9])
      const { fiber, items } = yield* collect(polled(node.fetchHead, "300 millis"))
      yield* TestClock.adjust("2400 millis")
      expect(yield* node.calls).toBe(9)
      expect(yield* items).toEqual([7, 8, 9])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("retries a node that is down without failing or ending, and logs once each way", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const node = yield* scriptedHead([1, "down", "down", "down", "down", "down", 2, 3, "down", 4])
      const { fiber, items } = yield* collect(polled(node.fetchHead, "300 millis")).pipe(Effect.provide(logs.layer))
      yield* TestClock.adjust(0)
      expect(yield* items).toEqual([1])
      yield* TestClock.adjust("1500 millis") // five failed polls
      expect(yield* node.calls).toBe(6)
      expect(yield* items).toEqual([1])
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      const whileDown = yield* logs.lines
      expect(whileDown.filter((l) => l.startsWith("WARN"))).toHaveLength(1)
      expect(whileDown.find((l) => l.startsWith("WARN"))).toContain("unreachable")

      yield* TestClock.adjust("1200 millis")
      expect(yield* items).toEqual([1, 2, 3, 4])
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      expect(yield* logs.lines).toEqual([
        "INFO node RPC reachable",
        whileDown.find((l) => l.startsWith("WARN")),
        "INFO node RPC reachable again",
        whileDown.find((l) => l.startsWith("WARN")),
        "INFO node RPC reachable again"
      ])
      yield* Fiber.interrupt(fiber)
    }))
})

describe("pushed (TestClock)", () => {
  it.effect("reconnects on the capped exponential schedule forever, logging once each way", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const attempts = yield* Ref.make(0)
      // Connections 1–7 fail at once (node down); the 8th delivers two heights and then drops.
      const connect = Ref.updateAndGet(attempts, (n) => n + 1).pipe(
        Effect.map((
          n
        ) => (n < 8
          ? Stream.fail(down)
          : n === 8
          ? Stream.make(h(7), h(8)).pipe(Stream.concat(Stream.fail(down)))
          : Stream.never)
        ),
        Stream.unwrap
      )
      const { fiber, items } = yield* collect(pushed(connect)).pipe(Effect.provide(logs.layer))
      yield* TestClock.adjust(0)
      expect(yield* Ref.get(attempts)).toBe(1)
      // 100, 200, 400, 800, 1600, 3200 ms, then the 5 s cap: attempts at 0.1, 0.3, 0.7, 1.5, 3.1, 6.3, 11.3 s.
      yield* TestClock.adjust("6299 millis")
      expect(yield* Ref.get(attempts)).toBe(6)
      yield* TestClock.adjust("1 millis")
      expect(yield* Ref.get(attempts)).toBe(7)
      yield* TestClock.adjust("4999 millis")
      expect(yield* Ref.get(attempts)).toBe(7)
      yield* TestClock.adjust("1 millis")
      expect(yield* Ref.get(attempts)).toBe(8)
      expect(yield* items).toEqual([7, 8])
      // A height arrived, so the backoff starts over at 100 ms.
      yield* TestClock.adjust("100 millis")
      expect(yield* Ref.get(attempts)).toBe(9)
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      const lines = yield* logs.lines
      expect(lines.map((l) => l.split(" ")[0])).toEqual(["WARN", "INFO", "WARN"])
      expect(lines[1]).toBe("INFO head subscription restored")
      yield* Fiber.interrupt(fiber)
    }))
})

describe("watchHeights (TestClock)", () => {
  it.effect("strictly increasing; a drop is one height-reorg {from, to}; nothing until the chain passes the old max", () =>
    Effect.gen(function*() {
      const node = yield* scriptedHead([5, 6, 7, 7, 3, "down", 4, 4, 5, 6, 7, 8, 9])
      const reorgs = yield* Ref.make(Chunk.empty<Reorg>())
      const { fiber, items } = yield* collect(
        watchHeights(
          { fetchHead: node.fetchHead, pollInterval: "1 second", push: Option.none() },
          (reorg) => Ref.update(reorgs, Chunk.append(reorg))
        )
      )
      yield* TestClock.adjust(0)
      yield* TestClock.adjust("4 seconds") // 5 6 7 7 3
      expect(yield* items).toEqual([5, 6, 7])
      expect(Chunk.toReadonlyArray(yield* Ref.get(reorgs))).toEqual([{ from: 7, to: 3 }])
      yield* TestClock.adjust("6 seconds") // down 4 4 5 6 7
      expect(yield* items).toEqual([5, 6, 7])
      expect(Chunk.toReadonlyArray(yield* Ref.get(reorgs))).toEqual([{ from: 7, to: 3 }])
      yield* TestClock.adjust("1 second") // 8
      expect(yield* items).toEqual([5, 6, 7, 8])
      yield* TestClock.adjust("1 second") // 9
      expect(yield* items).toEqual([5, 6, 7, 8, 9])
      expect(Chunk.toReadonlyArray(yield* Ref.get(reorgs))).toHaveLength(1)
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("merges pushed heads with polling: pushes arrive between polls, polling covers a lost subscription", () =>
    Effect.gen(function*() {
      const node = yield* scriptedHead([10, 10, 10, 12, 13])
      const connected = yield* Ref.make(0)
      // The subscription: 11 after 200 ms on the first connection, then it is lost for good.
      const connect = Ref.updateAndGet(connected, (n) => n + 1).pipe(
        Effect.map((
          n
        ) => (n === 1
          ? Stream.fromEffect(Effect.as(Effect.sleep("200 millis"), h(11))).pipe(Stream.concat(Stream.fail(down)))
          : Stream.fail(down))
        ),
        Stream.unwrap
      )
      const { fiber, items } = yield* collect(
        watchHeights(
          { fetchHead: node.fetchHead, pollInterval: "1 second", push: Option.some(connect) },
          () => Effect.void
        )
      ).pipe(Effect.provide(Logger.remove(Logger.defaultLogger)))
      yield* TestClock.adjust(0)
      expect(yield* items).toEqual([10])
      yield* TestClock.adjust("200 millis")
      expect(yield* items).toEqual([10, 11])
      // Polls at 1 s and 2 s still read 10 (late, not a drop); 12 and 13 arrive by polling alone.
      yield* TestClock.adjust("3800 millis")
      expect(yield* items).toEqual([10, 11, 12, 13])
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("while the subscription delivers, polling slows to one read per 5 s; a lost subscription brings it back at once", () =>
    Effect.gen(function*() {
      const node = yield* scriptedHead([1])
      const lost = yield* Deferred.make<void>()
      // One connection: a head at 100 ms and then every second, until `lost`; reconnecting fails from then on.
      const connected = yield* Ref.make(0)
      const connect = Ref.updateAndGet(connected, (n) => n + 1).pipe(
        Effect.map((n) =>
          n === 1
            ? Stream.fromSchedule(Schedule.spaced("1 second")).pipe(
              Stream.map((i) => h(i + 2)),
              Stream.prepend(Chunk.of(h(1))),
              Stream.schedule(Schedule.spaced("100 millis").pipe(Schedule.upTo("100 millis"))),
              Stream.interruptWhen(Deferred.await(lost)),
              Stream.concat(Stream.fail(down))
            )
            : Stream.fail(down)
        ),
        Stream.unwrap
      )
      const { fiber } = yield* collect(
        watchHeights(
          { fetchHead: node.fetchHead, pollInterval: "300 millis", push: Option.some(connect) },
          () => Effect.void
        )
      ).pipe(Effect.provide(Logger.remove(Logger.defaultLogger)))
      yield* TestClock.adjust(0)
      expect(yield* node.calls).toBe(1) // the first read, before anything was pushed
      yield* TestClock.adjust("200 millis")
      // Pushed: the poller starts over at the slow pace (one read as it switches), then nothing for 5 s.
      const atSwitch = yield* node.calls
      expect(atSwitch).toBeLessThanOrEqual(2)
      yield* TestClock.adjust("4700 millis")
      expect(yield* node.calls).toBe(atSwitch)
      yield* TestClock.adjust("300 millis")
      expect(yield* node.calls).toBe(atSwitch + 1)
      yield* TestClock.adjust("4 seconds")
      const beforeLoss = yield* node.calls
      // Lost: a read at once, then every 300 ms again.
      yield* Deferred.succeed(lost, undefined)
      yield* TestClock.adjust(0)
      expect(yield* node.calls).toBe(beforeLoss + 1)
      yield* TestClock.adjust("900 millis")
      expect(yield* node.calls).toBe(beforeLoss + 4)
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* Fiber.interrupt(fiber)
    }))
})
