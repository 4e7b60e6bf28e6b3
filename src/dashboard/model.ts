/*
 * The dashboard's logic without the DOM: the shapes the API answers (as the
 * page reads them, every field it shows possibly absent), the schedule form
 * → request body, an answer → the words shown, the SSE frame parser, the
 * reconnect backoff and the formatting of durations and of governance
 * proposals. Imported by the page (app.ts), by its tests under Node, and by
 * the CLI for `upgrade proposals` (the same words in both); it imports nothing.
 */

/** A plan entry as `GET /api/v1/upgrades` and the status's `pending` carry it. */
export interface WireUpgrade {
  readonly name: string
  readonly height: number
  readonly status: string
  readonly info?: string
  readonly reason?: string | null
  readonly eta?: string | null
  readonly eta_seconds?: number | null
}

/** The status object (docs/ARCHITECTURE.md §6.3); `block_interval_seconds` and `head_age_seconds` are new. */
export interface WireStatus {
  readonly home?: string
  readonly current_height?: number | null
  readonly block_interval_seconds?: number | null
  readonly head_age_seconds?: number | null
  readonly node_state?: string
  readonly node_pid?: number | null
  readonly restarts?: number
  readonly current?: string
  readonly version?: string | null
  readonly pending?: ReadonlyArray<WireUpgrade>
  readonly in_progress?: { readonly name: string; readonly step: string } | null
  readonly last?: { readonly name: string; readonly status: string; readonly reason: string | null } | null
  readonly paused?: string | null
  /** The operator's pause (`upgrade pause`), or null. */
  readonly upgrades_paused?: { readonly by: string; readonly since: string; readonly reason: string | null } | null
  readonly plan_problem?: string | null
  /** The governance proposals not decided yet (pending, active, succeeded, queued), newest first. */
  readonly proposals?: ReadonlyArray<WireProposal>
}

/** A governance proposal as the status's `proposals` and `GET /api/v1/proposals` carry it (docs/ARCHITECTURE.md §6). */
export interface WireProposal {
  readonly id: string
  readonly state: string
  readonly description?: string
  /** Its calls to the registry: `schedule` (name, height) or `cancel` (name). */
  readonly actions?: ReadonlyArray<{ readonly kind: string; readonly name: string; readonly height?: number }>
  /** Decimal token amounts (18 decimals). */
  readonly votes?: { readonly for: string; readonly against: string; readonly abstain: string }
  /** Votes needed (decimal, 18 decimals); null until the snapshot block. */
  readonly quorum?: string | null
  readonly vote_start?: number
  readonly vote_end?: number
}

/** A line of upgrade-history.jsonl (docs/ARCHITECTURE.md §3). */
export interface WireHistoryRecord {
  readonly time: string
  readonly name: string
  readonly step: string
  readonly result: string
  readonly detail?: string
  readonly door?: string
  readonly peer?: string
}

/** An event (docs/ARCHITECTURE.md §8): `type`, `time` and its fields. */
export interface WireEvent {
  readonly type: string
  readonly time: string
  readonly [field: string]: unknown
}

/**
 * The event types SSE carries (src/events/Events.ts without `notify-test`,
 * which never reaches it), for the filter; a type the page does not know
 * yet is added to the filter when it arrives.
 */
export const EVENT_TYPES: ReadonlyArray<string> = [
  "upgrade-scheduled",
  "upgrade-cancelled",
  "upgrade-preparing",
  "upgrade-ready",
  "upgrade-problem",
  "upgrade-started",
  "upgrade-step",
  "upgrade-completed",
  "upgrade-failed",
  "rollback-completed",
  "node-started",
  "node-adopted",
  "node-exited",
  "node-restarting",
  "node-error",
  "height-reorg",
  "plan-invalid",
  "plan-restored",
  "node-stalled",
  "upgrade-soon",
  "upgrades-paused",
  "upgrades-resumed",
  "config-reloaded",
  "config-invalid",
  "height-passed-blind",
  "proposal-created",
  "proposal-vote",
  "proposal-succeeded",
  "proposal-queued",
  "proposal-executed",
  "proposal-defeated",
  "proposal-canceled"
]

