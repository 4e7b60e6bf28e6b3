/*
 * `upgrade … --remote URL` (and WEMIXVISOR_API_URL) in process, against a
 * real API server in this process (test/api/support.ts: live PlanStore,
 * BinaryStore and Events over a temp home; the node's head and the
 * orchestrator's status from Refs). The server's typed errors keep their exit
 * codes; transport problems are 1; a refused token and a bad URL are 2. The
 * local home the command runs with is never written.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Option, Ref, TestClock } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import type * as net from "node:net"
import * as path from "node:path"
import { makeHeight } from "../../src/domain/Height.js"
import { processStartTime } from "../../src/platform/Proc.js"
import { type ApiWorld, idleStatus, planText, served, setupApi } from "../api/support.js"
import { cleanup, freePort, startAnvil, tempDir, waitFor } from "../support/fixtures.js"
import {
  type CliResult,
  errorText,
  json,
  logsOf,
  makeHome,
  removeHomes,
  restoreEnv,
  runCli,
  startCli
} from "./support.js"

afterEach(() => {
  restoreEnv()
  removeHomes()
})

/**
 * The operator's machine: a home of its own (never initialised, never
 * written), the API named by --remote — and, as an operator of another
 * machine's supervisor must, its token in WEMIXVISOR_API_TOKEN.
 */
const local = (w?: ApiWorld) => makeHome(w === undefined ? {} : { WEMIXVISOR_API_TOKEN: w.token })

const refused = (r: CliResult, code: 1 | 2, says: string | RegExp, what = "") => {
  expect(r.code, what).toBe(code)
  expect(r.stdout, what).toBe("")
  if (typeof says === "string") expect(errorText(r), what).toContain(says)
  else expect(errorText(r), what).toMatch(says)
  expect(errorText(r), what).toMatch(/^error: [^\n]*\n$/)
}

