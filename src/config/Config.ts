import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parse as parseToml, TomlError } from "smol-toml"
import { parse as parseYaml, YAMLParseError } from "yaml"
import { ConfigInvalid } from "../domain/Errors.js"
import { type Layout, makeLayout } from "../domain/Layout.js"
import { isErrno } from "../platform/Errno.js"
import { type Channel, describeChannel, parseChannels } from "./Channels.js"

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
  /** How long the head may stand still before `node-stalled` and /health 503; none: max(60 s, 10 block intervals). */
  readonly stallAfter: Option.Option<Duration.Duration>
  /** Where events are sent (env WEMIXVISOR_NOTIFY_* and config.toml `[[notify]]`); none by default. */
  readonly notify: ReadonlyArray<Channel>
  /** Identical events within this window go out once, then as one summary; 0: every one. */
  readonly notifyCoalesce: Duration.Duration
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
  /** The config file the raw value was read from (`config.toml`, …); undefined: a flag, the env or the default. */
  readonly from?: (name: string, alias?: string) => string | undefined
  /** Filled by `get` as values are read: the text each one was given as. */
  readonly given?: Record<string, string>
}

/** `{ source }` when the value of `name` came from a config file: errors on it then say so. */
const sourceOf = (lookup: Lookup, name: string, alias?: string): { source?: string } => {
  const source = lookup.from?.(name, alias)
  return source === undefined ? {} : { source }
}

const get = <A>(lookup: Lookup, name: string, parse: Parse<A>, fallback: string, alias?: string) => {
  const raw = lookup.raw(name, alias) ?? fallback
  if (lookup.given !== undefined) lookup.given[name] = raw.trim()
  return Effect.mapError(
    parse(raw),
    (problem) => new ConfigInvalid({ variable: name, value: raw, problem, ...sourceOf(lookup, name, alias) })
  )
}

const getOptional = <A>(lookup: Lookup, name: string, parse: Parse<A>) => {
  const raw = lookup.raw(name)
  if (raw !== undefined && raw !== "" && lookup.given !== undefined) lookup.given[name] = raw.trim()
  return raw === undefined || raw === ""
    ? Effect.succeed(Option.none<A>())
    : parse(raw).pipe(
      Effect.mapBoth({
        onFailure: (problem) => new ConfigInvalid({ variable: name, value: raw, problem, ...sourceOf(lookup, name) }),
        onSuccess: Option.some
      })
    )
}

/**
 * Every env name loadConfig reads, aliases and the notification ones
 * included: in lower case, the keys a config file may set (besides
 * `notify`). One list; a test runs loadConfig and checks that every name it
 * looks up is here.
 */
export const CONFIG_NAMES: ReadonlyArray<string> = [
  "DAEMON_HOME",
  "DAEMON_NAME",
  "DAEMON_RPC_URL",
  "DAEMON_WS_URL",
  "DAEMON_CHAIN_ID",
  "DAEMON_POLL_INTERVAL",
  "DAEMON_HEIGHT_POLL_INTERVAL",
  "DAEMON_SHUTDOWN_GRACE",
  "DAEMON_RESTART_DELAY",
  "DAEMON_RESTART_MAX_DELAY",
  "DAEMON_MAX_RESTARTS",
  "DAEMON_RESTART_WINDOW",
  "DAEMON_UPGRADE_DELAY",
  "DAEMON_VERIFY_MIN_UP",
  "DAEMON_VERIFY_TIMEOUT",
  "DAEMON_VERIFY_PROGRESS",
  "DAEMON_ON_UPGRADE_FAILURE",
  "DAEMON_VERSION_ARGS",
  "DAEMON_BACKUP",
  "DAEMON_DATA_DIR",
  "DAEMON_BACKUP_KEEP",
  "DAEMON_ALLOW_DOWNLOAD_BINARIES",
  "DAEMON_UNSAFE_SKIP_CHECKSUM",
  "DAEMON_PRE_STOP",
  "DAEMON_PRE_UPGRADE",
  "DAEMON_PRE_UPGRADE_MAX_RETRIES",
  "DAEMON_HOOK_TIMEOUT",
  "WEMIXVISOR_API_ADDR",
  "WEMIXVISOR_API_TOKEN",
  "WEMIXVISOR_API_HOSTS",
  "WEMIXVISOR_API_CORS",
  "WEMIXVISOR_API_URL",
  "WEMIXVISOR_LOG_FORMAT",
  "WEMIXVISOR_LOG_LEVEL",
  "WEMIXVISOR_HISTORY_MAX_SIZE",
  "WEMIXVISOR_HISTORY_KEEP",
  "WEMIXVISOR_STALL_AFTER",
  "WEMIXVISOR_NOTIFY_EVENTS",
  "WEMIXVISOR_NOTIFY_WEBHOOK",
  "WEMIXVISOR_NOTIFY_WEBHOOK_SECRET",
  "WEMIXVISOR_NOTIFY_SLACK",
  "WEMIXVISOR_NOTIFY_DISCORD",
  "WEMIXVISOR_NOTIFY_TELEGRAM",
  "WEMIXVISOR_NOTIFY_TELEGRAM_API",
  "WEMIXVISOR_NOTIFY_SMTP",
  "WEMIXVISOR_NOTIFY_EMAIL_TO",
  "WEMIXVISOR_NOTIFY_EMAIL_FROM",
  "WEMIXVISOR_NOTIFY_COALESCE"
]

