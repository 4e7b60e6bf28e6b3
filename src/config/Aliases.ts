import * as Either from "effect/Either"
import * as path from "node:path"

/*
 * Compatibility (issue #16 item 7): the env names of Cosmovisor and of the
 * Go wemixvisor that an operator brings along, and the `version` key of a
 * config file. Pure functions; loadConfig applies them before it reads
 * anything, so every later error names wemixvisor's variable.
 *
 * Names Cosmovisor shares with wemixvisor are not here: DAEMON_HOME,
 * DAEMON_NAME, DAEMON_ALLOW_DOWNLOAD_BINARIES, DAEMON_POLL_INTERVAL and
 * DAEMON_SHUTDOWN_GRACE mean the same in both (Go durations such as `300ms`,
 * `1m30s`, `1.5h` parse as they are). DAEMON_RESTART_DELAY does NOT: in
 * Cosmovisor it is the wait after the upgrade halt (wemixvisor's
 * DAEMON_UPGRADE_DELAY), in wemixvisor the wait before restarting a crashed
 * node. It cannot be refused (it is wemixvisor's own name); docs/MIGRATING.md
 * says so.
 */

/** Where a foreign name comes from: what a note calls it. */
export type AliasOrigin = "Cosmovisor" | "the Go wemixvisor" | "an older wemixvisor"

export type Alias =
  /** Read as `to`; `convert` turns the value into `to`'s, or says why this value has no equivalent. */
  | {
    readonly kind: "same"
    readonly origin: ReadonlyArray<AliasOrigin>
    readonly to: string
    readonly convert?: (raw: string, env: Readonly<Record<string, string | undefined>>) => Either.Either<string, string>
  }
  /** Its meaning differs, or wemixvisor has no such setting: refused, with what to do instead. */
  | { readonly kind: "refused"; readonly origin: ReadonlyArray<AliasOrigin>; readonly why: string }
  /**
   * Asks for what wemixvisor does anyway: accepted with a note, nothing set.
   * `refuseIf` refuses the values that ask for something else.
   */
  | {
    readonly kind: "ignored-harmless"
    readonly origin: ReadonlyArray<AliasOrigin>
    readonly why: string
    readonly refuseIf?: (raw: string) => string | undefined
  }

export interface AliasProblem {
  readonly variable: string
  readonly problem: string
}

/** Cosmovisor reads only true/false; wemixvisor's own boolean words are accepted too. */
const bool = (raw: string): boolean | undefined => {
  const s = raw.trim().toLowerCase()
  if (["true", "1", "yes", "on"].includes(s)) return true
  if (["false", "0", "no", "off"].includes(s)) return false
  return undefined
}

const asBool = (raw: string, f: (b: boolean) => Either.Either<string, string>) => {
  const b = bool(raw)
  return b === undefined ? Either.left("expected true or false") : f(b)
}

const C: ReadonlyArray<AliasOrigin> = ["Cosmovisor"]
const CG: ReadonlyArray<AliasOrigin> = ["Cosmovisor", "the Go wemixvisor"]
const G: ReadonlyArray<AliasOrigin> = ["the Go wemixvisor"]

/**
 * Every foreign name wemixvisor knows, and what it does with it. A name not
 * here and not wemixvisor's own is left to `config check`'s unknown-variable
 * warning.
 */
