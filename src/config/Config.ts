import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as os from "node:os"
import * as path from "node:path"
import { ConfigInvalid } from "../domain/Errors.js"
import { type Layout, makeLayout } from "../domain/Layout.js"
import { ALIASES, applyEnvAliases } from "./Aliases.js"
import { type Channel, describeChannel, parseChannels } from "./Channels.js"
import { readConfigFile } from "./ConfigFile.js"
import { SETTINGS } from "./Keys.js"

export { CONFIG_FILES, type ConfigFileName } from "./ConfigFile.js"
export { closestKey, CONFIG_KEYS, CONFIG_NAMES, editDistance } from "./Keys.js"

/*
 * Configuration (ARCHITECTURE §4). Precedence: CLI flag > environment > config file
 * (config.toml, config.yaml or config.json) > default. Every value is parsed on its own so an error names the variable and
 * the value that was given; nothing runs with a value it could not read.
 */

export type OnUpgradeFailure = "rollback" | "halt"
export type LogFormat = "pretty" | "json"
export type LogLevel = "debug" | "info" | "warning" | "error"

export interface WemixvisorConfig {
  readonly home: string
  readonly daemonName: string
  readonly layout: Layout
  readonly rpcUrl: string
  readonly wsUrl: Option.Option<string>
  /** The chain the node must report (`eth_chainId`) for an upgrade to run; none: not checked. */
  readonly chainId: Option.Option<number>
  readonly pollInterval: Duration.Duration
  readonly shutdownGrace: Duration.Duration
  readonly restartDelay: Duration.Duration
  readonly restartMaxDelay: Duration.Duration
  readonly maxRestarts: number
  readonly restartWindow: Duration.Duration
  readonly upgradeDelay: Duration.Duration
  readonly verifyMinUp: Duration.Duration
  readonly verifyTimeout: Duration.Duration
  readonly verifyProgress: boolean
  readonly onUpgradeFailure: OnUpgradeFailure
  readonly versionArgs: ReadonlyArray<string>
  readonly backup: boolean
  readonly dataDir: string
  readonly backupKeep: number
  readonly allowDownloadBinaries: boolean
  readonly unsafeSkipChecksum: boolean
  readonly preStop: Option.Option<string>
  readonly preUpgrade: Option.Option<string>
  readonly preUpgradeMaxRetries: number
  readonly hookTimeout: Duration.Duration
  readonly apiAddr: string
  readonly apiToken: Option.Option<string>
  /** Host names (besides localhost, 127.0.0.1, [::1]) a loopback API answers to: the DNS-rebinding guard. */
  readonly apiHosts: ReadonlyArray<string>
  /** Origins (`scheme://host[:port]`) allowed to call the API from a browser page; none by default. */
  readonly apiCors: ReadonlyArray<string>
  readonly apiUrl: Option.Option<string>
  readonly logFormat: LogFormat
  /** The least severe log line written (a live setting: a reload changes it). */
  readonly logLevel: LogLevel
  /** upgrade-history.jsonl is rotated before an append would take it past this many bytes; 0: never. */
  readonly historyMaxSize: number
  /** Rotated history files kept (upgrade-history.N.jsonl.gz); 0: lines past the bound are dropped. */
  readonly historyKeep: number
  /** Governance (ARCHITECTURE §10): the registry whose events schedule and cancel upgrades; none: the source is off. */
  readonly governanceRegistry: Option.Option<`0x${string}`>
  /** An OpenZeppelin-compatible Governor whose proposals calling the registry are tracked; none: not tracked. */
  readonly governanceGovernor: Option.Option<`0x${string}`>
  /** Blocks an event must be buried under before it counts. */
  readonly governanceConfirmations: number
  /** The first block scanned on a home without a cursor; none: the head at first start. */
  readonly governanceFromBlock: Option.Option<number>
  /** How long the head may stand still before `node-stalled` and /health 503; none: max(60 s, 10 block intervals). */
  readonly stallAfter: Option.Option<Duration.Duration>
  /** Where events are sent (env WEMIXVISOR_NOTIFY_* and config.toml `[[notify]]`); none by default. */
  readonly notify: ReadonlyArray<Channel>
  /** Identical events within this window go out once, then as one summary; 0: every one. */
  readonly notifyCoalesce: Duration.Duration
  /** The bad values this command set aside (see `runOnly`), each with its default used instead; `run` has none. */
  readonly ignored: ReadonlyArray<ConfigInvalid>
  /** What was read under another name (Cosmovisor's, an older file's): one line each, logged by `run` at start. */
  readonly notes: ReadonlyArray<string>
  /** Each value as it was given (flag, env, file or default), keyed by env name: what `config` prints for durations. */
  readonly given: Readonly<Record<string, string>>
}

