/*
 * `wemixvisor config check` (issue #16 item 2): the configuration and what
 * would only fail later, every finding a line, exit 2 on any error. Against
 * a real anvil (chain id 31337) for the RPC and chain-id findings, real
 * files for the hooks and the data dir; free space comes from the real
 * statfs, and from an injected FreeSpace for "no room".
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { FreeSpace } from "../../src/binaries/Backup.js"
import { backupFindings, measureTree, roomFinding } from "../../src/binaries/BackupRoom.js"
import { loadConfig } from "../../src/config/Config.js"
import { REGISTRY_TOPICS } from "../../src/governance/Registry.js"
import { freePort, writeScript } from "../support/fixtures.js"
import * as Gov from "../support/governance.js"
import { type CliResult, initHome, json, makeHome, runCli, useAnvil } from "./support.js"

const node = useAnvil()

const MiB = 1024 * 1024

/** The finding lines, without the paths that change from run to run. */
const lines = (r: CliResult) => r.stdout.split("\n").filter((l) => l !== "")

/** A home with a layout, a tiny data dir and two executable hooks: every check passes. */
const cleanHome = (env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const h = yield* initHome()
    const data = path.join(h.home, "data")
    fs.mkdirSync(path.join(data, "chaindata"), { recursive: true })
    fs.writeFileSync(path.join(data, "chaindata", "000001.ldb"), Buffer.alloc(10_000))
    const hook = writeScript(path.join(h.home, "hooks", "ok.sh"), "exit 0\n")
    return {
      h,
      env: {
        ...h.env,
        DAEMON_RPC_URL: node.url(),
        DAEMON_CHAIN_ID: "31337",
        DAEMON_BACKUP: "true",
        DAEMON_PRE_STOP: hook,
        DAEMON_PRE_UPGRADE: hook,
        ...env
      }
    }
  })

