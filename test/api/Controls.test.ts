/*
 * The manual controls over the API (issue #16 item 6): POST
 * /api/v1/node/restart, /api/v1/upgrades/pause and /resume, and the
 * RestartNode / PauseUpgrades / ResumeUpgrades RPCs — with the token every
 * mutating route needs, the door and peer passed to the orchestrator, and
 * /health saying a pause without calling a healthy node down. The
 * orchestrator is the fake of support.ts (the real one: test/orchestrator/Controls.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option, Ref, SubscriptionRef } from "effect"
import { layerProtocol, makeClient } from "../../src/api/index.js"
import { UpgradeConflict } from "../../src/domain/Errors.js"
import { makeHeight } from "../../src/domain/Height.js"
import { NODE_BUSY } from "../../src/orchestrator/OrchestratorLive.js"
import { type ApiWorld, request, setupApi } from "./support.js"

/** REST POSTs are application/json, bodiless ones included (Access.ts: no form can send that type). */
const JSON_TYPE = { "content-type": "application/json" }

const clientFor = (w: ApiWorld) => makeClient.pipe(Effect.provide(layerProtocol({ url: w.base, token: w.token })))

describe("REST: manual controls", () => {
  it.scopedLive("POST /api/v1/node/restart: 200 with the node; 409 while an upgrade has it; 401 without the token", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const ok = yield* request(w, "POST", "/api/v1/node/restart", { headers: JSON_TYPE })
      expect(ok.status).toBe(200)
      expect(ok.body).toEqual({ message: "Node restarted", node: { state: "running", pid: 4343, reason: null } })
      const calls = yield* Ref.get(w.controls)
      expect(calls).toHaveLength(1)
      expect(calls[0]!.op).toBe("restart")
      expect(calls[0]!.origin.door).toBe("rest")
      expect(calls[0]!.origin.peer).toMatch(/^127\.0\.0\.1:\d+$/)

      yield* Ref.set(w.restart, () => Effect.fail(new UpgradeConflict({ name: "", problem: NODE_BUSY })))
      const busy = yield* request(w, "POST", "/api/v1/node/restart", { headers: JSON_TYPE })
      expect(busy.status).toBe(409)
      expect(busy.body).toEqual({ error: "conflict", details: NODE_BUSY })

      yield* Ref.set(w.restart, () => Effect.succeed({ state: "error", pid: null, reason: "exec format error" }))
      const down = yield* request(w, "POST", "/api/v1/node/restart", { headers: JSON_TYPE })
      expect(down.status).toBe(500)
      expect(down.body).toMatchObject({ node: { state: "error", reason: "exec format error" } })

      const anonymous = yield* request(w, "POST", "/api/v1/node/restart", { token: null, headers: JSON_TYPE })
      expect(anonymous.status).toBe(401)
      expect((yield* Ref.get(w.controls)).length).toBe(3)
    }))

  it.scopedLive("pause (reason optional, checked) and resume; the status and /health say it, /health stays 200", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const bad = yield* request(w, "POST", "/api/v1/upgrades/pause", { body: { reason: "a\nb" } })
      expect(bad.status).toBe(400)
      expect(bad.body).toEqual({ error: "invalid reason", details: "must be one line" })
      const notObject = yield* request(w, "POST", "/api/v1/upgrades/pause", { body: "[1]" })
      expect(notObject.status).toBe(400)
      expect((yield* Ref.get(w.controls)).length).toBe(0)

      const paused = yield* request(w, "POST", "/api/v1/upgrades/pause", { body: { reason: "  exchange freeze " } })
      expect(paused.status).toBe(200)
      expect(paused.body).toMatchObject({ message: "Upgrades paused", upgrades_paused: { reason: "exchange freeze" } })
      // No body at all is a pause without a reason.
      const bare = yield* request(w, "POST", "/api/v1/upgrades/pause", { headers: JSON_TYPE })
      expect(bare.status).toBe(200)
      expect(bare.body).toMatchObject({ upgrades_paused: { by: "rest", reason: null } })

      const status = yield* request(w, "GET", "/api/v1/upgrades/status")
      expect(status.body).toMatchObject({ upgrades_paused: { by: "rest", reason: null } })

      const resumed = yield* request(w, "POST", "/api/v1/upgrades/resume", { headers: JSON_TYPE })
      expect(resumed.status).toBe(200)
      expect(resumed.body).toMatchObject({ message: "Upgrades resumed", resumed: { by: "rest" } })
      const again = yield* request(w, "POST", "/api/v1/upgrades/resume", { headers: JSON_TYPE })
      expect(again.body).toEqual({ message: "Upgrades were not paused", resumed: null })
      expect((yield* Ref.get(w.controls)).map((c) => [c.op, c.reason ?? null])).toEqual([
        ["pause", "exchange freeze"],
        ["pause", null],
        ["resume", null],
        ["resume", null]
      ])
      const unauthorized = yield* request(w, "POST", "/api/v1/upgrades/pause", { token: null, headers: JSON_TYPE })
      expect(unauthorized.status).toBe(401)
    }))

  it.scopedLive("/health: a pause on a healthy node is 200 with `degraded`; a real problem still wins (503)", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      // A head, so the node counts as healthy.
      yield* setHeadSeen(w)
      expect((yield* request(w, "GET", "/health", { token: null })).body).toEqual({ status: "ok" })
      yield* request(w, "POST", "/api/v1/upgrades/pause", { headers: JSON_TYPE })
      const h = yield* request(w, "GET", "/health", { token: null })
      expect(h.status).toBe(200)
      expect(h.body).toEqual({
        status: "ok",
        degraded: "upgrades paused by the operator: none fires until `wemixvisor upgrade resume`"
      })
      yield* Ref.set(w.halted, "halted after failed upgrade v2: verify failed")
      const down = yield* request(w, "GET", "/health", { token: null })
      expect(down.status).toBe(503)
      expect(down.body).toEqual({ status: "unhealthy", reason: "halted after a failed upgrade" })
    }))
})

