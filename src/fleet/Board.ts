/*
 * The readiness board of `fleet status`: every node's status (board), a line
 * per upgrade pending anywhere (summarize), what else holds a node back
 * (attention), with --check each node's own `upgrade check` of each upgrade
 * pending there (preflights), and whether it is all green (boardVerdict).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { type PreflightResult, verdictLine } from "../domain/Preflight.js"
import type { StatusObject, UpgradeEta } from "../domain/Status.js"
import type { UpgradeStatus } from "../domain/Upgrade.js"
import {
  attempt,
  type Clients,
  fanOut,
  type FanOutOptions,
  FleetIncomplete,
  isUnreachable,
  type Outcome
} from "./Fleet.js"
import type { FleetNode } from "./FleetFile.js"

export const board = (nodes: ReadonlyArray<FleetNode>, clients: Clients, o: FanOutOptions) =>
  fanOut(nodes, (n) => clients(n).status, o)

/** Where one node stands with one upgrade of the fleet. */
export type Standing =
  | { readonly node: string; readonly ok: true; readonly done: boolean }
  | { readonly node: string; readonly ok: false; readonly why: string }

/** One pending upgrade across the fleet: "2/3 ready for v2 at 1500000 — node-b: …". */
export interface UpgradeSummary {
  readonly name: string
  /** The height most nodes have it at (the first such in the fleet's order on a tie). */
  readonly height: number
  readonly total: number
  /** Nodes where it is ready, or already done (upgraded before the others). */
  readonly ok: number
  /** Every node, in the fleet's order. */
  readonly standings: ReadonlyArray<Standing>
  /** The soonest ETA among the nodes that have it at `height`; null while none estimates it. */
  readonly eta: UpgradeEta | null
}

const why = (u: { readonly status: UpgradeStatus; readonly reason: string | null }): string =>
  u.reason !== null && u.reason !== ""
    ? u.reason
    : u.status === "scheduled"
    ? "not prepared yet"
    : u.status === "preparing"
    ? "preparing"
    : u.status === "upgrading"
    ? "upgrading now"
    : u.status

/** A summary per upgrade pending on any node, in the order they first appear (lowest height first on each node). */
export const summarize = (rows: ReadonlyArray<Outcome<StatusObject>>): ReadonlyArray<UpgradeSummary> => {
  const names: Array<string> = []
  for (const r of rows) {
    if (Either.isRight(r.result)) {
      for (const u of r.result.right.pending) if (!names.includes(u.name)) names.push(u.name)
    }
  }
  return names.map((name) => {
    const heights = new Map<number, number>()
    for (const r of rows) {
      if (Either.isLeft(r.result)) continue
      const u = r.result.right.pending.find((p) => p.name === name)
      if (u !== undefined) heights.set(u.height, (heights.get(u.height) ?? 0) + 1)
    }
    const height = [...heights.entries()].reduce((a, b) => (b[1] > a[1] ? b : a))[0]
    let eta: UpgradeEta | null = null
    const standings = rows.map((r): Standing => {
      const node = r.node.name
      if (Either.isLeft(r.result)) {
        return { node, ok: false, why: isUnreachable(r.result.left) ? "unreachable" : r.result.left.message }
      }
      const s = r.result.right
      const u = s.pending.find((p) => p.name === name)
      if (u === undefined) {
        if (s.current === name || (s.last?.name === name && s.last.status === "done")) {
          return { node, ok: true, done: true }
        }
        return {
          node,
          ok: false,
          why: s.last?.name === name
            ? `${s.last.status}${s.last.reason !== null ? `: ${s.last.reason}` : ""}`
            : "not scheduled"
        }
      }
      if (u.height !== height) return { node, ok: false, why: `scheduled at ${u.height}, not ${height}` }
      if (u.eta_seconds !== null && (eta === null || eta.eta_seconds === null || u.eta_seconds < eta.eta_seconds)) {
        eta = { eta: u.eta, eta_seconds: u.eta_seconds }
      }
      return u.status === "ready" ? { node, ok: true, done: false } : { node, ok: false, why: why(u) }
    })
    return { name, height, total: rows.length, ok: standings.filter((s) => s.ok).length, standings, eta }
  })
}

