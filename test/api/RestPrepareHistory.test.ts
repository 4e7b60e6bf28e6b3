/*
 * The dashboard's two REST routes (issue #15): POST /api/v1/upgrades/:name/prepare
 * (the orchestrator's prepare, door `rest` and the socket's peer, errors by
 * kind) and GET /api/v1/history (the trail read as `upgrade history` reads
 * it: rotated files first, oldest first, the last `limit`, one upgrade's).
 * A refused request calls nothing and writes nothing.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { UpgradeConflict } from "../../src/domain/Errors.js"
import { makeHeight } from "../../src/domain/Height.js"
import { Upgrade, type UpgradeName } from "../../src/domain/Upgrade.js"
import { PreparationFailed } from "../../src/orchestrator/Orchestrator.js"
import { makeHistory } from "../../src/upgrades/HistoryLive.js"
import { json, restoreEnv, runCli } from "../cli/support.js"
import { type ApiWorld, planText, request, setupApi } from "./support.js"

afterEach(restoreEnv)

const PEER = /^127\.0\.0\.1:\d+$/

const ready = (name: string, height: number) =>
  new Upgrade({
    name: name as UpgradeName,
    height: makeHeight(height),
    status: "ready",
    info: "",
    binaries: { "linux/amd64": "https://example.com/gwemix" },
    checksums: { "linux/amd64": "sha256:" + "ab".repeat(32) },
    reason: null,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:01.000Z"
  })

const historyFile = (w: ApiWorld) => path.join(w.home, "wemixvisor", "upgrade-history.jsonl")
const historyText = (w: ApiWorld) => (fs.existsSync(historyFile(w)) ? fs.readFileSync(historyFile(w), "utf8") : "")

const JSON_TYPE = { "content-type": "application/json" }

describe("REST: POST /api/v1/upgrades/:name/prepare", () => {
  it.scopedLive("→ 200 with the prepared upgrade; the orchestrator is asked with door `rest` and the socket's peer", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      yield* Ref.set(w.prepare, (name) => Effect.succeed(ready(name, 500)))
      const r = yield* request(w, "POST", "/api/v1/upgrades/v2.0.0/prepare", {
        headers: { ...JSON_TYPE, "x-wemixvisor-peer": "10.9.9.9:1" }
      })
      expect(r.status).toBe(200)
      expect(r.body).toEqual({
        message: "Upgrade prepared",
        upgrade: {
          name: "v2.0.0",
          height: 500,
          status: "ready",
          info: "",
          binaries: { "linux/amd64": "https://example.com/gwemix" },
          checksums: { "linux/amd64": "sha256:" + "ab".repeat(32) },
          reason: null,
          created_at: "2026-01-01T00:00:00.000Z",
          updated_at: "2026-01-01T00:00:01.000Z"
        }
      })
      const calls = yield* Ref.get(w.prepared)
      expect(calls.map((c) => [c.name, c.origin.door])).toEqual([["v2.0.0", "rest"]])
      expect(calls[0]!.origin.peer).toMatch(PEER)
      // A body sent anyway is ignored: the name is the path's.
      const withBody = yield* request(w, "POST", "/api/v1/upgrades/v3/prepare", { body: { name: "other" } })
      expect(withBody.status).toBe(200)
      expect((yield* Ref.get(w.prepared)).map((c) => c.name)).toEqual(["v2.0.0", "v3"])
    }))

  it.scopedLive("errors by kind: unknown 404, not pending 409, cannot work here 400, failed 500; the API's words", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const prepare = (name: string) => request(w, "POST", `/api/v1/upgrades/${name}/prepare`, { headers: JSON_TYPE })

      expect(yield* prepare("v9")).toMatchObject({
        status: 404,
        body: { error: "not found", details: "no upgrade named 'v9'" }
      })
      yield* Ref.set(w.prepare, (name) =>
        Effect.fail(
          new UpgradeConflict({ name, problem: "is done; only an upgrade waiting for its height can be prepared" })
        ))
      const conflict = yield* prepare("v1")
      expect(conflict.status).toBe(409)
      expect(conflict.body).toMatchObject({ error: "conflict" })
      expect((conflict.body as { details: string }).details).toContain("only an upgrade waiting for its height")

      yield* Ref.set(
        w.prepare,
        (name) => Effect.fail(new PreparationFailed({ name, reason: "downloads are disabled", badInput: true }))
      )
      expect(yield* prepare("v2")).toMatchObject({
        status: 400,
        body: { error: "invalid binaries", details: "downloads are disabled" }
      })
      yield* Ref.set(
        w.prepare,
        (name) => Effect.fail(new PreparationFailed({ name, reason: "checksum mismatch", badInput: false }))
      )
      expect(yield* prepare("v2")).toMatchObject({
        status: 500,
        body: { error: "not ready", details: "upgrade 'v2' is not ready: checksum mismatch" }
      })
      expect((yield* Ref.get(w.prepared)).map((c) => c.origin.door)).toEqual(["rest", "rest", "rest", "rest"])
    }))

  it.scopedLive("refused before the orchestrator (bad name, no token, no JSON content type): nothing asked, nothing written", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      yield* Ref.set(w.prepare, (name) => Effect.succeed(ready(name, 500)))
      const before = planText(w)

      const bad = yield* request(w, "POST", "/api/v1/upgrades/..%2Fx/prepare", { headers: JSON_TYPE })
      expect(bad.status).toBe(400)
      expect(bad.body).toMatchObject({ error: "invalid name" })
      const spaced = yield* request(w, "POST", "/api/v1/upgrades/a%20b/prepare", { headers: JSON_TYPE })
      expect(spaced).toMatchObject({ status: 400, body: { error: "invalid name" } })
      expect(
        (yield* request(w, "POST", "/api/v1/upgrades/v2/prepare", { headers: JSON_TYPE, token: null })).status
      ).toBe(401)
      expect(
        (yield* request(w, "POST", "/api/v1/upgrades/v2/prepare", { headers: JSON_TYPE, token: "wrong" })).status
      ).toBe(401)
      expect((yield* request(w, "POST", "/api/v1/upgrades/v2/prepare")).status).toBe(415)
      expect((yield* request(w, "GET", "/api/v1/upgrades/v2/prepare")).status).toBe(404)

      expect(yield* Ref.get(w.prepared)).toEqual([])
      expect(planText(w)).toBe(before)
      expect(historyText(w)).toBe("")
    }))
})

describe("REST: GET /api/v1/history", () => {
  it.scopedLive("the API's own schedule and cancel lines, oldest first; ?name=; ?limit=", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      expect(yield* request(w, "GET", "/api/v1/history")).toMatchObject({
        status: 200,
        body: { records: [], count: 0 }
      })
      expect((yield* request(w, "POST", "/api/v1/upgrades", { body: { name: "v2", height: 200 } })).status).toBe(201)
      expect((yield* request(w, "POST", "/api/v1/upgrades", { body: { name: "v3", height: 300 } })).status).toBe(201)
      expect((yield* request(w, "DELETE", "/api/v1/upgrades/v3")).status).toBe(200)

      const all = yield* request(w, "GET", "/api/v1/history")
      expect(all.status).toBe(200)
      const body = all.body as { records: Array<Record<string, string>>; count: number }
      expect(body.count).toBe(3)
      expect(body.records.map((r) => [r.name, r.step, r.result, r.door])).toEqual([
        ["v2", "schedule", "ok", "rest"],
        ["v3", "schedule", "ok", "rest"],
        ["v3", "cancel", "ok", "rest"]
      ])
      for (const r of body.records) {
        expect(Object.keys(r).sort()).toEqual(["detail", "door", "name", "peer", "result", "step", "time"])
        expect(r.peer).toMatch(PEER)
        expect(r.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      }
      // The file's lines, as they are.
      expect(body.records).toEqual(historyText(w).trim().split("\n").map((l) => JSON.parse(l)))

      const v3 = (yield* request(w, "GET", "/api/v1/history?name=v3")).body as typeof body
      expect(v3.records.map((r) => r.step)).toEqual(["schedule", "cancel"])
      expect(v3.count).toBe(2)
      expect(yield* request(w, "GET", "/api/v1/history?name=v9")).toMatchObject({
        status: 200,
        body: { records: [], count: 0 }
      })
      const last = (yield* request(w, "GET", "/api/v1/history?limit=2")).body as typeof body
      expect(last.records.map((r) => [r.name, r.step])).toEqual([["v3", "schedule"], ["v3", "cancel"]])
      const lastOfV3 = (yield* request(w, "GET", "/api/v1/history?name=v3&limit=1")).body as typeof body
      expect(lastOfV3.records.map((r) => [r.name, r.step])).toEqual([["v3", "cancel"]])
      expect(lastOfV3.count).toBe(1)
    }))

  it.scopedLive("across rotated files as `upgrade history --json` reads them; the last 200 by default, at most 1000", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      // ~120 bytes a line: rotated every ~8 lines, 50 rotated files kept (more than enough).
      const h = makeHistory(historyFile(w), { maxSize: 1024, keep: 50 })
      for (let i = 0; i < 60; i++) {
        yield* h.append({ name: `v${i % 3}`, step: "schedule", result: "ok", detail: `n ${i}`, door: "cli" })
      }
      expect(fs.readdirSync(path.dirname(historyFile(w))).filter((f) => f.endsWith(".jsonl.gz")).length)
        .toBeGreaterThan(3)
      const api = (yield* request(w, "GET", "/api/v1/history?limit=1000")).body as {
        records: Array<{ detail: string }>
        count: number
      }
      expect(api.count).toBe(60)
      expect(api.records.map((r) => r.detail)).toEqual(Array.from({ length: 60 }, (_, i) => `n ${i}`))
      const cli = yield* runCli(["upgrade", "history", "--json"], { DAEMON_HOME: w.home, DAEMON_NAME: "gwemix" })
      expect(cli.code).toBe(0)
      expect(api.records).toEqual(json(cli))
      const v1 = (yield* request(w, "GET", "/api/v1/history?name=v1&limit=1000")).body as typeof api
      const cliV1 = yield* runCli(["upgrade", "history", "--json", "--name", "v1"], {
        DAEMON_HOME: w.home,
        DAEMON_NAME: "gwemix"
      })
      expect(v1.records).toEqual(json(cliV1))

      // Past the default: the last 200 of 250, unless more are asked for.
      const more = Array.from(
        { length: 190 },
        (_, i) =>
          JSON.stringify({
            time: "2026-01-01T00:00:00.000Z",
            name: "v9",
            step: "verify",
            result: "ok",
            detail: `m ${i}`
          })
      )
      fs.appendFileSync(historyFile(w), more.join("\n") + "\n")
      const byDefault = (yield* request(w, "GET", "/api/v1/history")).body as typeof api
      expect(byDefault.count).toBe(200)
      expect(byDefault.records[0]!.detail).toBe("n 50")
      expect(byDefault.records[199]!.detail).toBe("m 189")
      expect(((yield* request(w, "GET", "/api/v1/history?limit=1000")).body as typeof api).count).toBe(250)
    }))

  it.scopedLive("a bad limit or name → 400 naming the field; no token → 401; reading writes nothing", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      expect((yield* request(w, "POST", "/api/v1/upgrades", { body: { name: "v2", height: 200 } })).status).toBe(201)
      const before = historyText(w)
      for (const limit of ["0", "1001", "-1", "1.5", "abc", "", "1e3", " 5", "99999999999"]) {
        const r = yield* request(w, "GET", `/api/v1/history?limit=${encodeURIComponent(limit)}`)
        expect(r.status, limit).toBe(400)
        expect(r.body, limit).toEqual({
          error: "invalid limit",
          details: `must be a whole number of records from 1 to 1000 (got ${JSON.stringify(limit)})`
        })
      }
      expect(yield* request(w, "GET", "/api/v1/history?limit=1&limit=2")).toMatchObject({
        status: 400,
        body: { error: "invalid limit", details: "given more than once" }
      })
      for (const name of ["../x", "", "a b", "x".repeat(200)]) {
        const r = yield* request(w, "GET", `/api/v1/history?name=${encodeURIComponent(name)}`)
        expect(r.status, name).toBe(400)
        expect(r.body, name).toMatchObject({ error: "invalid name" })
      }
      expect((yield* request(w, "GET", "/api/v1/history", { token: null })).status).toBe(401)
      expect((yield* request(w, "GET", "/api/v1/history?limit=1000")).status).toBe(200)
      expect(historyText(w)).toBe(before)
    }))
})
