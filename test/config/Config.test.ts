import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { describeConfig, loadConfig, parseDuration } from "../../src/config/Config.js"
import { cleanup, tempDir } from "../support/fixtures.js"

const base = { DAEMON_HOME: "/srv/wemix", DAEMON_NAME: "gwemix" }

const failure = (env: Record<string, string>) => Effect.runSync(Effect.flip(loadConfig({ env: { ...base, ...env } })))

describe("durations", () => {
  it("accepts what operators type and Effect's own form", () => {
    const ms = (s: string) => Either.map(parseDuration(s), Duration.toMillis)
    expect(ms("500ms")).toEqual(Either.right(500))
    expect(ms("5s")).toEqual(Either.right(5000))
    expect(ms("2m")).toEqual(Either.right(120_000))
    expect(ms("1h")).toEqual(Either.right(3_600_000))
    expect(ms("1m30s")).toEqual(Either.right(90_000))
    expect(ms("1.5s")).toEqual(Either.right(1500))
    expect(ms("5 seconds")).toEqual(Either.right(5000))
  })
  it("refuses a bare number and nonsense", () => {
    expect(Either.isLeft(parseDuration("5"))).toBe(true)
    expect(Either.isLeft(parseDuration("five"))).toBe(true)
    expect(Either.isLeft(parseDuration("-1s"))).toBe(true)
  })
})