export const ALIASES: Readonly<Record<string, Alias>> = {
  // Both back up the data before switching; Cosmovisor by default, wemixvisor only when asked (DAEMON_BACKUP).
  UNSAFE_SKIP_BACKUP: {
    kind: "same",
    origin: CG,
    to: "DAEMON_BACKUP",
    convert: (raw) => asBool(raw, (skip) => Either.right(String(!skip)))
  },
  // Cosmovisor's data backup is of $DAEMON_HOME/data, written to this folder; wemixvisor's go to backups/ always.
  DAEMON_DATA_BACKUP_DIR: {
    kind: "refused",
    origin: CG,
    why:
      "wemixvisor writes backups to $DAEMON_HOME/wemixvisor/backups, which cannot be moved (mount another disk there); DAEMON_DATA_DIR is the folder backed up, not where to"
  },
  // Both: how many times exit 31 runs the pre-upgrade step again. Cosmovisor's step is the app's `pre-upgrade`
  // command (gwemix has none); wemixvisor's is the DAEMON_PRE_UPGRADE script.
  DAEMON_PREUPGRADE_MAX_RETRIES: { kind: "same", origin: CG, to: "DAEMON_PRE_UPGRADE_MAX_RETRIES" },
  // Both run a script with the upgrade's name and height while the node is stopped, before the new binary starts;
  // any exit but 0 fails the upgrade (31 retries in wemixvisor, 0 retries by default). Cosmovisor's path is
  // relative to $DAEMON_HOME/cosmovisor, even when it starts with /; wemixvisor's is absolute.
  COSMOVISOR_CUSTOM_PREUPGRADE: {
    kind: "same",
    origin: CG,
    to: "DAEMON_PRE_UPGRADE",
    convert: (raw, env) => {
      const home = env["DAEMON_HOME"]
      return home === undefined || home === ""
        ? Either.left("needs DAEMON_HOME: the script's path is relative to $DAEMON_HOME/cosmovisor")
        : Either.right(path.join(home, "cosmovisor", raw))
    }
  },
  // wemixvisor always refuses a download without a checksum unless DAEMON_UNSAFE_SKIP_CHECKSUM=true.
  DAEMON_DOWNLOAD_MUST_HAVE_CHECKSUM: {
    kind: "same",
    origin: CG,
    to: "DAEMON_UNSAFE_SKIP_CHECKSUM",
    convert: (raw) =>
      asBool(
        raw,
        (must) =>
          must
            ? Either.right("false")
            : Either.left(
              "wemixvisor always needs a checksum for a download; to allow downloads without one, set DAEMON_UNSAFE_SKIP_CHECKSUM=true instead (and remove this)"
            )
      )
  },
  DAEMON_RESTART_AFTER_UPGRADE: {
    kind: "ignored-harmless",
    origin: CG,
    why: "wemixvisor always starts the new binary after an upgrade",
    refuseIf: (raw) =>
      bool(raw) === false
        ? "wemixvisor always starts the new binary after an upgrade (and verifies it); there is no stop-after-upgrade mode: remove it"
        : bool(raw) === undefined
        ? "expected true or false"
        : undefined
  },
  DAEMON_GRPC_ADDRESS: {
    kind: "refused",
    origin: C,
    why: "wemixvisor has no gRPC: it reads the chain over JSON-RPC (DAEMON_RPC_URL, DAEMON_WS_URL); remove it"
  },
  // Old Cosmovisor (v0.1): the buffer for scanning the node's output, which wemixvisor does not scan.
  DAEMON_LOG_BUFFER_SIZE: {
    kind: "ignored-harmless",
    origin: C,
    why: "wemixvisor does not scan the node's output (upgrades come from its plan), so there is no buffer to size"
  },
  COSMOVISOR_DISABLE_LOGS: {
    kind: "ignored-harmless",
    origin: CG,
    why: "wemixvisor's log is on, as Cosmovisor's is by default",
    refuseIf: (raw) =>
      bool(raw) === true
        ? "wemixvisor's log cannot be turned off; WEMIXVISOR_LOG_LEVEL=error keeps only errors: set that and remove this"
        : bool(raw) === undefined
        ? "expected true or false"
        : undefined
  },
  COSMOVISOR_COLOR_LOGS: {
    kind: "ignored-harmless",
    origin: CG,
    why: "wemixvisor's pretty log is coloured on a terminal",
    refuseIf: (raw) =>
      bool(raw) === false
        ? "wemixvisor has no colour switch: colours appear only on a terminal, and WEMIXVISOR_LOG_FORMAT=json has none; set that and remove this"
        : bool(raw) === undefined
        ? "expected true or false"
        : undefined
  },
  COSMOVISOR_TIMEFORMAT_LOGS: {
    kind: "refused",
    origin: C,
    why: "wemixvisor's log time format cannot be chosen (WEMIXVISOR_LOG_FORMAT=json has ISO 8601 timestamps); remove it"
  },
  // Cosmovisor lower-cases an upgrade's name to find its folder unless this is true; wemixvisor never does.
  COSMOVISOR_DISABLE_RECASE: {
    kind: "ignored-harmless",
    origin: CG,
    why: "wemixvisor uses upgrade names as given, case and all",
    refuseIf: (raw) =>
      bool(raw) === false
        ? "wemixvisor never lower-cases an upgrade's name: its folder is upgrades/<name> exactly as scheduled; rename the folders if needed and remove this"
        : bool(raw) === undefined
        ? "expected true or false"
        : undefined
  },
  DAEMON_UPGRADE_ENABLED: {
    kind: "ignored-harmless",
    origin: G,
    why: "wemixvisor runs the upgrades in its plan",
    refuseIf: (raw) =>
      bool(raw) === false
        ? "wemixvisor has no switch that turns upgrades off: cancel the pending ones (wemixvisor upgrade cancel) and remove this"
        : bool(raw) === undefined
        ? "expected true or false"
        : undefined
  },
  DAEMON_DEBUG: {
    kind: "same",
    origin: G,
    to: "WEMIXVISOR_LOG_LEVEL",
    convert: (raw) => asBool(raw, (debug) => Either.right(debug ? "debug" : "info"))
  },
  DAEMON_NETWORK: {
    kind: "refused",
    origin: G,
    why:
      "wemixvisor does not select a network; DAEMON_CHAIN_ID (1111 mainnet, 1112 testnet) makes upgrades check the node's chain: set that and remove this"
  },
  // wemixvisor's own older name; a file written with it is migrated (migrateDocument).
  DAEMON_HEIGHT_POLL_INTERVAL: { kind: "same", origin: ["an older wemixvisor"], to: "DAEMON_POLL_INTERVAL" }
}

