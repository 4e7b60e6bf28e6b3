import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Option from "effect/Option"
import type { ScheduleUpgradePayload } from "../api/Rpcs.js"
import type { ErrorKind } from "../domain/Errors.js"
import type { PreflightResult } from "../domain/Preflight.js"
import type { StatusObject } from "../domain/Status.js"
import type { Upgrade } from "../domain/Upgrade.js"
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
 * - the readiness board of `fleet status` (Board.ts);
 * - the roll of a patch release, one node at a time (Roll.ts).
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
export const attempt = <A>(node: FleetNode, f: Effect.Effect<A, Error>, timeout: Duration.Duration) =>
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
