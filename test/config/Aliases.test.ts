/*
 * Cosmovisor's and the Go wemixvisor's env names (src/config/Aliases.ts):
 * every row of the table does what it says, an alias never overrides
 * wemixvisor's own name, and a config file's `version` is migrated or
 * refused.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import {
  type Alias,
  ALIASES,
  applyEnvAliases,
  CONFIG_VERSION,
  migrateDocument,
  MIGRATIONS
} from "../../src/config/Aliases.js"
import { CONFIG_NAMES } from "../../src/config/Keys.js"

const HOME = "/srv/wemix"

/** A value each row accepts: what a Cosmovisor operator would typically have set. */
const SAMPLE: Record<string, string> = {
  UNSAFE_SKIP_BACKUP: "true",
  DAEMON_PREUPGRADE_MAX_RETRIES: "3",
  COSMOVISOR_CUSTOM_PREUPGRADE: "hooks/migrate.sh",
  DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM: "true",
  DAEMON_RESTART_AFTER_UPGRADE: "true",
  DAEMON_LOG_BUFFER_SIZE: "512",
  COSMOVISOR_DISABLE_LOGS: "false",
  COSMOVISOR_COLOR_LOGS: "true",
  COSMOVISOR_DISABLE_RECASE: "true",
  DAEMON_UPGRADE_ENABLED: "true",
  DAEMON_DEBUG: "true",
  DAEMON_HEIGHT_POLL_INTERVAL: "1s",
  DAEMON_DATA_BACKUP_DIR: "/srv/backups",
  DAEMON_GRPC_ADDRESS: "localhost:9090",
  COSMOVISOR_TIMEFORMAT_LOGS: "kitchen",
  DAEMON_NETWORK: "mainnet"
}

const apply = (env: Record<string, string>) => applyEnvAliases({ DAEMON_HOME: HOME, ...env })
const problem = (r: ReturnType<typeof apply>) => Either.isLeft(r) ? r.left : undefined

describe("the alias table", () => {
  it("has a sample for every row and no foreign name that is wemixvisor's own", () => {
    expect(Object.keys(SAMPLE).sort()).toEqual(Object.keys(ALIASES).sort())
    for (const name of Object.keys(ALIASES)) {
      // DAEMON_HEIGHT_POLL_INTERVAL is the one wemixvisor name in the table: loadConfig still reads it.
      if (name !== "DAEMON_HEIGHT_POLL_INTERVAL") expect(CONFIG_NAMES).not.toContain(name)
    }
  })

  for (const [name, alias] of Object.entries(ALIASES) as Array<[string, Alias]>) {
    it(`${name} (${alias.kind})`, () => {
      const r = apply({ [name]: SAMPLE[name]! })
      switch (alias.kind) {
        case "same": {
          expect(CONFIG_NAMES).toContain(alias.to)
          const ok = Either.getOrThrow(r)
          expect(ok.env[alias.to]).toBeDefined()
          expect(ok.notes).toEqual([expect.stringContaining(`read as ${alias.to}=`)])
          break
        }
        case "ignored-harmless": {
          const ok = Either.getOrThrow(r)
          expect(ok.notes).toEqual([expect.stringContaining("ignored")])
          // Nothing but the alias itself is added.
          expect(Object.keys(ok.env).sort()).toEqual(["DAEMON_HOME", name].sort())
          break
        }
        case "refused":
          expect(problem(r)).toEqual({ variable: name, problem: expect.stringContaining(alias.why) })
      }
    })
  }
})

