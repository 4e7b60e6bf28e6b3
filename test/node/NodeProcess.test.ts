/*
 * NodeProcess timing rules with the fake Spawner and TestClock: no real
 * process, no real sleep. Every `TestClock.adjust` is preceded by
 * `awaitSleepers` so the fiber it should wake is already asleep.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option, Random, Stream, TestClock } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import { AppConfig } from "../../src/config/Config.js"
import * as Events from "../../src/events/Events.js"
import * as NodeProcess from "../../src/node/NodeProcess.js"
import { makeBackoff, restartPolicy } from "../../src/node/RestartPolicy.js"
import * as TestSpawner from "../../src/node/TestSpawner.js"
import { awaitSleepers, captureLogs, configLayer, errorLines, recordEvents, settle } from "./support.js"

const ARGS = ["--datadir", "/data/with space", "--http"]

// A home that does not exist: fake pids have no /proc entry, so node.pid is never written.
const baseEnv = {
  DAEMON_HOME: path.join(os.tmpdir(), "wemixvisor-fake-home-that-does-not-exist"),
  DAEMON_NAME: "gwemix",
  DAEMON_RESTART_DELAY: "1s",
  DAEMON_RESTART_MAX_DELAY: "1m",
  DAEMON_MAX_RESTARTS: "100",
  DAEMON_RESTART_WINDOW: "1h",
  DAEMON_SHUTDOWN_GRACE: "30s"
}

/** The fake spawner, live Events and config, with NodeProcess on top; logs captured. */
const provide = (env: Record<string, string> = {}, logs = captureLogs()) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.provide(NodeProcess.layer(ARGS)),
    Effect.provide(Layer.mergeAll(TestSpawner.layer, Events.layer, configLayer({ ...baseEnv, ...env }))),
    Effect.provide(logs.layer)
  )

/** Jitter is ×1–1.2 of the exponential delay (never shorter); the cap applies after it. */
const expectWithin = (delayMs: number, expectedMs: number, capMs: number) => {
  expect(delayMs).toBeGreaterThanOrEqual(Math.min(expectedMs, capMs))
  expect(delayMs).toBeLessThanOrEqual(Math.min(Math.ceil(1.2 * expectedMs), capMs))
}

/** Waits for the n-th process and makes it exit with `code` on its own. */
const crashNth = (n: number, code = 1) =>
  Effect.gen(function*() {
    const spawner = yield* TestSpawner.TestSpawner
    const child = yield* spawner.awaitChild(n)
    yield* child.crash(code)
    return child
  })

describe("restartPolicy", () => {
  it.effect("doubles from the restart delay, jittered, capped at the max delay", () =>
    Effect.gen(function*() {
      const backoff = yield* makeBackoff(restartPolicy({ restartDelay: "1 second", restartMaxDelay: "10 seconds" }))
      const delays: Array<number> = []
      for (let i = 0; i < 8; i++) delays.push(Duration.toMillis(yield* backoff.next))
      delays.forEach((d, i) => expectWithin(d, 1000 * 2 ** i, 10_000))
      expect(delays.slice(5)).toEqual([10_000, 10_000, 10_000])
      delays.forEach((d) => expect(Number.isInteger(d)).toBe(true))
      yield* backoff.reset
      expectWithin(Duration.toMillis(yield* backoff.next), 1000, 10_000)
    }))

  it.effect("jitter only lengthens a delay: never below DAEMON_RESTART_DELAY × 2^n, never above the cap", () =>
    Effect.gen(function*() {
      const policy = restartPolicy({ restartDelay: "1 second", restartMaxDelay: "5 seconds" })
      const firsts: Array<number> = []
      for (let round = 0; round < 300; round++) {
        const backoff = yield* makeBackoff(policy)
        const delays: Array<number> = []
        for (let i = 0; i < 4; i++) delays.push(Duration.toMillis(yield* backoff.next))
        firsts.push(delays[0]!)
        delays.forEach((d, i) => {
          expect(d).toBeGreaterThanOrEqual(Math.min(1000 * 2 ** i, 5000))
          expect(d).toBeLessThanOrEqual(Math.min(1200 * 2 ** i, 5000))
        })
      }
      // Still a spread (a fleet does not restart in lockstep), all of it upward.
      expect(new Set(firsts).size).toBeGreaterThan(10)
      expect(Math.min(...firsts)).toBeGreaterThanOrEqual(1000)
    }))
})