const ERRORS = ["node-error", "upgrade-failed", "plan-invalid", "config-invalid"]
const WARNINGS = [
  "upgrade-problem",
  "plan-restored",
  "node-stalled",
  "height-passed-blind",
  "height-reorg",
  "node-restarting",
  "upgrades-paused",
  "rollback-completed"
]

/** How much an event needs a person, as the log levels it (src/events/Events.ts severityOf). */
export const severityOf = (e: WireEvent): "info" | "warning" | "error" => {
  if (ERRORS.includes(e.type)) return "error"
  if (WARNINGS.includes(e.type)) return "warning"
  if (e.type === "node-exited") return e["expected"] === true ? "info" : "warning"
  if (e.type === "upgrade-soon") return e["ready"] === true ? "info" : "warning"
  return "info"
}

/** Events after which the plan and the history are read again (an upgrade moved, or the plan changed). */
export const changesPlan = (type: string): boolean =>
  type.startsWith("upgrade-") || type.startsWith("upgrades-") || type.startsWith("plan-") ||
  type === "rollback-completed" ||
  type === "height-passed-blind"

/** Statuses that still wait for their height (src/domain/Upgrade.ts isPending). */
export const isPending = (status: string): boolean =>
  status === "scheduled" || status === "preparing" || status === "ready" || status === "upgrading"

/** Events shown at most; older ones are dropped from the list. */
export const MAX_EVENTS = 500

/** History records asked for (the route's default). */
export const HISTORY_LIMIT = 200

/** A schedule this close to the head (or below it) is confirmed first. */
export const CONFIRM_WITHIN_BLOCKS = 100

/** Reconnect delay after the `attempt`-th failure in a row (1-based): 1 s doubling to 10 s. */
export const backoffMs = (attempt: number): number => Math.min(10_000, 1000 * 2 ** Math.max(0, attempt - 1))

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * What an answer says, verbatim: the API's `message`, or its refusal
 * `{error, details}` as "error: details"; the HTTP status when the body is
 * neither (a proxy's page, an empty body).
 */
export const answerText = (status: number, statusText: string, body: unknown): string => {
  if (isObject(body)) {
    if (typeof body["error"] === "string") {
      return typeof body["details"] === "string" && body["details"] !== ""
        ? `${body["error"]}: ${body["details"]}`
        : body["error"]
    }
    if (typeof body["message"] === "string") return body["message"]
  }
  return `HTTP ${status}${statusText === "" ? "" : ` ${statusText}`}`
}

/** What the schedule form holds, as typed. */
export interface ScheduleInput {
  readonly name: string
  readonly height: string
  readonly info: string
  readonly binaries: string
  readonly checksums: string
  readonly force: boolean
  /** The "on failure" select: "" = follow DAEMON_ON_UPGRADE_FAILURE, else `rollback` or `halt` (the API checks it). */
  readonly onFailure: string
}

/** The body of `POST /api/v1/upgrades`, or what is wrong with the form (the same words the CLI's flags get). */
export type ScheduleBody =
  | {
    readonly ok: true
    readonly body: {
      readonly name: string
      readonly height: number
      readonly info?: string
      readonly binaries?: Record<string, string>
      readonly checksums?: Record<string, string>
      readonly force?: true
      readonly on_failure?: string
    }
  }
  | { readonly ok: false; readonly error: string }

/** The platform key a single URL (and its checksum) is stored under (src/binaries/Sources.ts ANY_PLATFORM). */
export const ANY_PLATFORM = "any"

const looksLikeJson = (text: string) => /^[[{]/.test(text)

const jsonMap = (field: string, text: string): Record<string, string> | string => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    return `invalid ${field}: not JSON (${(e as Error).message})`
  }
  if (!isObject(parsed)) return `invalid ${field}: expected a JSON object like {"linux/amd64": "…"}`
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== "string") return `invalid ${field}.${k}: expected a string`
  }
  return parsed as Record<string, string>
}