/** What else on an answering node keeps the board from being green: a node not running, upgrades held, a plan problem. */
export const attention = (rows: ReadonlyArray<Outcome<StatusObject>>): ReadonlyArray<{
  readonly node: string
  readonly what: string
}> =>
  rows.flatMap((r) => {
    if (Either.isLeft(r.result)) return []
    const s = r.result.right
    const node = r.node.name
    return [
      ...(s.node_state !== "running" ? [{ node, what: `node is ${s.node_state}` }] : []),
      ...(s.upgrades_paused !== null
        ? [{
          node,
          what: `upgrades PAUSED by ${s.upgrades_paused.by}${
            s.upgrades_paused.reason !== null ? ` (${s.upgrades_paused.reason})` : ""
          }`
        }]
        : []),
      ...(s.paused !== null ? [{ node, what: `upgrades held: ${s.paused}` }] : []),
      ...(s.plan_problem !== null ? [{ node, what: `plan problem: ${s.plan_problem}` }] : [])
    ]
  })

/** One node's preflight of one upgrade pending there (`fleet status --check`). */
export interface NodeCheck {
  readonly node: FleetNode
  readonly name: string
  readonly result: Either.Either<PreflightResult, Error>
}

/** `upgrade check` of every upgrade pending on every node that answered, bounded as the board is. */
export const preflights = (
  rows: ReadonlyArray<Outcome<StatusObject>>,
  clients: Clients,
  o: FanOutOptions
): Effect.Effect<ReadonlyArray<NodeCheck>> =>
  Effect.forEach(
    rows.flatMap((r) => Either.isRight(r.result) ? r.result.right.pending.map((u) => [r.node, u.name] as const) : []),
    ([node, name]) =>
      Effect.map(
        attempt(node, Effect.suspend(() => clients(node).check(name)), o.timeout),
        (result): NodeCheck => ({ node, name, result })
      ),
    { concurrency: Math.max(1, o.concurrency) }
  )

/** A check's line: the verdict, and each problem after it. */
export const checkLine = (c: NodeCheck): string =>
  Either.match(c.result, {
    onLeft: (e) => `${c.name}: not checked: ${e.message}`,
    onRight: (r) =>
      [`${c.name}: ${verdictLine(r)}`, ...r.findings.filter((f) => f.level === "problem").map((f) => f.message)]
        .join(" — ")
  })

/**
 * `fleet status` exits 0 only when the board is green: every node answered,
 * runs its node, holds no upgrade back, and every pending upgrade is ready
 * (at one height) on every node — what "go" means the night of a fork.
 */
export const boardVerdict = (
  rows: ReadonlyArray<Outcome<StatusObject>>,
  checks: ReadonlyArray<NodeCheck> = []
): FleetIncomplete | undefined => {
  const down = rows.filter((r) => Either.isLeft(r.result)).map((r) => r.node.name)
  const notReady = summarize(rows).filter((s) => s.ok < s.total).map((s) => s.name)
  const flagged = [...new Set(attention(rows).map((a) => a.node))]
  const noGo = checks.filter((c) => !Either.isRight(c.result) || !c.result.right.go).map((c) =>
    `${c.node.name} ${c.name}`
  )
  const parts = [
    ...(down.length > 0 ? [`${down.length} of ${rows.length} not answering (${down.join(", ")})`] : []),
    ...(notReady.length > 0 ? [`not ready everywhere: ${notReady.join(", ")}`] : []),
    ...(flagged.length > 0 ? [`needs attention: ${flagged.join(", ")}`] : []),
    ...(noGo.length > 0 ? [`NO GO (or not checked): ${noGo.join(", ")}`] : [])
  ]
  return parts.length === 0 ? undefined : new FleetIncomplete({ summary: `fleet not green: ${parts.join("; ")}` })
}
