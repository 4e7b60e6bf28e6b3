import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type { ScheduleUpgradePayload } from "../api/Rpcs.js"
import type { ErrorKind } from "../domain/Errors.js"
import { type PreflightResult, verdictLine } from "../domain/Preflight.js"
import type { StatusObject, UpgradeEta } from "../domain/Status.js"
import { isPending, type Upgrade, type UpgradeStatus } from "../domain/Upgrade.js"
import type { FleetNode } from "./FleetFile.js"

/*
 * `wemixvisor fleet …`: one operation on many supervisors (issue #18 item 5).
 * Everything here works over an abstract per-node client (NodeClient), which
 * the CLI makes from the typed RPC client (src/cli/fleet.ts) and the tests
 * from memory:
 *
 * - fanOut: the same call on every node, at most `concurrency` at once, each
 *   bounded by `timeout`; a node that fails is a result, never the end of
 *   the others.
 * - board / summarize / attention: the readiness board of `fleet status`;
 *   preflights: its `--check`, each node's `upgrade check` of each upgrade
 *   pending there.
 * - roll: a patch release one node at a time, in the fleet's order, each
 *   upgraded and verified before the next is touched; the first failure
 *   stops it.
 */

export type ScheduleRequest = typeof ScheduleUpgradePayload.Type

/** What a fleet command asks of one supervisor (its RPC API). Failures are wemixvisor's errors: their `message` is the operator's line. */
export interface NodeClient {
  readonly status: Effect.Effect<StatusObject, Error>
  readonly list: Effect.Effect<ReadonlyArray<Upgrade>, Error>
  readonly schedule: (request: ScheduleRequest) => Effect.Effect<Upgrade, Error>
  readonly cancel: (name: Option.Option<string>) => Effect.Effect<Upgrade, Error>
  readonly prepare: (name: string) => Effect.Effect<Upgrade, Error>
  /** `upgrade check <name>` on that supervisor: would the upgrade go through now (`fleet status --check`). */
  readonly check: (name: string) => Effect.Effect<PreflightResult, Error>
}

export type Clients = (node: FleetNode) => NodeClient

/** A node's API gave no answer within the fleet command's per-node timeout (exit 1). */
export class NoAnswer extends Data.TaggedError("NoAnswer")<{
  readonly url: string
  readonly after: Duration.Duration
}> {
  get kind(): ErrorKind {
    return "unavailable"
  }
  override get message() {
    return `wemixvisor API ${this.url} unreachable: no answer within ${Duration.format(this.after)}`
  }
}

/** A fleet command that did not succeed on every node (exit 1); what happened on each is printed before. */
export class FleetIncomplete extends Data.TaggedError("FleetIncomplete")<{ readonly summary: string }> {
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    return this.summary
  }
}

/** Transport failures: the node did not answer (as opposed to answering no). */
export const isUnreachable = (e: unknown): boolean =>
  typeof e === "object" && e !== null && "_tag" in e && (e._tag === "ApiUnreachable" || e._tag === "NoAnswer")

export interface Outcome<A> {
  readonly node: FleetNode
  readonly result: Either.Either<A, Error>
}

export interface FanOutOptions {
  /** At most this many nodes are called at once. */
  readonly concurrency: number
  /** Each node's call, bounded: past it, NoAnswer. */
  readonly timeout: Duration.Duration
}

/** `f` on one node, bounded by `timeout`; its failure (or a defect) as the node's result. */
const attempt = <A>(node: FleetNode, f: Effect.Effect<A, Error>, timeout: Duration.Duration) =>
  f.pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new NoAnswer({ url: node.url, after: timeout }) }),
    Effect.catchAllDefect((d) =>
      Effect.fail(new Error(`internal error: ${d instanceof Error ? d.message : String(d)}`))
    ),
    Effect.either
  )

/** `f` on every node, in the fleet's order, at most `concurrency` at once; one result per node. */
export const fanOut = <A>(
  nodes: ReadonlyArray<FleetNode>,
  f: (node: FleetNode) => Effect.Effect<A, Error>,
  o: FanOutOptions
): Effect.Effect<ReadonlyArray<Outcome<A>>> =>
  Effect.forEach(
    nodes,
    (node) => Effect.map(attempt(node, Effect.suspend(() => f(node)), o.timeout), (result) => ({ node, result })),
    { concurrency: Math.max(1, o.concurrency) }
  )

