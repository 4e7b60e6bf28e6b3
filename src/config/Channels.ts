import * as Either from "effect/Either"
import { ConfigInvalid } from "../domain/Errors.js"
import { EVENT_TYPES, type EventType, SEVERITIES, type Severity } from "../events/Events.js"

/*
 * Notification channels (docs/NOTIFICATIONS.md): what the operator configured,
 * from the env (one channel of each kind) and from the `notify` tables of the
 * config file (`[[notify]]` in config.toml, a `notify` list in config.yaml or
 * config.json; any number, each with its own events and minimum severity).
 * Parsed once, with the config; a wrong value names its variable or its
 * table and never echoes a secret.
 */

export type ChannelKind = "webhook" | "slack" | "discord" | "telegram" | "email"
export const CHANNEL_KINDS: ReadonlyArray<ChannelKind> = ["webhook", "slack", "discord", "telegram", "email"]

/** The events sent when nothing says otherwise: what an operator must act on or should know. */
export const DEFAULT_EVENTS: ReadonlyArray<EventType> = [
  "upgrade-started",
  "upgrade-completed",
  "upgrade-failed",
  "rollback-completed",
  "upgrade-problem",
  "upgrade-soon",
  "node-error",
  "node-stalled",
  "plan-invalid",
  "height-passed-blind",
  // A vote passed an upgrade: it will be scheduled with no operator action, and its binary must be in place by then.
  "proposal-succeeded"
]

interface Common {
  /** The channel's name in `notify test`, the logs and `wemixvisor_notifications_total{channel}`. */
  readonly name: string
  readonly events: ReadonlySet<EventType>
  readonly minSeverity: Severity
}

export type Channel =
  | Common & { readonly kind: "webhook"; readonly url: string; readonly secret: string | null }
  | Common & { readonly kind: "slack" | "discord"; readonly url: string }
  | Common & { readonly kind: "telegram"; readonly token: string; readonly chatId: string; readonly api: string }
  | Common & {
    readonly kind: "email"
    readonly smtp: string
    readonly to: ReadonlyArray<string>
    readonly from: string
  }

/** The Telegram Bot API (WEMIXVISOR_NOTIFY_TELEGRAM_API: a self-hosted Bot API server instead). */
export const TELEGRAM_API = "https://api.telegram.org"

// ---------------------------------------------------------------------------
// Hiding secrets

/** `scheme://host[:port]/…`: a webhook URL's path and query are its secret (Slack, Discord, most receivers). */
export const redactUrl = (raw: string): string => {
  try {
    const u = new URL(raw)
    return `${u.protocol}//${u.host}${u.pathname === "/" && u.search === "" ? "/" : "/…"}`
  } catch {
    return "(hidden)"
  }
}

/** `smtp(s)://user:…@host:port`: the password hidden, the rest as given. */
export const redactSmtp = (raw: string): string => {
  try {
    const u = new URL(raw)
    const user = u.username === "" ? "" : `${decodeURIComponent(u.username)}${u.password === "" ? "" : ":…"}@`
    return `${u.protocol}//${user}${u.host}`
  } catch {
    return "(hidden)"
  }
}

/** Where a channel sends, secrets hidden: what `config`, `notify test` and the logs show. */
export const describeChannel = (c: Channel): string => {
  switch (c.kind) {
    case "webhook":
      return `${redactUrl(c.url)}${c.secret === null ? "" : " (signed)"}`
    case "slack":
    case "discord":
      return redactUrl(c.url)
    case "telegram":
      return `chat ${c.chatId} via ${redactUrl(c.api)}`
    case "email":
      return `${c.to.join(", ")} via ${redactSmtp(c.smtp)}`
  }
}

