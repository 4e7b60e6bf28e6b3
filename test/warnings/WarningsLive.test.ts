/*
 * The warnings on the Clock (src/warnings/WarningsLive.ts): scripted heights,
 * RPC reads and status under TestClock; what comes out is the events, as
 * the log, SSE, metrics and notifications would see them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as TestClock from "effect/TestClock"
import { AppConfig, loadConfig } from "../../src/config/Config.js"
import { type Height, makeHeight } from "../../src/domain/Height.js"
import type { UpgradeWithEta } from "../../src/domain/Status.js"
import { type EventInput, Events, type WemixvisorEvent } from "../../src/events/Events.js"
import * as ChainPaceLive from "../../src/height/ChainPaceLive.js"
import { HeightProvider } from "../../src/height/HeightProvider.js"
import type { RpcRead } from "../../src/height/RpcErrors.js"
import { Orchestrator } from "../../src/orchestrator/Orchestrator.js"
import * as WarningsLive from "../../src/warnings/WarningsLive.js"
import { idleStatus } from "../api/support.js"
import { cleanup, tempDir } from "../support/fixtures.js"
import { pendingUpgrade } from "../support/upgrades.js"

const WARNINGS = new Set(["node-stalled", "upgrade-soon", "height-passed-blind"])

const world = (env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const home = yield* Effect.acquireRelease(
      Effect.sync(() => tempDir("wemixvisor-warnings-")),
      (d) => Effect.sync(() => cleanup(d))
    )
    const config = yield* loadConfig({ env: { DAEMON_HOME: home, DAEMON_NAME: "gwemix", ...env } }).pipe(Effect.orDie)
    const hub = yield* PubSub.unbounded<WemixvisorEvent>()
    const heads = yield* SubscriptionRef.make(Option.none<Height>())
    const reads = yield* PubSub.unbounded<RpcRead>()
    const pending = yield* Ref.make<ReadonlyArray<UpgradeWithEta>>([])
    const warnings = yield* Ref.make<ReadonlyArray<WemixvisorEvent>>([])
    const events = Events.of({
      publish: (input: EventInput) =>
        Effect.flatMap(Clock.currentTimeMillis, (t) => {
          const event = { ...input, time: new Date(t).toISOString() } as WemixvisorEvent
          return Effect.zipRight(
            WARNINGS.has(event.type) ? Ref.update(warnings, (ws) => [...ws, event]) : Effect.void,
            PubSub.publish(hub, event)
          )
        }),
      subscribe: Effect.map(PubSub.subscribe(hub), Stream.fromQueue)
    })
    const heights = HeightProvider.of({
      heights: heads.changes.pipe(Stream.filterMap((x) => x)),
      latest: SubscriptionRef.get(heads),
      head: Effect.die("not read here"),
      rpcReads: Stream.fromPubSub(reads)
    })
    const orchestrator = Orchestrator.of({
      status: Effect.map(Ref.get(pending), (p) => ({ ...idleStatus, pending: p, pending_upgrade: p[0] ?? null })),
      paused: Effect.succeed(null),
      halted: Effect.succeed(null),
      prepare: () => Effect.die("not called here"),
      restartNode: () => Effect.die("not called here"),
      pause: () => Effect.die("not called here"),
      resume: () => Effect.die("not called here"),
      operatorPause: Effect.succeed(null)
    })
    yield* Layer.build(
      WarningsLive.layer.pipe(
        Layer.provideMerge(ChainPaceLive.layer),
        Layer.provide(
          Layer.mergeAll(
            Layer.succeed(AppConfig, config),
            Layer.succeed(Events, events),
            Layer.succeed(HeightProvider, heights),
            Layer.succeed(Orchestrator, orchestrator)
          )
        )
      )
    )
    /** Lets the warning fibers take in what was just set or published. */
    const settle = Effect.repeatN(Effect.yieldNow(), 20)
    yield* settle
    return {
      head: (n: number) => Effect.zipRight(SubscriptionRef.set(heads, Option.some(makeHeight(n))), settle),
      readFailed: Effect.zipRight(PubSub.publish(reads, { _tag: "Failed", kind: "connection" }), settle),
      pending: (p: ReadonlyArray<UpgradeWithEta>) => Ref.set(pending, p),
      /** The orchestrator fired upgrade `name` (at `height`) on head `current`. */
      started: (name: string, height: number, current: number) =>
        Effect.zipRight(
          events.publish({
            type: "upgrade-started",
            name,
            height: makeHeight(height),
            current_height: makeHeight(current)
          }),
          settle
        ),
      /** The clock moves on by `ms`, in check-sized steps so each check sees its instant. */
      advance: (ms: number) =>
        Effect.gen(function*() {
          for (let left = ms; left > 0; left -= 5000) {
            yield* TestClock.adjust(`${Math.min(5000, left)} millis`)
            yield* settle
          }
        }),
      warnings: Ref.get(warnings),
      blind: Effect.map(Ref.get(warnings), (ws) => ws.filter((e) => e.type === "height-passed-blind")),
      settle
    }
  })

