/*
 * `upgrade check` through the running supervisor (issue #18 item 6): RPC
 * CheckUpgrade and REST GET /api/v1/upgrades/:name/check answer the same
 * result (domain/Preflight.ts), computed server-side by upgrades/Preflight.ts
 * with the supervisor's own status (its ETA). A NO GO is an answer (200,
 * `go: false`); an unknown name is 404 / UpgradeNotFound, an upgrade no longer
 * waiting 409 / UpgradeConflict, a bad name 400 / InvalidInput. Nothing is
 * written.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Ref } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { layerProtocol, makeClient } from "../../src/api/index.js"
import type { StatusObject } from "../../src/domain/Status.js"
import { restoreEnv } from "../cli/support.js"
import { writeScript } from "../support/fixtures.js"
import { type ApiWorld, planText, request, setupApi } from "./support.js"

afterEach(restoreEnv)

const clientFor = (w: ApiWorld) => makeClient.pipe(Effect.provide(layerProtocol({ url: w.base, token: w.token })))

/** Schedules `name` at `height` over REST (the head is 100) and, unless `binary` is false, puts its binary in place. */
const scheduled = (w: ApiWorld, name: string, height: number, binary = true) =>
  Effect.gen(function*() {
    const r = yield* request(w, "POST", "/api/v1/upgrades", { body: { name, height } })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    if (binary) {
      writeScript(
        path.join(w.home, "wemixvisor", "upgrades", name, "bin", "gwemix"),
        "case \"$1\" in version) echo \"gwemix v2\"; exit 0 ;; esac\nexec sleep 1000\n"
      )
    }
  })

type Wire = {
  readonly name: string
  readonly height: number
  readonly go: boolean
  readonly findings: ReadonlyArray<{ readonly check: string; readonly level: string; readonly message: string }>
  readonly eta: string | null
  readonly eta_seconds: number | null
  readonly on_failure: string
}

describe("API: upgrade check", () => {
  it.scopedLive("REST and RPC answer the same result; the ETA is the supervisor's; the node unreachable is a NO GO", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({
        head: 100,
        env: { DAEMON_VERSION_ARGS: "version", DAEMON_RPC_URL: "http://127.0.0.1:9" }
      })
      yield* scheduled(w, "v2", 500)
      const pending = { eta: "2026-12-07T02:14:00Z", eta_seconds: 800 }
      yield* Ref.update(w.status, (s): StatusObject => ({
        ...s,
        current_height: 100 as never,
        pending: [{
          ...(JSON.parse(planText(w)!) as { upgrades: Array<StatusObject["pending"][number]> }).upgrades[0]!,
          ...pending
        }]
      }))
      const before = planText(w)
      const rest = yield* request(w, "GET", "/api/v1/upgrades/v2/check")
      expect(rest.status).toBe(200)
      const body = rest.body as Wire
      expect(body).toMatchObject({
        name: "v2",
        height: 500,
        go: false,
        eta: "2026-12-07T02:14:00Z",
        eta_seconds: 800,
        on_failure: "rollback to genesis"
      })
      const levels = Object.fromEntries(body.findings.map((f) => [f.check, f.level]))
      expect(levels).toMatchObject({
        binary: "ok",
        version: "ok",
        DAEMON_RPC_URL: "problem",
        supervisor: "ok",
        eta: "ok",
        on_failure: "ok"
      })
      expect(body.findings.find((f) => f.check === "eta")?.message).toBe(
        "ETA in 13m (02:14 UTC) (height 500, head 100)"
      )
      expect(Object.keys(body).sort()).toEqual(["eta", "eta_seconds", "findings", "go", "height", "name", "on_failure"])

      const client = yield* clientFor(w)
      const rpc = yield* client.CheckUpgrade({ name: "v2" })
      expect(rpc).toEqual(body)
      // A check writes nothing.
      expect(planText(w)).toBe(before)
    }))

  it.scopedLive("a binary that is missing: named in a problem finding", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      yield* scheduled(w, "v3", 600, false)
      const r = yield* request(w, "GET", "/api/v1/upgrades/v3/check")
      expect(r.status).toBe(200)
      const body = r.body as Wire
      expect(body.go).toBe(false)
      const binary = body.findings.find((f) => f.check === "binary")!
      expect(binary.level).toBe("problem")
      expect(binary.message).toContain(path.join(w.home, "wemixvisor", "upgrades", "v3", "bin", "gwemix"))
      expect(binary.message).toContain("does not exist")
    }))

  it.scopedLive("unknown → 404 / UpgradeNotFound; done → 409 / UpgradeConflict; bad name → 400 / InvalidInput; no token → 401", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      yield* scheduled(w, "v2", 500)
      const plan = JSON.parse(planText(w)!) as { upgrades: Array<Record<string, unknown>> }
      plan.upgrades[0]!.status = "done"
      fs.writeFileSync(w.planFile, JSON.stringify(plan))

      const unknown = yield* request(w, "GET", "/api/v1/upgrades/nope/check")
      expect(unknown.status).toBe(404)
      expect(unknown.body).toEqual({ error: "not found", details: "no upgrade named 'nope'" })
      const done = yield* request(w, "GET", "/api/v1/upgrades/v2/check")
      expect(done.status).toBe(409)
      expect((done.body as { details: string }).details).toContain(
        "only an upgrade waiting for its height can be checked"
      )
      const bad = yield* request(w, "GET", "/api/v1/upgrades/..%2Fx/check")
      expect(bad.status).toBe(400)
      expect((yield* request(w, "GET", "/api/v1/upgrades/v2/check", { token: null })).status).toBe(401)

      const client = yield* clientFor(w)
      const e1 = yield* Effect.either(client.CheckUpgrade({ name: "nope" }))
      expect(Either.isLeft(e1) && e1.left._tag).toBe("UpgradeNotFound")
      const e2 = yield* Effect.either(client.CheckUpgrade({ name: "v2" }))
      expect(Either.isLeft(e2) && e2.left._tag).toBe("UpgradeConflict")
      const e3 = yield* Effect.either(client.CheckUpgrade({ name: "../x" }))
      expect(Either.isLeft(e3) && e3.left._tag).toBe("InvalidInput")
    }))
})