/** The secrets of a channel, to scrub from any text that could carry them (an error from a library). */
export const secretsOf = (c: Channel): ReadonlyArray<string> => {
  const fromUrl = (raw: string) => {
    try {
      const u = new URL(raw)
      return [u.password, decodeURIComponent(u.password), u.pathname.length > 1 ? u.pathname : "", u.search.slice(1)]
    } catch {
      return [raw]
    }
  }
  const all = (() => {
    switch (c.kind) {
      case "webhook":
        return [...fromUrl(c.url), c.secret ?? ""]
      case "slack":
      case "discord":
        return fromUrl(c.url)
      case "telegram":
        return [c.token]
      case "email":
        return fromUrl(c.smtp)
    }
  })()
  return all.filter((s) => s.length >= 4)
}

/** `text` with every secret of `c` replaced by `…`. */
export const scrub = (c: Channel, text: string): string =>
  secretsOf(c).reduce((t, secret) => t.split(secret).join("…"), text)

// ---------------------------------------------------------------------------
// Parsing

type Problem = { readonly variable: string; readonly value: string; readonly problem: string }
const problem = (variable: string, value: string, why: string): Either.Either<never, ConfigInvalid> =>
  Either.left(new ConfigInvalid({ variable, value, problem: why } satisfies Problem))

const httpUrl = (variable: string, raw: string): Either.Either<string, ConfigInvalid> => {
  try {
    const u = new URL(raw.trim())
    if (u.protocol === "http:" || u.protocol === "https:") return Either.right(u.toString())
    return problem(variable, redactUrl(raw), "must be an http:// or https:// URL")
  } catch {
    return problem(variable, "(hidden)", "is not a URL")
  }
}

const smtpUrl = (variable: string, raw: string): Either.Either<string, ConfigInvalid> => {
  try {
    const u = new URL(raw.trim())
    if ((u.protocol === "smtp:" || u.protocol === "smtps:") && u.hostname !== "") return Either.right(raw.trim())
    return problem(variable, redactSmtp(raw), "must be smtp://[user:pass@]host[:port] or smtps://…")
  } catch {
    return problem(variable, "(hidden)", "is not a URL (smtp://[user:pass@]host[:port] or smtps://…)")
  }
}

/** `bot<token>:<chat id>`; the token itself is `<bot id>:<secret>`, the chat id is after the last colon. */
const telegram = (variable: string, raw: string): Either.Either<{ token: string; chatId: string }, ConfigInvalid> => {
  const m = /^bot(\d+:[A-Za-z0-9_-]+):(-?\d+|@[A-Za-z0-9_]+)$/.exec(raw.trim())
  return m === null
    ? problem(variable, "(hidden)", "expected bot<token>:<chat id>, e.g. bot123456:ABC-DEF:-1001234567")
    : Either.right({ token: m[1]!, chatId: m[2]! })
}

const address = /^[^\s@,]+@[^\s@,]+$/
const addresses = (variable: string, raw: string): Either.Either<ReadonlyArray<string>, ConfigInvalid> => {
  const list = raw.split(",").map((s) => s.trim()).filter((s) => s !== "")
  if (list.length === 0) return problem(variable, raw, "needs at least one e-mail address")
  const bad = list.find((a) => !address.test(a))
  return bad === undefined
    ? Either.right(list)
    : problem(variable, raw, `${JSON.stringify(bad)} is not an e-mail address`)
}

/** `all`, or event types separated by commas or spaces. */
export const parseEvents = (variable: string, raw: string): Either.Either<ReadonlySet<EventType>, ConfigInvalid> => {
  const words = raw.split(/[\s,]+/).filter((w) => w !== "")
  if (words.length === 1 && words[0] === "all") return Either.right(new Set(EVENT_TYPES))
  if (words.length === 0) return problem(variable, raw, "needs at least one event type, or all")
  const unknown = words.filter((w) => !(EVENT_TYPES as ReadonlyArray<string>).includes(w))
  return unknown.length > 0
    ? problem(variable, raw, `unknown event type ${unknown.join(", ")} (known: all, ${EVENT_TYPES.join(", ")})`)
    : Either.right(new Set(words as Array<EventType>))
}