/** The keys of a config file: the env names in lower case, and `notify` (the channel tables). */
export const CONFIG_KEYS: ReadonlyArray<string> = [...CONFIG_NAMES.map((n) => n.toLowerCase()), "notify"]

/** The config files of `$DAEMON_HOME/wemixvisor/`; at most one may be there. */
export const CONFIG_FILES = ["config.toml", "config.yaml", "config.json"] as const
export type ConfigFileName = typeof CONFIG_FILES[number]

interface FileConfig {
  /** Which file it was; undefined: there is none. */
  readonly file: ConfigFileName | undefined
  /** The top-level keys, upper-cased: env names. */
  readonly values: Record<string, string>
  /** The `notify` tables (`[[notify]]` in TOML, a list of objects in YAML and JSON), as written. */
  readonly notify: ReadonlyArray<Readonly<Record<string, unknown>>>
}

/** Levenshtein distance: the fewest one-character edits that turn `a` into `b`. */
export const editDistance = (a: string, b: string): number => {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length]!
}

/** The known key nearest to `key` (the first of equals, in CONFIG_KEYS order). */
export const closestKey = (key: string): string => {
  let best = CONFIG_KEYS[0]!
  let bestDistance = Infinity
  for (const k of CONFIG_KEYS) {
    const d = editDistance(key.toLowerCase(), k)
    if (d < bestDistance) [best, bestDistance] = [k, d]
  }
  return best
}

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date)

const at = (line: number, column: number) => `line ${line}, column ${column}: `