describe("loadConfig", () => {
  it("has the ARCHITECTURE §4 defaults", () => {
    const c = Effect.runSync(loadConfig({ env: base }))
    expect(c.rpcUrl).toBe("http://127.0.0.1:8588")
    expect(Option.isNone(c.wsUrl)).toBe(true)
    expect(Duration.toMillis(c.pollInterval)).toBe(300)
    expect(Duration.toMillis(c.shutdownGrace)).toBe(30_000)
    expect(Duration.toMillis(c.restartDelay)).toBe(1000)
    expect(Duration.toMillis(c.restartMaxDelay)).toBe(60_000)
    expect(c.maxRestarts).toBe(10)
    expect(Duration.toMillis(c.restartWindow)).toBe(600_000)
    expect(Duration.toMillis(c.verifyMinUp)).toBe(5000)
    expect(Duration.toMillis(c.verifyTimeout)).toBe(300_000)
    expect(c.onUpgradeFailure).toBe("rollback")
    expect(c.versionArgs).toEqual(["version"])
    expect(c.dataDir).toBe("/srv/wemix/data")
    expect(c.backupKeep).toBe(2)
    expect(c.apiAddr).toBe("127.0.0.1:8590")
    expect(c.layout.currentBinary).toBe("/srv/wemix/wemixvisor/current/bin/gwemix")
  })

  it("names the variable and the value that are wrong", () => {
    const e = failure({ DAEMON_SHUTDOWN_GRACE: "soon" })
    expect(e.variable).toBe("DAEMON_SHUTDOWN_GRACE")
    expect(e.value).toBe("soon")
    expect(e.message).toContain("DAEMON_SHUTDOWN_GRACE=\"soon\"")
    expect(failure({ DAEMON_MAX_RESTARTS: "-3" }).variable).toBe("DAEMON_MAX_RESTARTS")
    expect(failure({ DAEMON_ON_UPGRADE_FAILURE: "pray" }).variable).toBe("DAEMON_ON_UPGRADE_FAILURE")
    expect(failure({ DAEMON_RPC_URL: "localhost:8588" }).variable).toBe("DAEMON_RPC_URL")
    expect(failure({ DAEMON_WS_URL: "http://x" }).variable).toBe("DAEMON_WS_URL")
    expect(failure({ DAEMON_VERIFY_PROGRESS: "maybe" }).variable).toBe("DAEMON_VERIFY_PROGRESS")
    expect(failure({ WEMIXVISOR_API_ADDR: "8590" }).variable).toBe("WEMIXVISOR_API_ADDR")
    expect(failure({ DAEMON_RESTART_DELAY: "2m", DAEMON_RESTART_MAX_DELAY: "1m" }).variable).toBe(
      "DAEMON_RESTART_MAX_DELAY"
    )
    expect(failure({ DAEMON_NAME: "../gwemix" }).variable).toBe("DAEMON_NAME")
  })

  it("requires an absolute DAEMON_HOME and a DAEMON_NAME", () => {
    expect(Effect.runSync(Effect.flip(loadConfig({ env: { DAEMON_NAME: "x" } }))).variable).toBe("DAEMON_HOME")
    expect(Effect.runSync(Effect.flip(loadConfig({ env: { DAEMON_HOME: "rel/dir", DAEMON_NAME: "x" } }))).variable)
      .toBe("DAEMON_HOME")
    expect(Effect.runSync(Effect.flip(loadConfig({ env: { DAEMON_HOME: "/x" } }))).variable).toBe("DAEMON_NAME")
  })

  it("refuses a poll interval too short to be sane", () => {
    const e = failure({ DAEMON_POLL_INTERVAL: "1ms" })
    expect(e.variable).toBe("DAEMON_POLL_INTERVAL")
    expect(e.problem).toContain("at least 10ms")
  })

  it("WEMIXVISOR_STALL_AFTER: unset means the rule (null in `config`), a duration above zero replaces it", () => {
    const home = tempDir()
    try {
      const base = { DAEMON_HOME: home, DAEMON_NAME: "gw" }
      const auto = Effect.runSync(loadConfig({ env: base }))
      expect(auto.stallAfter).toEqual(Option.none())
      expect(describeConfig(auto).wemixvisor_stall_after).toBeNull()
      const set = Effect.runSync(loadConfig({ env: { ...base, WEMIXVISOR_STALL_AFTER: "5m" } }))
      expect(Option.map(set.stallAfter, Duration.toMillis)).toEqual(Option.some(300_000))
      expect(describeConfig(set).wemixvisor_stall_after).toBe("5m")
    } finally {
      cleanup(home)
    }
    expect(failure({ WEMIXVISOR_STALL_AFTER: "0s" })).toMatchObject({
      variable: "WEMIXVISOR_STALL_AFTER",
      problem: "must be above zero"
    })
    expect(failure({ WEMIXVISOR_STALL_AFTER: "60" }).problem).toContain("needs a unit")
  })

  it("WEMIXVISOR_HISTORY_MAX_SIZE / _KEEP: 10MB and 5 by default; units; 0 turns rotation off; nonsense refused", () => {
    const home = tempDir()
    try {
      const base = { DAEMON_HOME: home, DAEMON_NAME: "gw" }
      const auto = Effect.runSync(loadConfig({ env: base }))
      expect([auto.historyMaxSize, auto.historyKeep]).toEqual([10_000_000, 5])
      expect(describeConfig(auto)).toMatchObject({ wemixvisor_history_max_size: "10MB", wemixvisor_history_keep: 5 })
      const set = Effect.runSync(
        loadConfig({ env: { ...base, WEMIXVISOR_HISTORY_MAX_SIZE: "2MiB", WEMIXVISOR_HISTORY_KEEP: "0" } })
      )
      expect([set.historyMaxSize, set.historyKeep]).toEqual([2 * 1024 * 1024, 0])
      expect(describeConfig(set).wemixvisor_history_max_size).toBe("2MiB")
      expect(Effect.runSync(loadConfig({ env: { ...base, WEMIXVISOR_HISTORY_MAX_SIZE: "0" } })).historyMaxSize).toBe(0)
    } finally {
      cleanup(home)
    }
    expect(failure({ WEMIXVISOR_HISTORY_MAX_SIZE: "10 parsecs" })).toMatchObject({
      variable: "WEMIXVISOR_HISTORY_MAX_SIZE",
      problem: expect.stringContaining("KB, MB, GB")
    })
    expect(failure({ WEMIXVISOR_HISTORY_MAX_SIZE: "100" }).problem).toContain("at least 1KiB")
    expect(failure({ WEMIXVISOR_HISTORY_KEEP: "-1" })).toMatchObject({
      variable: "WEMIXVISOR_HISTORY_KEEP",
      problem: "expected a non-negative whole number"
    })
  })

  it("refuses tables in config.toml, reads arrays as words", () => {
    const home = tempDir()
    try {
      fs.mkdirSync(path.join(home, "wemixvisor"))
      const toml = path.join(home, "wemixvisor", "config.toml")
      fs.writeFileSync(toml, "daemon_name = \"gw\"\n[api]\naddr = \"x\"\n")
      expect(Effect.runSync(Effect.flip(loadConfig({ env: { DAEMON_HOME: home } }))).problem).toContain(
        "tables are not supported"
      )
      fs.writeFileSync(toml, "daemon_name = \"gw\"\ndaemon_version_args = [\"version\", \"--short\"]\n")
      expect(Effect.runSync(loadConfig({ env: { DAEMON_HOME: home } })).versionArgs).toEqual(["version", "--short"])
    } finally {
      cleanup(home)
    }
  })

  it("accepts the DAEMON_HEIGHT_POLL_INTERVAL alias", () => {
    const c = Effect.runSync(loadConfig({ env: { ...base, DAEMON_HEIGHT_POLL_INTERVAL: "1s" } }))
    expect(Duration.toMillis(c.pollInterval)).toBe(1000)
  })

  it("takes flag > env > config.toml > default", () => {
    const home = tempDir()
    try {
      fs.mkdirSync(path.join(home, "wemixvisor"))
      fs.writeFileSync(
        path.join(home, "wemixvisor", "config.toml"),
        "daemon_name = \"fromtoml\"\ndaemon_shutdown_grace = \"7s\"\ndaemon_max_restarts = 4\ndaemon_backup = true\n"
      )
      const c = Effect.runSync(loadConfig({ env: { DAEMON_HOME: home, DAEMON_SHUTDOWN_GRACE: "9s" } }))
      expect(c.daemonName).toBe("fromtoml")
      expect(Duration.toMillis(c.shutdownGrace)).toBe(9000)
      expect(c.maxRestarts).toBe(4)
      expect(c.backup).toBe(true)
      const f = Effect.runSync(
        loadConfig({ flags: { DAEMON_NAME: "fromflag" }, env: { DAEMON_HOME: home, DAEMON_NAME: "fromenv" } })
      )
      expect(f.daemonName).toBe("fromflag")
    } finally {
      cleanup(home)
    }
  })

  it("reports a broken config.toml with its path", () => {
    const home = tempDir()
    try {
      fs.mkdirSync(path.join(home, "wemixvisor"))
      fs.writeFileSync(path.join(home, "wemixvisor", "config.toml"), "daemon_name = \n")
      const exit = Effect.runSyncExit(loadConfig({ env: { DAEMON_HOME: home } }))
      expect(Exit.isFailure(exit)).toBe(true)
      const e = Effect.runSync(Effect.flip(loadConfig({ env: { DAEMON_HOME: home } })))
      expect(e.variable).toBe("config.toml")
      expect(e.value).toContain("config.toml")
    } finally {
      cleanup(home)
    }
  })

  it("hides the API token when described", () => {
    const c = Effect.runSync(loadConfig({ env: { ...base, WEMIXVISOR_API_TOKEN: "s3cret" } }))
    expect(JSON.stringify(describeConfig(c))).not.toContain("s3cret")
  })
})