const severity = (variable: string, raw: string): Either.Either<Severity, ConfigInvalid> =>
  (SEVERITIES as ReadonlyArray<string>).includes(raw)
    ? Either.right(raw as Severity)
    : problem(variable, raw, `expected one of ${SEVERITIES.join(", ")}`)

/** The env's channels: one of each kind that is set. */
export const channelsFromEnv = (
  raw: (name: string) => string | undefined,
  host: string
): Either.Either<ReadonlyArray<Channel>, ConfigInvalid> =>
  Either.gen(function*() {
    const set = (name: string) => {
      const v = raw(name)
      return v === undefined || v.trim() === "" ? undefined : v
    }
    const eventsRaw = set("WEMIXVISOR_NOTIFY_EVENTS")
    const events = eventsRaw === undefined
      ? new Set(DEFAULT_EVENTS)
      : yield* parseEvents("WEMIXVISOR_NOTIFY_EVENTS", eventsRaw)
    const common = (name: string) => ({ name, events, minSeverity: "info" as const })
    const out: Array<Channel> = []
    const webhook = set("WEMIXVISOR_NOTIFY_WEBHOOK")
    if (webhook !== undefined) {
      out.push({
        ...common("webhook"),
        kind: "webhook",
        url: yield* httpUrl("WEMIXVISOR_NOTIFY_WEBHOOK", webhook),
        secret: set("WEMIXVISOR_NOTIFY_WEBHOOK_SECRET") ?? null
      })
    } else if (set("WEMIXVISOR_NOTIFY_WEBHOOK_SECRET") !== undefined) {
      return yield* problem("WEMIXVISOR_NOTIFY_WEBHOOK_SECRET", "(hidden)", "is set without WEMIXVISOR_NOTIFY_WEBHOOK")
    }
    for (const kind of ["slack", "discord"] as const) {
      const variable = `WEMIXVISOR_NOTIFY_${kind.toUpperCase()}`
      const url = set(variable)
      if (url !== undefined) out.push({ ...common(kind), kind, url: yield* httpUrl(variable, url) })
    }
    const tg = set("WEMIXVISOR_NOTIFY_TELEGRAM")
    if (tg !== undefined) {
      const api = yield* httpUrl(
        "WEMIXVISOR_NOTIFY_TELEGRAM_API",
        set("WEMIXVISOR_NOTIFY_TELEGRAM_API") ?? TELEGRAM_API
      )
      out.push({ ...common("telegram"), kind: "telegram", api, ...(yield* telegram("WEMIXVISOR_NOTIFY_TELEGRAM", tg)) })
    }
    const smtp = set("WEMIXVISOR_NOTIFY_SMTP")
    if (smtp !== undefined) {
      const server = yield* smtpUrl("WEMIXVISOR_NOTIFY_SMTP", smtp)
      const to = set("WEMIXVISOR_NOTIFY_EMAIL_TO")
      if (to === undefined) {
        return yield* problem(
          "WEMIXVISOR_NOTIFY_EMAIL_TO",
          "",
          "is required with WEMIXVISOR_NOTIFY_SMTP (who gets the mail)"
        )
      }
      out.push({
        ...common("email"),
        kind: "email",
        smtp: server,
        to: yield* addresses("WEMIXVISOR_NOTIFY_EMAIL_TO", to),
        from: (yield* addresses(
          "WEMIXVISOR_NOTIFY_EMAIL_FROM",
          set("WEMIXVISOR_NOTIFY_EMAIL_FROM") ?? `wemixvisor@${host}`
        ))[0]!
      })
    }
    return out
  })

const TABLE_KEYS: Record<ChannelKind, ReadonlyArray<string>> = {
  webhook: ["url", "secret"],
  slack: ["url"],
  discord: ["url"],
  telegram: ["bot", "api"],
  email: ["smtp", "to", "from"]
}
const COMMON_KEYS = ["type", "name", "events", "min_severity"]

/** How errors name the `i`th (from 1) notify table of `file`: `config.toml [[notify]] #2`, `config.yaml notify #2`. */
const tableName = (file: string, i: number) => `${file} ${file === "config.toml" ? "[[notify]]" : "notify"} #${i}`