const kinds = (ws: ReadonlyArray<WemixvisorEvent>) => ws.map((w) => w.type)

describe("node-stalled on the Clock", () => {
  it.scoped("announced once per spell, after max(60 s, 10 block intervals), again after the head moved and stood", () =>
    Effect.gen(function*() {
      const w = yield* world()
      yield* w.head(100)
      yield* w.advance(60_000)
      expect(yield* w.warnings).toEqual([])
      // Checked every 5 s: the 65 s check is the first past 60 s.
      yield* w.advance(5_000)
      const [stalled] = yield* w.warnings
      expect(stalled).toMatchObject({ type: "node-stalled", head: 100, seconds: 65, hint: null })
      expect(stalled!.time).toBe(new Date(65_000).toISOString())
      yield* w.advance(600_000)
      expect(kinds(yield* w.warnings)).toEqual(["node-stalled"])

      // Moving at 10 s a block (long enough for the stall to leave the moving average): a stall is now 10 intervals, 100 s.
      for (let n = 101; n <= 140; n++) {
        yield* w.head(n)
        yield* w.advance(10_000)
      }
      yield* w.advance(85_000)
      expect(kinds(yield* w.warnings)).toEqual(["node-stalled"])
      yield* w.advance(10_000)
      expect(yield* w.warnings).toMatchObject([{ head: 100 }, { type: "node-stalled", head: 140 }])
    }))

  it.scoped("WEMIXVISOR_STALL_AFTER replaces the rule; the fork hint names the upgrade at head + 1", () =>
    Effect.gen(function*() {
      const w = yield* world({ WEMIXVISOR_STALL_AFTER: "20s" })
      yield* w.pending([pendingUpgrade("v2", 201, 60 * 3600)])
      yield* w.head(200)
      yield* w.advance(20_000)
      expect(kinds(yield* w.warnings)).toEqual([])
      yield* w.advance(5_000)
      const [stalled] = (yield* w.warnings).filter((e) => e.type === "node-stalled")
      expect(stalled).toMatchObject({ head: 200, seconds: 25 })
      expect(stalled!.type === "node-stalled" && stalled!.hint).toContain("upgrade 'v2' waits for block 201")
    }))
})

describe("upgrade-soon on the Clock", () => {
  it.scoped("each mark once, with readiness, as the status's ETA crosses it", () =>
    Effect.gen(function*() {
      const w = yield* world()
      yield* w.head(100)
      const soon = (eta: number, ready = true) =>
        w.pending([pendingUpgrade("v2", 1500000, eta, ready ? "ready" : "failed", ready ? null : "checksum mismatch")])
      yield* soon(25 * 3600)
      yield* w.advance(5_000)
      expect(yield* w.warnings).toEqual([])
      yield* soon(24 * 3600 - 1)
      yield* w.advance(5_000)
      yield* soon(24 * 3600 - 10)
      yield* w.advance(5_000)
      expect(yield* w.warnings).toMatchObject([{ type: "upgrade-soon", within: "24h", ready: true }])
      yield* soon(3000, false)
      yield* w.advance(5_000)
      yield* soon(500, false)
      yield* w.advance(5_000)
      expect((yield* w.warnings).slice(1)).toMatchObject([
        { type: "upgrade-soon", within: "1h", ready: false, problem: "checksum mismatch" },
        { type: "upgrade-soon", within: "10m", ready: false, problem: "checksum mismatch" }
      ])
      yield* w.advance(60_000)
      expect((yield* w.warnings).filter((e) => e.type === "upgrade-soon")).toHaveLength(3)
    }))
})

describe("height-passed-blind on the Clock", () => {
  it.scoped("an upgrade-started more than one block past its height after failed reads", () =>
    Effect.gen(function*() {
      const w = yield* world()
      yield* w.head(100)
      yield* w.advance(1_000)
      yield* w.readFailed
      yield* w.advance(40_000)
      yield* w.readFailed
      yield* w.head(110)
      yield* w.started("v2", 105, 110)
      const blind = yield* w.blind
      expect(blind).toMatchObject([{ name: "v2", height: 105, current_height: 110, blind_seconds: 40 }])
    }))

  it.scoped("not for an upgrade that fired on time, nor a jump the chain made while reads answered", () =>
    Effect.gen(function*() {
      const w = yield* world()
      yield* w.head(100)
      yield* w.advance(3_000)
      yield* w.head(110)
      yield* w.started("v2", 105, 110)
      yield* w.readFailed
      yield* w.advance(3_000)
      yield* w.head(111)
      yield* w.started("v3", 111, 111)
      expect(yield* w.blind).toEqual([])
    }))

  it.scoped("the heights lag the orchestrator: the check waits for the head the upgrade fired at", () =>
    Effect.gen(function*() {
      const w = yield* world()
      yield* w.head(100)
      yield* w.readFailed
      yield* w.advance(20_000)
      // upgrade-started first; the head it fired on reaches the warnings' fiber a moment later.
      yield* w.started("v2", 102, 104)
      yield* w.head(104)
      expect(yield* w.blind).toMatchObject([
        { name: "v2", blind_seconds: 20 }
      ])
    }))
})
