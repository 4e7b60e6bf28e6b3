/*
 * Helpers shared by the NodeProcess suites: a test AppConfig, captured logs,
 * an event recorder, and temp homes with a script as the node.
 */
import { Chunk, Effect, Layer, Logger, LogLevel, Queue, type Scope, Stream, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { AppConfig, loadConfig } from "../../src/config/Config.js"
import { Events, type EventType, type WemixvisorEvent } from "../../src/events/Events.js"
import { cleanup, pgrep, tempDir, waitFor, writeScript } from "../support/fixtures.js"

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
> = Effect.gen(function*() {
  const events = yield* Events
  const stream = yield* events.subscribe
  const queue = yield* Queue.unbounded<WemixvisorEvent>()
  yield* Effect.forkScoped(Stream.runForEach(stream, (e) => Queue.offer(queue, e)))
  const next = <T extends EventType>(type: T): Effect.Effect<Extract<WemixvisorEvent, { type: T }>> =>
    Effect.gen(function*() {
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
  Effect.gen(function*() {
    while (Chunk.size(yield* TestClock.sleeps()) < n) yield* Effect.yieldNow()
  })

/** Lets forked fibers run until they block (e.g. a stream subscribing). */
export const settle: Effect.Effect<void> = Effect.repeatN(Effect.yieldNow(), 20)

export const errorLines = (lines: ReadonlyArray<LogLine>) =>
  lines.filter((l) => LogLevel.greaterThanEqual(l.level, LogLevel.Error)).map((l) => l.message)

export interface Home {
  readonly home: string
  readonly root: string
  /** A unique string for this test's processes (pgrep -f). */
  readonly marker: string
  readonly env: Record<string, string>
  readonly file: (name: string) => string
  readonly lines: (name: string) => Array<string>
}

let seq = 0

/** A temp home whose genesis binary is `body`; removed (and any process left with its marker killed) when the test ends. */
export const makeHome = (body: string, env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.sync((): Home => {
      const home = tempDir("wemixvisor-node-")
      const root = path.join(home, "wemixvisor")
      // A fractional sleep length nobody else uses: `pgrep -f "sleep <marker>"` finds exactly our sleeps.
      const marker = `4242.${process.pid}${++seq}`
      writeScript(
        path.join(root, "genesis", "bin", "node"),
        body.replaceAll("@HOME@", home).replaceAll("@MARKER@", marker)
      )
      fs.symlinkSync("genesis", path.join(root, "current"))
      const file = (name: string) => path.join(home, name)
      return {
        home,
        root,
        marker,
        file,
        lines: (name) => (fs.existsSync(file(name))
          ? fs.readFileSync(file(name), "utf8").split("\n").filter((l) => l !== "")
          : []),
        env: {
          DAEMON_HOME: home,
          DAEMON_NAME: "node",
          DAEMON_SHUTDOWN_GRACE: "200ms",
          DAEMON_RESTART_DELAY: "50ms",
          DAEMON_RESTART_MAX_DELAY: "200ms",
          DAEMON_MAX_RESTARTS: "3",
          DAEMON_RESTART_WINDOW: "1m",
          ...env
        }
      }
    }),
    (h) =>
      Effect.sync(() => {
        for (const pid of [...pgrep(h.marker), ...pgrep(h.home)]) {
          try {
            process.kill(pid, "SIGKILL")
          } catch {
            // gone
          }
        }
        cleanup(h.home)
      })
  )

/** Polls a condition on real things (files, processes) every 20 ms. */
export const until = (what: string, check: () => boolean | undefined, timeoutMs = 10_000) =>
  Effect.promise(() => waitFor(what, check, timeoutMs, 20))
