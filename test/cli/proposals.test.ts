/*
 * `upgrade proposals [--json]`: the governance proposals a running
 * supervisor tracks, asked over its API — --remote against a real API
 * server in this process (test/api/support.ts, its Proposals a Ref), and on
 * the server's own home with run.lock held, as a `run` would hold it. With
 * no supervisor running there is nobody tracking them: exit 1, saying so.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { processStartTime } from "../../src/platform/Proc.js"
import { type ApiWorld, idleStatus, sampleProposals, setupApi } from "../api/support.js"
import { errorText, initHome, json, makeHome, removeHomes, restoreEnv, runCli } from "./support.js"

afterEach(() => {
  restoreEnv()
  removeHomes()
})

const LINES = [
  `pending · cancel v1 · for 0 · against 0 · abstain 0 · quorum known at block 2000 · voting blocks 2000–2100 · #98765432… · "Cancel v1"`,
  `active · schedule v2 at 1500000 · for 62 · against 3.46 · abstain 1 · quorum 100 (63% reached) · voting blocks 1000–1200 · #12345678… · "Upgrade to v2"`,
  `executed · schedule v0 at 500 · for 150 · against 0 · abstain 0 · quorum 100 (150% reached) · voting blocks 100–200 · #555 · "Upgrade to v0"`
]

describe("upgrade proposals", () => {
  it.scopedLive("--remote: a line per proposal (state, actions, votes in tokens against the quorum, window); --json: ProposalList", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const me = makeHome({ WEMIXVISOR_API_TOKEN: w.token })
      const remote = ["--remote", w.base]
      expect(yield* runCli(["upgrade", "proposals", ...remote], me.env)).toEqual({
        code: 0,
        stdout:
          "No governance proposals tracked (a running `wemixvisor run` tracks them when DAEMON_GOVERNANCE_GOVERNOR is set)\n",
        stderr: ""
      })
      const empty = yield* runCli(["upgrade", "proposals", "--json", ...remote], me.env)
      expect(empty.code).toBe(0)
      expect(json(empty)).toEqual({ proposals: [], count: 0 })

      yield* Ref.set(w.proposals, sampleProposals)
      expect(yield* runCli(["upgrade", "proposals", ...remote], me.env)).toEqual({
        code: 0,
        stdout: LINES.join("\n") + "\n",
        stderr: ""
      })
      const j = yield* runCli(["upgrade", "proposals", "--json", ...remote], me.env)
      expect(j).toMatchObject({ code: 0, stderr: "" })
      expect(json(j)).toEqual({ proposals: sampleProposals, count: 3 })
    }))

  it.scopedLive("text from the chain cannot drive the terminal", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const me = makeHome({ WEMIXVISOR_API_TOKEN: w.token })
      yield* Ref.set(w.proposals, [{
        ...sampleProposals[1]!,
        description: "\u001b[2Jfake\u202e",
        actions: [{ kind: "cancel", name: "v2\u001b[31m" }]
      }])
      const r = yield* runCli(["upgrade", "proposals", "--remote", w.base], me.env)
      expect(r.code).toBe(0)
      expect(r.stdout.includes("\u001b") || r.stdout.includes("\u202e")).toBe(false)
      expect(r.stdout).toContain("cancel v2\\x1b[31m")
    }))

  it.scopedLive("this home's running supervisor (run.lock held) is asked over its API", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      holdRunLock(w)
      yield* Ref.set(w.proposals, sampleProposals)
      const env = {
        DAEMON_HOME: w.home,
        DAEMON_NAME: "gwemix",
        WEMIXVISOR_API_ADDR: `127.0.0.1:${new URL(w.base).port}`
      }
      expect(yield* runCli(["upgrade", "proposals"], env)).toEqual({
        code: 0,
        stdout: LINES.join("\n") + "\n",
        stderr: ""
      })
      expect(json(yield* runCli(["upgrade", "proposals", "--json"], env))).toMatchObject({ count: 3 })
    }))

  it.scoped("no supervisor running on the home: exit 1, saying who tracks proposals", () =>
    Effect.gen(function*() {
      const h = yield* initHome()
      for (const args of [["upgrade", "proposals"], ["upgrade", "proposals", "--json"]]) {
        const r = yield* runCli(args, h.env)
        expect(r.code).toBe(1)
        expect(r.stdout).toBe("")
        expect(errorText(r)).toMatch(
          /^error: no `wemixvisor run` is running on .*: governance proposals are tracked by a running `wemixvisor run` with DAEMON_GOVERNANCE_GOVERNOR set/
        )
      }
    }))
})

describe("upgrade status shows the open proposals", () => {
  it.scopedLive("a line each under Proposals; none: no such line", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const me = makeHome({ WEMIXVISOR_API_TOKEN: w.token })
      const before = yield* runCli(["upgrade", "status", "--remote", w.base], me.env)
      expect(before.stdout).not.toContain("Proposals:")
      yield* Ref.set(w.status, { ...idleStatus, proposals: sampleProposals.slice(0, 2) })
      const r = yield* runCli(["upgrade", "status", "--remote", w.base], me.env)
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(
        `Proposals:    ${LINES[0]!.replace(/ · "Cancel v1"$/, "")}\n              ${
          LINES[1]!.replace(/ · "Upgrade to v2"$/, "")
        }\n`
      )
    }))
})

/** Makes this test process the holder of the API home's run.lock, as a `run` would be. */
const holdRunLock = (w: ApiWorld) =>
  fs.writeFileSync(
    path.join(w.home, "wemixvisor", "run.lock"),
    JSON.stringify({ pid: process.pid, start_time: processStartTime(process.pid), time: new Date().toISOString() })
  )
