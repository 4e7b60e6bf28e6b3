import * as Schema from "effect/Schema"
import { proposalLine } from "../dashboard/model.js"
import { type Proposal, ProposalList } from "../domain/Proposal.js"
import {
  type GovernanceStatus,
  type OperatorPause,
  StatusObject,
  type UpgradeEta,
  UpgradeListWithEta,
  type UpgradeWithEta
} from "../domain/Status.js"
import { isPending, type Upgrade } from "../domain/Upgrade.js"
import { HistoryRecord } from "../upgrades/History.js"

/*
 * What `upgrade …` prints on stdout: the seeds' lines, a table for `list`,
 * and the JSON shapes of ARCHITECTURE §3/§5 for `--json`. Shared by the local and
 * the --remote paths so both print the same thing.
 */

/**
 * Operator-supplied and node-reported text (info, reasons, versions) made
 * safe for a terminal: control characters (newlines, escape sequences, C1)
 * and bidirectional overrides are shown escaped, so a crafted `--info` or a
 * binary's version string can neither fake table rows nor drive the terminal.
 */
export const safeText = (text: string): string =>
  // eslint-disable-next-line no-control-regex
  text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" }
    const code = c.charCodeAt(0)
    return named[c] ??
      (code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`)
  })

export const scheduledLine = (u: Upgrade) =>
  `✓ Upgrade '${u.name}' scheduled for block height ${u.height}${
    u.on_failure !== undefined ? ` (on failure: ${u.on_failure})` : ""
  }`

/** `upgrade prepare`: the binary, what it reports and where it came from when it was downloaded just now. */
export const preparedLine = (
  u: Upgrade,
  version: string | null,
  installed: { readonly url: string; readonly checksum: string | null } | null
) => {
  const lines = [`✓ Upgrade '${u.name}' ready for block height ${u.height}`]
  if (version !== null) lines.push(`  version: ${safeText(version)}`)
  if (installed !== null) {
    lines.push(`  downloaded from ${installed.url} (${installed.checksum ?? "checksum NOT verified"})`)
  }
  return lines.join("\n")
}

export const cancelledLine = (u: Upgrade) => `✓ Upgrade cancelled ('${u.name}' at block height ${u.height})`

/** The list's entries with the ETAs a status gave (by name), null for the others. */
export const withEtas = (
  l: { readonly upgrades: ReadonlyArray<Upgrade>; readonly count: number },
  etas: ReadonlyMap<string, UpgradeEta>
): { readonly upgrades: ReadonlyArray<UpgradeWithEta>; readonly count: number } => ({
  upgrades: l.upgrades.map((u) => {
    const e = isPending(u.status) ? etas.get(u.name) : undefined
    return { ...u, eta: e?.eta ?? null, eta_seconds: e?.eta_seconds ?? null }
  }),
  count: l.count
})

export const listJson = (l: { readonly upgrades: ReadonlyArray<UpgradeWithEta>; readonly count: number }) =>
  JSON.stringify(Schema.encodeSync(UpgradeListWithEta)({ upgrades: l.upgrades, count: l.count }), null, 2)

/** The ETA in words (domain/Eta.ts, shared with `upgrade check` on either side of the API). */
export { etaText, spanText } from "../domain/Eta.js"
import { etaText } from "../domain/Eta.js"

/** Columns padded to their widest cell, two spaces apart, the last one unpadded (also `fleet status`'s board). */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ").trimEnd())
    .join("\n")
}

/** The operator's pause, as `upgrade status` and `upgrade list` say it: loud, with how to lift it. */
export const pauseText = (p: OperatorPause): string =>
  `PAUSED by ${safeText(p.by)} since ${safeText(p.since)}${
    p.reason !== null ? ` (${safeText(p.reason)})` : ""
  }: none fires until \`wemixvisor upgrade resume\``

export const listText = (
  l: { readonly upgrades: ReadonlyArray<UpgradeWithEta> },
  pause: OperatorPause | null = null
): string => {
  const table = listTable(l)
  return pause === null ? table : `Upgrades ${pauseText(pause)}\n${table}`
}

const listTable = (l: { readonly upgrades: ReadonlyArray<UpgradeWithEta> }): string => {
  if (l.upgrades.length === 0) return "No upgrades scheduled"
  // The ON FAILURE column only when some upgrade has its own policy ("-" = DAEMON_ON_UPGRADE_FAILURE).
  const policies = l.upgrades.some((u) => u.on_failure !== undefined)
  const rows = l.upgrades.map((u) => [
    u.name,
    String(u.height),
    u.status,
    isPending(u.status) ? etaText(u) : "-",
    ...(policies ? [u.on_failure ?? "-"] : []),
    safeText(u.reason ?? u.info)
  ])
  return table([["NAME", "HEIGHT", "STATUS", "ETA", ...(policies ? ["ON FAILURE"] : []), "INFO"], ...rows])
}

export const statusJson = (s: StatusObject) => JSON.stringify(Schema.encodeSync(StatusObject)(s), null, 2)

const describeUpgrade = (u: UpgradeWithEta) =>
  `${u.name} at block height ${u.height} (${u.status}${u.reason !== null ? `: ${safeText(u.reason)}` : ""})${
    u.eta !== null ? `, ${etaText(u)}` : ""
  }${u.on_failure !== undefined ? `, on failure: ${u.on_failure}` : ""}`

/** The governance source in the status: where its cursor is, and why it is not following when it is not. */
const governanceLine = (g: GovernanceStatus) =>
  `registry ${g.registry}, ${
    g.block === null ? "no block read yet" : `events applied through block ${g.block}`
  } (${g.confirmations} confirmations)${g.error !== null ? `; NOT FOLLOWING: ${g.error}` : ""}`

export const statusText = (s: StatusObject): string => {
  const lines: Array<readonly [string, string]> = [
    ["Supervisor", s.supervisor === "running" ? "running" : "not running"],
    [
      "Node",
      `${s.node_state}${s.node_pid !== null ? ` (pid ${s.node_pid})` : ""}${
        s.restarts > 0 ? `, ${s.restarts} restarts` : ""
      }`
    ],
    ["Current", s.current],
    ["Chain head", s.current_height !== null ? String(s.current_height) : "unknown (node not reachable)"]
  ]
  if (s.upgrades_paused !== null) lines.push(["Upgrades", pauseText(s.upgrades_paused)])
  if (s.paused !== null) lines.push(["Paused", safeText(s.paused)])
  if (s.plan_problem !== null) lines.push(["Plan problem", safeText(s.plan_problem)])
  if (s.in_progress !== null) lines.push(["Upgrading", `${s.in_progress.name} (step ${s.in_progress.step})`])
  if (s.pending.length === 0) lines.push(["Pending", "none"])
  else s.pending.forEach((u, i) => lines.push([i === 0 ? "Pending" : "", describeUpgrade(u)]))
  s.proposals.forEach((p, i) => lines.push([i === 0 ? "Proposals" : "", safeText(proposalLine(p))]))
  if (s.governance !== null) lines.push(["Governance", safeText(governanceLine(s.governance))])
  if (s.last !== null) {
    lines.push([
      "Last upgrade",
      `${s.last.name} ${s.last.status}${s.last.reason !== null ? `: ${safeText(s.last.reason)}` : ""}`
    ])
  }
  return lines.map(([k, v]) => `${(k === "" ? "" : `${k}:`).padEnd(14)}${v}`).join("\n")
}

// ---------------------------------------------------------------------------
// upgrade history

const encodeHistory = Schema.encodeSync(Schema.Array(HistoryRecord))

/** `upgrade history --json`: the records as the file has them, oldest first (`[]` when there are none). */
export const historyJson = (records: ReadonlyArray<HistoryRecord>) => JSON.stringify(encodeHistory(records), null, 2)

/** `2026-03-01T10:00:00.123Z` as `2026-03-01 10:00:00Z`; anything else as it is. */
const historyTime = (time: string) =>
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(time)
    ? time.replace("T", " ").replace(/\.\d+Z$/, "Z")
    : safeText(time)

/**
 * `upgrade history`: one row per record, oldest first — the door (`-` for
 * the supervisor's own steps), then the peer and the detail. `earlier`
 * entries left out by --limit are said on a first line.
 */
export const historyText = (records: ReadonlyArray<HistoryRecord>, earlier: number, name?: string): string => {
  if (records.length === 0) return name === undefined ? "No upgrade history yet" : `No upgrade history for '${name}'`
  const rows = records.map((r) => [
    historyTime(r.time),
    safeText(r.name),
    safeText(r.step),
    r.result,
    r.door ?? "-",
    safeText(
      [...(r.peer !== undefined ? [`peer ${r.peer}`] : []), ...(r.detail !== undefined ? [r.detail] : [])].join("; ")
    )
  ])
  const body = table([["TIME (UTC)", "NAME", "STEP", "RESULT", "DOOR", "DETAIL"], ...rows])
  return earlier > 0
    ? `(${earlier} earlier ${earlier === 1 ? "entry" : "entries"} not shown; use --limit to see more)\n${body}`
    : body
}

/** `upgrade proposals --json`: ProposalList. */
export const proposalsJson = (proposals: ReadonlyArray<Proposal>) =>
  JSON.stringify(Schema.encodeSync(ProposalList)({ proposals, count: proposals.length }), null, 2)

/** The longest description shown in the text form (its first line). */
const DESCRIPTION_MAX = 60

const descriptionText = (d: string) => {
  const first = d.trim().split(/\r?\n/)[0] ?? ""
  return first.length > DESCRIPTION_MAX ? `${first.slice(0, DESCRIPTION_MAX - 1)}…` : first
}

/**
 * `upgrade proposals`: a line per proposal, newest first (the dashboard's
 * words, model.ts): state, registry calls, votes in tokens against the
 * quorum, voting window, id — and its description's first line. Everything
 * but the state came from the chain: made safe for a terminal.
 */
export const proposalsText = (proposals: ReadonlyArray<Proposal>): string => {
  if (proposals.length === 0) {
    return "No governance proposals tracked (a running `wemixvisor run` tracks them when DAEMON_GOVERNANCE_GOVERNOR is set)"
  }
  return proposals
    .map((p) => {
      const d = descriptionText(p.description)
      return safeText(`${proposalLine(p)}${d === "" ? "" : ` · ${JSON.stringify(d)}`}`)
    })
    .join("\n")
}