describe("--remote: the commands go to the API", () => {
  it.scopedLive("schedule (with info and binary URLs), list text and --json, cancel by name and the only pending one", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const me = local(w)
      const remote = ["--remote", w.base]
      const s = yield* runCli(["upgrade", "schedule", "v2", "200", "--info", "notes", ...remote], me.env)
      expect(s).toEqual({ code: 0, stdout: "✓ Upgrade 'v2' scheduled for block height 200\n", stderr: "" })
      const sum = `sha256:${"ab".repeat(32)}`
      const url = "https://example.org/gwemix-v3"
      const s3 = yield* runCli(
        ["upgrade", "schedule", "v3", "300", "--binaries", url, "--checksum", sum, ...remote],
        me.env
      )
      expect(s3.code).toBe(0)
      expect(JSON.parse(planText(w)!).upgrades).toMatchObject([
        { name: "v2", height: 200, status: "scheduled", info: "notes", binaries: {}, checksums: {} },
        { name: "v3", height: 300, status: "scheduled", info: "", binaries: { any: url }, checksums: { any: sum } }
      ])

      // The supervisor's status estimates v2's ETA; v3's it cannot yet.
      const eta = { eta: "2026-12-03T02:14:00Z", eta_seconds: 3 * 3600 + 12 * 60 }
      const v2 = JSON.parse(planText(w)!).upgrades[0]
      yield* Ref.update(w.status, (st) => ({ ...st, pending: [{ ...v2, ...eta }] }))
      const text = yield* runCli(["upgrade", "list", ...remote], me.env)
      expect(text).toEqual({
        code: 0,
        stdout: [
          "NAME  HEIGHT  STATUS     ETA                   INFO",
          "v2    200     scheduled  in 3h12m (02:14 UTC)  notes",
          "v3    300     scheduled  unknown",
          ""
        ].join("\n"),
        stderr: ""
      })
      const j = yield* runCli(["upgrade", "list", "--json", ...remote], me.env)
      const [r2, r3] = JSON.parse(planText(w)!).upgrades
      expect(json(j)).toEqual({
        upgrades: [{ ...r2, ...eta }, { ...r3, eta: null, eta_seconds: null }],
        count: 2
      })

      const c = yield* runCli(["upgrade", "cancel", "v3", ...remote], me.env)
      expect(c).toEqual({ code: 0, stdout: "✓ Upgrade cancelled ('v3' at block height 300)\n", stderr: "" })
      const only = yield* runCli(["upgrade", "cancel", ...remote], me.env)
      expect(only.stdout).toBe("✓ Upgrade cancelled ('v2' at block height 200)\n")
      expect(JSON.parse(planText(w)!).upgrades.map((u: { status: string }) => u.status)).toEqual([
        "cancelled",
        "cancelled"
      ])
      expect(fs.existsSync(me.root)).toBe(false)
    }))

  it.scopedLive("WEMIXVISOR_API_URL instead of --remote; --remote wins over it", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const me = local(w)
      const viaEnv = { ...me.env, WEMIXVISOR_API_URL: w.base }
      expect((yield* runCli(["upgrade", "schedule", "v2", "200"], viaEnv)).code).toBe(0)
      expect(JSON.parse(planText(w)!).upgrades).toMatchObject([{ name: "v2" }])
      const down = `http://127.0.0.1:${yield* Effect.promise(freePort)}`
      refused(yield* runCli(["upgrade", "list", "--remote", down], viaEnv), 1, `wemixvisor API ${down} unreachable`)
      expect(fs.existsSync(me.root)).toBe(false)
    }))

  it.scopedLive("status --remote: the supervisor's own status, text and --json", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const me = local(w)
      const st = {
        ...idleStatus,
        current_height: makeHeight(321),
        restarts: 2,
        version: "gwemix v1",
        block_interval_seconds: 2,
        head_age_seconds: 0.5
      }
      yield* Ref.set(w.status, st)
      const j = yield* runCli(["upgrade", "status", "--json", "--remote", w.base], me.env)
      expect(j.code).toBe(0)
      expect(json(j)).toEqual(served(w, st))
      expect(json(j)).toMatchObject({ block_interval_seconds: 2, head_age_seconds: 0.5 })
      const t = yield* runCli(["upgrade", "status", "--remote", w.base], me.env)
      expect(t.stdout).toBe(
        [
          "Supervisor:   running",
          "Node:         running (pid 4242), 2 restarts",
          "Current:      genesis",
          "Chain head:   321",
          "Pending:      none",
          ""
        ].join("\n")
      )
    }))

  it.scopedLive("--on-failure goes with the request and is stored there; a bad value is refused before anything is sent", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const me = local(w)
      const remote = ["--remote", w.base]
      const s = yield* runCli(["upgrade", "schedule", "v2", "200", "--on-failure", "halt", ...remote], me.env)
      expect(s).toEqual({
        code: 0,
        stdout: "✓ Upgrade 'v2' scheduled for block height 200 (on failure: halt)\n",
        stderr: ""
      })
      expect(JSON.parse(planText(w)!).upgrades).toMatchObject([{ name: "v2", on_failure: "halt" }])
      const before = planText(w)
      refused(
        yield* runCli(["upgrade", "schedule", "v3", "300", "--on-failure", "pray", ...remote], me.env),
        2,
        "invalid --on-failure: expected rollback or halt"
      )
      expect(planText(w)).toBe(before)
    }))

  it.scopedLive("the server's refusals keep their exit codes; the plan there unchanged", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const me = local(w)
      const remote = ["--remote", w.base]
      expect((yield* runCli(["upgrade", "schedule", "v1", "150", ...remote], me.env)).code).toBe(0)
      const before = planText(w)
      refused(
        yield* runCli(["upgrade", "schedule", "v2", "99", ...remote], me.env),
        2,
        "height 99 is at or below the chain head 100 (use --force to schedule it anyway)"
      )
      refused(yield* runCli(["upgrade", "schedule", "v1", "300", ...remote], me.env), 2, "upgrade 'v1': already exists")
      refused(yield* runCli(["upgrade", "cancel", "nope", ...remote], me.env), 2, "no upgrade named 'nope'")
      // Checked before anything is sent.
      refused(yield* runCli(["upgrade", "schedule", "../x", "300", ...remote], me.env), 2, "invalid name")
      refused(yield* runCli(["upgrade", "prepare", "../x", ...remote], me.env), 2, "invalid name")
      // The node behind the API is down: the head cannot be checked (1), unless --force.
      yield* Ref.set(w.head, Option.none())
      refused(
        yield* runCli(["upgrade", "schedule", "v2", "200", ...remote], me.env),
        1,
        /cannot check the height against the chain head: .*--force/
      )
      expect(planText(w)).toBe(before)
      expect((yield* runCli(["upgrade", "schedule", "v2", "200", "--force", ...remote], me.env)).code).toBe(0)
      // This server's orchestrator prepares nothing (a real one: test/cli/run.test.ts): its refusal is the answer.
      refused(yield* runCli(["upgrade", "prepare", "v2", ...remote], me.env), 2, "no upgrade named 'v2'")
    }))

  it.scopedLive("a token: none or a wrong one → 2 (ConfigInvalid naming WEMIXVISOR_API_TOKEN); the right one works", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100, token: "s3cret" })
      const me = local()
      const none = yield* runCli(["upgrade", "list", "--remote", w.base], me.env)
      refused(none, 2, `invalid WEMIXVISOR_API_TOKEN="": the API at ${w.base} refused it`)
      const wrong = yield* runCli(["upgrade", "list", "--remote", w.base], { ...me.env, WEMIXVISOR_API_TOKEN: "guess" })
      refused(wrong, 2, `invalid WEMIXVISOR_API_TOKEN="(set)": the API at ${w.base} refused it`)
      expect(wrong.stderr).not.toContain("guess")
      const right = yield* runCli(["upgrade", "list", "--remote", w.base], {
        ...me.env,
        WEMIXVISOR_API_TOKEN: "s3cret"
      })
      expect(right).toEqual({ code: 0, stdout: "No upgrades scheduled\n", stderr: "" })
    }))
})

