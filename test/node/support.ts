/*
 * Helpers shared by the NodeProcess suites: a test AppConfig, captured logs,
 * and an event recorder.
 */
import { Chunk, Effect, Layer, Logger, LogLevel, Queue, type Scope, Stream, TestClock } from "effect"
import { AppConfig, loadConfig } from "../../src/config/Config.js"
import { Events, type EventType, type WemixvisorEvent } from "../../src/events/Events.js"

/** An AppConfig from env values, as `run` would build it. */
export const configLayer = (env: Record<string, string>): Layer.Layer<AppConfig> =>
  Layer.effect(AppConfig, Effect.orDie(loadConfig({ env })))

export interface LogLine {
  readonly level: LogLevel.LogLevel
  readonly message: string
}

/** Replaces the default logger: keeps test output clean and lets a test assert what was logged. */
export const captureLogs = () => {
  const lines: Array<LogLine> = []
  const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
    const parts = Array.isArray(message) ? message : [message]
    lines.push({ level: logLevel, message: parts.map(String).join(" ") })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** Every event published from now on, for `next` to take in order. */
export const recordEvents: Effect.Effect<
  {
    readonly next: <T extends EventType>(type: T) => Effect.Effect<Extract<WemixvisorEvent, { type: T }>>
    readonly drain: Effect.Effect<ReadonlyArray<WemixvisorEvent>>
  },
  never,
  Events | Scope.Scope
> = Effect.gen(function* () {
  const events = yield* Events
  const stream = yield* events.subscribe
  const queue = yield* Queue.unbounded<WemixvisorEvent>()
  yield* Effect.forkScoped(Stream.runForEach(stream, (e) => Queue.offer(queue, e)))
  const next = <T extends EventType>(type: T): Effect.Effect<Extract<WemixvisorEvent, { type: T }>> =>
    Effect.gen(function* () {
      for (;;) {
        const e = yield* Queue.take(queue)
        if (e.type === type) return e as Extract<WemixvisorEvent, { type: T }>
      }
    })
  return { next, drain: Effect.map(Queue.takeAll(queue), Chunk.toReadonlyArray) }
})

/**
 * Waits until `n` fibers sleep on the TestClock. Adjusting the clock before a
 * fiber has started its sleep would not wake it, so every adjust is preceded
 * by this.
 */
export const awaitSleepers = (n = 1): Effect.Effect<void> =>
  Effect.gen(function* () {
    while (Chunk.size(yield* TestClock.sleeps()) < n) yield* Effect.yieldNow()
  })

/** Lets forked fibers run until they block (e.g. a stream subscribing). */
export const settle: Effect.Effect<void> = Effect.repeatN(Effect.yieldNow(), 20)

export const errorLines = (lines: ReadonlyArray<LogLine>) =>
  lines.filter((l) => LogLevel.greaterThanEqual(l.level, LogLevel.Error)).map((l) => l.message)
