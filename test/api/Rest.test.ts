import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Ref, SubscriptionRef } from "effect"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import { makeHeight } from "../../src/domain/Height.js"
import type { StatusObject } from "../../src/domain/Status.js"
import { waitFor } from "../support/fixtures.js"
import { type ApiWorld, buildApi, idleStatus, planText, request, served, setupApi } from "./support.js"

const SHA = "sha256:" + "ab".repeat(32)

const upgradeRow = (name: string, height: number, status: string) => ({
  name,
  height,
  status,
  info: "",
  binaries: {},
  checksums: {},
  reason: null,
  created_at: "2026-01-01T00:00:00.000Z",
  updated_at: "2026-01-01T00:00:00.000Z"
})
const writePlan = (w: ApiWorld, ...upgrades: Array<object>) =>
  fs.writeFileSync(w.planFile, JSON.stringify({ version: 1, upgrades }, null, 2) + "\n")

describe("REST: upgrades", () => {
  it.scopedLive("schedule → list → cancel → list, in the seeds' shapes", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const created = yield* request(w, "POST", "/api/v1/upgrades", {
        body: {
          name: "v2.0.0",
          height: 1500000,
          info: "mont blanc",
          binaries: { "linux/amd64": "https://example.com/gwemix" },
          checksums: { "linux/amd64": SHA }
        }
      })
      expect(created.status).toBe(201)
      expect(created.body).toMatchObject({
        message: "Upgrade scheduled successfully",
        upgrade: {
          name: "v2.0.0",
          height: 1500000,
          status: "scheduled",
          info: "mont blanc",
          binaries: { "linux/amd64": "https://example.com/gwemix" },
          checksums: { "linux/amd64": SHA },
          reason: null
        }
      })
      const onDisk = JSON.parse(planText(w)!)
      expect(onDisk.upgrades).toEqual([(created.body as { upgrade: unknown }).upgrade])

      const list = yield* request(w, "GET", "/api/v1/upgrades")
      expect(list.status).toBe(200)
      expect(list.body).toEqual({ upgrades: onDisk.upgrades, count: 1 })

      const cancelled = yield* request(w, "DELETE", "/api/v1/upgrades/v2.0.0")
      expect(cancelled.status).toBe(200)
      expect(cancelled.body).toEqual({ message: "Upgrade cancelled successfully", name: "v2.0.0" })
      const after = yield* request(w, "GET", "/api/v1/upgrades")
      expect(after.body).toMatchObject({ upgrades: [{ name: "v2.0.0", status: "cancelled" }], count: 1 })
    }))

  it.scopedLive("on_failure in the body is stored with the upgrade (null or absent: follow DAEMON_ON_UPGRADE_FAILURE)", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const halt = yield* request(w, "POST", "/api/v1/upgrades", {
        body: { name: "v2", height: 200, on_failure: "halt" }
      })
      expect(halt.status).toBe(201)
      expect(halt.body).toMatchObject({ upgrade: { name: "v2", on_failure: "halt" } })
      const dflt = yield* request(w, "POST", "/api/v1/upgrades", {
        body: { name: "v3", height: 300, on_failure: null }
      })
      expect(dflt.status).toBe(201)
      const onDisk = JSON.parse(planText(w)!) as { upgrades: Array<Record<string, unknown>> }
      expect(onDisk.upgrades[0]).toMatchObject({ name: "v2", on_failure: "halt" })
      expect(onDisk.upgrades[1]).not.toHaveProperty("on_failure")
      const list = yield* request(w, "GET", "/api/v1/upgrades")
      expect(list.body).toMatchObject({ upgrades: [{ name: "v2", on_failure: "halt" }, { name: "v3" }] })
    }))

  it.scopedLive("bad input → 400 naming the field; conflicts → 409; unknown → 404; node down → 503; nothing written", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      writePlan(w, upgradeRow("v1", 150, "scheduled"), upgradeRow("v0", 90, "upgrading"))
      const before = planText(w)
      const cases: ReadonlyArray<readonly [string, string | object, number, string, RegExp]> = [
        ["not JSON", "{\"name\": \"v2\", ", 400, "invalid JSON", /JSON/],
        ["not an object", "[1, 2]", 400, "invalid body", /JSON object/],
        ["bad name", { name: "../etc", height: 200 }, 400, "invalid name", /upgrade name/],
        ["missing name", { height: 200 }, 400, "invalid name", /missing/],
        ["height as text", { name: "v2", height: "200" }, 400, "invalid height", /number/],
        ["fractional height", { name: "v2", height: 2.5 }, 400, "invalid height", /whole number/],
        ["negative height", { name: "v2", height: -1 }, 400, "invalid height", /negative/],
        ["missing height", { name: "v2" }, 400, "invalid height", /missing/],
        [
          "bad checksum",
          { name: "v2", height: 200, checksums: { "linux/amd64": "md5:00" } },
          400,
          "invalid checksums.linux/amd64",
          /sha256/
        ],
        ["info not text", { name: "v2", height: 200, info: 7 }, 400, "invalid info", /string/],
        [
          "bad on_failure",
          { name: "v2", height: 200, on_failure: "pray" },
          400,
          "invalid on_failure",
          /rollback or halt/
        ],
        ["on_failure not text", { name: "v2", height: 200, on_failure: 1 }, 400, "invalid on_failure", /rollback/],
        ["name taken", { name: "v1", height: 300 }, 409, "conflict", /already exists with status 'scheduled'/],
        [
          "at the head",
          { name: "v2", height: 100 },
          409,
          "conflict",
          /at or below the chain head 100 \(set "force": true/
        ],
        ["below the head", { name: "v2", height: 5 }, 409, "conflict", /at or below the chain head/]
      ]
      for (const [what, body, status, error, details] of cases) {
        const r = yield* request(w, "POST", "/api/v1/upgrades", { body })
        expect(r.status, what).toBe(status)
        expect(r.body, what).toMatchObject({ error, details: expect.stringMatching(details) })
        expect(Object.keys(r.body as object).sort(), what).toEqual(["details", "error"])
      }
      expect(planText(w)).toBe(before)

      const unknown = yield* request(w, "DELETE", "/api/v1/upgrades/nope")
      expect(unknown.status).toBe(404)
      expect(unknown.body).toEqual({ error: "not found", details: "no upgrade named 'nope'" })
      const inProgress = yield* request(w, "DELETE", "/api/v1/upgrades/v0")
      expect(inProgress.status).toBe(409)
      expect(inProgress.body).toMatchObject({ error: "conflict", details: expect.stringMatching(/in progress/) })
      const badName = yield* request(w, "DELETE", "/api/v1/upgrades/-x")
      expect(badName.status).toBe(400)
      expect(planText(w)).toBe(before)

      // The node does not answer the head check: 503 unless forced.
      yield* Ref.set(w.head, Option.none())
      const down = yield* request(w, "POST", "/api/v1/upgrades", { body: { name: "v2", height: 200 } })
      expect(down.status).toBe(503)
      expect(down.body).toMatchObject({
        error: "node unreachable",
        details: expect.stringMatching(/connection refused/)
      })
      expect(planText(w)).toBe(before)
      const forced = yield* request(w, "POST", "/api/v1/upgrades", { body: { name: "v2", height: 50, force: true } })
      expect(forced.status).toBe(201)
      expect(JSON.parse(planText(w)!).upgrades.map((u: { name: string }) => u.name)).toEqual(["v1", "v0", "v2"])

      const route = yield* request(w, "GET", "/api/v1/nothing")
      expect(route.status).toBe(404)
      expect(route.body).toMatchObject({ error: "not found" })
    }))

  it.scopedLive("a body over 64 KiB → 413, nothing written", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const big = { name: "v2", height: 200, info: "x".repeat(70 * 1024) }
      const r = yield* request(w, "POST", "/api/v1/upgrades", { body: big })
      expect(r.status).toBe(413)
      expect(r.body).toMatchObject({ error: "request body too large" })
      // Just under the limit is fine.
      const ok = yield* request(w, "POST", "/api/v1/upgrades", { body: { ...big, info: "x".repeat(60 * 1024) } })
      expect(ok.status).toBe(201)
      expect(JSON.parse(planText(w)!).upgrades).toHaveLength(1)
    }))

  it.scopedLive("a chunked body over the limit (no Content-Length) → 413 too, not a dropped connection; under it is read", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const info = "x".repeat(70 * 1024)
      const chunks = [JSON.stringify({ name: "v2", height: 200, info: "" }).slice(0, -3), info, "\"}"]
      const streamed = yield* Effect.promise(() =>
        fetch(`${w.base}/api/v1/upgrades`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${w.token}` },
          body: new ReadableStream({
            start(c) {
              for (const chunk of chunks) c.enqueue(new TextEncoder().encode(chunk))
              c.close()
            }
          }),
          duplex: "half"
        } as RequestInit).then(async (r) => ({
          status: r.status,
          connection: r.headers.get("connection"),
          body: await r.json()
        }))
      )
      expect(streamed).toMatchObject({
        status: 413,
        connection: "close",
        body: { error: "request body too large", details: expect.any(String) }
      })

      // What curl or node:http send with `transfer-encoding: chunked` and one big write.
      const chunked = (body: string) =>
        Effect.promise(
          () =>
            new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
              const req = http.request(`${w.base}/api/v1/upgrades`, {
                method: "POST",
                agent: false,
                headers: {
                  "content-type": "application/json",
                  "transfer-encoding": "chunked",
                  authorization: `Bearer ${w.token}`
                }
              })
              req.on("response", (res) => {
                let text = ""
                res.on("data", (c: Buffer) => (text += c.toString()))
                res.on("end", () => resolve({ status: res.statusCode, body: text }))
              })
              req.on("error", reject)
              req.end(body)
            })
        )
      for (let i = 0; i < 3; i++) {
        const r = yield* chunked(JSON.stringify({ name: "v2", height: 200, info }))
        expect(r.status).toBe(413)
        expect(JSON.parse(r.body)).toMatchObject({ error: "request body too large" })
      }
      expect(planText(w)).toBeUndefined()

      const ok = yield* chunked(JSON.stringify({ name: "v2", height: 200, info: "x".repeat(60 * 1024) }))
      expect(ok.status).toBe(201)
      expect(JSON.parse(planText(w)!).upgrades).toMatchObject([{ name: "v2", height: 200 }])
    }))
})

describe("REST: status and health", () => {
  it.scopedLive("GET /api/v1/upgrades/status is the orchestrator's status object", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const st: StatusObject = {
        ...idleStatus,
        current_height: makeHeight(1234),
        restarts: 2,
        block_interval_seconds: 2.5,
        head_age_seconds: 0.75
      }
      yield* Ref.set(w.status, st)
      const r = yield* request(w, "GET", "/api/v1/upgrades/status")
      expect(r.status).toBe(200)
      expect(r.body).toEqual(served(w, st))
      expect(r.body).toMatchObject({ block_interval_seconds: 2.5, head_age_seconds: 0.75 })
    }))

  it.scoped("/health: 200 only while the node runs, heights arrive and upgrades are not paused or halted", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ token: "s3cret", stallAfter: "600ms" })
      const health = () => request(w, "GET", "/health")
      expect(yield* health()).toMatchObject({
        status: 503,
        body: { status: "unhealthy", reason: "no block height received from the node yet" }
      })
      yield* SubscriptionRef.set(w.heights, Option.some(makeHeight(10)))
      // No token needed, and nothing but the verdict in the body.
      expect(yield* health()).toMatchObject({ status: 200, body: { status: "ok" } })
      expect(Object.keys((yield* health()).body as object)).toEqual(["status"])

      yield* Ref.set(w.paused, "upgrades paused: /secret/path/upgrade-plan.json is corrupt")
      const paused = yield* health()
      expect(paused).toMatchObject({ status: 503, body: { reason: "upgrades paused (see the wemixvisor log)" } })
      yield* Ref.set(w.paused, null)

      const crashed: StatusObject = { ...idleStatus, node_state: "crashed" }
      yield* Ref.set(w.status, crashed)
      expect(yield* health()).toMatchObject({ status: 503, body: { reason: "node crashed (restarting)" } })
      yield* Ref.set(w.status, { ...idleStatus, node_state: "error" as const })
      expect(yield* health()).toMatchObject({
        status: 503,
        body: { reason: "node is down: it kept crashing and is no longer restarted (see the wemixvisor log)" }
      })
      yield* Ref.set(w.status, idleStatus)

      yield* Ref.set(w.halted, "halted after failed upgrade v2: verify failed")
      expect(yield* health()).toMatchObject({ status: 503, body: { reason: "halted after a failed upgrade" } })
      yield* Ref.set(w.halted, null)

      // Staleness on the TestClock: counted from the newest height, 503 past WEMIXVISOR_STALL_AFTER.
      yield* TestClock.adjust("500 millis")
      yield* SubscriptionRef.set(w.heights, Option.some(makeHeight(11)))
      expect((yield* health()).status).toBe(200)
      yield* TestClock.adjust("500 millis")
      expect((yield* health()).status).toBe(200)
      yield* TestClock.adjust("1 second")
      expect(yield* health()).toMatchObject({
        status: 503,
        body: { reason: expect.stringMatching(/^no new block height for \ds$/) }
      })
      yield* SubscriptionRef.set(w.heights, Option.some(makeHeight(12)))
      expect((yield* health()).status).toBe(200)
    }))
})

describe("REST: auth", () => {
  it.scopedLive("with a token, every route but /health needs it: missing or wrong → 401, nothing written", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ token: "s3cret", head: 100 })
      const routes: ReadonlyArray<readonly [string, string, object?]> = [
        ["GET", "/api/v1/upgrades"],
        ["POST", "/api/v1/upgrades", { name: "v2", height: 200 }],
        ["DELETE", "/api/v1/upgrades/v2"],
        ["GET", "/api/v1/upgrades/status"],
        ["GET", "/api/v1/proposals"],
        ["GET", "/api/v1/events"]
      ]
      for (const [method, route, body] of routes) {
        for (const token of [undefined, "wrong", "s3cret-but-longer", ""]) {
          const r = yield* request(w, method, route, { ...(body ? { body } : {}), token: token ?? null })
          expect(r.status, `${method} ${route} token=${token}`).toBe(401)
          expect(r.body).toMatchObject({ error: "unauthorized" })
          expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/)
        }
      }
      const basic = yield* request(w, "GET", "/api/v1/upgrades", { headers: { authorization: "Basic czNjcmV0" } })
      expect(basic.status).toBe(401)
      expect(planText(w)).toBeUndefined()
      const ok = yield* request(w, "POST", "/api/v1/upgrades", { body: { name: "v2", height: 200 }, token: "s3cret" })
      expect(ok.status).toBe(201)
      expect((yield* request(w, "GET", "/api/v1/upgrades", { token: "s3cret" })).body).toMatchObject({ count: 1 })
    }))
})

describe("REST: Server-Sent Events", () => {
  it.scopedLive("GET /api/v1/events streams each event once as `event: <type>` / `data: <json>`", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const controller = new AbortController()
      yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
      const res = yield* Effect.promise(() =>
        fetch(`${w.base}/api/v1/events`, { headers: { authorization: `Bearer ${w.token}` }, signal: controller.signal })
      )
      expect(res.status).toBe(200)
      expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/)
      const reader = res.body!.getReader()
      let text = ""
      const readUntil = (pred: (t: string) => boolean) =>
        Effect.promise(async () => {
          while (!pred(text)) {
            const { value, done } = await reader.read()
            if (done) break
            text += new TextDecoder().decode(value)
          }
          return text
        }).pipe(Effect.timeout("5 seconds"))
      yield* readUntil((t) => t.includes(": connected"))

      // Events come from the plan watcher's view of the file: a schedule and a cancel it sees in one check are
      // no change at all, so each is awaited before the next.
      expect((yield* request(w, "POST", "/api/v1/upgrades", { body: { name: "v2", height: 200 } })).status).toBe(201)
      yield* readUntil((t) => t.includes("event: upgrade-scheduled"))
      expect((yield* request(w, "DELETE", "/api/v1/upgrades/v2")).status).toBe(200)
      yield* readUntil((t) => t.includes("event: upgrade-cancelled"))
      yield* w.events.publish({ type: "node-restarting", restarts: 1, delay_ms: 1000 })
      yield* readUntil((t) => t.includes("event: node-restarting"))
      yield* Effect.sleep("300 millis")
      const frames = text
        .split("\n\n")
        .filter((f) => f.startsWith("event: "))
        .map((f) => {
          const [ev, data] = f.split("\n")
          return { type: ev!.slice("event: ".length), data: JSON.parse(data!.slice("data: ".length)) }
        })
      expect(frames.map((f) => f.type)).toEqual(["upgrade-scheduled", "upgrade-cancelled", "node-restarting"])
      expect(frames[0]!.data).toMatchObject({
        type: "upgrade-scheduled",
        name: "v2",
        height: 200,
        time: expect.any(String)
      })
      expect(frames[1]!.data).toMatchObject({ type: "upgrade-cancelled", name: "v2" })
    }))
})

describe("the listening port", () => {
  it.scopedLive("taken by someone else: the server still builds (run keeps supervising) and serves once the port is free", () =>
    Effect.gen(function*() {
      const sockets = new Set<net.Socket>()
      const blocker = net.createServer((socket) => void sockets.add(socket))
      const port = yield* Effect.async<number>((resume) => {
        blocker.listen(0, "127.0.0.1", () => resume(Effect.succeed((blocker.address() as net.AddressInfo).port)))
      })
      yield* buildApi({ addr: () => `127.0.0.1:${port}` })
      const health = Effect.promise(() => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status, () => 0))
      // The blocker accepts and never answers HTTP: nothing from us yet.
      expect(yield* health.pipe(Effect.timeout("300 millis"), Effect.option)).toEqual(Option.none())
      yield* Effect.async<void>((resume) => {
        blocker.close(() => resume(Effect.void))
        for (const socket of sockets) socket.destroy()
      })
      yield* Effect.promise(() =>
        waitFor("the API after the retry", () => health.pipe(Effect.runPromise).then((s) => s === 503), 10_000)
      )
    }))
})
