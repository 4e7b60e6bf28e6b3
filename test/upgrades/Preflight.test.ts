/*
 * The gathering of `upgrade check` (src/upgrades/Preflight.ts), one finding
 * at a time, over a real home (the live PlanStore and BinaryStore, real
 * scripts as binaries and hooks) and a real anvil (chain id 31337) for the
 * RPC and chain-id findings; free space comes from an injected FreeSpace.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { FreeSpace } from "../../src/binaries/Backup.js"
import * as BinaryStoreLive from "../../src/binaries/BinaryStoreLive.js"
import { AppConfig, loadConfig, runOnly } from "../../src/config/Config.js"
import type { PreflightResult } from "../../src/domain/Preflight.js"
import type { StatusObject } from "../../src/domain/Status.js"
import type { UpgradeName } from "../../src/domain/Upgrade.js"
import * as PlanStoreLive from "../../src/upgrades/PlanStoreLive.js"
import { preflight, type PreflightInputs } from "../../src/upgrades/Preflight.js"
import { idleStatus } from "../api/support.js"
import { type Anvil, cleanup, freePort, startAnvil, tempDir, writeScript } from "../support/fixtures.js"

let anvil: Anvil | undefined
const anvilDir = tempDir("wemixvisor-preflight-anvil-")
beforeAll(async () => {
  anvil = await startAnvil({ port: await freePort(), dataDir: anvilDir })
})
afterAll(async () => {
  await anvil?.stop()
  cleanup(anvilDir)
})
const homes: Array<string> = []
afterEach(() => {
  for (const h of homes.splice(0)) cleanup(h)
})

const rpcUrl = () => `http://127.0.0.1:${anvil!.port}`

/** A node binary that answers `version` as gwemix does. */
const nodeScript = (file: string, version: string) =>
  writeScript(file, `case "$1" in version) echo "gwemix ${version}"; exit 0 ;; esac\nexec sleep 1000\n`)

const row = (name: string, height: number, extra: Record<string, unknown> = {}) => ({
  name,
  height,
  status: "scheduled",
  info: "",
  binaries: {},
  checksums: {},
  reason: null,
  created_at: "2026-01-01T00:00:00.000Z",
  updated_at: "2026-01-01T00:00:00.000Z",
  force: true,
  ...extra
})

interface World {
  readonly home: string
  readonly root: string
  readonly binary: (name: string) => string
  readonly check: (name: string, inputs?: Partial<PreflightInputs>) => Effect.Effect<PreflightResult, unknown>
}

/**
 * A home initialised with genesis, the plan `rows`, `env` over a clean
 * configuration (the probe on, the RPC the anvil, its chain id), and `free`
 * bytes free for backups.
 */
const world = (
  rows: ReadonlyArray<Record<string, unknown>>,
  env: Record<string, string> = {},
  free = 10 * 1024 ** 3
) =>
  Effect.gen(function*() {
    const home = tempDir("wemixvisor-preflight-")
    homes.push(home)
    fs.mkdirSync(path.join(home, "data"))
    fs.writeFileSync(path.join(home, "data", "000001.ldb"), Buffer.alloc(10_000))
    const config = yield* loadConfig({
      env: {
        DAEMON_HOME: home,
        DAEMON_NAME: "gwemix",
        DAEMON_RPC_URL: rpcUrl(),
        DAEMON_CHAIN_ID: "31337",
        DAEMON_VERSION_ARGS: "version",
        ...env
      }
    }, runOnly).pipe(Effect.orDie)
    yield* BinaryStoreLive.make(config.layout).init(nodeScript(path.join(home, "g1"), "v1"), false).pipe(Effect.orDie)
    fs.writeFileSync(config.layout.plan, JSON.stringify({ version: 1, upgrades: rows }, null, 2))
    const services = Layer.mergeAll(PlanStoreLive.layer, BinaryStoreLive.layer).pipe(
      Layer.provide(Layer.succeed(AppConfig, config))
    )
    const w: World = {
      home,
      root: config.layout.root,
      binary: (name) => config.layout.binary(name as UpgradeName),
      check: (name, inputs = {}) =>
        preflight(name as UpgradeName, { config, status: Option.none(), supervised: false, ...inputs }).pipe(
          Effect.provide(services),
          Effect.provideService(FreeSpace, { available: () => Effect.succeed(free) })
        )
    }
    return w
  })

/** Puts a binary in place as upgrades/<name>/bin/gwemix. */
const place = (w: World, name: string, body?: string) => {
  const file = w.binary(name)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  return body === undefined ? nodeScript(file, "v2.0.0") : writeScript(file, body)
}