describe("API access lists (WEMIXVISOR_API_HOSTS, WEMIXVISOR_API_CORS)", () => {
  it("comma-separated, normalised; empty by default", () => {
    const d = Effect.runSync(loadConfig({ env: base }))
    expect([d.apiHosts, d.apiCors]).toEqual([[], []])
    const c = Effect.runSync(
      loadConfig({
        env: {
          ...base,
          WEMIXVISOR_API_HOSTS: "Node1.Example, [fd00::1],10.0.0.5,",
          WEMIXVISOR_API_CORS: "https://ops.example, http://127.0.0.1:3000"
        }
      })
    )
    expect(c.apiHosts).toEqual(["node1.example", "fd00::1", "10.0.0.5"])
    expect(c.apiCors).toEqual(["https://ops.example", "http://127.0.0.1:3000"])
    expect(describeConfig(c)).toMatchObject({
      wemixvisor_api_hosts: "node1.example,fd00::1,10.0.0.5",
      wemixvisor_api_cors: "https://ops.example,http://127.0.0.1:3000"
    })
  })
  it("a host with a port or a path, an origin with a path or another scheme: refused, naming the item", () => {
    for (
      const [variable, value, item] of [
        ["WEMIXVISOR_API_HOSTS", "ok.example,node1:8590", "node1:8590"],
        ["WEMIXVISOR_API_HOSTS", "a/b", "a/b"],
        ["WEMIXVISOR_API_CORS", "https://ops.example/", "https://ops.example/"],
        ["WEMIXVISOR_API_CORS", "https://ops.example/dash", "https://ops.example/dash"],
        ["WEMIXVISOR_API_CORS", "ftp://ops.example", "ftp://ops.example"],
        ["WEMIXVISOR_API_CORS", "*", "*"]
      ] as const
    ) {
      const e = failure({ [variable]: value })
      expect(e, value).toMatchObject({ _tag: "ConfigInvalid", variable, value })
      expect(e.problem, value).toContain(JSON.stringify(item))
    }
  })
})