export class AppConfig extends Context.Tag("wemixvisor/AppConfig")<AppConfig, WemixvisorConfig>() {}

// ---------------------------------------------------------------------------
// Value parsers: string in, value or a problem out.

type Parse<A> = (raw: string) => Either.Either<A, string>

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * Durations as operators type them (`500ms`, `5s`, `2m`, `1h`, `1m30s`) and
 * Effect's own form (`5 seconds`). Effect's Config.duration rejects the former.
 */
export const parseDuration: Parse<Duration.Duration> = (raw) => {
  const s = raw.trim()
  if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) {
    let ms = 0
    for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!
    return Either.right(Duration.millis(ms))
  }
  if (/^\d+$/.test(s)) return Either.left("a duration needs a unit, e.g. 500ms, 5s, 2m, 1h")
  return Option.match(Duration.decodeUnknown(s), {
    onNone: () => Either.left("not a duration (use e.g. 500ms, 5s, 2m, 1h)"),
    onSome: (d) => Either.right(d)
  })
}

/** A duration above zero: a threshold of 0 would call every chain stalled. */
const parsePositiveDuration: Parse<Duration.Duration> = (raw) =>
  Either.flatMap(
    parseDuration(raw),
    (d) => Duration.toMillis(d) > 0 ? Either.right(d) : Either.left("must be above zero")
  )

const parseBool: Parse<boolean> = (raw) => {
  const s = raw.trim().toLowerCase()
  if (["true", "1", "yes", "on"].includes(s)) return Either.right(true)
  if (["false", "0", "no", "off", ""].includes(s)) return Either.right(false)
  return Either.left("expected true or false")
}

const parseCount: Parse<number> = (raw) =>
  /^\d+$/.test(raw.trim()) && Number.isSafeInteger(Number(raw.trim()))
    ? Either.right(Number(raw.trim()))
    : Either.left("expected a non-negative whole number")

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3
}

/**
 * A size in bytes: plain digits, or a number and a unit — KB, MB, GB (powers
 * of 1000) or KiB, MiB, GiB (powers of 1024), any case (`10MB`, `512KiB`,
 * `1.5 GB`). 0 turns rotation off; anything else below 1KiB is refused
 * (`10` meant as megabytes would rotate on every line).
 */
export const parseSize: Parse<number> = (raw) => {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(raw.trim())
  const unit = m === null ? undefined : SIZE_UNITS[m[2] === "" ? "b" : m[2]!.toLowerCase()]
  if (m === null || unit === undefined) {
    return Either.left("expected a size in bytes, or with a unit: KB, MB, GB, KiB, MiB, GiB (e.g. 10MB)")
  }
  const bytes = Math.floor(Number(m[1]) * unit)
  if (!Number.isSafeInteger(bytes)) return Either.left("too large")
  if (bytes !== 0 && bytes < 1024) return Either.left("must be 0 (never rotate) or at least 1KiB")
  return Either.right(bytes)
}

/** A chain id as `eth_chainId` reports it: a whole number above zero (decimal or 0x hex). */
export const parseChainId: Parse<number> = (raw) => {
  const s = raw.trim()
  const n = /^0x[0-9a-f]+$/i.test(s) ? Number.parseInt(s, 16) : /^\d+$/.test(s) ? Number(s) : NaN
  return Number.isSafeInteger(n) && n > 0 ? Either.right(n) : Either.left("expected a chain id, e.g. 1111")
}

/** A contract address: 0x and 40 hex digits, kept lower case (compared with what logs report). */
export const parseAddress: Parse<`0x${string}`> = (raw) => {
  const s = raw.trim()
  return /^0x[0-9a-fA-F]{40}$/.test(s)
    ? Either.right(s.toLowerCase() as `0x${string}`)
    : Either.left("expected a contract address: 0x and 40 hex digits")
}

const parseString: Parse<string> = (raw) => (raw === "" ? Either.left("must not be empty") : Either.right(raw))

