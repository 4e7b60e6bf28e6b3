import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Option, Ref, Schedule, Stream } from "effect"
import { layerProtocol, makeClient, Upgrade, type WemixvisorEvent } from "../../src/api/index.js"
import { UpgradeRpcs, UpgradeRpcsServed } from "../../src/api/Rpcs.js"
import { makeHeight } from "../../src/domain/Height.js"
import type { EventInput } from "../../src/events/Events.js"
import { type ApiWorld, buildApi, idleStatus, planText, served, setupApi } from "./support.js"

/** A typed client of `w` with its token, another one, or (null) none. */
const clientFor = (w: ApiWorld, token: string | null = w.token) =>
  makeClient.pipe(Effect.provide(layerProtocol({ url: w.base, ...(token !== null ? { token } : {}) })))

describe("RPC: UpgradeRpcs over POST /rpc (NDJSON)", () => {
  it.scopedLive("typed successes: ScheduleUpgrade, ListUpgrades, CancelUpgrade, GetStatus", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const client = yield* clientFor(w)
      const u = yield* client.ScheduleUpgrade({ name: "v2", height: 200, info: "notes" })
      expect(u).toBeInstanceOf(Upgrade)
      expect(u).toMatchObject({ name: "v2", height: 200, status: "scheduled", info: "notes" })
      expect(JSON.parse(planText(w)!).upgrades).toHaveLength(1)

      const list = yield* client.ListUpgrades()
      expect(list.count).toBe(1)
      expect(list.upgrades[0]!.name).toBe("v2")

      const cancelled = yield* client.CancelUpgrade({})
      expect(cancelled).toMatchObject({ name: "v2", status: "cancelled" })

      const st = { ...idleStatus, current_height: makeHeight(321), block_interval_seconds: 1.25, head_age_seconds: 3 }
      yield* Ref.set(w.status, st)
      const status = yield* client.GetStatus()
      expect(status).toEqual(served(w, st))
      expect(status).toMatchObject({ block_interval_seconds: 1.25, head_age_seconds: 3 })
    }))

  it.scopedLive("ScheduleUpgrade's on_failure is stored with the upgrade and listed", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const client = yield* clientFor(w)
      const u = yield* client.ScheduleUpgrade({ name: "v2", height: 200, on_failure: "rollback" })
      expect(u.on_failure).toBe("rollback")
      const plain = yield* client.ScheduleUpgrade({ name: "v3", height: 300 })
      expect(plain.on_failure).toBeUndefined()
      expect((yield* client.ListUpgrades()).upgrades.map((x) => x.on_failure)).toEqual(["rollback", undefined])
    }))

  it.scopedLive("typed errors, recovered by tag; nothing written", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const client = yield* clientFor(w)
      yield* client.ScheduleUpgrade({ name: "v1", height: 150 })
      const before = planText(w)

      const tagOf = <A, E extends { readonly _tag: string }>(e: Effect.Effect<A, E>) =>
        e.pipe(
          Effect.flip,
          Effect.map((x) => ({ ...x, _tag: x._tag }))
        )
      expect(yield* tagOf(client.ScheduleUpgrade({ name: "../x", height: 200 }))).toMatchObject({
        _tag: "InvalidInput",
        field: "name"
      })
      expect(yield* tagOf(client.ScheduleUpgrade({ name: "v2", height: 2.5 }))).toMatchObject({
        _tag: "InvalidInput",
        field: "height"
      })
      expect(yield* tagOf(client.ScheduleUpgrade({ name: "v2", height: 200, checksums: { x: "nope" } }))).toMatchObject(
        {
          _tag: "InvalidInput",
          field: "checksums.x"
        }
      )
      expect(yield* tagOf(client.ScheduleUpgrade({ name: "v2", height: 200, on_failure: "pray" }))).toMatchObject({
        _tag: "InvalidInput",
        field: "on_failure",
        problem: "expected rollback or halt"
      })
      expect(yield* tagOf(client.ScheduleUpgrade({ name: "v1", height: 300 }))).toMatchObject({
        _tag: "UpgradeConflict",
        name: "v1"
      })
      const low = yield* client.ScheduleUpgrade({ name: "v2", height: 99 }).pipe(
        Effect.catchTag("UpgradeConflict", (e) => Effect.succeed(e.message))
      )
      expect(low).toMatch(/height 99 is at or below the chain head 100/)
      expect(yield* tagOf(client.CancelUpgrade({ name: "nope" }))).toMatchObject({
        _tag: "UpgradeNotFound",
        name: "nope"
      })
      yield* Ref.set(w.head, Option.none())
      const down = yield* client.ScheduleUpgrade({ name: "v2", height: 200 }).pipe(
        Effect.catchTag("NodeUnreachable", (e) => Effect.succeed(e))
      )
      expect(down).toMatchObject({ _tag: "NodeUnreachable", reason: "connection refused" })
      expect(planText(w)).toBe(before)

      // A request body over the limit fails the call (HTTP 413), it does not hang.
      const big = yield* client.ScheduleUpgrade({ name: "v3", height: 500, info: "x".repeat(70 * 1024), force: true })
        .pipe(
          Effect.timeout("5 seconds"),
          Effect.exit
        )
      expect(Exit.isFailure(big)).toBe(true)
      expect(String(big)).not.toMatch(/TimeoutException/)
      expect(planText(w)).toBe(before)
    }))

  it.scopedLive("WatchEvents streams the events as they happen", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const client = yield* clientFor(w)
      const got = yield* Ref.make<ReadonlyArray<WemixvisorEvent>>([])
      const watching = yield* client.WatchEvents().pipe(
        Stream.tap((e) => Ref.update(got, (all) => [...all, e])),
        Stream.takeUntil((e) => e.type === "node-error"),
        Stream.runCollect,
        Effect.fork
      )
      const until = (type: WemixvisorEvent["type"], ping?: EventInput) =>
        (ping === undefined ? Effect.void : w.events.publish(ping)).pipe(
          Effect.zipRight(Ref.get(got)),
          Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (all) => all.some((e) => e.type === type) }),
          Effect.timeout("5 seconds")
        )
      // Subscribed once a ping published now comes through.
      yield* until("node-restarting", { type: "node-restarting", restarts: 1, delay_ms: 1000 })
      // Events come from the plan watcher's view of the file: a schedule and a cancel it sees in one check are
      // no change at all, so each is awaited before the next.
      yield* client.ScheduleUpgrade({ name: "v2", height: 200 })
      yield* until("upgrade-scheduled")
      yield* client.CancelUpgrade({ name: "v2" })
      yield* until("upgrade-cancelled")
      yield* w.events.publish({ type: "node-error", reason: "too many restarts" })
      const events = Chunk.toReadonlyArray(yield* Fiber.join(watching).pipe(Effect.timeout("5 seconds")))
        .filter((e) => e.type !== "node-restarting")
      expect(events.map((e) => e.type)).toEqual(["upgrade-scheduled", "upgrade-cancelled", "node-error"])
      expect(events[0]).toMatchObject({ name: "v2", height: 200 })
    }))
})