describe("--remote: what never reaches an API", () => {
  it.live("--remote at the node's own RPC port (a real anvil): 1, saying no wemixvisor API answers there", () =>
    Effect.gen(function*() {
      const me = local()
      const dataDir = tempDir("wemixvisor-anvil-")
      const port = yield* Effect.promise(freePort)
      yield* Effect.acquireRelease(
        Effect.promise(() => startAnvil({ port, dataDir })),
        (a) => Effect.promise(() => a.stop().then(() => cleanup(dataDir)))
      )
      const url = `http://127.0.0.1:${port}`
      const r = yield* runCli(["upgrade", "list", "--remote", url], me.env)
      refused(r, 1, `wemixvisor API ${url} unreachable: HTTP 404`)
      expect(errorText(r)).toContain("no wemixvisor API answers there (is it the node's RPC port?")
    }).pipe(Effect.scoped))

  it.live("an invalid --remote or WEMIXVISOR_API_URL → 2; an API that does not answer → 1; nothing written locally", () =>
    Effect.gen(function*() {
      const me = local()
      for (const url of ["ftp://example.org", "not a url", "127.0.0.1:8590"]) {
        for (const args of [["list"], ["cancel", "v2"], ["status"], ["prepare", "v2"], ["schedule", "v2", "100"]]) {
          const r = yield* runCli(["upgrade", ...args, "--remote", url], me.env)
          refused(r, 2, `invalid --remote: ${JSON.stringify(url)} is not an http(s) URL`, `${args[0]} ${url}`)
        }
      }
      const bad = yield* runCli(["upgrade", "list"], { ...me.env, WEMIXVISOR_API_URL: "ftp://x" })
      refused(bad, 2, `invalid WEMIXVISOR_API_URL="ftp://x"`)

      const down = `http://127.0.0.1:${yield* Effect.promise(freePort)}`
      for (const args of [["list"], ["cancel"], ["status", "--json"], ["prepare", "v2"], ["schedule", "v2", "100"]]) {
        refused(
          yield* runCli(["upgrade", ...args, "--remote", down], me.env),
          1,
          `wemixvisor API ${down} unreachable`,
          args[0]
        )
      }
      expect(fs.existsSync(me.root)).toBe(false)
    }))
})