/** The file's text as a plain value, or what is wrong with it: the parser's first line, after the line it names. */
const parseConfigText = (file: ConfigFileName, text: string): Either.Either<unknown, string> => {
  try {
    switch (file) {
      case "config.toml":
        return Either.right(parseToml(text))
      case "config.yaml":
        return Either.right(parseYaml(text) ?? {})
      case "config.json":
        return Either.right(JSON.parse(text))
    }
  } catch (e) {
    const first = (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "parse error"
    if (e instanceof TomlError) return Either.left(at(e.line, e.column) + first)
    if (e instanceof YAMLParseError && e.linePos !== undefined) {
      return Either.left(at(e.linePos[0].line, e.linePos[0].col) + first.replace(/ at line \d+, column \d+:?$/, ""))
    }
    // Node 20's JSON.parse gives an offset ("… in JSON at position 42"); later ones also a line.
    const pos = /at position (\d+)/.exec(first)
    if (pos !== null) {
      const before = text.slice(0, Number(pos[1])).split("\n")
      return Either.left(at(before.length, before[before.length - 1]!.length + 1) + first)
    }
    return Either.left(first)
  }
}

/**
 * A parsed config file, whatever its format, as env-name values and notify
 * tables: the same keys in each, unknown ones refused with the nearest known.
 */
const fromDocument = (file: ConfigFileName, where: string, doc: unknown): Either.Either<FileConfig, ConfigInvalid> => {
  // `withValue` false: no `="…"` in the message (an unknown key's value could be a misplaced secret).
  const fail = (variable: string, problem: string, withValue = true) =>
    Either.left(new ConfigInvalid({ variable, problem, ...(withValue ? { value: where } : {}) }))
  if (!isTable(doc)) return fail(file, "must be a table of keys (the env names in lower case)")
  const values: Record<string, string> = {}
  let notify: ReadonlyArray<Record<string, unknown>> = []
  for (const [k, v] of Object.entries(doc)) {
    if (k === "notify") {
      if (!Array.isArray(v) || !v.every(isTable)) {
        return fail(
          `${file} notify`,
          file === "config.toml"
            ? "must be [[notify]] tables, one per channel"
            : "must be a list of tables, one per channel"
        )
      }
      notify = v
      continue
    }
    if (isTable(v)) {
      return fail(
        `${file} ${k}`,
        "tables are not supported (but notify); keys are the env names in lower case"
      )
    }
    if (!CONFIG_NAMES.includes(k.toUpperCase())) {
      return fail(`${file} key ${k}`, `unknown key (did you mean ${closestKey(k)}?)`, false)
    }
    if (v === null) return fail(`${file} ${k}`, "has no value (leave the key out for the default)")
    values[k.toUpperCase()] = Array.isArray(v) ? v.join(" ") : String(v)
  }
  return Either.right({ file, values, notify })
}

/** The config file of `dir`, if there is one; two or more are refused (which one would win is not obvious). */
const readConfigFile = (dir: string): Effect.Effect<FileConfig, ConfigInvalid> =>
  Effect.suspend(() => {
    const found: Array<{ readonly file: ConfigFileName; readonly text: string }> = []
    for (const file of CONFIG_FILES) {
      try {
        found.push({ file, text: fs.readFileSync(path.join(dir, file), "utf8") })
      } catch (e) {
        if (!isErrno(e, "ENOENT")) {
          return Effect.fail(new ConfigInvalid({ variable: file, value: path.join(dir, file), problem: String(e) }))
        }
      }
    }
    if (found.length === 0) return Effect.succeed({ file: undefined, values: {}, notify: [] })
    if (found.length > 1) {
      return Effect.fail(
        new ConfigInvalid({
          variable: "config file",
          problem: `${found.map((f) => path.join(dir, f.file)).join(" and ")} are ${
            found.length === 2 ? "both" : "all"
          } present: keep one`
        })
      )
    }
    const { file, text } = found[0]!
    const where = path.join(dir, file)
    return Either.flatMap(
      Either.mapLeft(parseConfigText(file, text), (problem) =>
        new ConfigInvalid({ variable: file, value: where, problem })),
      (doc) =>
        fromDocument(file, where, doc)
    )
  })

/** The effective configuration, or the first value that is wrong. */
export const loadConfig = (sources: ConfigSources): Effect.Effect<WemixvisorConfig, ConfigInvalid> =>
  Effect.gen(function*() {
    const pick = (table: Readonly<Record<string, string | undefined>>, name: string, alias?: string) =>
      table[name] ?? (alias ? table[alias] : undefined)
    const early: Lookup = { raw: (n, a) => pick(sources.flags ?? {}, n, a) ?? pick(sources.env, n, a) }

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
    const lookup: Lookup = {
      raw: (n, a) => early.raw(n, a) ?? pick(file.values, n, a),
      from: (n, a) => (early.raw(n, a) === undefined && pick(file.values, n, a) !== undefined ? file.file : undefined),
      given
    }

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
    const restartMaxDelay = yield* get(lookup, "DAEMON_RESTART_MAX_DELAY", parseDuration, "1m")
    if (Duration.lessThan(restartMaxDelay, restartDelay)) {
      return yield* new ConfigInvalid({
        variable: "DAEMON_RESTART_MAX_DELAY",
        value: lookup.raw("DAEMON_RESTART_MAX_DELAY") ?? "1m",
        problem: `must not be shorter than DAEMON_RESTART_DELAY (${Duration.format(restartDelay)})`,
        ...sourceOf(lookup, "DAEMON_RESTART_MAX_DELAY")
      })
    }
    const pollInterval = yield* get(
      lookup,
      "DAEMON_POLL_INTERVAL",
      parseDuration,
      "300ms",
      "DAEMON_HEIGHT_POLL_INTERVAL"
    )
    if (Duration.toMillis(pollInterval) < 10) {
      return yield* new ConfigInvalid({
        variable: "DAEMON_POLL_INTERVAL",
        value: lookup.raw("DAEMON_POLL_INTERVAL", "DAEMON_HEIGHT_POLL_INTERVAL") ?? "",
        problem: "must be at least 10ms",
        ...sourceOf(lookup, "DAEMON_POLL_INTERVAL", "DAEMON_HEIGHT_POLL_INTERVAL")
      })
    }

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
      // Read without `given`: the values carry secrets, and `config` prints them redacted (describeChannel).
      notify: yield* Either.mapLeft(
        parseChannels((n) => lookup.raw(n), file.notify, os.hostname(), file.file ?? "config.toml"),
        (e) => {
          // A WEMIXVISOR_NOTIFY_* value read from the file: say so, as `get` does.
          const source = lookup.from?.(e.variable)
          return source === undefined || e.source !== undefined
            ? e
            : new ConfigInvalid({
              variable: e.variable,
              problem: e.problem,
              source,
              ...(e.value === undefined ? {} : { value: e.value })
            })
        }
      ),
      notifyCoalesce: yield* get(lookup, "WEMIXVISOR_NOTIFY_COALESCE", parseDuration, "1m"),
      given
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