describe("NodeProcess with a fake spawner", () => {
  it.scoped("starts current/bin/$DAEMON_NAME with the args, once", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const config = yield* AppConfig
      const events = yield* recordEvents
      expect((yield* node.status).state).toBe("stopped")
      yield* node.start
      yield* node.start
      const [child] = yield* spawner.children
      expect(yield* spawner.attempts).toBe(1)
      expect(child!.file).toBe(config.layout.currentBinary)
      expect(child!.args).toEqual(ARGS)
      expect(yield* node.status).toMatchObject({ state: "running", pid: child!.pid, restarts: 0, reason: null })
      const started = yield* events.next("node-started")
      expect(started.pid).toBe(child!.pid)
    }).pipe(provide()))

  it.scoped("restarts a crash with backoff 1s, 2s, 4s, … capped, within the jitter bounds", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* node.start
      for (let n = 1; n <= 6; n++) {
        const child = yield* crashNth(n, 7)
        const exited = yield* events.next("node-exited")
        expect(exited).toMatchObject({ pid: child.pid, code: 7, signal: null, expected: false })
        const restarting = yield* events.next("node-restarting")
        expect(restarting.restarts).toBe(n)
        expectWithin(restarting.delay_ms, 1000 * 2 ** (n - 1), 8_000)
        expect(yield* node.status).toMatchObject({
          state: "crashed",
          pid: null,
          restarts: n,
          lastExit: { code: 7, signal: null }
        })

        yield* awaitSleepers()
        yield* TestClock.adjust(restarting.delay_ms - 1)
        expect(yield* spawner.attempts).toBe(n)
        yield* TestClock.adjust(1)
        const next = yield* spawner.awaitChild(n + 1)
        expect((yield* node.status).pid).toBe(next.pid)
      }
    }).pipe(provide({ DAEMON_RESTART_MAX_DELAY: "8s" })))

  it.scoped("at the lowest jitter the first restart comes at DAEMON_RESTART_DELAY (1s), not a millisecond sooner", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* node.start
      yield* crashNth(1)
      const restarting = yield* events.next("node-restarting")
      expect(restarting.delay_ms).toBe(1000)
      yield* awaitSleepers()
      yield* TestClock.adjust(999)
      expect(yield* spawner.attempts).toBe(1)
      yield* TestClock.adjust(1)
      yield* spawner.awaitChild(2)
      expect(yield* spawner.attempts).toBe(2)
      // Random.fixed([0]): every draw is the bottom of the jitter range.
    }).pipe(provide(), Effect.withRandom(Random.fixed([0]))))

  it.scoped("more than DAEMON_MAX_RESTARTS within the window → error, logged; start again resets", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* node.start
      for (let n = 1; n <= 3; n++) {
        yield* crashNth(n)
        const restarting = yield* events.next("node-restarting")
        yield* awaitSleepers()
        yield* TestClock.adjust(restarting.delay_ms)
      }
      const fourth = yield* spawner.awaitChild(4)
      yield* fourth.crash(1)
      const error = yield* events.next("node-error")
      expect(error.reason).toContain("3 restarts within")
      const status = yield* node.status
      expect(status).toMatchObject({ state: "error", pid: null, restarts: 3 })
      expect(status.reason).toBe(error.reason)
      expect(errorLines(logs.lines).some((l) => l.includes(error.reason))).toBe(true)

      // The supervisor keeps serving status; the node stays down.
      yield* TestClock.adjust("1 hour")
      expect(yield* spawner.attempts).toBe(4)
      expect((yield* node.status).state).toBe("error")
      // stop does not hide the reason
      yield* node.stop
      expect((yield* node.status).state).toBe("error")

      yield* node.start
      expect(yield* node.status).toMatchObject({ state: "running", restarts: 0, reason: null })
      expect(yield* spawner.attempts).toBe(5)
    }).pipe(provide({ DAEMON_MAX_RESTARTS: "3", DAEMON_RESTART_WINDOW: "1m", DAEMON_RESTART_MAX_DELAY: "4s" }, logs))
  })

  it.scoped("restarts older than the window no longer count", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* node.start
      for (let n = 1; n <= 2; n++) {
        yield* crashNth(n)
        const restarting = yield* events.next("node-restarting")
        expect(restarting.restarts).toBe(n)
        yield* awaitSleepers()
        yield* TestClock.adjust(restarting.delay_ms)
      }
      yield* spawner.awaitChild(3)
      // Up for longer than the window: the two restarts fall out of it.
      yield* TestClock.adjust("11 seconds")
      yield* crashNth(3)
      expect((yield* events.next("node-restarting")).restarts).toBe(1)
      expect((yield* node.status).state).toBe("crashed")
    }).pipe(provide({ DAEMON_MAX_RESTARTS: "2", DAEMON_RESTART_WINDOW: "10s", DAEMON_RESTART_MAX_DELAY: "2s" })))

  it.scoped("a run of at least DAEMON_RESTART_MAX_DELAY resets the backoff; a shorter one does not", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* node.start
      for (let n = 1; n <= 3; n++) {
        yield* crashNth(n)
        const restarting = yield* events.next("node-restarting")
        expectWithin(restarting.delay_ms, 1000 * 2 ** (n - 1), 60_000)
        yield* awaitSleepers()
        yield* TestClock.adjust(restarting.delay_ms)
      }
      // Up 59 s: still a crash loop, the backoff goes on (8 s).
      yield* spawner.awaitChild(4)
      yield* TestClock.adjust("59 seconds")
      yield* crashNth(4)
      const notReset = yield* events.next("node-restarting")
      expectWithin(notReset.delay_ms, 8000, 60_000)
      yield* awaitSleepers()
      yield* TestClock.adjust(notReset.delay_ms)
      // Up 60 s: stable; the next crash starts again at 1 s.
      yield* spawner.awaitChild(5)
      yield* TestClock.adjust("60 seconds")
      yield* crashNth(5)
      const reset = yield* events.next("node-restarting")
      expectWithin(reset.delay_ms, 1000, 60_000)
      expect(reset.restarts).toBe(5)
    }).pipe(provide()))

  it.scoped("stop: SIGTERM, then SIGKILL exactly after DAEMON_SHUTDOWN_GRACE; no restart", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* spawner.setBehavior({ ignoreTerm: true })
      yield* node.start
      const child = yield* spawner.awaitChild(1)
      const t0 = yield* TestClock.currentTimeMillis
      const stopping = yield* Effect.fork(node.stop)
      yield* awaitSleepers()
      expect(yield* child.signals).toEqual([{ signal: "SIGTERM", at: t0 }])
      expect((yield* node.status).state).toBe("stopping")

      yield* TestClock.adjust(Duration.toMillis("30 seconds") - 1)
      expect(yield* child.signals).toHaveLength(1)
      expect(yield* child.leaderAlive).toBe(true)
      expect(Option.isNone(yield* Fiber.poll(stopping))).toBe(true)

      yield* TestClock.adjust(1)
      yield* Fiber.join(stopping)
      expect(yield* child.signals).toEqual([
        { signal: "SIGTERM", at: t0 },
        { signal: "SIGKILL", at: t0 + 30_000 }
      ])
      expect(yield* child.groupAlive).toBe(false)
      expect(yield* node.status).toMatchObject({
        state: "stopped",
        pid: null,
        lastExit: { code: null, signal: "SIGKILL" }
      })
      expect(yield* events.next("node-exited")).toMatchObject({ pid: child.pid, signal: "SIGKILL", expected: true })

      yield* TestClock.adjust("1 hour")
      expect(yield* spawner.attempts).toBe(1)
      expect((yield* events.drain).map((e) => e.type)).not.toContain("node-restarting")
    }).pipe(provide()))

  it.scoped("stop of a node that honours SIGTERM takes no grace, is expected, and is not restarted", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      const exits = yield* Effect.fork(Stream.runHead(node.exits))
      yield* settle
      yield* node.start
      const child = yield* spawner.awaitChild(1)
      yield* node.stop
      expect(yield* child.signals).toEqual([{ signal: "SIGTERM", at: 0 }])
      expect(yield* Fiber.join(exits)).toEqual(
        Option.some({ pid: child.pid, code: null, signal: "SIGTERM", expected: true })
      )
      expect((yield* node.status).state).toBe("stopped")
      yield* TestClock.adjust("1 hour")
      expect(yield* spawner.attempts).toBe(1)
      const types = (yield* events.drain).map((e) => e.type)
      expect(types).toEqual(["node-started", "node-exited"])
    }).pipe(provide()))

  it.scoped("stop during the restart delay cancels the restart", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* node.start
      yield* crashNth(1)
      yield* events.next("node-restarting")
      yield* awaitSleepers()
      yield* node.stop
      expect((yield* node.status).state).toBe("stopped")
      yield* TestClock.adjust("1 hour")
      expect(yield* spawner.attempts).toBe(1)
    }).pipe(provide()))

  it.scoped("after the leader exits by itself, the rest of its group is SIGKILLed", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* spawner.setBehavior({ lingering: true })
      yield* node.start
      const child = yield* spawner.awaitChild(1)
      yield* child.exit({ code: 0, signal: null })
      // A clean exit nobody asked for is a crash too.
      expect(yield* events.next("node-exited")).toMatchObject({ code: 0, expected: false })
      yield* events.next("node-restarting")
      expect(yield* child.signals).toEqual([{ signal: "SIGKILL", at: 0 }])
      expect(yield* child.groupAlive).toBe(false)
    }).pipe(provide()))

  it.scoped("suspended restarts: an exit leaves the node crashed and is reported on exits; resume does not restart it", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* node.start
      yield* node.suspendRestarts
      const exits = yield* Effect.fork(Stream.runHead(node.exits))
      yield* settle
      const child = yield* crashNth(1, 3)
      expect(yield* Fiber.join(exits)).toEqual(Option.some({ pid: child.pid, code: 3, signal: null, expected: false }))
      yield* TestClock.adjust("1 hour")
      expect(yield* spawner.attempts).toBe(1)
      expect(yield* node.status).toMatchObject({ state: "crashed", pid: null, restarts: 0, lastExit: { code: 3 } })

      yield* node.resumeRestarts
      yield* TestClock.adjust("1 hour")
      expect(yield* spawner.attempts).toBe(1)
      expect((yield* node.status).state).toBe("crashed")

      // start brings it back, and with restarts resumed a crash restarts again.
      yield* node.start
      expect((yield* node.status).state).toBe("running")
      yield* crashNth(2)
      const restarting = yield* events.next("node-restarting")
      yield* awaitSleepers()
      yield* TestClock.adjust(restarting.delay_ms)
      yield* spawner.awaitChild(3)
      expect((yield* events.drain).map((e) => e.type)).not.toContain("node-error")
    }).pipe(provide()))

  it.scoped("restarts suspended during the restart delay: the pending restart is dropped", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* node.start
      yield* crashNth(1)
      const restarting = yield* events.next("node-restarting")
      yield* node.suspendRestarts
      yield* awaitSleepers()
      yield* TestClock.adjust(restarting.delay_ms)
      yield* TestClock.adjust("1 hour")
      expect(yield* spawner.attempts).toBe(1)
      expect((yield* node.status).state).toBe("crashed")
    }).pipe(provide()))

  it.scoped("a spawn failure while restarting counts as a crash", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* node.start
      yield* spawner.failSpawns(1)
      yield* crashNth(1)
      const first = yield* events.next("node-restarting")
      yield* awaitSleepers()
      yield* TestClock.adjust(first.delay_ms)
      const second = yield* events.next("node-restarting")
      expect(second.restarts).toBe(2)
      expectWithin(second.delay_ms, 2000, 60_000)
      const status = yield* node.status
      expect(status.state).toBe("crashed")
      expect(status.reason).toContain("ENOENT")
      expect(yield* spawner.attempts).toBe(2)
      yield* awaitSleepers()
      yield* TestClock.adjust(second.delay_ms)
      yield* spawner.awaitChild(2)
      expect(yield* node.status).toMatchObject({ state: "running", reason: null, restarts: 2 })
    }).pipe(provide()))

  it.scoped("a first spawn that fails fails start and leaves the node in error", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      yield* spawner.failSpawns(1)
      const error = yield* Effect.flip(node.start)
      expect(error._tag).toBe("SpawnFailed")
      expect(yield* node.status).toMatchObject({ state: "error", pid: null })
      expect((yield* node.status).reason).toContain("ENOENT")
      expect((yield* events.next("node-error")).reason).toContain("ENOENT")
      yield* TestClock.adjust("1 hour")
      expect(yield* spawner.attempts).toBe(1)
      yield* node.start
      expect((yield* node.status).state).toBe("running")
    }).pipe(provide()))

  it.scoped("closing the layer stops the node gracefully", () =>
    Effect.gen(function*() {
      const spawner = yield* TestSpawner.TestSpawner
      yield* Effect.gen(function*() {
        const node = yield* NodeProcess.NodeProcess
        yield* node.start
      }).pipe(Effect.provide(NodeProcess.layer(ARGS)))
      const [child] = yield* spawner.children
      expect(yield* child!.signals).toEqual([{ signal: "SIGTERM", at: 0 }])
      expect(yield* child!.groupAlive).toBe(false)
    }).pipe(
      Effect.provide(Layer.mergeAll(TestSpawner.layer, Events.layer, configLayer(baseEnv))),
      Effect.provide(captureLogs().layer)
    ))

  it.scoped("changes publishes the state machine: stopped → starting → running → crashed → starting → running → stopping → stopped", () =>
    Effect.gen(function*() {
      const node = yield* NodeProcess.NodeProcess
      const spawner = yield* TestSpawner.TestSpawner
      const events = yield* recordEvents
      const states = yield* node.changes.pipe(
        Stream.map((s) => s.state),
        Stream.changes,
        Stream.take(8),
        Stream.runCollect,
        Effect.fork
      )
      yield* settle
      yield* node.start
      yield* crashNth(1)
      const restarting = yield* events.next("node-restarting")
      yield* awaitSleepers()
      yield* TestClock.adjust(restarting.delay_ms)
      yield* spawner.awaitChild(2)
      yield* node.stop
      expect([...(yield* Fiber.join(states))]).toEqual([
        "stopped",
        "starting",
        "running",
        "crashed",
        "starting",
        "running",
        "stopping",
        "stopped"
      ])
    }).pipe(provide()))
})