const parseUrl = (...protocols: Array<string>): Parse<string> => (raw) => {
  try {
    const u = new URL(raw)
    return protocols.includes(u.protocol)
      ? Either.right(raw)
      : Either.left(`expected a ${protocols.map((p) => p.replace(":", "")).join(" or ")} URL`)
  } catch {
    return Either.left("not a URL")
  }
}

const parseOneOf = <const A extends string>(...values: ReadonlyArray<A>): Parse<A> => (raw) =>
  (values as ReadonlyArray<string>).includes(raw)
    ? Either.right(raw as A)
    : Either.left(`expected one of ${values.join(", ")}`)

const parseAbsolutePath: Parse<string> = (raw) =>
  raw === ""
    ? Either.left("must not be empty")
    : path.isAbsolute(raw)
    ? Either.right(raw)
    : Either.left("must be an absolute path")

const parseDaemonName: Parse<string> = (raw) =>
  /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(raw) ? Either.right(raw) : Either.left("must be a plain file name (no / or ..)")

/** `host:port`, `[v6]:port`. */
export const parseAddr: Parse<string> = (raw) => {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(raw)
  return m && Number(m[2]) <= 65535 ? Either.right(raw) : Either.left("expected host:port, e.g. 127.0.0.1:8590")
}

/** A comma-separated list, each item checked by `item`; empty items are ignored. */
const parseList = (item: Parse<string>): Parse<ReadonlyArray<string>> => (raw) => {
  const out: Array<string> = []
  for (const part of raw.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const parsed = item(part)
    if (Either.isLeft(parsed)) return Either.left(`${JSON.stringify(part)}: ${parsed.left}`)
    out.push(parsed.right)
  }
  return Either.right(out)
}

/** A host name or address as a Host header carries it, without the port (`node1.example`, `10.0.0.5`, `[fd00::1]`). */
const parseHostName: Parse<string> = (raw) => {
  const h = raw.toLowerCase().replace(/\.$/, "")
  return /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$/.test(h)
    ? Either.right(h.replace(/^\[(.*)\]$/, "$1"))
    : Either.left("expected a host name or address without a port, e.g. node1.example")
}

/** A web origin exactly as a browser sends it: `http(s)://host[:port]`, no path. */
const parseOrigin: Parse<string> = (raw) => {
  try {
    const u = new URL(raw)
    const bare = u.pathname === "/" && u.search === "" && u.hash === "" && u.username === "" && !raw.endsWith("/")
    return (u.protocol === "http:" || u.protocol === "https:") && bare
      ? Either.right(u.origin)
      : Either.left("expected an origin: http(s)://host[:port], with no path")
  } catch {
    return Either.left("expected an origin: http(s)://host[:port], with no path")
  }
}

const parseArgs: Parse<ReadonlyArray<string>> = (raw) => Either.right(raw.trim() === "" ? [] : raw.trim().split(/\s+/))

// ---------------------------------------------------------------------------

/** Where raw values come from, highest precedence first. */
export interface ConfigSources {
  /** Values from CLI flags, keyed by env name (e.g. DAEMON_HOME). */
  readonly flags?: Readonly<Record<string, string | undefined>>
  readonly env: Readonly<Record<string, string | undefined>>
}

interface Lookup {
  /** The raw value, or undefined. */
  readonly raw: (name: string, alias?: string) => string | undefined
  /** Where the raw value comes from: `flag`, `env` (`env <NAME>` read through an alias), the config file (`config.toml`, …) or `default`. */
  readonly from?: (name: string, alias?: string) => string
  /** Filled by `get` as values are read: the text each one was given as. */
  readonly given?: Record<string, string>
  /** Whether a bad value of this name may be set aside (its default used) instead of failing: see `runOnly`. */
  readonly tolerate?: (name: string) => boolean
  /** Filled with the errors set aside. */
  readonly ignored?: Array<ConfigInvalid>
}

/** `{ source }`: where the value of `name` came from, for the error about it. */
const sourceOf = (lookup: Lookup, name: string, alias?: string): { source?: string } => {
  const source = lookup.from?.(name, alias)
  return source === undefined ? {} : { source }
}

/**
 * `error` about `name`: fails, or — when the command does not read `name`
 * (Lookup.tolerate) — is set aside in `ignored` and `instead` is used.
 */