describe("applyEnvAliases", () => {
  it("leaves an environment without foreign names as it is", () => {
    const env = { DAEMON_HOME: HOME, DAEMON_NAME: "gwemix", DAEMON_BACKUP: "true" }
    expect(Either.getOrThrow(applyEnvAliases(env))).toEqual({ env, notes: [] })
  })

  it("inverts UNSAFE_SKIP_BACKUP into DAEMON_BACKUP", () => {
    expect(Either.getOrThrow(apply({ UNSAFE_SKIP_BACKUP: "true" })).env["DAEMON_BACKUP"]).toBe("false")
    expect(Either.getOrThrow(apply({ UNSAFE_SKIP_BACKUP: "FALSE" })).env["DAEMON_BACKUP"]).toBe("true")
    expect(problem(apply({ UNSAFE_SKIP_BACKUP: "maybe" }))).toEqual({
      variable: "UNSAFE_SKIP_BACKUP",
      problem: expect.stringContaining("expected true or false")
    })
  })

  it("treats an empty alias as unset, as Cosmovisor does", () => {
    expect(Either.getOrThrow(apply({ UNSAFE_SKIP_BACKUP: "", DAEMON_GRPC_ADDRESS: "" })).notes).toEqual([])
  })

  it("never overrides wemixvisor's own name: a different value is a conflict, the same one a note", () => {
    expect(problem(apply({ UNSAFE_SKIP_BACKUP: "true", DAEMON_BACKUP: "true" }))).toEqual({
      variable: "UNSAFE_SKIP_BACKUP",
      problem:
        "UNSAFE_SKIP_BACKUP=true (Cosmovisor and the Go wemixvisor's name, read as DAEMON_BACKUP=false) and DAEMON_BACKUP=true are both set: keep DAEMON_BACKUP"
    })
    expect(problem(apply({ DAEMON_HEIGHT_POLL_INTERVAL: "1s", DAEMON_POLL_INTERVAL: "2s" }))?.problem).toContain(
      "are both set"
    )
    const same = Either.getOrThrow(apply({ DAEMON_PREUPGRADE_MAX_RETRIES: "3", DAEMON_PRE_UPGRADE_MAX_RETRIES: "3" }))
    expect(same.env["DAEMON_PRE_UPGRADE_MAX_RETRIES"]).toBe("3")
    expect(same.notes).toEqual([expect.stringContaining("agrees with DAEMON_PRE_UPGRADE_MAX_RETRIES=3: remove it")])
  })

  it("resolves COSMOVISOR_CUSTOM_PREUPGRADE under $DAEMON_HOME/cosmovisor, as Cosmovisor does", () => {
    expect(Either.getOrThrow(apply({ COSMOVISOR_CUSTOM_PREUPGRADE: "migrate.sh" })).env["DAEMON_PRE_UPGRADE"]).toBe(
      "/srv/wemix/cosmovisor/migrate.sh"
    )
    expect(problem(applyEnvAliases({ COSMOVISOR_CUSTOM_PREUPGRADE: "migrate.sh" }))?.problem).toContain(
      "needs DAEMON_HOME"
    )
  })

  it("maps a required checksum and refuses to turn the requirement off silently", () => {
    expect(Either.getOrThrow(apply({ DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM: "true" })).env["DAEMON_UNSAFE_SKIP_CHECKSUM"])
      .toBe("false")
    expect(problem(apply({ DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM: "false" }))?.problem).toContain(
      "set DAEMON_UNSAFE_SKIP_CHECKSUM=true instead"
    )
  })

  it("refuses the values of harmless names that ask for what wemixvisor does not do", () => {
    const cases: Record<string, [string, string]> = {
      DAEMON_RESTART_AFTER_UPGRADE: ["false", "always starts the new binary"],
      COSMOVISOR_DISABLE_LOGS: ["true", "WEMIXVISOR_LOG_LEVEL=error"],
      COSMOVISOR_COLOR_LOGS: ["false", "WEMIXVISOR_LOG_FORMAT=json"],
      COSMOVISOR_DISABLE_RECASE: ["false", "never lower-cases"],
      DAEMON_UPGRADE_ENABLED: ["false", "upgrade cancel"]
    }
    for (const [name, [value, says]] of Object.entries(cases)) {
      expect(problem(apply({ [name]: value }))).toEqual({ variable: name, problem: expect.stringContaining(says) })
      expect(problem(apply({ [name]: "perhaps" }))?.problem).toContain("expected true or false")
    }
  })

  it("says what to use instead of a refused name", () => {
    expect(problem(apply({ DAEMON_GRPC_ADDRESS: "localhost:9090" }))).toEqual({
      variable: "DAEMON_GRPC_ADDRESS",
      problem:
        "is Cosmovisor's name and means something else here: wemixvisor has no gRPC: it reads the chain over JSON-RPC (DAEMON_RPC_URL, DAEMON_WS_URL); remove it"
    })
    expect(problem(apply({ DAEMON_DATA_BACKUP_DIR: "/b" }))?.problem).toContain("$DAEMON_HOME/wemixvisor/backups")
  })

  it("maps DAEMON_DEBUG to a log level", () => {
    expect(Either.getOrThrow(apply({ DAEMON_DEBUG: "true" })).env["WEMIXVISOR_LOG_LEVEL"]).toBe("debug")
    expect(Either.getOrThrow(apply({ DAEMON_DEBUG: "false" })).env["WEMIXVISOR_LOG_LEVEL"]).toBe("info")
  })
})