describe("refused at start, not at the height (run and config)", () => {
  it("verify min-up at or over the verify timeout; a hook that is missing, a folder or not executable", async () => {
    const { checkRunnable } = await import("../../src/config/Checks.js")
    const dir = tempDir("wemixvisor-checks-")
    try {
      const ok = path.join(dir, "ok.sh")
      fs.writeFileSync(ok, "#!/bin/sh\n", { mode: 0o755 })
      const plain = path.join(dir, "plain.sh")
      fs.writeFileSync(plain, "#!/bin/sh\n", { mode: 0o644 })
      const check = (env: Record<string, string>) =>
        Effect.runSync(Effect.flip(Effect.flatMap(loadConfig({ env: { ...base, ...env } }), checkRunnable)))
      const pass = (env: Record<string, string>) =>
        Effect.runSync(Effect.exit(Effect.flatMap(loadConfig({ env: { ...base, ...env } }), checkRunnable)))
      expect(check({ DAEMON_VERIFY_MIN_UP: "10s", DAEMON_VERIFY_TIMEOUT: "3s" })).toMatchObject({
        variable: "DAEMON_VERIFY_MIN_UP",
        problem: expect.stringContaining("must be shorter than DAEMON_VERIFY_TIMEOUT (3s)")
      })
      expect(check({ DAEMON_VERIFY_MIN_UP: "3s", DAEMON_VERIFY_TIMEOUT: "3s" }).variable).toBe("DAEMON_VERIFY_MIN_UP")
      expect(check({ DAEMON_PRE_UPGRADE: "/nonexistent/migrate.sh" })).toMatchObject({
        variable: "DAEMON_PRE_UPGRADE",
        value: "/nonexistent/migrate.sh",
        problem: expect.stringContaining("does not exist")
      })
      expect(check({ DAEMON_PRE_STOP: dir }).problem).toContain("is not a file")
      expect(check({ DAEMON_PRE_STOP: plain }).problem).toContain("not executable")
      expect(Exit.isSuccess(pass({ DAEMON_PRE_STOP: ok, DAEMON_PRE_UPGRADE: ok, DAEMON_VERIFY_MIN_UP: "5s" }))).toBe(
        true
      )
    } finally {
      cleanup(dir)
    }
  })
})