describe("config check", () => {
  it.live("a clean configuration: every line ✓, the real free space and head, exit 0", () =>
    Effect.gen(function*() {
      const { env, h } = yield* cleanHome()
      fs.writeFileSync(path.join(h.root, "config.toml"), "daemon_shutdown_grace = \"60s\"\ndaemon_backup_keep = 3\n")
      const r = yield* runCli(["config", "check"], env)
      expect(r.code, r.stdout + r.stderr).toBe(0)
      const out = lines(r)
      expect(out.every((l) => l.startsWith("✓ ")), r.stdout).toBe(true)
      expect(out).toContain(`✓ config.toml (${path.join(h.root, "config.toml")}): 2 keys, no unknown key`)
      expect(out).toContain(`✓ DAEMON_PRE_STOP=${env.DAEMON_PRE_STOP}: an executable file`)
      expect(out).toContain(`✓ DAEMON_PRE_UPGRADE=${env.DAEMON_PRE_UPGRADE}: an executable file`)
      expect(out).toContain("✓ DAEMON_VERIFY_MIN_UP=5s is shorter than DAEMON_VERIFY_TIMEOUT=5m")
      expect(out).toContain("✓ eth_chainId is 31337, as DAEMON_CHAIN_ID")
      expect(out.find((l) => l.startsWith(`✓ RPC ${node.url()} answers (head `))).toMatch(/\(head \d+\)$/)
      // The data dir as Backup.ts counts it: 10000 bytes of file, two folders of a block each.
      expect(out.find((l) => l.includes("DAEMON_BACKUP=true"))).toMatch(
        new RegExp(`^✓ DAEMON_BACKUP=true: room for a backup of DAEMON_DATA_DIR=.*/data \\(17\\.8 KiB\\): .* free in `)
      )
      expect(r.stderr).toBe("")
    }))

  it.live("every error at once, not the first only: exit 2, a ✗ line each", () =>
    Effect.gen(function*() {
      const { env, h } = yield* cleanHome()
      const plain = path.join(h.home, "hooks", "plain.sh")
      fs.writeFileSync(plain, "#!/bin/sh\n", { mode: 0o644 })
      const r = yield* runCli(["config", "check"], {
        ...env,
        DAEMON_VERIFY_MIN_UP: "10s",
        DAEMON_VERIFY_TIMEOUT: "3s",
        DAEMON_PRE_STOP: plain,
        DAEMON_PRE_UPGRADE: "/nonexistent/hook.sh",
        DAEMON_CHAIN_ID: "1111"
      })
      expect(r.code).toBe(2)
      expect(lines(r).filter((l) => l.startsWith("✗ "))).toEqual([
        "✗ invalid DAEMON_VERIFY_MIN_UP=\"10s\": must be shorter than DAEMON_VERIFY_TIMEOUT (3s): verify could never pass, and every upgrade would roll back",
        `✗ invalid DAEMON_PRE_STOP=${
          JSON.stringify(plain)
        }: is not executable (chmod +x it); the upgrade would fail at its height`,
        "✗ invalid DAEMON_PRE_UPGRADE=\"/nonexistent/hook.sh\": does not exist; the upgrade would fail at its height",
        "✗ eth_chainId is 31337, DAEMON_CHAIN_ID is 1111: DAEMON_RPC_URL is not the node of that chain; upgrades would be refused"
      ])
      expect(r.stderr).toBe("error: config check: 4 errors (the ✗ lines)\n")
      // `config` (and `run`) still stop at the first one, worded the same.
      const c = yield* runCli(["config"], { ...env, DAEMON_PRE_UPGRADE: "/nonexistent/hook.sh" })
      expect(c.code).toBe(2)
      expect(c.stderr).toBe(
        "error: invalid DAEMON_PRE_UPGRADE=\"/nonexistent/hook.sh\": does not exist; the upgrade would fail at its height\n"
      )
    }))

  it.live("a configuration that does not load is a ✗ finding, as `run` words it; exit 2", () =>
    Effect.gen(function*() {
      const h = makeHome({ DAEMON_POLL_INTERVAL: "5" })
      const r = yield* runCli(["config", "check"], h.env)
      expect(r.code).toBe(2)
      expect(lines(r)).toContain(
        "✗ invalid DAEMON_POLL_INTERVAL=\"5\" (env): a duration needs a unit, e.g. 500ms, 5s, 2m, 1h"
      )
      const k = makeHome()
      fs.mkdirSync(k.root, { recursive: true })
      fs.writeFileSync(path.join(k.root, "config.toml"), "daemon_bakup = true\n")
      const u = yield* runCli(["config", "check"], k.env)
      expect(u.code, u.stdout + u.stderr).toBe(2)
      expect(lines(u), u.stdout + u.stderr).toContain(
        "✗ invalid config.toml key daemon_bakup: unknown key (did you mean daemon_backup?)"
      )
    }))

  it.live("the node stopped: a warning, not an error (and DAEMON_CHAIN_ID unverified, said so); exit 0", () =>
    Effect.gen(function*() {
      const { env } = yield* cleanHome()
      const down = `http://127.0.0.1:${yield* Effect.promise(freePort)}`
      const r = yield* runCli(["config", "check"], { ...env, DAEMON_RPC_URL: down })
      expect(r.code, r.stdout).toBe(0)
      const warnings = lines(r).filter((l) => l.startsWith("! "))
      expect(warnings).toHaveLength(2)
      expect(warnings[0]).toMatch(
        new RegExp(
          `^! RPC ${down} does not answer \\(.*ECONNREFUSED.*\\): the node may be stopped; check again once it runs$`
        )
      )
      expect(warnings[1]).toBe("! DAEMON_CHAIN_ID=31337: not verified, the RPC does not answer")
      expect(lines(r).some((l) => l.startsWith("✗"))).toBe(false)
    }))

  it.live("warnings do not fail: backups off, a DAEMON_ variable wemixvisor does not read; exit 0", () =>
    Effect.gen(function*() {
      const { env } = yield* cleanHome({ DAEMON_BACKUP: "false", DAEMON_BAKUP: "true" })
      const r = yield* runCli(["config", "check"], env)
      expect(r.code, r.stdout).toBe(0)
      expect(lines(r).filter((l) => l.startsWith("! "))).toEqual([
        "! DAEMON_BAKUP in the environment is not a wemixvisor variable (did you mean DAEMON_BACKUP?)",
        "! DAEMON_BACKUP=false: no backup before upgrades; a rollback starts the old binary on the data as the new one left it"
      ])
    }))

  it.live("--json: the findings as an array of {level, check, message}; exit 2 with an error", () =>
    Effect.gen(function*() {
      const { env, h } = yield* cleanHome()
      const r = yield* runCli(["config", "check", "--json"], { ...env, DAEMON_DATA_DIR: path.join(h.home, "nodata") })
      expect(r.code).toBe(2)
      const found = json(r) as ReadonlyArray<{ level: string; check: string; message: string }>
      for (const f of found) expect(Object.keys(f).sort()).toEqual(["check", "level", "message"])
      expect(found.filter((f) => f.level === "error")).toEqual([{
        level: "error",
        check: "DAEMON_DATA_DIR",
        message: `invalid DAEMON_DATA_DIR=${
          JSON.stringify(path.join(h.home, "nodata"))
        }: does not exist; the backup before an upgrade would fail (set DAEMON_DATA_DIR to the node's data folder)`
      }])
      expect(found).toContainEqual({
        level: "ok",
        check: "DAEMON_CHAIN_ID",
        message: "eth_chainId is 31337, as DAEMON_CHAIN_ID"
      })
      const clean = yield* runCli(["config", "check", "--json"], env)
      expect(clean.code).toBe(0)
      expect((json(clean) as ReadonlyArray<{ level: string }>).every((f) => f.level === "ok")).toBe(true)
    }))

  it.live("`config` alone still prints the effective configuration", () =>
    Effect.gen(function*() {
      const { env } = yield* cleanHome()
      const r = yield* runCli(["config"], env)
      expect(r.code).toBe(0)
      expect(r.stdout).toContain("DAEMON_CHAIN_ID=31337\n")
    }))
})