/**
 * The form → the request body, as `wemixvisor upgrade schedule` maps its
 * flags (src/binaries/Sources.ts parseBinaryFlags): one URL (and one
 * `ALGO:HEX` checksum) is stored under `any`; a JSON object is a map per
 * platform (and so are its checksums); "on failure" is sent only when it
 * does not follow the default. Everything else — the name, the height, the
 * URLs and checksums themselves, the policy's value — the API checks, and its
 * answer is shown as it is.
 */
export const scheduleBody = (input: ScheduleInput): ScheduleBody => {
  const name = input.name.trim()
  const heightText = input.height.trim()
  const height = Number(heightText)
  if (heightText === "" || !/^\d+$/.test(heightText) || !Number.isSafeInteger(height)) {
    return { ok: false, error: `invalid height: ${JSON.stringify(input.height)} is not a block height (digits only)` }
  }
  const binariesText = input.binaries.trim()
  const checksumsText = input.checksums.trim()
  let binaries: Record<string, string> | undefined
  let checksums: Record<string, string> | undefined
  if (binariesText === "") {
    if (checksumsText !== "") return { ok: false, error: "invalid checksums: a checksum needs a binary URL (binaries)" }
  } else if (looksLikeJson(binariesText)) {
    const b = jsonMap("binaries", binariesText)
    if (typeof b === "string") return { ok: false, error: b }
    binaries = b
    if (checksumsText !== "") {
      if (!looksLikeJson(checksumsText)) {
        return {
          ok: false,
          error: "invalid checksums: a map of URLs takes a map of checksums, e.g. {\"linux/amd64\": \"sha256:…\"}"
        }
      }
      const c = jsonMap("checksums", checksumsText)
      if (typeof c === "string") return { ok: false, error: c }
      checksums = c
    }
  } else {
    if (looksLikeJson(checksumsText)) {
      return {
        ok: false,
        error:
          "invalid checksums: a single URL takes a single checksum (sha256:<hex>); give binaries as a map for a map"
      }
    }
    binaries = { [ANY_PLATFORM]: binariesText }
    if (checksumsText !== "") checksums = { [ANY_PLATFORM]: checksumsText }
  }
  const info = input.info.trim()
  return {
    ok: true,
    body: {
      name,
      height,
      ...(info !== "" ? { info } : {}),
      ...(binaries !== undefined ? { binaries } : {}),
      ...(checksums !== undefined ? { checksums } : {}),
      ...(input.force ? { force: true as const } : {}),
      ...(input.onFailure !== "" ? { on_failure: input.onFailure } : {})
    }
  }
}

