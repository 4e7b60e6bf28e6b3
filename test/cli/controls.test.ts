/*
 * `node restart`, `upgrade pause` and `upgrade resume` (issue #16 item 6):
 * over --remote against a real API server in this process (test/api/support.ts,
 * its orchestrator a fake), and on a home no `run` holds — where a restart has
 * nobody to ask (exit 1), and a pause is the marker file the next `run` holds to.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { UpgradeConflict } from "../../src/domain/Errors.js"
import { NODE_BUSY } from "../../src/orchestrator/OrchestratorLive.js"
import { setupApi } from "../api/support.js"
import { errorText, initHome, json, makeHome, planRow, removeHomes, restoreEnv, runCli, writePlan } from "./support.js"

afterEach(() => {
  restoreEnv()
  removeHomes()
})

describe("node restart", () => {
  it.scopedLive("--remote: 0 with the new pid; 2 while an upgrade has the node; 1 when the node could not start", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const me = makeHome({ WEMIXVISOR_API_TOKEN: w.token })
      const remote = ["--remote", w.base]
      expect(yield* runCli(["node", "restart", ...remote], me.env)).toEqual({
        code: 0,
        stdout: "✓ Node restarted (pid 4343)\n",
        stderr: ""
      })
      yield* Ref.set(w.restart, () => Effect.fail(new UpgradeConflict({ name: "", problem: NODE_BUSY })))
      const busy = yield* runCli(["node", "restart", ...remote], me.env)
      expect(busy.code).toBe(2)
      expect(errorText(busy)).toBe(`error: ${NODE_BUSY}\n`)
      yield* Ref.set(w.restart, () => Effect.succeed({ state: "error", pid: null, reason: "exec format error" }))
      const down = yield* runCli(["node", "restart", ...remote], me.env)
      expect(down.code).toBe(1)
      expect(errorText(down)).toMatch(/^error: the node was stopped but is error now: exec format error/)
      expect((yield* Ref.get(w.controls)).map((c) => c.origin.door)).toEqual(["rpc", "rpc", "rpc"])
    }))

  it.scoped("no supervisor running on the home: exit 1, saying so", () =>
    Effect.gen(function*() {
      const h = yield* initHome()
      const r = yield* runCli(["node", "restart"], h.env)
      expect(r.code).toBe(1)
      expect(r.stdout).toBe("")
      expect(errorText(r)).toMatch(
        /^error: no `wemixvisor run` is running on .*: the node is restarted by the supervisor/
      )
    }))
})

describe("upgrade pause / resume", () => {
  it.scopedLive("--remote: pause with a reason, status says it, resume", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const me = makeHome({ WEMIXVISOR_API_TOKEN: w.token })
      const remote = ["--remote", w.base]
      const p = yield* runCli(["upgrade", "pause", "--reason", "exchange freeze", ...remote], me.env)
      expect(p.code).toBe(0)
      expect(p.stdout).toBe(
        "✓ Upgrades PAUSED by rpc since 2026-12-03T00:00:00.000Z (exchange freeze): none fires until `wemixvisor upgrade resume`\n"
      )
      const s = yield* runCli(["upgrade", "status", ...remote], me.env)
      expect(s.stdout).toContain("Upgrades:     PAUSED by rpc since 2026-12-03T00:00:00.000Z (exchange freeze)")
      const bad = yield* runCli(["upgrade", "pause", "--reason", "x".repeat(501), ...remote], me.env)
      expect(bad.code).toBe(2)
      expect(errorText(bad)).toMatch(/--reason/)
      const r = yield* runCli(["upgrade", "resume", ...remote], me.env)
      expect(r).toMatchObject({
        code: 0,
        stdout: "✓ Upgrades resumed (they were PAUSED by rpc since 2026-12-03T00:00:00.000Z (exchange freeze))\n"
      })
      const again = yield* runCli(["upgrade", "resume", ...remote], me.env)
      expect(again.stdout).toBe("Upgrades were not paused by an operator; nothing to resume\n")
    }))

  it.scoped("no supervisor: the marker is written here, list and status say it, resume removes it; the history has both", () =>
    Effect.gen(function*() {
      const h = yield* initHome()
      writePlan(h, [planRow("v2", 500, "scheduled")])
      const p = yield* runCli(["upgrade", "pause", "--reason", "wait for the exchange"], h.env)
      expect(p.code).toBe(0)
      const marker = path.join(h.root, "upgrades-paused.json")
      expect(JSON.parse(fs.readFileSync(marker, "utf8"))).toMatchObject({ by: "cli", reason: "wait for the exchange" })

      const list = yield* runCli(["upgrade", "list"], h.env)
      expect(list.stdout.split("\n")[0]).toMatch(
        /^Upgrades PAUSED by cli since \S+ \(wait for the exchange\): none fires until `wemixvisor upgrade resume`$/
      )
      const status = yield* runCli(["upgrade", "status", "--json"], h.env)
      expect(json(status)).toMatchObject({ upgrades_paused: { by: "cli", reason: "wait for the exchange" } })

      const r = yield* runCli(["upgrade", "resume"], h.env)
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^✓ Upgrades resumed \(they were PAUSED by cli since /)
      expect(fs.existsSync(marker)).toBe(false)
      expect((yield* runCli(["upgrade", "list"], h.env)).stdout).not.toMatch(/PAUSED/)

      const history = json(yield* runCli(["upgrade", "history", "--json"], h.env)) as Array<Record<string, unknown>>
      expect(history.filter((x) => x["name"] === "(upgrades)").map((x) => [x["step"], x["door"]])).toEqual([
        ["pause", "cli"],
        ["resume", "cli"]
      ])
    }))
})
