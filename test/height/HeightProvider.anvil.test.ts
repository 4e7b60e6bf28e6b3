/*
 * The live HeightProvider against a real node: anvil on a free loopback port
 * (anvil, the real test node: test/support/fixtures.ts). No mock RPC. These ignore TestClock (it.scopedLive).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Fiber, Layer, Logger, Option, Ref, Stream } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { performance } from "node:perf_hooks"
import { layer as configLayer } from "../../src/config/Config.js"
import type { Height } from "../../src/domain/Height.js"
import { Events, layer as eventsLayer, type WemixvisorEvent } from "../../src/events/Events.js"
import { HeightProvider } from "../../src/height/HeightProvider.js"
import { layer as heightLayer, readHead } from "../../src/height/HeightProviderLive.js"
import { webSocketHeads } from "../../src/height/Rpc.js"
import { pushed } from "../../src/height/Watch.js"
import { type Anvil, cleanup, freePort, rpc, startAnvil, tempDir, waitFor } from "../support/fixtures.js"

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** A temp folder removed when the test's scope closes. */
const scopedDir = Effect.acquireRelease(
  Effect.sync(() => tempDir("wemixvisor-height-")),
  (dir) => Effect.sync(() => cleanup(dir))
)

/** anvil, stopped when the test's scope closes. Restarting means stopping it and calling this again. */
const anvil = (opts: Parameters<typeof startAnvil>[0]) =>
  Effect.acquireRelease(promise(() => startAnvil(opts)), (a) => promise(() => a.stop()))

/** Log lines (level and text) of the effects it is provided to. */
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

/** The live layer on `env` (plus DAEMON_HOME/NAME), built in the test's scope, with its Events. */
const buildProvider = (
  home: string,
  env: Record<string, string>,
  logger: Layer.Layer<never> = Logger.remove(Logger.defaultLogger)
) =>
  Layer.build(
    heightLayer.pipe(
      Layer.provideMerge(eventsLayer),
      Layer.provide(configLayer({ env: { DAEMON_HOME: home, DAEMON_NAME: "anvil", ...env } }))
    )
  ).pipe(
    Effect.orDie,
    Effect.provide(logger),
    Effect.map((ctx) => ({ hp: Context.get(ctx, HeightProvider), events: Context.get(ctx, Events) }))
  )

interface Seen {
  readonly height: Height
  readonly at: number
}

/** Collects a stream in the background (with arrival times) until the test's scope closes. */
const collect = (stream: Stream.Stream<Height>) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make(Chunk.empty<Seen>())
    const fiber = yield* stream.pipe(
      Stream.runForEach((height) => Ref.update(seen, Chunk.append({ height, at: performance.now() }))),
      Effect.forkScoped
    )
    const all = Ref.get(seen).pipe(Effect.map(Chunk.toReadonlyArray))
    const heights = all.pipe(Effect.map((s) => s.map((x) => x.height as number)))
    return { fiber, all, heights, current: () => Effect.runSync(heights) }
  })

const strictlyIncreasing = (xs: ReadonlyArray<number>) => xs.every((x, i) => i === 0 || x > xs[i - 1]!)