/** "3 s", "4 min 10 s", "2 h 5 min", "3 d 4 h": a duration as read at a glance. */
export const formatDuration = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`
  const h = Math.floor(m / 60)
  if (h < 24) return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`
  const d = Math.floor(h / 24)
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`
}

/** A block interval: "2.0 s", "13.4 s", "0.25 s". */
export const formatInterval = (seconds: number): string => `${seconds < 1 ? seconds.toFixed(2) : seconds.toFixed(1)} s`

/** What a schedule would do to a chain at `head`, when the confirmation is due; null when it is not. */
export const scheduleWarning = (height: number, head: number | null | undefined, force: boolean): string | null => {
  if (head === null || head === undefined || height > head + CONFIRM_WITHIN_BLOCKS) return null
  if (height <= head) {
    return force
      ? `Height ${height} is at or below the chain head (${head}): forced, the upgrade starts as soon as the supervisor sees it.`
      : `Height ${height} is at or below the chain head (${head}): the API refuses it unless forced.`
  }
  const blocks = height - head
  return `Height ${height} is only ${blocks} block${blocks === 1 ? "" : "s"} above the chain head (${head}).`
}

/** An event's fields besides `type` and `time`, as one line: its `message` when it has one. */
export const describeEvent = (e: WireEvent): string => {
  if (typeof e["message"] === "string") return e["message"]
  return Object.entries(e)
    .filter(([k]) => k !== "type" && k !== "time")
    .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(", ")
}

/** The plan's entries for the table: pending first (lowest height first), then the rest (highest first). */
export const orderUpgrades = (upgrades: ReadonlyArray<WireUpgrade>): Array<WireUpgrade> => {
  const pending = upgrades.filter((u) => isPending(u.status)).sort((a, b) => a.height - b.height)
  const rest = upgrades.filter((u) => !isPending(u.status)).sort((a, b) => b.height - a.height)
  return [...pending, ...rest]
}

/** One Server-Sent Events frame: its `event` type (default `message`) and data, or a comment line. */
export type SseFrame =
  | { readonly kind: "event"; readonly event: string; readonly data: string }
  | { readonly kind: "comment"; readonly text: string }

/**
 * The SSE wire format (text/event-stream), fed chunk by chunk: lines end
 * with LF, CRLF or CR; a blank line ends an event; `:` starts a comment.
 */
export class SseParser {
  private buffer = ""
  private event = ""
  private data: Array<string> = []

  feed(chunk: string): Array<SseFrame> {
    this.buffer += chunk
    const frames: Array<SseFrame> = []
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer)
      // A lone CR at the end may be the first half of a CRLF: wait for more.
      if (m === null || (m[0] === "\r" && m.index === this.buffer.length - 1)) break
      const line = this.buffer.slice(0, m.index)
      this.buffer = this.buffer.slice(m.index + m[0].length)
      if (line === "") {
        if (this.data.length > 0) {
          frames.push({ kind: "event", event: this.event || "message", data: this.data.join("\n") })
        }
        this.event = ""
        this.data = []
      } else if (line.startsWith(":")) {
        frames.push({ kind: "comment", text: line.slice(1).trim() })
      } else {
        const colon = line.indexOf(":")
        const field = colon < 0 ? line : line.slice(0, colon)
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "")
        if (field === "event") this.event = value
        else if (field === "data") this.data.push(value)
      }
    }
    return frames
  }
}

/**
 * The token in a `#token=<token>` fragment and the fragment without it, or
 * none. Percent-decoded (a `+` stays a `+`: tokens are not form data).
 */