describe("status on a home with a running supervisor (run.lock held)", () => {
  /** Makes this test process the holder of the API home's run.lock, as a `run` would be. */
  const holdRunLock = (w: ApiWorld) =>
    fs.writeFileSync(
      path.join(w.home, "wemixvisor", "run.lock"),
      JSON.stringify({ pid: process.pid, start_time: processStartTime(process.pid), time: new Date().toISOString() })
    )

  it.scopedLive("asks the supervisor over its API (an API on 0.0.0.0 is reached on 127.0.0.1); without the lock, the files", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const port = new URL(w.base).port
      const env = {
        DAEMON_HOME: w.home,
        DAEMON_NAME: "gwemix",
        WEMIXVISOR_API_ADDR: `0.0.0.0:${port}`,
        DAEMON_VERSION_ARGS: ""
      }
      yield* Ref.set(w.status, { ...idleStatus, current_height: makeHeight(777), block_interval_seconds: 1.5 })

      // No lock: nothing is running, whatever answers on that port.
      const files = yield* runCli(["upgrade", "status", "--json"], {
        ...env,
        DAEMON_RPC_URL: `http://127.0.0.1:${yield* Effect.promise(freePort)}`
      })
      expect(files.code).toBe(0)
      expect(json(files)).toMatchObject({
        supervisor: "not-running",
        node_state: "stopped",
        node_pid: null,
        current_height: null,
        // The files know nothing of the chain's pace: only the supervisor measures it.
        block_interval_seconds: null,
        head_age_seconds: null
      })

      holdRunLock(w)
      const live = yield* runCli(["upgrade", "status", "--json"], env)
      expect(live).toMatchObject({ code: 0, stderr: "" })
      expect(json(live)).toEqual(
        served(w, { ...idleStatus, current_height: makeHeight(777), block_interval_seconds: 1.5 })
      )
      const text = yield* runCli(["upgrade", "status"], env)
      expect(text.stdout).toMatch(/^Supervisor:   running\nNode:         running \(pid 4242\)\n/)
      expect(text.stdout).toMatch(/^Chain head:   777$/m)
    }))

  it.scoped("a supervisor API that accepts but never answers: given up after 5 s (a warning), the files' status instead", () =>
    Effect.gen(function*() {
      // An HTTP server that takes requests and never answers them.
      const requests: Array<http.IncomingMessage> = []
      const server = yield* Effect.acquireRelease(
        Effect.promise(
          () =>
            new Promise<http.Server>((resolve) => {
              const s = http.createServer((req) => void requests.push(req))
              s.listen(0, "127.0.0.1", () => resolve(s))
            })
        ),
        (s) =>
          Effect.promise(() =>
            new Promise<void>((r) => {
              s.closeAllConnections()
              s.close(() => r())
            })
          )
      )
      const port = (server.address() as net.AddressInfo).port
      const me = makeHome({
        WEMIXVISOR_API_ADDR: `127.0.0.1:${port}`,
        DAEMON_RPC_URL: `http://127.0.0.1:${yield* Effect.promise(freePort)}`,
        DAEMON_VERSION_ARGS: ""
      })
      expect((yield* runCli(["init", me.binary("v1")], me.env)).code).toBe(0)
      fs.writeFileSync(
        path.join(me.root, "run.lock"),
        JSON.stringify({ pid: process.pid, start_time: processStartTime(process.pid), time: new Date().toISOString() })
      )
      // The 5 s are the TestClock's: the request is real, the wait for its answer is moved forward.
      const started = yield* startCli(["upgrade", "status", "--json"], me.env)
      yield* Effect.promise(() => waitFor("the status request", () => requests.length > 0, 10_000))
      yield* TestClock.adjust("5 seconds")
      const r = yield* started.result
      expect(r.code).toBe(0)
      expect(json(r)).toMatchObject({ supervisor: "running", node_state: "stopped", current: "genesis" })
      expect(logsOf(r).map((l) => l.message)).toEqual([
        `the running wemixvisor did not answer (wemixvisor API http://127.0.0.1:${port} unreachable: no answer within 5s); showing what the files say`
      ])
    }))
})