describe("NodeProcess adopting a node a previous supervisor left running", () => {
  /** NodeProcess built on a fake orphan left running: `adopt` names it as node.pid would. */
  const withOrphan = <A, E>(
    body: (orphan: TestSpawner.FakeChild) => Effect.Effect<A, E, NodeProcess.NodeProcess | TestSpawner.TestSpawner>
  ) =>
    Effect.gen(function*() {
      const spawner = yield* TestSpawner.TestSpawner
      const { child, record } = yield* spawner.leaveRunning()
      return yield* body(child).pipe(Effect.provide(NodeProcess.layer(ARGS, Option.some(record))))
    }).pipe(
      Effect.provide(Layer.mergeAll(TestSpawner.layer, Events.layer, configLayer(baseEnv))),
      Effect.provide(captureLogs().layer)
    )

  it.scoped("start supervises it without a spawn; its crash is restarted by the policy with a new process", () =>
    withOrphan((orphan) =>
      Effect.gen(function*() {
        const node = yield* NodeProcess.NodeProcess
        const spawner = yield* TestSpawner.TestSpawner
        yield* node.start
        expect(yield* spawner.attempts).toBe(0)
        expect(yield* node.status).toMatchObject({ state: "running", pid: orphan.pid })
        yield* orphan.crash(1)
        yield* awaitSleepers()
        expect((yield* node.status).state).toBe("crashed")
        yield* TestClock.adjust("1200 millis")
        const next = yield* spawner.awaitChild(1)
        expect(yield* node.status).toMatchObject({ state: "running", pid: next.pid, restarts: 1 })
      })
    ))

  it.scoped("stop sends SIGTERM to its group and is not a crash; nothing is spawned", () =>
    withOrphan((orphan) =>
      Effect.gen(function*() {
        const node = yield* NodeProcess.NodeProcess
        const spawner = yield* TestSpawner.TestSpawner
        yield* node.start
        expect(yield* spawner.attempts).toBe(0)
        yield* node.stop
        expect((yield* orphan.signals).map((s) => s.signal)).toEqual(["SIGTERM"])
        expect(yield* orphan.groupAlive).toBe(false)
        expect((yield* node.status).state).toBe("stopped")
        expect(yield* spawner.attempts).toBe(0)
      })
    ))

  it.scoped("an orphan gone before start is not adopted: a new node is spawned", () =>
    withOrphan((orphan) =>
      Effect.gen(function*() {
        const node = yield* NodeProcess.NodeProcess
        const spawner = yield* TestSpawner.TestSpawner
        yield* orphan.crash(0)
        yield* node.start
        const [child] = yield* spawner.children
        expect(yield* node.status).toMatchObject({ state: "running", pid: child!.pid })
      })
    ))
})