/** How many failed, and which: the exit-1 line of a fan-out. */
export const failures = <A>(what: string, outcomes: ReadonlyArray<Outcome<A>>): FleetIncomplete | undefined => {
  const failed = outcomes.filter((o) => Either.isLeft(o.result)).map((o) => o.node.name)
  return failed.length === 0 ? undefined : new FleetIncomplete({
    summary: `${what} failed on ${failed.length} of ${outcomes.length} node${outcomes.length === 1 ? "" : "s"} (${
      failed.join(", ")
    })`
  })
}

// ---------------------------------------------------------------------------
// The readiness board

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

// ---------------------------------------------------------------------------
// The roll

export interface RollOptions {
  readonly name: string
  /** Scheduled at the node's head + this. */
  readonly heightOffset: number
  /** What the schedule carries besides name and height (binaries, checksums, info, on_failure). */
  readonly request: Omit<ScheduleRequest, "name" | "height">
  /** Each call to a node. */
  readonly timeout: Duration.Duration
  /** How long one node may take from its schedule to the upgrade's end. */
  readonly rollTimeout: Duration.Duration
  /** Between two looks at the node's upgrade list while waiting. */
  readonly pollInterval: Duration.Duration
  /** Told as the roll goes: a node's upgrade scheduled (or found scheduled) and waited for; each node's step as it ends. */
  readonly report?: {
    readonly waiting: (node: FleetNode, height: number, head: number | null) => Effect.Effect<void>
    readonly step: (step: RollStep) => Effect.Effect<void>
    /** The roll was interrupted (Ctrl-C) while it waited for `node`: the upgrade is still in that node's plan. */
    readonly interrupted?: (node: FleetNode, height: number) => Effect.Effect<void>
  }
}

/** What the roll did on one node. `ok` ones let it go on to the next. */
export type RollStep =
  | {
    readonly node: FleetNode
    readonly outcome: "done"
    readonly height: number
    /** Scheduled by this roll at head + offset (false: it was scheduled already, and waited for). */
    readonly scheduled: boolean
    readonly head: number | null
    readonly current: string | null
    readonly version: string | null
  }
  | { readonly node: FleetNode; readonly outcome: "skipped"; readonly why: string }
  | {
    readonly node: FleetNode
    readonly outcome: "failed"
    readonly height: number
    readonly reason: string
    /** What the node runs after it (rolled back: the previous target). */
    readonly current: string | null
    /** The node's state after it: running when rolled back, stopped when its policy is halt. */
    readonly nodeState: string | null
  }
  | {
    readonly node: FleetNode
    readonly outcome: "timeout"
    readonly height: number
    readonly after: Duration.Duration
    /** The upgrade's status the last time it was seen (it may still fire). */
    readonly lastSeen: UpgradeStatus | null
    readonly lastError: string | null
  }
  | { readonly node: FleetNode; readonly outcome: "error"; readonly message: string; readonly touched: boolean }
  | { readonly node: FleetNode; readonly outcome: "untouched" }

export const rollStepOk = (s: RollStep): boolean => s.outcome === "done" || s.outcome === "skipped"

const FINAL: ReadonlyArray<UpgradeStatus> = ["done", "failed", "cancelled"]

class NotYet extends Data.TaggedError("NotYet")<{ readonly status: UpgradeStatus | null }> {}