/**
 * A contract whose whole runtime code is `PUSH32 <topic>; POP; STOP`: it holds one registry topic and
 * emits nothing, the smallest "contract with only one of the two events" there is.
 */
const oneTopicArtifact = (topic: `0x${string}`): Gov.Artifact => {
  const runtime = `7f${topic.slice(2)}5000`
  // CODECOPY the 35 bytes after these 12 to memory 0, RETURN them.
  const init = "6023600c60003960236000f3"
  return { abi: [], bytecode: `0x${init}${runtime}` }
}

describe("config check: the governance source on chain", () => {
  it.live("a deployed registry and Governor: ✓ for each, with what the Governor answers; exit 0", () =>
    Effect.gen(function*() {
      const gov = yield* Effect.promise(() =>
        Gov.deployGovernance(node.url(), { votingDelay: 1, votingPeriod: 20, timelockDelay: 1 })
      )
      const { env } = yield* cleanHome({
        DAEMON_GOVERNANCE_REGISTRY: gov.registry,
        DAEMON_GOVERNANCE_GOVERNOR: gov.governor
      })
      const r = yield* runCli(["config", "check"], env)
      expect(r.code, r.stdout + r.stderr).toBe(0)
      expect(lines(r)).toContain(
        `✓ DAEMON_GOVERNANCE_REGISTRY=${gov.registry}: a contract that emits UpgradeScheduled and UpgradeCancelled`
      )
      expect(lines(r)).toContain(
        `✓ DAEMON_GOVERNANCE_GOVERNOR=${gov.governor}: a Governor (name() "UpgradeGovernor", votingPeriod() 20)`
      )
    }))

  it.live("an address without code: ✗, no upgrade can come from it; exit 2", () =>
    Effect.gen(function*() {
      const nobody = Gov.stranger.address.toLowerCase()
      const { env } = yield* cleanHome({
        DAEMON_GOVERNANCE_REGISTRY: nobody,
        DAEMON_GOVERNANCE_GOVERNOR: nobody
      })
      const r = yield* runCli(["config", "check"], env)
      expect(r.code, r.stdout + r.stderr).toBe(2)
      expect(lines(r).filter((l) => l.startsWith("✗ "))).toEqual([
        `✗ DAEMON_GOVERNANCE_REGISTRY=${nobody} has no contract code on the node at ${node.url()}: no upgrade can come from it (wrong address or network?)`,
        `✗ DAEMON_GOVERNANCE_GOVERNOR=${nobody} has no contract code on the node at ${node.url()}: 'upgrade proposals' would show nothing (wrong address or network?)`
      ])
      expect(r.stderr).toBe("error: config check: 2 errors (the ✗ lines)\n")
    }))

  it.live("a contract without the events (an ERC20Votes token; one holding only one topic): ✗ naming what is missing", () =>
    Effect.gen(function*() {
      const token = yield* Effect.promise(() => Gov.deploy(node.url(), Gov.tokenArtifact, [Gov.tokenSupply]))
      const { env } = yield* cleanHome({ DAEMON_GOVERNANCE_REGISTRY: token, DAEMON_GOVERNANCE_GOVERNOR: token })
      const r = yield* runCli(["config", "check"], env)
      expect(r.code, r.stdout + r.stderr).toBe(2)
      expect(lines(r).filter((l) => l.startsWith("✗ "))).toEqual([
        `✗ DAEMON_GOVERNANCE_REGISTRY=${token}: its code never emits UpgradeScheduled(string name, uint64 height, string info) nor UpgradeCancelled(string name): not a registry, no upgrade can come from it (the registry must emit UpgradeScheduled and UpgradeCancelled)`,
        // name() answers (ERC20), votingPeriod() does not.
        `✗ DAEMON_GOVERNANCE_GOVERNOR=${token}: not a Governor: it answers neither name() nor votingPeriod() and never emits ProposalCreated; 'upgrade proposals' would show nothing`
      ])

      const half = yield* Effect.promise(() => Gov.deploy(node.url(), oneTopicArtifact(REGISTRY_TOPICS[0])))
      const other = yield* cleanHome({ DAEMON_GOVERNANCE_REGISTRY: half })
      const h = yield* runCli(["config", "check"], other.env)
      expect(h.code, h.stdout + h.stderr).toBe(2)
      expect(lines(h).filter((l) => l.startsWith("✗ "))).toEqual([
        `✗ DAEMON_GOVERNANCE_REGISTRY=${half}: its code never emits UpgradeCancelled(string name): not a registry, no upgrade can come from it (the registry must emit UpgradeScheduled and UpgradeCancelled)`
      ])
    }))

  it.live("the node stopped: the addresses are not verified, a warning each, as DAEMON_CHAIN_ID; exit 0", () =>
    Effect.gen(function*() {
      const down = `http://127.0.0.1:${yield* Effect.promise(freePort)}`
      const a = Gov.stranger.address.toLowerCase()
      const { env } = yield* cleanHome({
        DAEMON_RPC_URL: down,
        DAEMON_GOVERNANCE_REGISTRY: a,
        DAEMON_GOVERNANCE_GOVERNOR: a
      })
      const r = yield* runCli(["config", "check"], env)
      expect(r.code, r.stdout).toBe(0)
      expect(lines(r).filter((l) => l.startsWith("! ")).slice(2)).toEqual([
        `! DAEMON_GOVERNANCE_REGISTRY=${a}: not verified, the RPC does not answer`,
        `! DAEMON_GOVERNANCE_GOVERNOR=${a}: not verified, the RPC does not answer`
      ])
    }))
})