const refuse = <A>(lookup: Lookup, name: string, error: ConfigInvalid, instead: A): Effect.Effect<A, ConfigInvalid> => {
  if (lookup.tolerate?.(name) !== true) return Effect.fail(error)
  lookup.ignored?.push(error)
  return Effect.succeed(instead)
}

/** A value that parses but does not fit (with another, or a bound): refused as `refuse` does, or `instead`. */
const misfit = <A>(lookup: Lookup, name: string, fallback: string, problem: string, instead: A) =>
  refuse(
    lookup,
    name,
    new ConfigInvalid({ variable: name, value: lookup.raw(name) ?? fallback, problem, ...sourceOf(lookup, name) }),
    instead
  )

const get = <A>(lookup: Lookup, name: string, parse: Parse<A>, fallback: string, alias?: string) => {
  const raw = lookup.raw(name, alias) ?? fallback
  if (lookup.given !== undefined) lookup.given[name] = raw.trim()
  return Either.match(parse(raw), {
    onRight: Effect.succeed,
    onLeft: (problem) => {
      const error = new ConfigInvalid({ variable: name, value: raw, problem, ...sourceOf(lookup, name, alias) })
      const instead = parse(fallback)
      if (lookup.given !== undefined) lookup.given[name] = fallback
      return Either.isRight(instead) ? refuse(lookup, name, error, instead.right) : Effect.fail(error)
    }
  })
}

const getOptional = <A>(lookup: Lookup, name: string, parse: Parse<A>) => {
  const raw = lookup.raw(name)
  if (raw === undefined || raw === "") return Effect.succeed(Option.none<A>())
  return Either.match(parse(raw), {
    onRight: (a) => {
      if (lookup.given !== undefined) lookup.given[name] = raw.trim()
      return Effect.succeed(Option.some(a))
    },
    onLeft: (problem) =>
      refuse(
        lookup,
        name,
        new ConfigInvalid({ variable: name, value: raw, problem, ...sourceOf(lookup, name) }),
        Option.none<A>()
      )
  })
}

/** Tolerance for the commands that are not `run` (nor `config`, `config check`, which refuse any bad value). */
export const runOnly = (name: string): boolean =>
  // WEMIXVISOR_NOTIFY_: the channels' errors name the family, not one variable. Unknown file keys: no command reads them.
  SETTINGS[name]?.runOnly === true || name.startsWith("WEMIXVISOR_NOTIFY_") || name === UNKNOWN_KEY

/** `notify test`: as `runOnly`, but the notification settings are what it reads. */
export const runOnlyButNotify = (name: string): boolean => !name.startsWith("WEMIXVISOR_NOTIFY_") && runOnly(name)

/** What `tolerate` is asked about an unknown key of the config file. */
export const UNKNOWN_KEY = "(unknown key)"

/**
 * The effective configuration, or the first value that is wrong. With
 * `tolerate` (e.g. `runOnly`), a wrong value of a name it accepts takes its
 * default instead and is listed in `ignored`.
 */