/** A height seen by the ChainPace, so /health has a head. */
const setHeadSeen = (w: ApiWorld) =>
  Effect.gen(function*() {
    yield* SubscriptionRef.set(w.heights, Option.some(makeHeight(7)))
    for (let i = 0; i < 100; i++) {
      const r = yield* request(w, "GET", "/health", { token: null })
      if ((r.body as { reason?: string }).reason !== "no block height received from the node yet") return
      yield* Effect.sleep("10 millis")
    }
  })

describe("RPC: manual controls", () => {
  it.scopedLive("RestartNode, PauseUpgrades, ResumeUpgrades: typed answers and errors; the door is rpc", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const client = yield* clientFor(w)
      expect(yield* client.RestartNode()).toEqual({ state: "running", pid: 4343, reason: null })
      yield* Ref.set(w.restart, () => Effect.fail(new UpgradeConflict({ name: "", problem: NODE_BUSY })))
      const busy = yield* Effect.exit(client.RestartNode())
      expect(busy).toEqual(Exit.fail(new UpgradeConflict({ name: "", problem: NODE_BUSY })))

      const p = yield* client.PauseUpgrades({ reason: "audit" })
      expect(p).toMatchObject({ by: "rpc", reason: "audit" })
      const tooLong = yield* Effect.flip(client.PauseUpgrades({ reason: "x".repeat(501) }))
      expect(tooLong).toMatchObject({ _tag: "InvalidInput", field: "reason" })
      expect(yield* client.ResumeUpgrades()).toEqual({ resumed: p })
      expect(yield* client.ResumeUpgrades()).toEqual({ resumed: null })
      expect((yield* Ref.get(w.controls)).map((c) => `${c.op}:${c.origin.door}`)).toEqual([
        "restart:rpc",
        "restart:rpc",
        "pause:rpc",
        "resume:rpc",
        "resume:rpc"
      ])
    }))
})