const byCheck = (r: PreflightResult, check: string) => r.findings.filter((f) => f.check === check)
const one = (r: PreflightResult, check: string) => {
  const fs = byCheck(r, check)
  expect(fs, `${check} in ${JSON.stringify(r.findings, null, 2)}`).toHaveLength(1)
  return fs[0]!
}
const problems = (r: PreflightResult) => r.findings.filter((f) => f.level === "problem")

describe("upgrade check: the findings", () => {
  it.live("a ready upgrade: go — binary, version, verify, backup room, RPC, chain id, failure policy", () =>
    Effect.gen(function*() {
      const hook = writeScript(path.join(tempDir("wemixvisor-hooks-"), "ok.sh"), "exit 0\n")
      homes.push(path.dirname(hook))
      const w = yield* world([row("v2", 1_500_000)], {
        DAEMON_BACKUP: "true",
        DAEMON_PRE_UPGRADE: hook
      })
      place(w, "v2")
      const r = yield* w.check("v2")
      expect(problems(r)).toEqual([])
      expect(r.go).toBe(true)
      expect(r).toMatchObject({ name: "v2", height: 1_500_000, eta: null, eta_seconds: null })
      expect(one(r, "binary")).toEqual({
        check: "binary",
        level: "ok",
        message: `binary ${w.binary("v2")}: in place and executable`
      })
      expect(one(r, "version").message).toBe("version: the new binary reports \"gwemix v2.0.0\"")
      expect(one(r, "DAEMON_VERIFY_MIN_UP").level).toBe("ok")
      expect(one(r, "DAEMON_PRE_UPGRADE")).toMatchObject({ level: "ok" })
      expect(one(r, "DAEMON_BACKUP")).toMatchObject({ level: "ok" })
      expect(one(r, "DAEMON_BACKUP").message).toMatch(/^DAEMON_BACKUP=true: room for a backup of /)
      expect(one(r, "DAEMON_RPC_URL")).toMatchObject({ level: "ok" })
      expect(one(r, "DAEMON_CHAIN_ID")).toEqual({
        check: "DAEMON_CHAIN_ID",
        level: "ok",
        message: "eth_chainId is 31337, as DAEMON_CHAIN_ID"
      })
      // Nothing supervises this home: said, not a problem (the check is about the upgrade).
      expect(one(r, "supervisor")).toMatchObject({ level: "warning" })
      expect(one(r, "eta").message).toBe(
        "ETA unknown (height 1500000): only a running wemixvisor measures the block interval"
      )
      expect(r.on_failure).toBe("rollback to genesis")
      expect(one(r, "on_failure").message).toBe(
        "on failure: rollback to genesis (DAEMON_ON_UPGRADE_FAILURE=rollback)"
      )
    }))

  it.live("a missing binary: a problem naming the file and the fix (prepare when there is a URL to get it from)", () =>
    Effect.gen(function*() {
      const w = yield* world([
        row("v2", 1_500_000),
        row("v3", 1_600_000, { binaries: { any: "https://example.invalid/gwemix" }, checksums: {} })
      ])
      const r = yield* w.check("v2")
      expect(r.go).toBe(false)
      expect(problems(r)).toEqual([{
        check: "binary",
        level: "problem",
        message: `binary ${
          w.binary("v2")
        } does not exist: put the new binary there (chmod +x), or schedule 'v2' again with --binary`
      }])
      // No version probe of a binary that is not there.
      expect(byCheck(r, "version")).toEqual([])
      const r3 = yield* w.check("v3")
      expect(one(r3, "binary").message).toBe(
        `binary ${
          w.binary("v3")
        } does not exist: not downloaded yet: 'wemixvisor upgrade prepare v3' downloads and checks it now`
      )
    }))

  it.live("a binary that is not executable, or cannot run here: problems", () =>
    Effect.gen(function*() {
      const w = yield* world([row("v2", 1_500_000), row("v3", 1_600_000)])
      fs.chmodSync(place(w, "v2"), 0o644)
      const r = yield* w.check("v2")
      expect(one(r, "binary")).toMatchObject({ level: "problem" })
      expect(one(r, "binary").message).toContain("is not executable (chmod +x it)")
      // The shell's "cannot execute" (126/127): not usable on this machine.
      place(w, "v3", "exit 127\n")
      const r3 = yield* w.check("v3")
      expect(one(r3, "version")).toMatchObject({ level: "problem" })
      expect(one(r3, "version").message).toMatch(/the new binary cannot run on this machine$/)
      expect(r3.go).toBe(false)
    }))

  it.live("a probe that fails otherwise leaves the version unknown: a warning, still go", () =>
    Effect.gen(function*() {
      const w = yield* world([row("v2", 1_500_000)])
      place(w, "v2", "echo 'unknown command' >&2\nexit 3\n")
      const r = yield* w.check("v2")
      expect(one(r, "version")).toMatchObject({ level: "warning" })
      expect(one(r, "version").message).toMatch(/^version unknown: /)
      expect(r.go).toBe(true)
    }))

  it.live("the checksum given: matches → ok; differs → a problem; an archive's → a warning (not comparable)", () =>
    Effect.gen(function*() {
      const w = yield* world([])
      const body = "echo gwemix v2\n"
      const file = place(w, "probe", body)
      const digest = "sha256:" + crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")
      const wrong = "sha256:" + "ab".repeat(32)
      const url = "https://example.invalid/gwemix"
      fs.writeFileSync(
        path.join(w.root, "upgrade-plan.json"),
        JSON.stringify({
          version: 1,
          upgrades: [
            row("good", 1_500_000, { binaries: { any: url }, checksums: { any: digest } }),
            row("bad", 1_500_001, { binaries: { any: url }, checksums: { any: wrong } }),
            row("tar", 1_500_002, { binaries: { any: `${url}.tar.gz` }, checksums: { any: wrong } })
          ]
        })
      )
      for (const n of ["good", "bad", "tar"]) place(w, n, body)
      const good = yield* w.check("good")
      expect(one(good, "checksum")).toMatchObject({ level: "ok" })
      expect(good.go).toBe(true)
      const bad = yield* w.check("bad")
      expect(one(bad, "checksum")).toMatchObject({ level: "problem" })
      expect(one(bad, "checksum").message).toContain("it is not the binary that was scheduled")
      expect(bad.go).toBe(false)
      const tar = yield* w.check("tar")
      expect(one(tar, "checksum")).toMatchObject({ level: "warning" })
      expect(tar.go).toBe(true)
    }))

  it.live("hooks missing or not executable, verify timings that cannot pass: problems worded as `config check`'s", () =>
    Effect.gen(function*() {
      const dir = tempDir("wemixvisor-hooks-")
      homes.push(dir)
      const notExec = path.join(dir, "pre-upgrade.sh")
      fs.writeFileSync(notExec, "#!/bin/sh\nexit 0\n", { mode: 0o644 })
      const w = yield* world([row("v2", 1_500_000)], {
        DAEMON_PRE_STOP: path.join(dir, "missing.sh"),
        DAEMON_PRE_UPGRADE: notExec,
        DAEMON_VERIFY_MIN_UP: "5m",
        DAEMON_VERIFY_TIMEOUT: "1m"
      })
      place(w, "v2")
      const r = yield* w.check("v2")
      expect(problems(r).map((f) => f.check).sort()).toEqual([
        "DAEMON_PRE_STOP",
        "DAEMON_PRE_UPGRADE",
        "DAEMON_VERIFY_MIN_UP"
      ])
      expect(one(r, "DAEMON_PRE_UPGRADE").message).toBe(
        `invalid DAEMON_PRE_UPGRADE="${notExec}": is not executable (chmod +x it); the upgrade would fail at its height`
      )
      expect(one(r, "DAEMON_PRE_STOP").message).toContain("does not exist")
      expect(one(r, "DAEMON_VERIFY_MIN_UP").message).toContain("must be shorter than DAEMON_VERIFY_TIMEOUT (1m)")
    }))

  it.live("backups on and no room for one: a problem; backups off: a warning only", () =>
    Effect.gen(function*() {
      const full = yield* world([row("v2", 1_500_000)], { DAEMON_BACKUP: "true" }, 1024)
      place(full, "v2")
      const r = yield* full.check("v2")
      expect(one(r, "DAEMON_BACKUP")).toMatchObject({ level: "problem" })
      expect(one(r, "DAEMON_BACKUP").message).toContain("no room for a backup")
      const off = yield* world([row("v2", 1_500_000)], { DAEMON_BACKUP: "false" }, 1024)
      place(off, "v2")
      const r2 = yield* off.check("v2")
      expect(one(r2, "DAEMON_BACKUP")).toMatchObject({ level: "warning" })
      expect(r2.go).toBe(true)
    }))

  it.live("an RPC that does not answer, a node of another chain: problems", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const down = yield* world([row("v2", 1_500_000)], { DAEMON_RPC_URL: `http://127.0.0.1:${port}` })
      place(down, "v2")
      const r = yield* down.check("v2")
      expect(one(r, "DAEMON_RPC_URL")).toMatchObject({ level: "problem" })
      expect(one(r, "DAEMON_RPC_URL").message).toMatch(
        new RegExp(
          `^RPC http://127\\.0\\.0\\.1:${port} does not answer \\(.+\\): without it the upgrade can neither fire nor verify the new binary; is the node running\\?$`
        )
      )
      expect(one(r, "DAEMON_CHAIN_ID")).toMatchObject({ level: "warning" })
      const other = yield* world([row("v2", 1_500_000)], { DAEMON_CHAIN_ID: "1111" })
      place(other, "v2")
      const r2 = yield* other.check("v2")
      expect(problems(r2)).toEqual([{
        check: "DAEMON_CHAIN_ID",
        level: "problem",
        message:
          "eth_chainId is 31337, DAEMON_CHAIN_ID is 1111: DAEMON_RPC_URL is not the node of that chain; upgrades would be refused"
      }])
    }))

  it.live("a bad value the CLI set aside for this command: a problem (`run` refuses it)", () =>
    Effect.gen(function*() {
      const w = yield* world([row("v2", 1_500_000)], { DAEMON_HOOK_TIMEOUT: "5x" })
      place(w, "v2")
      const r = yield* w.check("v2")
      expect(one(r, "DAEMON_HOOK_TIMEOUT")).toMatchObject({ level: "problem" })
      expect(one(r, "DAEMON_HOOK_TIMEOUT").message).toMatch(/^invalid DAEMON_HOOK_TIMEOUT="5x".*; `run` refuses it$/)
    }))

  it.live("the failure policy: the upgrade's own, else DAEMON_ON_UPGRADE_FAILURE; a rollback goes to what runs before it", () =>
    Effect.gen(function*() {
      const w = yield* world([
        row("v1.5", 1_400_000),
        row("v2", 1_500_000, { on_failure: "halt" }),
        row("v3", 1_600_000)
      ], { DAEMON_ON_UPGRADE_FAILURE: "rollback" })
      for (const n of ["v1.5", "v2", "v3"]) place(w, n)
      const v2 = yield* w.check("v2")
      expect(v2.on_failure).toBe("halt: the node stays stopped")
      expect(one(v2, "on_failure").message).toBe(
        "on failure: halt: the node stays stopped (this upgrade's on_failure=halt)"
      )
      expect((yield* w.check("v3")).on_failure).toBe("rollback to v2")
      expect((yield* w.check("v1.5")).on_failure).toBe("rollback to genesis")
    }))

  it.live("with the running supervisor's status: its ETA, its pause (a problem)", () =>
    Effect.gen(function*() {
      const w = yield* world([row("v2", 1_500_000)])
      place(w, "v2")
      const pending = {
        ...row("v2", 1_500_000),
        eta: "2026-12-07T02:14:00Z",
        eta_seconds: 11_520
      } as unknown as StatusObject["pending"][number]
      const status: StatusObject = {
        ...idleStatus,
        home: w.home,
        current_height: 1_488_480 as never,
        pending: [pending]
      }
      const r = yield* w.check("v2", { status: Option.some(status), supervised: true })
      expect(r).toMatchObject({ go: true, eta: "2026-12-07T02:14:00Z", eta_seconds: 11_520 })
      expect(one(r, "eta").message).toBe("ETA in 3h12m (02:14 UTC) (height 1500000, head 1488480)")
      expect(one(r, "supervisor")).toMatchObject({ level: "ok" })
      const paused = yield* w.check("v2", {
        status: Option.some({
          ...status,
          upgrades_paused: { by: "cli", since: "2026-12-06T20:00:00Z", reason: "maintenance" }
        }),
        supervised: true
      })
      expect(paused.go).toBe(false)
      expect(one(paused, "paused").message).toBe(
        "upgrades are PAUSED by cli since 2026-12-06T20:00:00Z (maintenance): none fires until 'wemixvisor upgrade resume'"
      )
    }))

  it.live("locally, the operator's pause marker: a problem", () =>
    Effect.gen(function*() {
      const w = yield* world([row("v2", 1_500_000)])
      place(w, "v2")
      fs.writeFileSync(
        path.join(w.root, "upgrades-paused.json"),
        JSON.stringify({ by: "cli", since: "2026-12-06T20:00:00.000Z", reason: null })
      )
      const r = yield* w.check("v2")
      expect(one(r, "paused")).toMatchObject({ level: "problem" })
      expect(r.go).toBe(false)
    }))

  it.live("an unknown name, an upgrade no longer waiting for its height: refused (exit 2 / 404, 409)", () =>
    Effect.gen(function*() {
      const w = yield* world([row("old", 1_000, { status: "done" }), row("now", 1_001, { status: "upgrading" })])
      const unknown = yield* Effect.either(w.check("nope"))
      expect(Either.isLeft(unknown) && (unknown.left as { _tag: string })._tag).toBe("UpgradeNotFound")
      for (const n of ["old", "now"]) {
        const e = yield* Effect.either(w.check(n))
        expect(Either.isLeft(e) && (e.left as { _tag: string })._tag, n).toBe("UpgradeConflict")
      }
    }))
})