export const tokenFromFragment = (hash: string): { readonly token: string; readonly rest: string } | null => {
  const parts = hash.replace(/^#/, "").split("&")
  const at = parts.findIndex((p) => p.startsWith("token="))
  if (at < 0) return null
  const raw = parts[at]!.slice("token=".length)
  let token = raw
  try {
    token = decodeURIComponent(raw)
  } catch {
    // not percent-encoded: as typed
  }
  token = token.trim()
  if (token === "") return null
  const rest = parts.filter((_, i) => i !== at && parts[i] !== "")
  return { token, rest: rest.length === 0 ? "" : `#${rest.join("&")}` }
}

// ---------------------------------------------------------------------------
// Manual controls: the operator's pause of upgrades and the node's restart

/** The words the pause banner starts with: what a paused supervisor will not do. */
export const PAUSE_HEADLINE = "Upgrades paused — no upgrade will fire"

/**
 * The banner for the operator's pause (`upgrades_paused`), or null when
 * upgrades are not paused by one: the headline, who paused them, since when,
 * why, and how it is lifted.
 */
export const pauseBanner = (s: WireStatus | null): string | null => {
  const p = s?.upgrades_paused
  if (p === null || p === undefined) return null
  return `${PAUSE_HEADLINE} (paused by ${p.by} since ${p.since}${
    p.reason ? `: ${p.reason}` : ""
  }). Resume upgrades here or run \`wemixvisor upgrade resume\`.`
}

/** The one toggling control of the pause: what it does next, given the status. */
export type PauseAction = "pause" | "resume"

/** What a click on the pause control does: resume while the operator's pause is on, pause otherwise. */
export const pauseActionOf = (s: WireStatus): PauseAction =>
  s.upgrades_paused !== null && s.upgrades_paused !== undefined ? "resume" : "pause"

/** A control's call to the API. Every mutating route wants `Content-Type: application/json`, so a body (`{}`) goes. */
export interface ControlRequest {
  readonly method: "POST"
  readonly path: string
  readonly body: Record<string, never>
}

export const pauseRequest = (action: PauseAction): ControlRequest => ({
  method: "POST",
  path: action === "pause" ? "/api/v1/upgrades/pause" : "/api/v1/upgrades/resume",
  body: {}
})

export const RESTART_REQUEST: ControlRequest = { method: "POST", path: "/api/v1/node/restart", body: {} }

/** A button as the page draws it. */
export interface ControlView {
  readonly label: string
  readonly disabled: boolean
  /** Why it is disabled ("" when it is not). */
  readonly title: string
}

export interface ControlsView {
  readonly pause: ControlView & { readonly action: PauseAction | null }
  readonly restart: ControlView
}

/**
 * The pause/resume and restart buttons given what the page knows: the status
 * (null before the first answer), whether a token is in use, and which
 * control's request is under way. Without a token, or before a status, they
 * are disabled; a restart is disabled while an upgrade has the node (the API
 * would refuse it, 409); a button is disabled while its request is under way.
 */
export const controlsView = (
  s: WireStatus | null,
  opts: { readonly token: boolean; readonly busy: "pause" | "restart" | null }
): ControlsView => {
  const why = !opts.token ? "no API token" : s === null ? "waiting for the supervisor's status" : ""
  const action = s === null ? null : pauseActionOf(s)
  const pauseBusy = opts.busy === "pause"
  const restartBusy = opts.busy === "restart"
  const upgrading = s?.in_progress !== null && s?.in_progress !== undefined
  return {
    pause: {
      action,
      label: pauseBusy
        ? (action === "resume" ? "Resuming…" : "Pausing…")
        : action === "resume"
        ? "Resume upgrades"
        : "Pause upgrades",
      disabled: why !== "" || pauseBusy,
      title: why
    },
    restart: {
      label: restartBusy ? "Restarting…" : "Restart node",
      disabled: why !== "" || restartBusy || upgrading,
      title: why !== "" ? why : upgrading ? `the upgrade ${s!.in_progress!.name} has the node` : ""
    }
  }
}

/** What the confirmation dialog asks before the control's request goes. */
export const pauseConfirmText = (action: PauseAction): string =>
  action === "pause"
    ? "Pause upgrades? No upgrade will fire until they are resumed, even when its height passes (the pause survives a restart of wemixvisor)."
    : "Resume upgrades? An upgrade whose height has passed meanwhile fires at once."

export const restartConfirmText = (s: WireStatus | null): string => {
  const pid = typeof s?.node_pid === "number" ? ` (pid ${s.node_pid})` : ""
  return `Restart the node${pid}? It is stopped gracefully and started again on the current binary; it is down meanwhile.`
}

// ---------------------------------------------------------------------------
// Governance proposals (the "Proposals" card; `upgrade proposals` prints the same words)

/** The states of a proposal not decided yet: an upgrade coming. The others (canceled, defeated, expired, executed) are final. */
export const OPEN_PROPOSAL_STATES: ReadonlyArray<string> = ["pending", "active", "succeeded", "queued"]

/** The proposals of the status still open, in its order (newest first); none when it has none. */
export const openProposalsOf = (s: WireStatus | null): ReadonlyArray<WireProposal> =>
  (s?.proposals ?? []).filter((p) => OPEN_PROPOSAL_STATES.includes(p.state))

const WEI = 10n ** 18n

/** A decimal string of whole non-negative units, as a bigint; null for anything else. */
const units = (raw: string | null | undefined): bigint | null =>
  typeof raw === "string" && /^[0-9]{1,78}$/.test(raw) ? BigInt(raw) : null

/**
 * A token amount (18 decimals, as the Governor counts votes) in tokens: at
 * most 2 decimals (rounded half up), thousands separated, `<0.01` for a
 * non-zero dust amount. Anything but a decimal string is shown as it came.
 */
export const tokenAmount = (raw: string): string => {
  const v = units(raw)
  if (v === null) return raw
  const cents = (v * 100n + WEI / 2n) / WEI
  if (cents === 0n && v > 0n) return "<0.01"
  const whole = (cents / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",")
  const frac = (cents % 100n).toString().padStart(2, "0").replace(/0+$/, "")
  return frac === "" ? whole : `${whole}.${frac}`
}

/**
 * How far the votes that count towards the quorum (for + abstain, as
 * GovernorCountingSimple counts them) are of it, in whole percent (rounded
 * down: 100 means reached); null while the quorum is unknown (or zero).
 */
export const quorumPercent = (p: WireProposal): number | null => {
  const q = units(p.quorum)
  const f = units(p.votes?.for)
  const a = units(p.votes?.abstain)
  if (q === null || q === 0n || f === null || a === null) return null
  return Number(((f + a) * 100n) / q)
}

/** One registry call of a proposal: `schedule v2 at 1500000`, `cancel v2`. */
export const proposalActionText = (a: { readonly kind: string; readonly name: string; readonly height?: number }) =>
  a.kind === "schedule" ? `schedule ${a.name} at ${a.height ?? "?"}` : `${a.kind} ${a.name}`

/** Its registry calls, `; ` between them. */
export const proposalActionsText = (p: WireProposal): string =>
  (p.actions ?? []).length === 0 ? "no registry call" : (p.actions ?? []).map(proposalActionText).join("; ")

/** `for 62 · against 3 · abstain 1 · quorum 100 (63% reached)`; the quorum said unknown until the snapshot block. */
export const proposalVotesText = (p: WireProposal): string => {
  const v = p.votes
  const votes = v === undefined
    ? "votes unknown"
    : `for ${tokenAmount(v.for)} · against ${tokenAmount(v.against)} · abstain ${tokenAmount(v.abstain)}`
  const pct = quorumPercent(p)
  const quorum = p.quorum === null || p.quorum === undefined
    ? `quorum known at block ${p.vote_start ?? "?"}`
    : `quorum ${tokenAmount(p.quorum)}${pct !== null ? ` (${pct}% reached)` : ""}`
  return `${votes} · ${quorum}`
}

/** `voting blocks 1000–1200`. */
export const proposalWindowText = (p: WireProposal): string =>
  `voting blocks ${p.vote_start ?? "?"}–${p.vote_end ?? "?"}`

/** A proposal id (a uint256, decimal) short enough to read: its first 8 digits and `…`. */
export const shortProposalId = (id: string): string => (id.length > 12 ? `${id.slice(0, 8)}…` : id)

/** A proposal in one line: its state, its registry calls, the votes against the quorum, the voting window, its id. */
export const proposalLine = (p: WireProposal): string =>
  [p.state, proposalActionsText(p), proposalVotesText(p), proposalWindowText(p), `#${shortProposalId(p.id)}`]
    .join(" · ")

/** `GET /api/v1/upgrades/:name/check` (`upgrade check`): would the pending upgrade go through now. */
export interface WirePreflight {
  readonly name: string
  readonly height: number
  readonly go: boolean
  readonly findings: ReadonlyArray<{ readonly check: string; readonly level: string; readonly message: string }>
  readonly eta: string | null
  readonly eta_seconds: number | null
  readonly on_failure: string
}

export const checkPath = (name: string): string => `/api/v1/upgrades/${encodeURIComponent(name)}/check`

const isPreflight = (body: unknown): body is WirePreflight =>
  typeof body === "object" && body !== null && typeof (body as { go?: unknown }).go === "boolean" &&
  Array.isArray((body as { findings?: unknown }).findings)

/**
 * A check's answer in one line, as `upgrade check` ends: `go: v2 at 1500000
 * would go through now`, or `NO GO: 2 problems — <each problem>`; the
 * warnings counted, what a failure does. Anything else: the answer verbatim.
 */
export const checkSummary = (status: number, body: unknown, fallback: string): { ok: boolean; text: string } => {
  if (status !== 200 || !isPreflight(body)) return { ok: false, text: fallback }
  const problems = body.findings.filter((f) => f.level === "problem")
  const warnings = body.findings.filter((f) => f.level === "warning").length
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`
  const head = body.go
    ? `go: ${body.name} at ${body.height} would go through now`
    : `NO GO: ${plural(problems.length, "problem")} — ${problems.map((f) => f.message).join(" · ")}`
  const tail = [warnings > 0 ? plural(warnings, "warning") : "", `on failure: ${body.on_failure}`].filter((t) =>
    t !== ""
  )
  return { ok: body.go, text: `${head} (${tail.join("; ")})` }
}