const origins = (a: Alias) => a.origin.join(" and ")

/**
 * The environment with each foreign name read as wemixvisor's, and one note
 * per name used (to log once at start). An alias only fills a name that is
 * unset; set to another value, the two conflict and are refused. An empty
 * alias counts as unset, as in Cosmovisor.
 *
 * Only the environment: a config file is new to an operator coming from
 * Cosmovisor anyway, so it is written with wemixvisor's keys
 * (migrateDocument refuses foreign ones, naming the key to write).
 */
export const applyEnvAliases = (
  env: Readonly<Record<string, string | undefined>>
): Either.Either<
  { readonly env: Record<string, string | undefined>; readonly notes: ReadonlyArray<string> },
  AliasProblem
> => {
  const out: Record<string, string | undefined> = { ...env }
  const notes: Array<string> = []
  for (const [name, alias] of Object.entries(ALIASES)) {
    const raw = env[name]
    if (raw === undefined || raw.trim() === "") continue
    const fail = (problem: string) => Either.left({ variable: name, problem })
    switch (alias.kind) {
      case "refused":
        return fail(`is ${origins(alias)}'s name and means something else here: ${alias.why}`)
      case "ignored-harmless": {
        const refused = alias.refuseIf?.(raw)
        if (refused !== undefined) return fail(`(${origins(alias)}'s name) ${refused}`)
        notes.push(`${name}=${raw} (${origins(alias)}'s name) ignored: ${alias.why}`)
        break
      }
      case "same": {
        const converted = alias.convert === undefined ? Either.right(raw) : alias.convert(raw, env)
        if (Either.isLeft(converted)) return fail(`(${origins(alias)}'s name) ${converted.left}`)
        const value = converted.right
        const own = env[alias.to]
        if (own !== undefined && own.trim() !== "") {
          if (own.trim().toLowerCase() !== value.trim().toLowerCase()) {
            return fail(
              `${name}=${raw} (${
                origins(alias)
              }'s name, read as ${alias.to}=${value}) and ${alias.to}=${own} are both set: keep ${alias.to}`
            )
          }
          notes.push(`${name}=${raw} (${origins(alias)}'s name) agrees with ${alias.to}=${own}: remove it`)
          break
        }
        out[alias.to] = value
        notes.push(`${name}=${raw} (${origins(alias)}'s name) read as ${alias.to}=${value}`)
      }
    }
  }
  return Either.right({ env: out, notes })
}