/** One NDJSON request line as another (non-Effect) client might send it: HTTP status and the first response line. */
const rawRpc = (w: ApiWorld, line: object) =>
  Effect.promise(async () => {
    const res = await fetch(`${w.base}/rpc`, {
      method: "POST",
      headers: { "content-type": "application/ndjson", authorization: `Bearer ${w.token}` },
      body: JSON.stringify(line) + "\n"
    })
    const text = await res.text()
    const first = text.split("\n").find((l) => l.trim() !== "")
    return { status: res.status, first: first === undefined ? undefined : (JSON.parse(first) as unknown) }
  })

const request = (tag: string, payload: unknown) => ({ _tag: "Request", id: "1", tag, payload, headers: [] })

/** The typed failure of a response line: {_tag: "Exit", exit: {_tag: "Failure", cause: {_tag: "Fail", error}}}. */
const typedFailure = (error: object) => ({ _tag: "Exit", exit: { _tag: "Failure", cause: { _tag: "Fail", error } } })

describe("RPC: what other clients may send", () => {
  it.scopedLive("wrong-typed or missing payload fields → typed InvalidInput naming the field, not a defect; nothing written", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const cases: ReadonlyArray<readonly [string, unknown, string]> = [
        ["ScheduleUpgrade", { name: "p1", height: "200" }, "height"],
        ["ScheduleUpgrade", { height: 200 }, "name"],
        ["ScheduleUpgrade", { name: 7, height: 200 }, "name"],
        ["ScheduleUpgrade", { name: "p1", height: 200, info: 42 }, "info"],
        ["ScheduleUpgrade", { name: "p1", height: 200, force: "yes" }, "force"],
        ["ScheduleUpgrade", "v2", "body"],
        ["CancelUpgrade", { name: 5 }, "name"],
        ["PrepareUpgrade", {}, "name"],
        ["PrepareUpgrade", { name: "../evil" }, "name"]
      ]
      for (const [tag, payload, field] of cases) {
        const r = yield* rawRpc(w, request(tag, payload))
        expect(r.status, `${tag} ${JSON.stringify(payload)}`).toBe(200)
        expect(r.first, `${tag} ${JSON.stringify(payload)}`).toMatchObject(
          typedFailure({ _tag: "InvalidInput", field })
        )
      }
      // The well-formed request still works over the same path.
      const ok = yield* rawRpc(w, request("ScheduleUpgrade", { name: "p1", height: 200 }))
      expect(ok.first).toMatchObject({ _tag: "Exit", exit: { _tag: "Success", value: { name: "p1", height: 200 } } })
      const cancelled = yield* rawRpc(w, request("CancelUpgrade", {}))
      expect(cancelled.first).toMatchObject({
        _tag: "Exit",
        exit: { _tag: "Success", value: { name: "p1", status: "cancelled" } }
      })
      expect(JSON.parse(planText(w)!).upgrades).toMatchObject([{ name: "p1", status: "cancelled" }])
    }))

  it.scopedLive("a request line without headers → 400 {error, details}, not an empty 500", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const r = yield* rawRpc(w, { _tag: "Request", id: "77", tag: "GetStatus", payload: {} })
      expect(r.status).toBe(400)
      expect(r.first).toMatchObject({ error: "invalid RPC request" })
      expect((r.first as { details: unknown }).details).toMatch(/headers/)
      // The server is still fine afterwards.
      const client = yield* clientFor(w)
      expect((yield* client.ListUpgrades()).count).toBe(0)
    }))

  it("the served group has the client group's procedures", () => {
    expect([...UpgradeRpcsServed.requests.keys()]).toEqual([...UpgradeRpcs.requests.keys()])
  })
})