describe("migrateDocument", () => {
  it("reads a file without version as version 1 and drops the key from the result", () => {
    expect(Either.getOrThrow(migrateDocument({ daemon_name: "gwemix" }))).toEqual({
      doc: { daemon_name: "gwemix" },
      notes: []
    })
    expect(Either.getOrThrow(migrateDocument({ version: CONFIG_VERSION, daemon_name: "gwemix" })).doc).toEqual({
      daemon_name: "gwemix"
    })
    // TOML integers may come as bigint.
    expect(Either.isRight(migrateDocument({ version: BigInt(CONFIG_VERSION) }))).toBe(true)
  })

  it("renames the keys of older versions, with a note", () => {
    const r = Either.getOrThrow(migrateDocument({ daemon_height_poll_interval: "1s" }))
    expect(r.doc).toEqual({ daemon_poll_interval: "1s" })
    expect(r.notes).toEqual([expect.stringContaining("daemon_height_poll_interval is now daemon_poll_interval")])
    expect(Either.getOrThrow(migrateDocument({ version: 1, daemon_height_poll_interval: "1s" })).doc).toEqual({
      daemon_poll_interval: "1s"
    })
    for (const step of MIGRATIONS) expect(step.to).toBeLessThanOrEqual(CONFIG_VERSION)
  })

  it("refuses an old key beside its new name, or in a file that declares the version that dropped it", () => {
    expect(migrateDocument({ daemon_height_poll_interval: "1s", daemon_poll_interval: "2s" })).toEqual(
      Either.left({
        variable: "daemon_height_poll_interval",
        problem:
          "and daemon_poll_interval are both set (daemon_poll_interval replaced it in config version 2): keep daemon_poll_interval"
      })
    )
    expect(migrateDocument({ version: 2, daemon_height_poll_interval: "1s" })).toEqual(
      Either.left({
        variable: "daemon_height_poll_interval",
        problem:
          "was renamed daemon_poll_interval in config version 2, which this file declares: write daemon_poll_interval"
      })
    )
  })

  it("refuses a version from a newer wemixvisor, and one that is not a whole number from 1", () => {
    expect(migrateDocument({ version: CONFIG_VERSION + 1 })).toEqual(
      Either.left({
        variable: "version",
        problem: `is ${
          CONFIG_VERSION + 1
        }: the file was written for a newer wemixvisor (this one reads config versions up to ${CONFIG_VERSION}); upgrade wemixvisor`
      })
    )
    for (const bad of [0, 1.5, "2", null, true]) {
      expect(migrateDocument({ version: bad })).toEqual(
        Either.left({ variable: "version", problem: expect.stringContaining("must be a whole number") })
      )
    }
  })

  it("refuses foreign keys in a file, naming the key to write", () => {
    expect(migrateDocument({ unsafe_skip_backup: true })).toEqual(
      Either.left({
        variable: "unsafe_skip_backup",
        problem:
          "is Cosmovisor and the Go wemixvisor's name; a config file takes wemixvisor's: write daemon_backup (see docs/MIGRATING.md for its value)"
      })
    )
    expect(migrateDocument({ daemon_preupgrade_max_retries: 3 })).toEqual(
      Either.left({
        variable: "daemon_preupgrade_max_retries",
        problem:
          "is Cosmovisor and the Go wemixvisor's name; a config file takes wemixvisor's: write daemon_pre_upgrade_max_retries"
      })
    )
    expect(migrateDocument({ daemon_grpc_address: "x" })).toEqual(
      Either.left({ variable: "daemon_grpc_address", problem: expect.stringContaining("has no gRPC") })
    )
    expect(migrateDocument({ daemon_restart_after_upgrade: true })).toEqual(
      Either.left({ variable: "daemon_restart_after_upgrade", problem: expect.stringContaining("; remove it") })
    )
  })
})