/** ESTABLISHED TCP connections from this process to 127.0.0.1:`port` (read from /proc). */
const connectionsTo = (port: number): number => {
  const inodes = new Set<string>()
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`))
      if (m) inodes.add(m[1]!)
    } catch {
      // closed meanwhile
    }
  }
  let n = 0
  for (const table of ["/proc/self/net/tcp", "/proc/self/net/tcp6"]) {
    for (const line of fs.readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10) continue
      if (parseInt(f[2]!.split(":")[1]!, 16) === port && f[3] === "01" && inodes.has(f[9]!)) n++
    }
  }
  return n
}

const mine = (port: number) => promise(() => rpc(port, "evm_mine"))

describe("HeightProvider (live, real anvil)", () => {
  it.scopedLive(
    "HTTP polling: heights arrive and increase; latest and head agree",
    () =>
      Effect.gen(function*() {
        const dir = yield* scopedDir
        const port = yield* promise(freePort)
        yield* anvil({ port, dataDir: dir, blockTime: 0.2 })
        const { hp } = yield* buildProvider(dir, {
          DAEMON_RPC_URL: `http://127.0.0.1:${port}`,
          DAEMON_POLL_INTERVAL: "50ms"
        })

        const first = yield* hp.heights.pipe(Stream.take(5), Stream.runCollect, Effect.timeout("10 seconds"))
        const xs = Chunk.toReadonlyArray(first) as ReadonlyArray<number>
        expect(strictlyIncreasing(xs)).toBe(true)
        // A block every 200 ms, polled every 50 ms: none skipped.
        expect(xs[4]! - xs[0]!).toBe(4)
        const latest = yield* hp.latest
        expect(Option.getOrThrow(latest)).toBeGreaterThanOrEqual(xs[4]!)
        expect(yield* hp.head).toBeGreaterThanOrEqual(Option.getOrThrow(latest))
        expect(yield* readHead(`http://127.0.0.1:${port}`)).toBeGreaterThanOrEqual(Option.getOrThrow(latest))
      }),
    30_000
  )

  it.scopedLive(
    "shared: a late subscriber gets the latest height at once, then the same new ones as everyone",
    () =>
      Effect.gen(function*() {
        const dir = yield* scopedDir
        const port = yield* promise(freePort)
        yield* anvil({ port, dataDir: dir, extra: ["--no-mining"] })
        const { hp } = yield* buildProvider(dir, {
          DAEMON_RPC_URL: `http://127.0.0.1:${port}`,
          DAEMON_POLL_INTERVAL: "50ms"
        })
        const early = yield* collect(hp.heights)
        yield* mine(port)
        yield* mine(port)
        yield* promise(() => waitFor("height 2", () => early.current().includes(2), 5000))

        // The chain is idle and polls never re-emit a height: the late subscriber can only get 2 by replay.
        const late = yield* collect(hp.heights)
        yield* promise(() => waitFor("the late subscriber's first height", () => late.current().length > 0, 5000, 5))
        expect(yield* late.heights).toEqual([2])

        yield* mine(port)
        yield* promise(() =>
          waitFor("height 3 for both", () => late.current().includes(3) && early.current().includes(3), 5000)
        )
        expect((yield* early.heights).slice(-2)).toEqual([2, 3])
        expect(strictlyIncreasing(yield* early.heights)).toBe(true)
        expect(yield* late.heights).toEqual([2, 3])
      }),
    30_000
  )

  it.scopedLive(
    "WebSocket newHeads: every block arrives through the subscription (polling at 60 s)",
    () =>
      Effect.gen(function*() {
        const dir = yield* scopedDir
        const port = yield* promise(freePort)
        yield* anvil({ port, dataDir: dir, extra: ["--no-mining"] })
        const logs = yield* captureLogs
        const { hp } = yield* buildProvider(
          dir,
          {
            DAEMON_RPC_URL: `http://127.0.0.1:${port}`,
            DAEMON_WS_URL: `ws://127.0.0.1:${port}`,
            DAEMON_POLL_INTERVAL: "60s"
          },
          logs.layer
        )
        const seen = yield* collect(hp.heights)
        // Subscribed (the head read after subscribing has arrived): from here on every block comes through it.
        yield* promise(() =>
          waitFor("the subscription", () =>
            Effect.runSync(logs.lines).some((l) => l.includes("head subscription active")), 5000)
        )
        expect(yield* seen.heights).toEqual([0])

        // Latency is measured by scripts/bench-upgrade.mjs, not asserted here (timed asserts flake).
        for (let i = 1; i <= 9; i++) {
          yield* mine(port)
          yield* promise(() =>
            waitFor(
              `height ${i}`,
              () =>
                Effect.runSync(seen.all).find((s) =>
                  s.height === i
                ),
              10_000,
              1
            )
          )
        }
        expect(yield* seen.heights).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      }),
    30_000
  )

  it.scopedLive(
    "anvil killed and restarted on the same port with its state: the stream survives and goes on past the old max (HTTP and WS)",
    () =>
      Effect.gen(function*() {
        const dir = yield* scopedDir
        const port = yield* promise(freePort)
        const rpcUrl = `http://127.0.0.1:${port}`
        let node: Anvil = yield* promise(() => startAnvil({ port, dataDir: dir, blockTime: 0.2 }))
        yield* Effect.addFinalizer(() => promise(() => node.stop()))

        const httpLogs = yield* captureLogs
        const wsLogs = yield* captureLogs
        const { hp: httpOnly } = yield* buildProvider(
          dir,
          { DAEMON_RPC_URL: rpcUrl, DAEMON_POLL_INTERVAL: "100ms" },
          httpLogs.layer
        )
        // Polling once a minute: after the restart, only the WebSocket can deliver heights in time.
        const { hp: overWs } = yield* buildProvider(
          dir,
          { DAEMON_RPC_URL: rpcUrl, DAEMON_WS_URL: `ws://127.0.0.1:${port}`, DAEMON_POLL_INTERVAL: "60s" },
          wsLogs.layer
        )
        const a = yield* collect(httpOnly.heights)
        const b = yield* collect(overWs.heights)
        yield* promise(() =>
          waitFor("heights before the restart", () => a.current().length >= 3 && b.current().length >= 3, 10_000)
        )

        yield* promise(() => node.stop())
        yield* Effect.sleep("1 second") // down long enough for several failed polls and reconnects
        const oldMax = Math.max(...a.current(), ...b.current())
        node = yield* promise(() => startAnvil({ port, dataDir: dir, blockTime: 0.2 }))

        yield* promise(() =>
          waitFor("heights past the old max over HTTP and WS", () =>
            a.current().some((x) => x > oldMax + 2) && b.current().some((x) => x > oldMax + 2), 15_000)
        )
        for (const s of [a, b]) {
          expect(strictlyIncreasing(yield* s.heights)).toBe(true)
          expect(Option.isNone(yield* Fiber.poll(s.fiber))).toBe(true) // neither failed nor ended
        }
        // Once down, once back — not a line per failed poll or reconnect attempt.
        const http = yield* httpLogs.lines
        expect(http.filter((l) =>
          l.startsWith("WARN")
        )).toHaveLength(1)
        expect(http.filter((l) => l.includes("reachable again"))).toHaveLength(1)
        const ws = yield* wsLogs.lines
        expect(ws.filter((l) => l.includes("head subscription lost"))).toHaveLength(1)
        expect(ws.filter((l) => l.includes("head subscription restored"))).toHaveLength(1)
      }),
    40_000
  )

  it.scopedLive(
    "a chain that drops back (evm_revert) is one height-reorg {from, to}; heights resume only past the old max",
    () =>
      Effect.gen(function*() {
        const dir = yield* scopedDir
        const port = yield* promise(freePort)
        yield* anvil({ port, dataDir: dir, extra: ["--no-mining"] })
        const { hp, events } = yield* buildProvider(dir, {
          DAEMON_RPC_URL: `http://127.0.0.1:${port}`,
          DAEMON_POLL_INTERVAL: "30ms"
        })
        const reorgs = yield* Ref.make<Array<WemixvisorEvent>>([])
        yield* events.subscribe.pipe(
          Effect.flatMap((s) => Stream.runForEach(s, (e) => Ref.update(reorgs, (xs) => [...xs, e]))),
          Effect.forkScoped
        )
        const seen = yield* collect(hp.heights)
        for (let i = 0; i < 3; i++) yield* mine(port)
        const snapshot = yield* promise(() => rpc(port, "evm_snapshot"))
        for (let i = 0; i < 3; i++) yield* mine(port)
        yield* promise(() => waitFor("height 6", () => seen.current().includes(6), 5000))

        yield* promise(() => rpc(port, "evm_revert", [snapshot]))
        yield* Effect.sleep("500 millis") // ~15 polls of the lower head
        expect((yield* Ref.get(reorgs)).map((e) => (e.type === "height-reorg" ? { from: e.from, to: e.to } : e.type)))
          .toEqual([
            { from: 6, to: 3 }
          ])
        for (let i = 0; i < 3; i++) yield* mine(port)
        yield* Effect.sleep("200 millis")
        expect(Math.max(...(yield* seen.heights))).toBe(6) // back at 6: nothing new yet
        yield* mine(port)
        yield* promise(() => waitFor("height 7", () => seen.current().includes(7), 5000))
        expect(strictlyIncreasing(yield* seen.heights)).toBe(true)
        expect(yield* Ref.get(reorgs)).toHaveLength(1)
      }),
    30_000
  )

  it.scopedLive(
    "the WebSocket stream reopens a fresh socket after a restart and closes it when its scope closes",
    () =>
      Effect.gen(function*() {
        const dir = yield* scopedDir
        const port = yield* promise(freePort)
        let node: Anvil = yield* promise(() => startAnvil({ port, dataDir: dir, blockTime: 0.2 }))
        yield* Effect.addFinalizer(() => promise(() => node.stop()))

        const seen = yield* collect(
          pushed(webSocketHeads(`ws://127.0.0.1:${port}`)).pipe(
            Stream.provideLayer(Logger.remove(Logger.defaultLogger))
          )
        )
        yield* promise(() => waitFor("two heights", () => seen.current().length >= 2, 5000))
        expect(connectionsTo(port)).toBe(1)

        yield* promise(() => node.stop())
        yield* Effect.sleep("500 millis")
        expect(connectionsTo(port)).toBe(0)
        const before = (yield* seen.heights).length
        node = yield* promise(() => startAnvil({ port, dataDir: dir, blockTime: 0.2 }))
        yield* promise(() => waitFor("heights after the restart", () => seen.current().length >= before + 2, 10_000))
        expect(connectionsTo(port)).toBe(1)

        yield* Fiber.interrupt(seen.fiber)
        yield* promise(() => waitFor("the socket closed", () => connectionsTo(port) === 0, 2000))
      }),
    30_000
  )

  it.scopedLive(
    "closing the layer closes its HTTP and WebSocket connections",
    () =>
      Effect.gen(function*() {
        const dir = yield* scopedDir
        const port = yield* promise(freePort)
        yield* anvil({ port, dataDir: dir, blockTime: 0.2 })
        yield* Effect.scoped(
          Effect.gen(function*() {
            const { hp } = yield* buildProvider(dir, {
              DAEMON_RPC_URL: `http://127.0.0.1:${port}`,
              DAEMON_WS_URL: `ws://127.0.0.1:${port}`,
              DAEMON_POLL_INTERVAL: "100ms"
            })
            const seen = yield* collect(hp.heights)
            yield* promise(() => waitFor("three heights", () => seen.current().length >= 3, 5000))
            expect(connectionsTo(port)).toBe(2) // one kept-alive HTTP connection, one WebSocket
          })
        )
        yield* promise(() => waitFor("no connection left", () => connectionsTo(port) === 0, 2000, 10))
      }),
    30_000
  )

  it.scopedLive(
    "nothing listening: head fails with NodeUnreachable; heights neither fails nor emits",
    () =>
      Effect.gen(function*() {
        const dir = yield* scopedDir
        const port = yield* promise(freePort)
        const url = `http://127.0.0.1:${port}`
        const { hp } = yield* buildProvider(dir, {
          DAEMON_RPC_URL: url,
          DAEMON_WS_URL: `ws://127.0.0.1:${port}`,
          DAEMON_POLL_INTERVAL: "50ms"
        })

        const error = yield* Effect.flip(hp.head)
        expect(error._tag).toBe("NodeUnreachable")
        expect(error.url).toBe(url)
        const direct = yield* Effect.flip(readHead(url))
        expect(direct._tag).toBe("NodeUnreachable")
        expect(direct.message).toContain(url)
        expect(direct.message).toContain("ECONNREFUSED")

        const none = yield* hp.heights.pipe(
          Stream.take(1),
          Stream.runCollect,
          Effect.timeout("600 millis"),
          Effect.option
        )
        expect(Option.isNone(none)).toBe(true) // timed out: no height, no failure, no end
        expect(Option.isNone(yield* hp.latest)).toBe(true)
      }),
    30_000
  )

  it.scopedLive(
    "a node that accepts connections but never answers: head fails with NodeUnreachable after the 2 s timeout",
    () =>
      Effect.gen(function*() {
        const dir = yield* scopedDir
        const server = yield* Effect.acquireRelease(
          promise(
            () =>
              new Promise<net.Server>((resolve) => {
                const sockets = new Set<net.Socket>()
                const srv = net.createServer((socket) => {
                  sockets.add(socket) // accepted, never answered
                  socket.on("close", () => sockets.delete(socket))
                })
                srv.on("close", () => sockets.forEach((s) => s.destroy()))
                srv.listen(0, "127.0.0.1", () => resolve(srv))
              })
          ),
          (srv) =>
            promise(
              () =>
                new Promise<void>((resolve) => {
                  srv.close(() => resolve())
                  srv.emit("close")
                })
            )
        )
        const port = (server.address() as net.AddressInfo).port
        const { hp } = yield* buildProvider(dir, {
          DAEMON_RPC_URL: `http://127.0.0.1:${port}`,
          DAEMON_POLL_INTERVAL: "100ms"
        })
        const start = performance.now()
        const error = yield* Effect.flip(hp.head)
        const took = performance.now() - start
        expect(error._tag).toBe("NodeUnreachable")
        // the 2 s RPC timeout, not a hang (generous upper bound: this only rules out waiting forever)
        expect(took).toBeGreaterThan(1900)
        expect(took).toBeLessThan(15_000)
      }),
    30_000
  )
})