// ---------------------------------------------------------------------------
// The config file's `version`.

/**
 * The config file format this wemixvisor writes and reads. A file without
 * `version` is version 1: every file written before the key existed.
 * Version 2 drops daemon_height_poll_interval for daemon_poll_interval.
 */
export const CONFIG_VERSION = 2

/** What changed from one version to the next: keys renamed (lower case, old → new). */
export interface Migration {
  readonly from: number
  readonly to: number
  readonly rename: Readonly<Record<string, string>>
}

export const MIGRATIONS: ReadonlyArray<Migration> = [
  { from: 1, to: 2, rename: { daemon_height_poll_interval: "daemon_poll_interval" } }
]

/**
 * A parsed config file brought to CONFIG_VERSION: older keys renamed (a
 * note each), `version` removed (the reader refuses keys it does not know).
 * Refused: a version that is not a whole number ≥ 1, one newer than this
 * wemixvisor's, a renamed key together with its new name, an old key in a
 * file that declares the version that dropped it, and foreign (Cosmovisor,
 * Go wemixvisor) keys — the reader's "did you mean" would guess, this names
 * the key to write.
 */
export const migrateDocument = (
  doc: Readonly<Record<string, unknown>>
): Either.Either<
  { readonly doc: Record<string, unknown>; readonly notes: ReadonlyArray<string> },
  AliasProblem
> => {
  const fail = (variable: string, problem: string) => Either.left({ variable, problem })
  const { version: declared, ...rest } = doc
  const version = declared === undefined ? 1 : typeof declared === "bigint" ? Number(declared) : declared
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    return fail(
      "version",
      `must be a whole number from 1 to ${CONFIG_VERSION} (got ${JSON.stringify(String(declared))})`
    )
  }
  if (version > CONFIG_VERSION) {
    return fail(
      "version",
      `is ${version}: the file was written for a newer wemixvisor (this one reads config versions up to ${CONFIG_VERSION}); upgrade wemixvisor`
    )
  }
  const out: Record<string, unknown> = { ...rest }
  const notes: Array<string> = []
  const find = (key: string) => Object.keys(out).find((k) => k.toLowerCase() === key)
  for (const step of MIGRATIONS) {
    for (const [oldKey, newKey] of Object.entries(step.rename)) {
      const found = find(oldKey)
      if (found === undefined) continue
      if (version >= step.to) {
        return fail(
          found,
          `was renamed ${newKey} in config version ${step.to}, which this file declares: write ${newKey}`
        )
      }
      if (find(newKey) !== undefined) {
        return fail(
          found,
          `and ${newKey} are both set (${newKey} replaced it in config version ${step.to}): keep ${newKey}`
        )
      }
      out[newKey] = out[found]
      delete out[found]
      notes.push(
        `${found} is now ${newKey} (config version ${step.to}): rename it and add version = ${CONFIG_VERSION} to stop this note`
      )
    }
  }
  for (const key of Object.keys(out)) {
    const alias = ALIASES[key.toUpperCase()]
    if (alias === undefined || key.toUpperCase() === "DAEMON_HEIGHT_POLL_INTERVAL") continue
    return fail(
      key,
      alias.kind === "same"
        ? `is ${origins(alias)}'s name; a config file takes wemixvisor's: write ${alias.to.toLowerCase()}${
          alias.convert === undefined ? "" : " (see docs/MIGRATING.md for its value)"
        }`
        : `is ${origins(alias)}'s name: ${alias.why}${alias.kind === "ignored-harmless" ? "; remove it" : ""}`
    )
  }
  return Either.right({ doc: out, notes })
}
