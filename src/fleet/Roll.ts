/*
 * `fleet roll`: a patch release one node at a time, in the fleet's order,
 * each upgraded and verified before the next is touched; the first node that
 * does not end `done` stops it.
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { isPending, type UpgradeStatus } from "../domain/Upgrade.js"
import { board } from "./Board.js"
import { attempt, type Clients, isUnreachable, type NodeClient, type ScheduleRequest } from "./Fleet.js"
import type { FleetNode } from "./FleetFile.js"

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