export const loadConfig = (
  sources: ConfigSources,
  tolerate?: (name: string) => boolean
): Effect.Effect<WemixvisorConfig, ConfigInvalid> =>
  Effect.gen(function*() {
    const pick = (table: Readonly<Record<string, string | undefined>>, name: string, alias?: string) =>
      table[name] ?? (alias ? table[alias] : undefined)
    // Cosmovisor's and older names, read as ours (Aliases.ts); the flags' DAEMON_HOME for the paths they give.
    const homeFlag = sources.flags?.DAEMON_HOME
    const aliased = applyEnvAliases({ ...sources.env, ...(homeFlag === undefined ? {} : { DAEMON_HOME: homeFlag }) })
    if (Either.isLeft(aliased)) {
      const { variable, problem } = aliased.left
      return yield* new ConfigInvalid({ variable, value: sources.env[variable] ?? "", problem })
    }
    // An alias only fills a name that is unset: the environment first, then what the aliases filled.
    const filled = aliased.right.env
    /** The Cosmovisor (or older) env name that filled `name`, if one did. */
    const aliasOf = (name: string) =>
      Object.entries(ALIASES).find(([from, a]) => a.kind === "same" && a.to === name && sources.env[from] !== undefined)
        ?.[0]
    const origin = (n: string, a?: string) =>
      pick(sources.flags ?? {}, n, a) !== undefined
        ? "flag"
        : pick(sources.env, n, a) !== undefined
        ? "env"
        : pick(filled, n, a) !== undefined
        ? `env ${aliasOf(n) ?? n}`
        : "default"
    const early: Lookup = {
      raw: (n, a) => pick(sources.flags ?? {}, n, a) ?? pick(sources.env, n, a) ?? pick(filled, n, a),
      from: origin
    }

    const homeRaw = early.raw("DAEMON_HOME")
    if (homeRaw === undefined) {
      return yield* new ConfigInvalid({
        variable: "DAEMON_HOME",
        value: "",
        problem: "is required (the node's home folder)"
      })
    }
    const home = yield* get(early, "DAEMON_HOME", parseAbsolutePath, "")
    const file = yield* readConfigFile(path.join(home, "wemixvisor"))
    const given: Record<string, string> = {}
    const ignored: Array<ConfigInvalid> = []
    const lookup: Lookup = {
      raw: (n, a) => early.raw(n, a) ?? pick(file.values, n, a),
      from: (n, a) =>
        early.raw(n, a) === undefined && pick(file.values, n, a) !== undefined
          ? file.file ?? "config file"
          : origin(n, a),
      given,
      ...(tolerate === undefined ? {} : { tolerate }),
      ignored
    }
    for (const p of file.problems) yield* refuse(lookup, p.unknown ? UNKNOWN_KEY : p.key, p.error, undefined)

    if (lookup.raw("DAEMON_NAME") === undefined) {
      return yield* new ConfigInvalid({
        variable: "DAEMON_NAME",
        value: "",
        problem: "is required (the node binary's file name)"
      })
    }
    const daemonName = yield* get(lookup, "DAEMON_NAME", parseDaemonName, "")
    const apiAddr = yield* get(lookup, "WEMIXVISOR_API_ADDR", parseAddr, "127.0.0.1:8590")
    const apiToken = yield* getOptional(lookup, "WEMIXVISOR_API_TOKEN", parseString)
    const restartDelay = yield* get(lookup, "DAEMON_RESTART_DELAY", parseDuration, "1s")
    const restartMaxDelay = yield* Effect.flatMap(
      get(lookup, "DAEMON_RESTART_MAX_DELAY", parseDuration, "1m"),
      (d) =>
        Duration.lessThan(d, restartDelay)
          ? misfit(
            lookup,
            "DAEMON_RESTART_MAX_DELAY",
            "1m",
            `must not be shorter than DAEMON_RESTART_DELAY (${Duration.format(restartDelay)})`,
            restartDelay
          )
          : Effect.succeed(d)
    )
    const pollInterval = yield* Effect.flatMap(
      get(lookup, "DAEMON_POLL_INTERVAL", parseDuration, "300ms"),
      (d) =>
        Duration.toMillis(d) < 10
          ? misfit(lookup, "DAEMON_POLL_INTERVAL", "300ms", "must be at least 10ms", Duration.millis(300))
          : Effect.succeed(d)
    )

    return {
      home,
      daemonName,
      layout: makeLayout(home, daemonName),
      rpcUrl: yield* get(lookup, "DAEMON_RPC_URL", parseUrl("http:", "https:"), "http://127.0.0.1:8588"),
      wsUrl: yield* getOptional(lookup, "DAEMON_WS_URL", parseUrl("ws:", "wss:")),
      chainId: yield* getOptional(lookup, "DAEMON_CHAIN_ID", parseChainId),
      pollInterval,
      shutdownGrace: yield* get(lookup, "DAEMON_SHUTDOWN_GRACE", parseDuration, "30s"),
      restartDelay,
      restartMaxDelay,
      maxRestarts: yield* get(lookup, "DAEMON_MAX_RESTARTS", parseCount, "10"),
      restartWindow: yield* get(lookup, "DAEMON_RESTART_WINDOW", parseDuration, "10m"),
      upgradeDelay: yield* get(lookup, "DAEMON_UPGRADE_DELAY", parseDuration, "0s"),
      verifyMinUp: yield* get(lookup, "DAEMON_VERIFY_MIN_UP", parseDuration, "5s"),
      // A mainnet node with a large database can take minutes to open it and answer RPC.
      verifyTimeout: yield* get(lookup, "DAEMON_VERIFY_TIMEOUT", parseDuration, "5m"),
      verifyProgress: yield* get(lookup, "DAEMON_VERIFY_PROGRESS", parseBool, "false"),
      onUpgradeFailure: yield* get(lookup, "DAEMON_ON_UPGRADE_FAILURE", parseOneOf("rollback", "halt"), "rollback"),
      versionArgs: yield* get(lookup, "DAEMON_VERSION_ARGS", parseArgs, "version"),
      backup: yield* get(lookup, "DAEMON_BACKUP", parseBool, "false"),
      dataDir: yield* get(lookup, "DAEMON_DATA_DIR", parseAbsolutePath, path.join(home, "data")),
      backupKeep: yield* get(lookup, "DAEMON_BACKUP_KEEP", parseCount, "2"),
      allowDownloadBinaries: yield* get(lookup, "DAEMON_ALLOW_DOWNLOAD_BINARIES", parseBool, "false"),
      unsafeSkipChecksum: yield* get(lookup, "DAEMON_UNSAFE_SKIP_CHECKSUM", parseBool, "false"),
      preStop: yield* getOptional(lookup, "DAEMON_PRE_STOP", parseAbsolutePath),
      preUpgrade: yield* getOptional(lookup, "DAEMON_PRE_UPGRADE", parseAbsolutePath),
      preUpgradeMaxRetries: yield* get(lookup, "DAEMON_PRE_UPGRADE_MAX_RETRIES", parseCount, "0"),
      hookTimeout: yield* get(lookup, "DAEMON_HOOK_TIMEOUT", parseDuration, "5m"),
      apiAddr,
      apiToken,
      apiHosts: yield* get(lookup, "WEMIXVISOR_API_HOSTS", parseList(parseHostName), ""),
      apiCors: yield* get(lookup, "WEMIXVISOR_API_CORS", parseList(parseOrigin), ""),
      apiUrl: yield* getOptional(lookup, "WEMIXVISOR_API_URL", parseUrl("http:", "https:")),
      logFormat: yield* get(
        lookup,
        "WEMIXVISOR_LOG_FORMAT",
        parseOneOf("pretty", "json"),
        process.stderr.isTTY ? "pretty" : "json"
      ),
      logLevel: yield* get(lookup, "WEMIXVISOR_LOG_LEVEL", parseOneOf("debug", "info", "warning", "error"), "info"),
      historyMaxSize: yield* get(lookup, "WEMIXVISOR_HISTORY_MAX_SIZE", parseSize, "10MB"),
      historyKeep: yield* get(lookup, "WEMIXVISOR_HISTORY_KEEP", parseCount, "5"),
      stallAfter: yield* getOptional(lookup, "WEMIXVISOR_STALL_AFTER", parsePositiveDuration),
      governanceRegistry: yield* getOptional(lookup, "DAEMON_GOVERNANCE_REGISTRY", parseAddress),
      governanceGovernor: yield* getOptional(lookup, "DAEMON_GOVERNANCE_GOVERNOR", parseAddress),
      governanceConfirmations: yield* get(lookup, "DAEMON_GOVERNANCE_CONFIRMATIONS", parseCount, "5"),
      governanceFromBlock: yield* getOptional(lookup, "DAEMON_GOVERNANCE_FROM_BLOCK", parseCount),
      // Read without `given`: the values carry secrets, and `config` prints them redacted (describeChannel).
      notify: yield* Either.match(
        Either.mapLeft(
          parseChannels((n) => lookup.raw(n), file.notify, os.hostname(), file.file ?? "config.toml"),
          (e) => {
            // A WEMIXVISOR_NOTIFY_* value read from the file or the env: say so, as `get` does.
            const source = lookup.from?.(e.variable)
            return source === undefined || source === "default" || e.source !== undefined
              ? e
              : new ConfigInvalid({
                variable: e.variable,
                problem: e.problem,
                source,
                ...(e.value === undefined ? {} : { value: e.value })
              })
          }
        ),
        {
          onRight: (channels) => Effect.succeed(channels),
          onLeft: (e) => refuse<ReadonlyArray<Channel>>(lookup, "WEMIXVISOR_NOTIFY_", e, [])
        }
      ),
      notifyCoalesce: yield* get(lookup, "WEMIXVISOR_NOTIFY_COALESCE", parseDuration, "1m"),
      given,
      ignored,
      notes: [...aliased.right.notes, ...file.notes]
    } satisfies WemixvisorConfig
  })