/** One notify table of the config file (the `i`th, from 1), e.g. `type = "slack"`, `url = "…"`, `events = [...]`. */
const channelFromTable = (
  table: Readonly<Record<string, unknown>>,
  i: number,
  host: string,
  file: string
): Either.Either<Channel, ConfigInvalid> =>
  Either.gen(function*() {
    const where = (key: string) => `${tableName(file, i)} ${key}`
    const str = (key: string): Either.Either<string | undefined, ConfigInvalid> => {
      const v = table[key]
      if (v === undefined) return Either.right(undefined)
      if (typeof v === "string") return Either.right(v)
      // The two list keys also take a list of strings, read as their comma-separated form.
      const listKey = key === "to" || key === "events"
      if (listKey && Array.isArray(v) && v.every((x) => typeof x === "string")) return Either.right(v.join(","))
      return problem(where(key), "(not text)", "must be a string")
    }
    const required = (key: string) =>
      Either.flatMap(str(key), (v) => (v === undefined ? problem(where(key), "", "is required") : Either.right(v)))

    const kindRaw = yield* required("type")
    if (!(CHANNEL_KINDS as ReadonlyArray<string>).includes(kindRaw)) {
      return yield* problem(where("type"), kindRaw, `expected one of ${CHANNEL_KINDS.join(", ")}`)
    }
    const kind = kindRaw as ChannelKind
    const allowed = [...COMMON_KEYS, ...TABLE_KEYS[kind]]
    const unknown = Object.keys(table).find((k) => !allowed.includes(k))
    if (unknown !== undefined) {
      return yield* problem(where(unknown), "", `is not a key of a ${kind} channel (keys: ${allowed.join(", ")})`)
    }
    const eventsRaw = yield* str("events")
    const minRaw = yield* str("min_severity")
    const common = {
      name: (yield* str("name")) ?? kind,
      events: eventsRaw === undefined ? new Set(DEFAULT_EVENTS) : yield* parseEvents(where("events"), eventsRaw),
      minSeverity: minRaw === undefined ? ("info" as const) : yield* severity(where("min_severity"), minRaw)
    }
    switch (kind) {
      case "webhook":
        return {
          ...common,
          kind,
          url: yield* httpUrl(where("url"), yield* required("url")),
          secret: (yield* str("secret")) ?? null
        }
      case "slack":
      case "discord":
        return { ...common, kind, url: yield* httpUrl(where("url"), yield* required("url")) }
      case "telegram":
        return {
          ...common,
          kind,
          api: yield* httpUrl(where("api"), (yield* str("api")) ?? TELEGRAM_API),
          ...(yield* telegram(where("bot"), yield* required("bot")))
        }
      case "email":
        return {
          ...common,
          kind,
          smtp: yield* smtpUrl(where("smtp"), yield* required("smtp")),
          to: yield* addresses(where("to"), yield* required("to")),
          from: (yield* addresses(where("from"), (yield* str("from")) ?? `wemixvisor@${host}`))[0]!
        }
    }
  })

/**
 * Every channel: the env's, then the config file's notify tables (`file`
 * names it in errors). Names
 * must be unique (they label the metric); a second channel of a kind needs
 * its own `name`.
 */
export const parseChannels = (
  raw: (name: string) => string | undefined,
  tables: ReadonlyArray<Readonly<Record<string, unknown>>>,
  host: string,
  file: string = "config.toml"
): Either.Either<ReadonlyArray<Channel>, ConfigInvalid> =>
  Either.gen(function*() {
    const out = [...(yield* channelsFromEnv(raw, host))]
    for (const [i, table] of tables.entries()) {
      const c = yield* channelFromTable(table, i + 1, host, file)
      if (out.some((o) => o.name === c.name)) {
        return yield* problem(
          `${tableName(file, i + 1)} name`,
          c.name,
          "another channel has this name (give each channel of a kind its own name)"
        )
      }
      out.push(c)
    }
    return out
  })
