/*
 * The notifier's rules on the TestClock (src/notify/NotifierLive.ts): which
 * channel takes which event, coalescing windows, the retry schedule, the
 * bounded queue, and that one channel's trouble never holds another back.
 * `send` is a recorder that can fail or hang per channel; the events come
 * from the real Events layer.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import { type Channel, parseChannels } from "../../src/config/Channels.js"
import { NotifyFailed } from "../../src/domain/Errors.js"
import { makeHeight } from "../../src/domain/Height.js"
import * as Events from "../../src/events/Events.js"
import { Metrics, type NotifyResult } from "../../src/metrics/Metrics.js"
import type { Notice } from "../../src/notify/Message.js"
import * as NotifierLive from "../../src/notify/NotifierLive.js"

const channels = (env: Record<string, string>, tables: ReadonlyArray<Record<string, unknown>> = []) =>
  Either.getOrThrow(parseChannels((n) => env[n], tables, "host1"))

type Behaviour = "ok" | "fail" | "hang"

const world = (
  chans: ReadonlyArray<Channel>,
  coalesce: Duration.DurationInput = "1 minute",
  behaviour: Record<string, Behaviour> = {}
) =>
  Effect.gen(function*() {
    const sent = yield* Ref.make<ReadonlyArray<{ channel: string; notice: Notice }>>([])
    const attempts = yield* Ref.make<ReadonlyArray<string>>([])
    const counted = yield* Ref.make<ReadonlyArray<string>>([])
    const metrics = Metrics.of({
      contentType: "text/plain",
      render: () => Effect.succeed(""),
      notified: (channel: string, result: NotifyResult) => Ref.update(counted, (xs) => [...xs, `${channel}:${result}`])
    })
    const send = (c: Channel, n: Notice) =>
      Effect.gen(function*() {
        yield* Ref.update(attempts, (xs) => [...xs, c.name])
        const b = behaviour[c.name] ?? "ok"
        if (b === "hang") return yield* Effect.never
        if (b === "fail") return yield* new NotifyFailed({ channel: c.name, reason: "HTTP 500" })
        yield* Ref.update(sent, (xs) => [...xs, { channel: c.name, notice: n }])
      })
    const layer = Layer.scopedDiscard(NotifierLive.make(chans, Duration.decode(coalesce), send)).pipe(
      Layer.provideMerge(Layer.mergeAll(Events.layer, Layer.succeed(Metrics, metrics)))
    )
    const ctx = yield* Layer.build(layer)
    const events = yield* Effect.provide(Events.Events, ctx)
    /** Lets every fiber run to its next wait (no time passes). */
    const settle = Effect.gen(function*() {
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
    })
    /** Lets the fibers run until `cond` holds (no time passes); a bug that never gets there fails the test. */
    const until = (cond: Effect.Effect<boolean>) =>
      Effect.gen(function*() {
        for (let i = 0; i < 100_000; i++) {
          if (yield* cond) return
          yield* Effect.yieldNow()
        }
        return yield* Effect.dieMessage("the condition never held")
      })
    return { events, sent, attempts, counted, settle, until }
  })

const failed = { type: "upgrade-failed", name: "v2", reason: "verify: node exited" } as const
const done = { type: "upgrade-completed", name: "v2", height: makeHeight(100) } as const