/** The configuration as `config --json` prints it: env names in lower case, durations as text, the token hidden. */
export const describeConfig = (c: WemixvisorConfig): Record<string, string | number | boolean | null> => {
  // Durations as the operator typed them (`60s` stays `60s`, not `1m`).
  const given = (name: string, x: Duration.Duration) => c.given[name] ?? Duration.format(x)
  const o = (x: Option.Option<string>) => Option.getOrNull(x)
  return {
    daemon_home: c.home,
    daemon_name: c.daemonName,
    daemon_rpc_url: c.rpcUrl,
    daemon_ws_url: o(c.wsUrl),
    daemon_chain_id: Option.getOrNull(c.chainId),
    daemon_poll_interval: given("DAEMON_POLL_INTERVAL", c.pollInterval),
    daemon_shutdown_grace: given("DAEMON_SHUTDOWN_GRACE", c.shutdownGrace),
    daemon_restart_delay: given("DAEMON_RESTART_DELAY", c.restartDelay),
    daemon_restart_max_delay: given("DAEMON_RESTART_MAX_DELAY", c.restartMaxDelay),
    daemon_max_restarts: c.maxRestarts,
    daemon_restart_window: given("DAEMON_RESTART_WINDOW", c.restartWindow),
    daemon_upgrade_delay: given("DAEMON_UPGRADE_DELAY", c.upgradeDelay),
    daemon_verify_min_up: given("DAEMON_VERIFY_MIN_UP", c.verifyMinUp),
    daemon_verify_timeout: given("DAEMON_VERIFY_TIMEOUT", c.verifyTimeout),
    daemon_verify_progress: c.verifyProgress,
    daemon_on_upgrade_failure: c.onUpgradeFailure,
    daemon_version_args: c.versionArgs.join(" "),
    daemon_backup: c.backup,
    daemon_data_dir: c.dataDir,
    daemon_backup_keep: c.backupKeep,
    daemon_allow_download_binaries: c.allowDownloadBinaries,
    daemon_unsafe_skip_checksum: c.unsafeSkipChecksum,
    daemon_pre_stop: o(c.preStop),
    daemon_pre_upgrade: o(c.preUpgrade),
    daemon_pre_upgrade_max_retries: c.preUpgradeMaxRetries,
    daemon_hook_timeout: given("DAEMON_HOOK_TIMEOUT", c.hookTimeout),
    wemixvisor_api_addr: c.apiAddr,
    wemixvisor_api_token: Option.isSome(c.apiToken) ? "(set)" : null,
    wemixvisor_api_hosts: c.apiHosts.join(","),
    wemixvisor_api_cors: c.apiCors.join(","),
    wemixvisor_api_url: o(c.apiUrl),
    wemixvisor_log_format: c.logFormat,
    wemixvisor_log_level: c.logLevel,
    wemixvisor_history_max_size: c.given["WEMIXVISOR_HISTORY_MAX_SIZE"] ?? String(c.historyMaxSize),
    wemixvisor_history_keep: c.historyKeep,
    // null: max(60s, 10 block intervals), from the measured pace.
    daemon_governance_registry: o(c.governanceRegistry),
    daemon_governance_governor: o(c.governanceGovernor),
    daemon_governance_confirmations: c.governanceConfirmations,
    daemon_governance_from_block: Option.getOrNull(c.governanceFromBlock),
    wemixvisor_stall_after: Option.isSome(c.stallAfter) ? given("WEMIXVISOR_STALL_AFTER", c.stallAfter.value) : null,
    // One line per channel, `name (kind): where`, secrets hidden.
    wemixvisor_notify: c.notify.length === 0
      ? null
      : c.notify.map((ch) => `${ch.name} (${ch.kind}): ${describeChannel(ch)}`).join("; "),
    wemixvisor_notify_coalesce: given("WEMIXVISOR_NOTIFY_COALESCE", c.notifyCoalesce)
  }
}

/** A layer for tests and for the CLI once the sources are known. */
export const layer = (sources: ConfigSources): Layer.Layer<AppConfig, ConfigInvalid> =>
  Layer.effect(AppConfig, loadConfig(sources))