describe("RPC: auth", () => {
  it.scopedLive("missing or wrong token → typed Unauthorized on every procedure, streams included; the right one passes", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ token: "s3cret", head: 100 })
      for (const token of [undefined, "wrong", "s3cret2"]) {
        const client = yield* clientFor(w, token ?? null)
        const calls = [
          client.ScheduleUpgrade({ name: "v2", height: 200 }),
          client.ListUpgrades(),
          client.CancelUpgrade({ name: "v2" }),
          client.GetStatus(),
          client.WatchEvents().pipe(Stream.runHead)
        ] as const
        for (const call of calls) {
          const e = yield* (call as Effect.Effect<unknown, { readonly _tag: string }>).pipe(
            Effect.flip,
            Effect.timeout("5 seconds")
          )
          expect(e._tag, `token=${token}`).toBe("Unauthorized")
        }
      }
      expect(planText(w)).toBeUndefined()
      const client = yield* clientFor(w, "s3cret")
      expect((yield* client.ScheduleUpgrade({ name: "v2", height: 200 })).name).toBe("v2")
    }))

  it.scopedLive("a non-loopback address without a token refuses to start (ConfigInvalid); loopback or a token is fine", () =>
    Effect.gen(function*() {
      for (const addr of ["0.0.0.0:0", "[::]:0", "10.1.2.3:8590", "example.com:8590"]) {
        const refused = yield* Effect.flip(buildApi({ addr: () => addr }))
        expect(refused, addr).toMatchObject({ _tag: "ConfigInvalid", variable: "WEMIXVISOR_API_ADDR", value: addr })
        expect(refused.message).toMatch(/WEMIXVISOR_API_TOKEN must be set/)
      }
      for (const host of ["127.0.0.1", "127.1.2.3", "[::1]", "localhost"]) {
        yield* Effect.scoped(buildApi({ addr: (port) => `${host}:${port}` }))
      }
      // Beyond loopback with a token: served (on every interface, reached here through loopback), token required.
      const w = yield* setupApi({ addr: (port) => `0.0.0.0:${port}`, token: "t" })
      const client = yield* clientFor(w, "t")
      expect((yield* client.ListUpgrades()).count).toBe(0)
      expect((yield* Effect.flip(clientFor(w, null).pipe(Effect.flatMap((c) => c.ListUpgrades()))))._tag).toBe(
        "Unauthorized"
      )
    }))
})
