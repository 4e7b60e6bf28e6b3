/*
 * `upgrade status` from the files (no supervisor, or one whose API does not
 * answer) with the node reachable (a real anvil) and not, and `upgrade
 * prepare` without a supervisor: artifacts are file:// URLs, so the download
 * path is the real one without an HTTP server.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { processStartTime } from "../../src/platform/Proc.js"
import { freePort, writeScript } from "../support/fixtures.js"
import { errorText, type Home, initHome, json, logsOf, planRow, runCli, useAnvil, writePlan } from "./support.js"

const node = useAnvil()

const sha256 = (file: string) => `sha256:${crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")}`

/** Makes this test process the holder of run.lock: to `status`, a supervisor is running on the home. */
const holdRunLock = (h: Home) =>
  fs.writeFileSync(
    path.join(h.root, "run.lock"),
    JSON.stringify({ pid: process.pid, start_time: processStartTime(process.pid), time: new Date().toISOString() })
  )

interface StatusJson {
  readonly supervisor: string
  readonly current_height: number | null
  readonly node_state: string
  readonly node_pid: number | null
  readonly current: string
  readonly version: string | null
  readonly pending_upgrade: Record<string, unknown> | null
  readonly pending: ReadonlyArray<Record<string, unknown>>
  readonly upgrading: boolean
  readonly in_progress: { readonly name: string; readonly step: string } | null
  readonly last: Record<string, unknown> | null
}