describe("NotifierLive", () => {
  it.scoped("sends the default events to every channel, and nothing it was not asked for", () =>
    Effect.gen(function*() {
      const w = yield* world(
        channels({ WEMIXVISOR_NOTIFY_SLACK: "http://x/s", WEMIXVISOR_NOTIFY_DISCORD: "http://x/d" })
      )
      yield* w.events.publish(done)
      // not in the default set
      yield* w.events.publish({ type: "upgrade-step", name: "v2", step: "stop" })
      yield* w.events.publish({ type: "node-restarting", restarts: 1, delay_ms: 1000 })
      yield* w.settle
      const sent = yield* Ref.get(w.sent)
      expect(sent.map((s) => `${s.channel}:${s.notice.event.type}`).sort()).toEqual([
        "discord:upgrade-completed",
        "slack:upgrade-completed"
      ])
      expect([...(yield* Ref.get(w.counted))].sort()).toEqual(["discord:delivered", "slack:delivered"])
    }))

  it.scoped("a channel's events and minimum severity filter what it gets", () =>
    Effect.gen(function*() {
      const w = yield* world(channels({}, [
        { type: "slack", name: "pager", url: "http://x/p", min_severity: "error" },
        { type: "webhook", name: "all", url: "http://x/a", events: "all" }
      ]))
      yield* w.events.publish(done)
      yield* w.events.publish(failed)
      yield* w.events.publish({ type: "upgrade-step", name: "v2", step: "stop" })
      yield* w.settle
      const sent = (yield* Ref.get(w.sent)).map((s) => `${s.channel}:${s.notice.event.type}`)
      expect(sent.filter((s) => s.startsWith("pager:"))).toEqual(["pager:upgrade-failed"])
      expect(sent.filter((s) => s.startsWith("all:"))).toEqual([
        "all:upgrade-completed",
        "all:upgrade-failed",
        "all:upgrade-step"
      ])
    }))

  it.scoped("identical events within the window go out once, then as one summary; a new window after", () =>
    Effect.gen(function*() {
      const w = yield* world(channels({ WEMIXVISOR_NOTIFY_SLACK: "http://x/s", WEMIXVISOR_NOTIFY_EVENTS: "all" }))
      const restarting = (restarts: number) => ({ type: "node-restarting", restarts, delay_ms: 1000 }) as const
      // A crash loop: 10 restarts in 50 s.
      for (let i = 1; i <= 10; i++) {
        yield* w.events.publish(restarting(i))
        yield* w.settle
        yield* TestClock.adjust("5 seconds")
      }
      yield* w.settle
      let sent = yield* Ref.get(w.sent)
      expect(sent.map((s) => [s.notice.event.type, s.notice.repeats])).toEqual([["node-restarting", 0]])
      // The window ends 60 s after the first: one summary of the 9 held back (the latest, "and 8 more").
      yield* TestClock.adjust("10 seconds")
      yield* w.settle
      sent = yield* Ref.get(w.sent)
      expect(sent).toHaveLength(2)
      expect(sent[1]!.notice.repeats).toBe(8)
      expect(sent[1]!.notice.event).toMatchObject({ restarts: 10 })
      // Quiet for a whole window: it closes, with nothing more to say.
      yield* TestClock.adjust("61 seconds")
      yield* w.settle
      expect(yield* Ref.get(w.sent)).toHaveLength(2)
      // The next one goes out at once again.
      yield* w.events.publish(restarting(11))
      yield* w.settle
      expect((yield* Ref.get(w.sent)).map((s) => s.notice.repeats)).toEqual([0, 8, 0])
    }))

  it.scoped("events of another upgrade or with another reason are not coalesced with each other", () =>
    Effect.gen(function*() {
      const w = yield* world(channels({ WEMIXVISOR_NOTIFY_SLACK: "http://x/s" }))
      yield* w.events.publish(failed)
      yield* w.events.publish({ ...failed, name: "v3" })
      yield* w.events.publish({ ...failed, reason: "checksum mismatch" })
      yield* w.events.publish(failed)
      yield* w.settle
      expect((yield* Ref.get(w.sent)).map((s) => s.notice.event)).toHaveLength(3)
    }))

  it.scoped("WEMIXVISOR_NOTIFY_COALESCE=0 sends every one", () =>
    Effect.gen(function*() {
      const w = yield* world(channels({ WEMIXVISOR_NOTIFY_SLACK: "http://x/s" }), 0)
      for (let i = 0; i < 3; i++) yield* w.events.publish(failed)
      yield* w.settle
      expect(yield* Ref.get(w.sent)).toHaveLength(3)
    }))

  it.scoped("a failing channel is retried 1, 2, 4, 8 s apart, then given up on and counted", () =>
    Effect.gen(function*() {
      const w = yield* world(
        channels({ WEMIXVISOR_NOTIFY_SLACK: "http://x/s", WEMIXVISOR_NOTIFY_DISCORD: "http://x/d" }),
        "1 minute",
        { slack: "fail" }
      )
      yield* w.events.publish(failed)
      yield* w.settle
      const slackAttempts = Effect.map(Ref.get(w.attempts), (xs) => xs.filter((x) => x === "slack").length)
      expect(yield* slackAttempts).toBe(1)
      for (const [wait, expected] of [[999, 1], [1, 2], [2000, 3], [4000, 4], [7999, 4], [1, 5]] as const) {
        yield* TestClock.adjust(Duration.millis(wait))
        yield* w.settle
        expect(yield* slackAttempts).toBe(expected)
      }
      expect(yield* Ref.get(w.counted)).toContain("slack:failed")
      // Nothing more is tried for it.
      yield* TestClock.adjust("1 hour")
      yield* w.settle
      expect(yield* slackAttempts).toBe(5)
      // The other channel got its message at once, unbothered.
      expect((yield* Ref.get(w.sent)).map((s) => s.channel)).toEqual(["discord"])
    }))

  it.scoped("a channel that hangs holds back only itself; its queue is bounded and overflow is counted", () =>
    Effect.gen(function*() {
      const w = yield* world(
        channels({ WEMIXVISOR_NOTIFY_WEBHOOK: "http://x/w", WEMIXVISOR_NOTIFY_SLACK: "http://x/s" }),
        0,
        { webhook: "hang" }
      )
      const n = NotifierLive.QUEUE_CAPACITY + 5
      const published = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        // Spread out, as events are: a burst above QUEUE_CAPACITY at once would overflow any queue.
        for (let i = 0; i < n; i++) {
          yield* Effect.zipRight(w.events.publish({ ...done, height: makeHeight(100 + i) }), w.settle)
        }
        yield* Deferred.succeed(published, undefined)
      }).pipe(Effect.forkScoped)
      // Publishing never waits on the notifier.
      yield* Deferred.await(published)
      yield* w.until(Effect.map(Ref.get(w.sent), (xs) => xs.filter((s) => s.channel === "slack").length === n))
      yield* w.settle
      // One in flight (hanging), QUEUE_CAPACITY waiting, the rest dropped.
      const counted = yield* Ref.get(w.counted)
      expect(counted.filter((c) => c === "webhook:dropped")).toHaveLength(n - 1 - NotifierLive.QUEUE_CAPACITY)
      expect((yield* Ref.get(w.attempts)).filter((x) => x === "webhook")).toHaveLength(1)
    }))

  it.scoped("no channel configured: nothing subscribes, nothing is sent", () =>
    Effect.gen(function*() {
      const w = yield* world([])
      yield* w.events.publish(failed)
      yield* w.settle
      expect(yield* Ref.get(w.attempts)).toEqual([])
    }))
})