describe("room for a backup", () => {
  const size = { bytes: 100 * MiB, entries: 10, complete: true }
  const where = { dataDir: "/data", backupsDir: "/h/wemixvisor/backups" }

  it("the rule: the size plus the larger of 64 MiB and 5 % must be free, as the backup demands", () => {
    // 100 MiB + 64 MiB margin = 164 MiB.
    expect(roomFinding({ ...where, size, available: 164 * MiB })).toMatchObject({ level: "ok" })
    const short = roomFinding({ ...where, size, available: 164 * MiB - 1 })
    expect(short).toEqual({
      level: "error",
      check: "DAEMON_BACKUP",
      message:
        "DAEMON_BACKUP=true: no room for a backup of DAEMON_DATA_DIR=/data (100.0 MiB): it needs 164.0 MiB with the margin, 164.0 MiB free in /h/wemixvisor/backups; the upgrade would fail at its height"
    })
    // Counting stopped at the bound: what was counted fits, so not known either way.
    const partial = { ...size, complete: false }
    expect(roomFinding({ ...where, size: partial, available: 1024 * MiB })).toMatchObject({
      level: "warning",
      message: expect.stringContaining("(at least 100.0 MiB): stopped counting after 10 entries")
    })
    expect(roomFinding({ ...where, size: partial, available: MiB }).level).toBe("error")
  })

  it("the walk is bounded: past the limit the size is a lower bound", async () => {
    const h = makeHome()
    const data = path.join(h.home, "data")
    fs.mkdirSync(path.join(data, "sub"), { recursive: true })
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(data, "sub", `f${i}`), Buffer.alloc(100))
    expect(await measureTree(data)).toEqual({ bytes: 2 * 4096 + 500, entries: 7, complete: true })
    expect(await measureTree(data, 4)).toMatchObject({ entries: 4, complete: false })
  })

  it.effect("a disk with less free space than the data dir needs: the finding is an error", () =>
    Effect.gen(function*() {
      const h = makeHome({ DAEMON_BACKUP: "true" })
      fs.mkdirSync(path.join(h.home, "data"), { recursive: true })
      const c = yield* loadConfig({ env: h.env })
      const asked: Array<string> = []
      const full = Layer.succeed(FreeSpace, {
        available: (dir) => Effect.sync(() => (asked.push(dir), 1000))
      })
      const [f] = yield* Effect.provide(backupFindings(c), full)
      expect(f).toMatchObject({ level: "error", message: expect.stringContaining("no room for a backup") })
      // backups/ and wemixvisor/ do not exist yet: the nearest folder that does is asked.
      expect(asked).toEqual([h.home])
    }))

  it.effect("DAEMON_DATA_DIR holding wemixvisor's own folder is refused, as the backup step refuses it", () =>
    Effect.gen(function*() {
      const h = makeHome({ DAEMON_BACKUP: "true" })
      fs.mkdirSync(h.root, { recursive: true })
      const c = yield* loadConfig({ env: { ...h.env, DAEMON_DATA_DIR: h.home } })
      const [f] = yield* Effect.provide(
        backupFindings(c),
        Layer.succeed(FreeSpace, { available: () => Effect.succeed(Number.MAX_SAFE_INTEGER) })
      )
      expect(f).toMatchObject({ level: "error", check: "DAEMON_DATA_DIR" })
      expect(f!.message).toContain("contains wemixvisor's own folder")
    }))
})