describe("upgrade status without a running supervisor", () => {
  it.live("the node reachable: the head, current, its version, the pending upgrades; text and --json say the same", () =>
    Effect.gen(function*() {
      const h = yield* initHome({ DAEMON_RPC_URL: node.url() })
      expect((yield* runCli(["upgrade", "schedule", "v2", "100000000", "--info", "notes"], h.env)).code).toBe(0)
      const j = yield* runCli(["upgrade", "status", "--json"], h.env)
      expect(j.code).toBe(0)
      expect(j.stderr).toBe("")
      const s = json(j) as StatusJson
      expect(Object.keys(s).sort()).toEqual(
        [
          "block_interval_seconds",
          "current",
          "current_height",
          "governance",
          "head_age_seconds",
          "home",
          "in_progress",
          "last",
          "node_pid",
          "node_state",
          "paused",
          "pending",
          "pending_upgrade",
          "plan_problem",
          "proposals",
          "restarts",
          "supervisor",
          "supervisor_pid",
          "upgrades_paused",
          "upgrading",
          "version"
        ]
      )
      expect(s).toMatchObject({
        supervisor: "not-running",
        // Tracked by a running supervisor only: none from the files.
        proposals: [],
        node_state: "stopped",
        node_pid: null,
        restarts: 0,
        current: "genesis",
        version: "gwemix v1",
        pending_upgrade: { name: "v2", height: 100000000, status: "scheduled", info: "notes" },
        upgrading: false,
        in_progress: null,
        last: null,
        // Only a running supervisor measures the chain's pace.
        block_interval_seconds: null,
        head_age_seconds: null
      })
      expect(s.current_height).toBeGreaterThanOrEqual(3)
      expect(s.pending).toEqual([s.pending_upgrade])

      const t = yield* runCli(["upgrade", "status"], h.env)
      expect(t.code).toBe(0)
      const lines = t.stdout.trimEnd().split("\n")
      expect(lines[0]).toBe("Supervisor:   not running")
      expect(lines[1]).toBe("Node:         stopped")
      expect(lines[2]).toBe("Current:      genesis")
      expect(lines[3]).toMatch(/^Chain head:   \d+$/)
      expect(Number(lines[3]!.slice(14))).toBeGreaterThanOrEqual(s.current_height!)
      expect(lines.slice(4)).toEqual(["Pending:      v2 at block height 100000000 (scheduled)"])
    }))

  it.live("the node down, an upgrade in flight, several pending, the last one failed, a live node.pid, no version asked for", () =>
    Effect.gen(function*() {
      const h = yield* initHome({
        DAEMON_RPC_URL: `http://127.0.0.1:${yield* Effect.promise(freePort)}`,
        DAEMON_VERSION_ARGS: ""
      })
      writePlan(h, [
        planRow("v1", 100, "done", { updated_at: "2026-01-01T00:00:01.000Z" }),
        planRow("v2", 200, "failed", { reason: "verify: no new block", updated_at: "2026-01-02T00:00:00.000Z" }),
        planRow("v3", 300, "upgrading"),
        planRow("v4", 400, "ready", { reason: null }),
        planRow("v5", 500, "scheduled", { reason: "binary missing: /x does not exist" })
      ])
      fs.writeFileSync(
        path.join(h.root, "journal.json"),
        JSON.stringify({
          name: "v3",
          height: 300,
          from: "genesis",
          step: "verify",
          head_at_stop: 299,
          started_at: "2026-01-03T00:00:00.000Z",
          reason: null
        })
      )
      // The node the files name: this very process (pid and start time match).
      fs.writeFileSync(
        path.join(h.root, "node.pid"),
        JSON.stringify({ pid: process.pid, pgid: process.pid, start_time: processStartTime(process.pid) })
      )
      const s = json(yield* runCli(["upgrade", "status", "--json"], h.env)) as StatusJson
      expect(s).toMatchObject({
        supervisor: "not-running",
        current_height: null,
        node_state: "running",
        node_pid: process.pid,
        version: null,
        pending_upgrade: { name: "v3", status: "upgrading" },
        upgrading: true,
        in_progress: { name: "v3", step: "verify" },
        last: { name: "v2", status: "failed", reason: "verify: no new block" }
      })
      expect(s.pending.map((u) => u.name)).toEqual(["v3", "v4", "v5"])

      const t = yield* runCli(["upgrade", "status"], h.env)
      expect(t.code).toBe(0)
      expect(t.stdout).toBe(
        [
          "Supervisor:   not running",
          `Node:         running (pid ${process.pid})`,
          "Current:      genesis",
          "Chain head:   unknown (node not reachable)",
          "Upgrading:    v3 (step verify)",
          "Pending:      v3 at block height 300 (upgrading)",
          "              v4 at block height 400 (ready)",
          "              v5 at block height 500 (scheduled: binary missing: /x does not exist)",
          "Last upgrade: v2 failed: verify: no new block",
          ""
        ].join("\n")
      )

      // The last upgrade done (no reason); nothing pending.
      writePlan(h, [planRow("v1", 100, "done")])
      fs.rmSync(path.join(h.root, "journal.json"))
      const t2 = yield* runCli(["upgrade", "status"], h.env)
      expect(t2.stdout).toMatch(/^Pending:      none$/m)
      expect(t2.stdout).toMatch(/^Last upgrade: v1 done$/m)
      expect(t2.stdout).not.toMatch(/^Upgrading:/m)
    }))

  it.live("a current binary that does not answer the version probe: the version is unknown, the status still shown", () =>
    Effect.gen(function*() {
      const h = yield* initHome({ DAEMON_RPC_URL: node.url() })
      writeScript(path.join(h.root, "genesis", "bin", "gwemix"), "exit 3\n")
      const r = yield* runCli(["upgrade", "status", "--json"], h.env)
      expect(r.code).toBe(0)
      expect(json(r)).toMatchObject({ current: "genesis", version: null })
    }))

  it.live("a corrupt node.pid: the node is reported stopped, with a warning that names the file and the problem", () =>
    Effect.gen(function*() {
      const h = yield* initHome({ DAEMON_RPC_URL: node.url() })
      fs.writeFileSync(path.join(h.root, "node.pid"), "{ not json")
      const r = yield* runCli(["upgrade", "status", "--json"], h.env)
      expect(r.code).toBe(0)
      expect(json(r)).toMatchObject({ node_state: "stopped", node_pid: null })
      const warnings = logsOf(r).filter((l) => l.logLevel === "WARN").map((l) => l.message)
      expect(warnings).toEqual([
        expect.stringMatching(/^the node is reported stopped: .*node\.pid is corrupt: not JSON/)
      ])
    }))

  it.live("a home without init: 2, saying to run init; an unreadable journal: 1, naming it", () =>
    Effect.gen(function*() {
      const h = yield* initHome({ DAEMON_RPC_URL: node.url() })
      fs.mkdirSync(path.join(h.root, "journal.json"))
      const io = yield* runCli(["upgrade", "status"], h.env)
      expect(io.code).toBe(1)
      expect(io.stdout).toBe("")
      expect(io.stderr).toMatch(/^error: .*journal\.json/)

      fs.rmSync(path.join(h.root, "current"))
      const r = yield* runCli(["upgrade", "status", "--json"], h.env)
      expect(r.code).toBe(2)
      expect(r.stdout).toBe("")
      expect(r.stderr).toBe(
        `error: invalid DAEMON_HOME: ${h.root} has no current binary; run 'wemixvisor init <genesis-binary>' first\n`
      )
    }))

  it.live("run.lock held but the supervisor's API does not answer: a warning on stderr (JSON log), the files' status says running", () =>
    Effect.gen(function*() {
      const apiPort = yield* Effect.promise(freePort)
      const h = yield* initHome({ DAEMON_RPC_URL: node.url(), WEMIXVISOR_API_ADDR: `127.0.0.1:${apiPort}` })
      holdRunLock(h)
      const r = yield* runCli(["upgrade", "status", "--json"], h.env)
      expect(r.code).toBe(0)
      expect(json(r)).toMatchObject({ supervisor: "running", node_state: "stopped", current: "genesis" })
      const logs = r.stderr.trimEnd().split("\n").map((l) => JSON.parse(l) as { message: string; logLevel: string })
      expect(logs).toHaveLength(1)
      expect(logs[0]!.logLevel).toBe("WARN")
      expect(logs[0]!.message).toMatch(
        new RegExp(
          `^the running wemixvisor did not answer \\(wemixvisor API http://127\\.0\\.0\\.1:${apiPort} unreachable: .*\\); showing what the files say$`
        )
      )
    }))

  it.live("the same with pretty logs and an API on [::]: the warning names [::1], the text says running", () =>
    Effect.gen(function*() {
      const apiPort = yield* Effect.promise(freePort)
      const h = yield* initHome({
        DAEMON_RPC_URL: node.url(),
        WEMIXVISOR_API_ADDR: `[::]:${apiPort}`,
        WEMIXVISOR_LOG_FORMAT: "pretty"
      })
      holdRunLock(h)
      const r = yield* runCli(["upgrade", "status"], h.env)
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^Supervisor:   running$/m)
      expect(r.stderr).toMatch(/WARN/)
      expect(r.stderr).toContain(
        `the running wemixvisor did not answer (wemixvisor API http://[::1]:${apiPort} unreachable`
      )
      expect(r.stderr).not.toMatch(/^\{/m)
    }))
})

