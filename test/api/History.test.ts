/*
 * The API's requests in the audit trail (issue #13 item 4): each schedule and
 * cancel through REST or RPC is one history line naming its door and the
 * peer the server saw on the socket; a header a client sends cannot pass
 * for it; a refused request writes nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { layerProtocol, makeClient } from "../../src/api/index.js"
import { type ApiWorld, request, setupApi } from "./support.js"

const historyOf = (w: ApiWorld) => {
  const file = path.join(w.home, "wemixvisor", "upgrade-history.jsonl")
  return fs.existsSync(file)
    ? fs.readFileSync(file, "utf8").trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
    : []
}

const PEER = /^127\.0\.0\.1:\d+$/

describe("API requests in the upgrade history", () => {
  it.scopedLive("REST and RPC schedule/cancel: door and socket peer recorded; forged peer headers ignored", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const forged = { "x-wemixvisor-peer": "10.9.9.9:1", "x-forwarded-for": "10.9.9.9" }
      const created = yield* request(w, "POST", "/api/v1/upgrades", {
        body: { name: "v2", height: 200 },
        headers: forged
      })
      expect(created.status).toBe(201)
      expect((yield* request(w, "DELETE", "/api/v1/upgrades/v2", { headers: forged })).status).toBe(200)

      const client = yield* makeClient.pipe(Effect.provide(layerProtocol({ url: w.base, token: w.token })))
      yield* client.ScheduleUpgrade({ name: "v3", height: 300 })
      yield* client.CancelUpgrade({ name: "v3" })

      const lines = historyOf(w)
      expect(lines.map((l) => [l.name, l.step, l.result, l.door])).toEqual([
        ["v2", "schedule", "ok", "rest"],
        ["v2", "cancel", "ok", "rest"],
        ["v3", "schedule", "ok", "rpc"],
        ["v3", "cancel", "ok", "rpc"]
      ])
      for (const l of lines) expect(l.peer).toMatch(PEER)
      expect(lines[0].detail).toBe("height 200 (head 100)")
      expect(lines[1].detail).toBe("height 200")
      expect(JSON.stringify(lines)).not.toContain("10.9.9.9")
    }))

  it.scopedLive("refused requests (bad input, conflict, unknown, no token) leave no line", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      expect((yield* request(w, "POST", "/api/v1/upgrades", { body: { name: "../x", height: 200 } })).status).toBe(400)
      expect((yield* request(w, "POST", "/api/v1/upgrades", { body: { name: "v2", height: 50 } })).status).toBe(409)
      expect((yield* request(w, "DELETE", "/api/v1/upgrades/nope")).status).toBe(404)
      expect((yield* request(w, "POST", "/api/v1/upgrades", { body: { name: "v2", height: 200 }, token: null })).status)
        .toBe(401)
      expect(historyOf(w)).toEqual([])
    }))
})