/** The roll on one node: schedule at head + offset (unless scheduled already), then wait for the end. */
const rollOne = (node: FleetNode, client: NodeClient, o: RollOptions): Effect.Effect<RollStep> =>
  Effect.gen(function*() {
    const call = <A>(f: Effect.Effect<A, Error>) => attempt(node, f, o.timeout)
    const fail = (message: string, touched = false): RollStep => ({ node, outcome: "error", message, touched })
    const status = yield* call(client.status)
    if (Either.isLeft(status)) return fail(`could not read its status: ${status.left.message}`)
    if (status.right.current === o.name) return { node, outcome: "skipped", why: `already on ${o.name}` }
    const listed = yield* call(client.list)
    if (Either.isLeft(listed)) return fail(`could not list its upgrades: ${listed.left.message}`)
    const existing = listed.right.find((u) => u.name === o.name)
    if (existing?.status === "done") return { node, outcome: "skipped", why: `${o.name} is done there already` }
    let height: number
    let scheduled: boolean
    const head = status.right.current_height
    if (existing !== undefined && isPending(existing.status)) {
      height = existing.height
      scheduled = false
    } else {
      if (head === null) return fail("its chain head is unknown (the node's RPC does not answer its supervisor)")
      const r = yield* call(client.schedule({ ...o.request, name: o.name, height: head + o.heightOffset }))
      // No answer in time: the schedule may have been written all the same.
      if (Either.isLeft(r)) return fail(`schedule failed: ${r.left.message}`, isUnreachable(r.left))
      height = r.right.height
      scheduled = true
    }
    if (o.report !== undefined) yield* o.report.waiting(node, height, scheduled ? head : null)
    // Wait for the end on the node's own word: its upgrade list, looked at on a schedule; a look that fails is retried.
    const lastSeen = yield* Ref.make<UpgradeStatus | null>(
      existing !== undefined && !scheduled ? existing.status : "scheduled"
    )
    const lastError = yield* Ref.make<string | null>(null)
    const look = call(client.list).pipe(
      Effect.flatMap(Either.match({
        onLeft: (e) => Effect.zipRight(Ref.set(lastError, e.message), Effect.fail(new NotYet({ status: null }))),
        onRight: (l) => {
          const u = l.find((x) => x.name === o.name)
          return Effect.zipRight(
            Ref.set(lastSeen, u?.status ?? null),
            u !== undefined && FINAL.includes(u.status)
              ? Effect.succeed(u)
              : Effect.fail(new NotYet({ status: u?.status ?? null }))
          )
        }
      }))
    )
    const ended = yield* look.pipe(
      Effect.retry(Schedule.spaced(o.pollInterval)),
      Effect.timeoutOption(o.rollTimeout),
      // Schedule.spaced never ends: the wait fails only by the timeout.
      Effect.catchAll(() => Effect.succeedNone),
      Effect.onInterrupt(() => o.report?.interrupted?.(node, height) ?? Effect.void)
    )
    if (ended._tag === "None") {
      return {
        node,
        outcome: "timeout",
        height,
        after: o.rollTimeout,
        lastSeen: yield* Ref.get(lastSeen),
        lastError: yield* Ref.get(lastError)
      }
    }
    const u = ended.value
    const after = yield* call(client.status)
    const current = Either.isRight(after) ? after.right.current : null
    if (u.status === "done") {
      return {
        node,
        outcome: "done",
        height,
        scheduled,
        head: scheduled ? head : null,
        current,
        version: Either.isRight(after) ? after.right.version : null
      }
    }
    return {
      node,
      outcome: "failed",
      height,
      reason: u.status === "cancelled" ? "it was cancelled meanwhile" : (u.reason ?? "failed (no reason given)"),
      current,
      nodeState: Either.isRight(after) ? after.right.node_state : null
    }
  })

/**
 * `fleet roll`: first every node must answer, with upgrades not held (a
 * roll that cannot finish is not started: nothing is scheduled). Then one
 * node at a time, in the fleet's order; the first that does not end `done`
 * (failed and rolled back, refused, no answer, past the roll timeout) stops
 * it: the nodes after it are left untouched.
 */
export const roll = (
  nodes: ReadonlyArray<FleetNode>,
  clients: Clients,
  o: RollOptions & { readonly concurrency: number }
): Effect.Effect<ReadonlyArray<RollStep>> =>
  Effect.gen(function*() {
    const pre = yield* board(nodes, clients, { concurrency: o.concurrency, timeout: o.timeout })
    const blocked = pre.flatMap((r): Array<readonly [string, string]> => {
      if (Either.isLeft(r.result)) return [[r.node.name, `did not answer: ${r.result.left.message}`]]
      const s = r.result.right
      if (s.upgrades_paused !== null) return [[r.node.name, `upgrades are PAUSED there (by ${s.upgrades_paused.by})`]]
      if (s.paused !== null) return [[r.node.name, `upgrades are held there: ${s.paused}`]]
      if (s.in_progress !== null && s.in_progress.name !== o.name) {
        return [[r.node.name, `upgrade ${s.in_progress.name} is in progress there`]]
      }
      return []
    })
    const told = (step: RollStep) => Effect.as(o.report?.step(step) ?? Effect.void, step)
    if (blocked.length > 0) {
      const blockedWhy = new Map(blocked)
      return yield* Effect.forEach(nodes, (node) =>
        told(
          blockedWhy.has(node.name)
            ? {
              node,
              outcome: "error",
              message: `${blockedWhy.get(node.name)!}; the roll was not started`,
              touched: false
            }
            : { node, outcome: "untouched" }
        ))
    }
    const steps: Array<RollStep> = []
    for (const node of nodes) {
      const stopped = steps.some((s) => !rollStepOk(s))
      steps.push(yield* told(stopped ? { node, outcome: "untouched" } : yield* rollOne(node, clients(node), o)))
    }
    return steps
  })