describe("upgrade prepare without a supervisor", () => {
  /** A home whose plan has v2 (a file:// URL with its checksum) and v3 (a wrong checksum); downloads allowed. */
  const prepareHome = (env: Record<string, string> = {}) =>
    Effect.gen(function*() {
      const h = yield* initHome({ DAEMON_ALLOW_DOWNLOAD_BINARIES: "true", ...env })
      const v2 = h.binary("v2")
      const url = pathToFileURL(v2).href
      writePlan(h, [
        planRow("v2", 1000, "scheduled", { binaries: { any: url }, checksums: { any: sha256(v2) } }),
        planRow("v3", 2000, "scheduled", { binaries: { any: url }, checksums: { any: `sha256:${"0".repeat(64)}` } }),
        planRow("v4", 3000, "scheduled", { binaries: { any: url } }),
        planRow("v0", 10, "cancelled")
      ])
      return { h, v2, url }
    })

  const placed = (h: Home, name: string) => path.join(h.root, "upgrades", name, "bin", "gwemix")

  it.live("ready: downloaded, verified, placed, probed; again: already in place, nothing downloaded", () =>
    Effect.gen(function*() {
      const { h, v2, url } = yield* prepareHome()
      const digest = sha256(v2)
      const r = yield* runCli(["upgrade", "prepare", "v2"], h.env)
      expect(r.code).toBe(0)
      expect(r.stdout).toBe(
        `✓ Upgrade 'v2' ready for block height 1000\n  version: gwemix v2\n  downloaded from ${url} (${sha256(v2)})\n`
      )
      // The progress goes to the log (stderr), never to stdout.
      expect(errorText(r)).toBe("")
      expect(logsOf(r).map((l) => l.message)).toContain(`installed ${placed(h, "v2")} (binary)`)
      expect(h.plan().upgrades.find((u) => u.name === "v2")).toMatchObject({ status: "ready", reason: null })
      expect(fs.readFileSync(placed(h, "v2"))).toEqual(fs.readFileSync(v2))
      expect(fs.statSync(placed(h, "v2")).mode & 0o111).not.toBe(0)

      // The source gone: a second prepare must not need it.
      fs.rmSync(v2)
      const again = yield* runCli(["upgrade", "prepare", "v2"], h.env)
      expect(again.code).toBe(0)
      expect(again.stdout).toBe("✓ Upgrade 'v2' ready for block height 1000\n  version: gwemix v2\n")
      expect(logsOf(again).map((l) => l.message).filter((m) => m.startsWith("download"))).toEqual([])

      // Both in the audit trail through the CLI's door, with what was found.
      const trail = json(yield* runCli(["upgrade", "history", "--json", "--name", "v2"], h.env))
      expect(trail).toEqual([
        {
          time: expect.any(String),
          name: "v2",
          step: "prepare",
          result: "ok",
          detail: `version "gwemix v2"; downloaded from ${url} (${digest})`,
          door: "cli"
        },
        {
          time: expect.any(String),
          name: "v2",
          step: "prepare",
          result: "ok",
          detail: "version \"gwemix v2\"",
          door: "cli"
        }
      ])
    }))

  it.live("a wrong checksum: 1 with the reason, which the plan keeps (still scheduled); nothing placed", () =>
    Effect.gen(function*() {
      const { h, v2, url } = yield* prepareHome()
      const r = yield* runCli(["upgrade", "prepare", "v3"], h.env)
      expect(r.code).toBe(1)
      expect(r.stdout).toBe("")
      const reason = `checksum mismatch for ${url}: expected sha256:${"0".repeat(64)}, got ${
        sha256(v2)
      }; nothing was installed`
      expect(errorText(r)).toBe(`error: ${reason}\n`)
      expect(h.plan().upgrades.find((u) => u.name === "v3")).toMatchObject({ status: "scheduled", reason })
      expect(h.upgradeDirs()).toEqual([])
      expect(json(yield* runCli(["upgrade", "history", "--json"], h.env))).toEqual([
        { time: expect.any(String), name: "v3", step: "prepare", result: "failed", detail: reason, door: "cli" }
      ])
    }))

  it.live("bad input → 2, the plan unchanged: a bad name, an unknown one, one no longer pending", () =>
    Effect.gen(function*() {
      const { h } = yield* prepareHome()
      const before = h.planText()
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["../x", "error: invalid name"],
        ["nope", "error: no upgrade named 'nope'\n"],
        ["v0", "error: upgrade 'v0': is cancelled; only an upgrade waiting for its height can be prepared\n"]
      ]
      for (const [name, says] of cases) {
        const r = yield* runCli(["upgrade", "prepare", name], h.env)
        expect(r.code, name).toBe(2)
        expect(r.stdout, name).toBe("")
        expect(r.stderr.startsWith(says), r.stderr).toBe(true)
        expect(h.planText(), name).toBe(before)
      }
    }))

  it.live("downloads disabled, or no checksum: 2 (cannot work here), the reason recorded; skipping the checksum explicitly says so", () =>
    Effect.gen(function*() {
      const { h, url } = yield* prepareHome()
      const off = yield* runCli(["upgrade", "prepare", "v2"], { ...h.env, DAEMON_ALLOW_DOWNLOAD_BINARIES: "false" })
      expect(off.code).toBe(2)
      expect(off.stderr).toContain("DAEMON_ALLOW_DOWNLOAD_BINARIES=true")
      expect(h.plan().upgrades.find((u) => u.name === "v2")).toMatchObject({
        status: "scheduled",
        reason: expect.stringContaining("will not download")
      })
      expect(h.upgradeDirs()).toEqual([])

      const noSum = yield* runCli(["upgrade", "prepare", "v4"], h.env)
      expect(noSum.code).toBe(2)
      expect(noSum.stderr).toContain("DAEMON_UNSAFE_SKIP_CHECKSUM=true")

      const unsafe = yield* runCli(["upgrade", "prepare", "v4"], {
        ...h.env,
        DAEMON_UNSAFE_SKIP_CHECKSUM: "true",
        DAEMON_VERSION_ARGS: ""
      })
      expect(unsafe.code).toBe(0)
      expect(unsafe.stdout).toBe(
        `✓ Upgrade 'v4' ready for block height 3000\n  downloaded from ${url} (checksum NOT verified)\n`
      )
      expect(logsOf(unsafe)).toContainEqual(
        expect.objectContaining({ logLevel: "WARN", message: expect.stringContaining("WITHOUT a checksum") })
      )
      expect(h.plan().upgrades.find((u) => u.name === "v4")).toMatchObject({ status: "ready", reason: null })
    }))
})
