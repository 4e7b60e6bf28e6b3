import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, type Context, Effect, Fiber, Ref, Schedule, Stream, TestClock } from "effect"
import * as Cadence from "../../src/platform/Cadence.js"

const every300Times3 = Schedule.spaced("300 millis").pipe(Schedule.intersect(Schedule.recurs(3)))

describe("Cadence.repeat", () => {
  it.effect("runs now, then at each step of the schedule, until the schedule ends", () =>
    Effect.gen(function*() {
      const runs = yield* Ref.make<ReadonlyArray<number>>([])
      const fiber = yield* Cadence.repeat(
        Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(runs, (r) => [...r, t])),
        every300Times3
      ).pipe(Effect.fork)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect(yield* Ref.get(runs)).toEqual([0, 300, 600, 900])
    }))

  it.effect("stops at the first failure, with that failure", () =>
    Effect.gen(function*() {
      const count = yield* Ref.make(0)
      const fiber = yield* Cadence.repeat(
        Ref.updateAndGet(count, (n) => n + 1).pipe(
          Effect.flatMap((n) => (n === 2 ? Effect.fail("second run failed") : Effect.void))
        ),
        Schedule.spaced("1 second")
      ).pipe(Effect.flip, Effect.fork)
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toBe("second run failed")
      expect(yield* Ref.get(count)).toBe(2)
    }))

  it.effect("leaves the fiber's Context alone (Effect.repeat changes it on every run: the cost this avoids)", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<Context.Context<never>>>([])
      const record = Effect.flatMap(Effect.context<never>(), (c) => Ref.update(seen, (s) => [...s, c]))
      const fiber = yield* Cadence.repeat(record, every300Times3).pipe(Effect.fork)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      const mine = yield* Ref.get(seen)
      expect(mine).toHaveLength(4)
      expect(new Set(mine).size).toBe(1)

      yield* Ref.set(seen, [])
      const theirs = yield* Effect.repeat(record, every300Times3).pipe(Effect.fork)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(theirs)
      expect(new Set(yield* Ref.get(seen)).size).toBeGreaterThan(1)
    }))
})

describe("Cadence.stream", () => {
  it.effect("emits what Stream.repeatEffectWithSchedule emits, when it does: the first at once, then one per step", () =>
    Effect.gen(function*() {
      // A read taking 100 ms on a fixed 300 ms cadence (which starts at the first step, after the first read).
      const slowRead = Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.as(Effect.sleep("100 millis"), t))
      const collect = (s: Stream.Stream<number>) =>
        Effect.gen(function*() {
          const start = yield* Clock.currentTimeMillis
          const fiber = yield* s.pipe(Stream.take(4), Stream.map((t) => t - start), Stream.runCollect, Effect.fork)
          yield* TestClock.adjust("10 seconds")
          return Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        })
      const mine = yield* collect(Cadence.stream(slowRead, Schedule.fixed("300 millis")))
      expect(mine).toEqual([0, 400, 700, 1000])
      expect(yield* collect(Stream.repeatEffectWithSchedule(slowRead, Schedule.fixed("300 millis")))).toEqual(mine)
    }))

  it.effect("ends when the schedule ends, and fails when a run fails", () =>
    Effect.gen(function*() {
      const ended = yield* Cadence.stream(Effect.succeed(1), Schedule.recurs(2)).pipe(Stream.runCollect, Effect.fork)
      yield* TestClock.adjust("1 second")
      expect(Chunk.toReadonlyArray(yield* Fiber.join(ended))).toEqual([1, 1, 1])

      const count = yield* Ref.make(0)
      const failing = Ref.updateAndGet(count, (n) => n + 1).pipe(
        Effect.flatMap((n) => (n === 3 ? Effect.fail("third read failed") : Effect.succeed(n)))
      )
      const fiber = yield* Cadence.stream(failing, Schedule.spaced("1 second")).pipe(
        Stream.runCollect,
        Effect.flip,
        Effect.fork
      )
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(fiber)).toBe("third read failed")
    }))
})
