import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { parseDuration } from "../config/Config.js"
import { InvalidInput } from "../domain/Errors.js"
import { cliWorded } from "../domain/Plan.js"
import { PreflightResult } from "../domain/Preflight.js"
import { StatusObject } from "../domain/Status.js"
import type { Upgrade } from "../domain/Upgrade.js"
import {
  attention,
  board,
  boardVerdict,
  checkLine,
  type NodeCheck,
  preflights,
  summarize,
  type UpgradeSummary
} from "../fleet/Board.js"
import {
  type Clients,
  failures,
  fanOut,
  FleetIncomplete,
  isUnreachable,
  type NodeClient,
  type Outcome,
  type ScheduleRequest
} from "../fleet/Fleet.js"
import { type Fleet, type FleetNode, resolveFleet } from "../fleet/FleetFile.js"
import { roll as rollFleet, type RollStep, rollStepOk } from "../fleet/Roll.js"
import { decodeHeightArg, decodeName } from "../upgrades/Operations.js"
import { cancelledLine, etaText, preparedLine, safeText, scheduledLine, table } from "./upgrade-format.js"
import { call } from "./upgrade-remote.js"
import { decodeScheduleFlags, payloadOf, type ScheduleFlags } from "./upgrade.js"

/*
 * `wemixvisor fleet …` (issue #18 item 5): `upgrade status/schedule/cancel/
 * prepare` on every supervisor of a fleet file (or --remote a,b,c) at once,
 * and `fleet roll` for a patch release, one node at a time. The logic is
 * src/fleet/Fleet.ts over a per-node client; here are the options, the RPC
 * client of each node (as `upgrade --remote` calls it) and what is printed.
 * Every argument and the whole fleet are checked before anything is sent
 * (exit 2, nothing sent); then each node's result is a line, and exit 0 only
 * when it succeeded on every node.
 */

export const DEFAULT_CONCURRENCY = 4
/** `fleet status`: a board must not hang on one node. */
export const STATUS_TIMEOUT = Duration.seconds(10)
/** `fleet schedule/cancel` (the server's head check and plan lock) and each call of `fleet roll`. */
export const CALL_TIMEOUT = Duration.seconds(30)
/** `fleet prepare` waits for downloads (with their retries) and a version probe on each node. */
export const PREPARE_TIMEOUT = Duration.minutes(30)
/** `fleet roll`: from one node's schedule to its upgrade's end (head + offset blocks, stop, start, verify). */
export const ROLL_TIMEOUT = Duration.minutes(15)
export const DEFAULT_HEIGHT_OFFSET = 10
/** `fleet roll` looks at the node's upgrade list this often while it waits. */
export const ROLL_POLL = Duration.seconds(1)

export interface FleetOptions {
  readonly fleet: Option.Option<string>
  readonly remote: Option.Option<string>
  readonly concurrency: Option.Option<number>
  readonly timeout: Option.Option<string>
}

/** The per-node client of the fleet commands: the typed RPC client, as `upgrade --remote` uses it. */
export const rpcClients: Clients = (node: FleetNode): NodeClient => {
  // The fleet's own per-node timeout bounds each call (Fleet.ts); this one is a backstop only.
  const via = <A, E>(f: Parameters<typeof call<A, E>>[1]) => call(node, f, Duration.hours(24))
  return {
    status: via((c) => c.GetStatus()),
    list: Effect.map(via((c) => c.ListUpgrades()), (l) => l.upgrades),
    schedule: (request) =>
      via((c) => c.ScheduleUpgrade(request)).pipe(
        // The server words the override for API callers; this one types --force.
        Effect.catchTag("UpgradeConflict", (e) => Effect.fail(cliWorded(e)))
      ),
    cancel: (name) => via((c) => c.CancelUpgrade(Option.isSome(name) ? { name: name.value } : {})),
    prepare: (name) => via((c) => c.PrepareUpgrade({ name })),
    check: (name) => via((c) => c.CheckUpgrade({ name }))
  }
}

const positiveDuration = (field: string, raw: Option.Option<string>, fallback: Duration.Duration) =>
  Option.match(raw, {
    onNone: () => Either.right(fallback),
    onSome: (r) =>
      parseDuration(r).pipe(
        Either.filterOrLeft((d) => Duration.toMillis(d) > 0, () => "must be above zero"),
        Either.mapLeft((problem) => new InvalidInput({ field, problem: `${JSON.stringify(r)}: ${problem}` }))
      )
  })

/** The fleet and the fan-out's bounds, all checked (exit 2) before any node is called. */
const setup = (o: FleetOptions, defaultTimeout: Duration.Duration, clients: Clients) =>
  Effect.gen(function*() {
    const concurrency = Option.getOrElse(o.concurrency, () => DEFAULT_CONCURRENCY)
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      return yield* new InvalidInput({
        field: "--concurrency",
        problem: `must be a whole number of nodes, at least 1 (got ${concurrency})`
      })
    }
    const timeout = yield* positiveDuration("--timeout", o.timeout, defaultTimeout)
    const fleet = yield* resolveFleet({ fleet: o.fleet, remote: o.remote, env: process.env })
    for (const w of fleet.warnings) yield* Console.error(`warning: ${w}`)
    return { fleet, bounds: { concurrency, timeout }, clients }
  })

// ---------------------------------------------------------------------------
// What is printed

const pendingCell = (s: StatusObject): string =>
  s.pending.length === 0
    ? s.last !== null && s.last.status !== "done"
      ? `none (last: ${s.last.name} ${s.last.status}${s.last.reason !== null ? `: ${safeText(s.last.reason)}` : ""})`
      : "none"
    : s.pending
      .map((u) =>
        `${u.name} at ${u.height}: ${u.status}${u.reason !== null ? ` (${safeText(u.reason)})` : ""}${
          u.eta !== null ? `, ${etaText(u)}` : ""
        }`
      )
      .join("; ")

/** The board: a row per node, in the fleet's order; a node that did not answer is a row that says so. */
export const boardText = (rows: ReadonlyArray<Outcome<StatusObject>>): string =>
  table([
    ["NODE", "HEAD", "NODE STATE", "CURRENT", "PENDING"],
    ...rows.map((r) =>
      Either.match(r.result, {
        onLeft: (e) => [
          r.node.name,
          "-",
          "-",
          "-",
          `${isUnreachable(e) ? "UNREACHABLE" : "ERROR"}: ${safeText(e.message)}`
        ],
        onRight: (s) => [
          r.node.name,
          s.current_height !== null ? String(s.current_height) : "unknown",
          `${s.node_state}${s.upgrading && s.in_progress !== null ? ` (upgrading ${s.in_progress.name})` : ""}`,
          `${s.current}${s.version !== null ? ` (${safeText(s.version)})` : ""}`,
          pendingCell(s)
        ]
      })
    )
  ])

/** "3/3 ready for v2 at 1500000 — in 2h14m (02:14 UTC)", or who is not and why. */
export const summaryLine = (s: UpgradeSummary): string => {
  const head = `${s.ok}/${s.total} ready for ${s.name} at ${s.height}`
  const done = s.standings.filter((x) => x.ok && x.done).map((x) => x.node)
  const already = done.length === 0 ? "" : ` (${done.join(", ")} already on it)`
  const problems = s.standings.flatMap((x) => (x.ok ? [] : [`${x.node}: ${safeText(x.why)}`]))
  return problems.length === 0
    ? `${head}${already} — ${s.eta !== null ? etaText(s.eta) : "ETA unknown"}`
    : `${head}${already} — ${problems.join("; ")}`
}

const nothingPending = (rows: ReadonlyArray<Outcome<StatusObject>>): string => {
  const answered = rows.filter((r) => Either.isRight(r.result)).length
  return answered === rows.length
    ? "No upgrade pending on any node"
    : answered === 0
    ? "No node answered"
    : `No upgrade pending on the ${answered} of ${rows.length} nodes that answered`
}

export const statusText = (
  rows: ReadonlyArray<Outcome<StatusObject>>,
  checks: ReadonlyArray<NodeCheck> | undefined = undefined
): string => {
  const summaries = summarize(rows)
  const notes = attention(rows)
  const width = Math.max(0, ...rows.map((r) => r.node.name.length))
  return [
    boardText(rows),
    "",
    ...(summaries.length === 0 ? [nothingPending(rows)] : summaries.map(summaryLine)),
    ...notes.map((n) => `! ${n.node}: ${safeText(n.what)}`),
    // --check: each node's own `upgrade check` of each upgrade pending there.
    ...(checks === undefined ? [] : [
      "",
      ...(checks.length === 0 ? ["Nothing to check: no upgrade pending on a node that answered"] : []),
      ...checks.map((c) => `${c.node.name.padEnd(width)}  ${safeText(checkLine(c))}`)
    ])
  ].join("\n")
}

const encodeStatus = Schema.encodeSync(StatusObject)

const encodePreflight = Schema.encodeSync(PreflightResult)

export const statusJson = (
  rows: ReadonlyArray<Outcome<StatusObject>>,
  checks: ReadonlyArray<NodeCheck> | undefined = undefined
): string =>
  JSON.stringify(
    {
      ...(checks === undefined ? {} : {
        checks: checks.map((c) =>
          Either.match(c.result, {
            onLeft: (e) => ({ node: c.node.name, name: c.name, ok: false, error: e.message }),
            onRight: (r) => ({ node: c.node.name, name: c.name, ok: true, check: encodePreflight(r) })
          })
        )
      }),
      nodes: rows.map((r) =>
        Either.match(r.result, {
          onLeft: (e) => ({
            name: r.node.name,
            url: r.node.url,
            ok: false,
            unreachable: isUnreachable(e),
            error: e.message
          }),
          onRight: (s) => ({ name: r.node.name, url: r.node.url, ok: true, status: encodeStatus(s) })
        })
      ),
      upgrades: summarize(rows).map((s) => ({
        name: s.name,
        height: s.height,
        ready: s.ok,
        total: s.total,
        eta: s.eta?.eta ?? null,
        eta_seconds: s.eta?.eta_seconds ?? null,
        line: summaryLine(s),
        nodes: s.standings.map((
          x
        ) => (x.ok ? { node: x.node, ok: true, done: x.done } : { node: x.node, ok: false, problem: x.why }))
      })),
      attention: attention(rows),
      green: boardVerdict(rows, checks) === undefined
    },
    null,
    2
  )

/** One line per node: its name, then ✓ and what was done, or ✗ and the error. */
export const resultLines = <A>(outcomes: ReadonlyArray<Outcome<A>>, ok: (a: A) => string): string => {
  const width = Math.max(...outcomes.map((o) => o.node.name.length))
  return outcomes
    .map((o) =>
      `${o.node.name.padEnd(width)}  ${
        Either.match(o.result, { onLeft: (e) => `✗ ${safeText(e.message)}`, onRight: (a) => ok(a) })
      }`
    )
    .join("\n")
}

export const rollLine = (name: string, s: RollStep, width = s.node.name.length): string => {
  const label = s.node.name.padEnd(width)
  switch (s.outcome) {
    case "done":
      return `${label}  ✓ ${name} done at block height ${s.height}${
        s.scheduled && s.head !== null
          ? ` (scheduled at head ${s.head} + ${s.height - s.head})`
          : " (it was scheduled already)"
      }; now on ${s.current ?? "?"}${s.version !== null ? ` (${safeText(s.version)})` : ""}`
    case "skipped":
      return `${label}  ✓ skipped: ${safeText(s.why)}`
    case "failed":
      return `${label}  ✗ ${name} failed at block height ${s.height}: ${safeText(s.reason)}${
        s.current !== null ? `; now on ${s.current}${s.nodeState !== null ? ` (node ${s.nodeState})` : ""}` : ""
      }`
    case "timeout":
      return `${label}  ✗ ${name} at block height ${s.height} not done within ${Duration.format(s.after)} (last seen: ${
        s.lastSeen ?? "unknown"
      }${
        s.lastError !== null ? `; last error: ${safeText(s.lastError)}` : ""
      }) — it is still in that node's plan and may still fire: check it with \`wemixvisor upgrade status --remote ${s.node.url}\`, cancel it with \`wemixvisor upgrade cancel ${name} --remote ${s.node.url}\``
    case "error":
      return `${label}  ✗ ${safeText(s.message)}${
        s.touched
          ? ` — the schedule may have been written: check \`wemixvisor upgrade list --remote ${s.node.url}\``
          : ""
      }`
    case "untouched":
      return `${label}  - not touched`
  }
}

// ---------------------------------------------------------------------------
// The commands

/**
 * `fleet status [--json] [--check]`: the readiness board; exit 0 only when it
 * is green (see Fleet.boardVerdict). `--check` adds each node's `upgrade
 * check` of each upgrade pending there; a NO GO is not green.
 */
export const status = (
  o: FleetOptions & { readonly json: boolean; readonly check?: boolean },
  clients: Clients = rpcClients
) =>
  Effect.gen(function*() {
    const { bounds, fleet } = yield* setup(o, STATUS_TIMEOUT, clients)
    const rows = yield* board(fleet.nodes, clients, bounds)
    const checks = o.check === true ? yield* preflights(rows, clients, bounds) : undefined
    yield* Console.log(o.json ? statusJson(rows, checks) : statusText(rows, checks))
    const verdict = boardVerdict(rows, checks)
    if (verdict !== undefined) return yield* verdict
  })

/** What `fleet schedule` and `fleet roll` schedule besides name and height: the `upgrade schedule` options. */
const scheduleExtras = (o: ScheduleFlags): Effect.Effect<Omit<ScheduleRequest, "name" | "height">, InvalidInput> =>
  Effect.map(decodeScheduleFlags(o), payloadOf)

const fanned = <A>(
  what: string,
  f: (client: NodeClient) => Effect.Effect<A, Error>,
  ok: (a: A) => string,
  ctx: {
    readonly fleet: Fleet
    readonly bounds: { concurrency: number; timeout: Duration.Duration }
    readonly clients: Clients
  }
) =>
  Effect.gen(function*() {
    const outcomes = yield* fanOut(ctx.fleet.nodes, (n) => f(ctx.clients(n)), ctx.bounds)
    yield* Console.log(resultLines(outcomes, ok))
    const failed = failures(what, outcomes)
    if (failed !== undefined) return yield* failed
  })

export const schedule = (
  o: FleetOptions & ScheduleFlags & { readonly name: string; readonly height: string; readonly force: boolean },
  clients: Clients = rpcClients
) =>
  Effect.gen(function*() {
    const name = yield* decodeName(o.name)
    const height = yield* decodeHeightArg(o.height)
    const extras = yield* scheduleExtras(o)
    const ctx = yield* setup(o, CALL_TIMEOUT, clients)
    yield* fanned(
      `fleet schedule ${name}`,
      (c) => c.schedule({ ...extras, name, height, force: o.force }),
      (u) => scheduledLine(u),
      ctx
    )
  })

export const cancel = (o: FleetOptions & { readonly name: Option.Option<string> }, clients: Clients = rpcClients) =>
  Effect.gen(function*() {
    const name = Option.isSome(o.name) ? Option.some(yield* decodeName(o.name.value)) : Option.none<string>()
    const ctx = yield* setup(o, CALL_TIMEOUT, clients)
    yield* fanned(
      `fleet cancel${Option.isSome(name) ? ` ${name.value}` : ""}`,
      (c) => c.cancel(name),
      (u: Upgrade) => cancelledLine(u),
      ctx
    )
  })

export const prepare = (o: FleetOptions & { readonly name: string }, clients: Clients = rpcClients) =>
  Effect.gen(function*() {
    const name = yield* decodeName(o.name)
    const ctx = yield* setup(o, PREPARE_TIMEOUT, clients)
    yield* fanned(`fleet prepare ${name}`, (c) => c.prepare(name), (u) => preparedLine(u, null, null), ctx)
  })

export const roll = (
  o: FleetOptions & ScheduleFlags & {
    readonly name: string
    readonly heightOffset: Option.Option<number>
    readonly rollTimeout: Option.Option<string>
  },
  clients: Clients = rpcClients,
  pollInterval: Duration.Duration = ROLL_POLL
) =>
  Effect.gen(function*() {
    const name = yield* decodeName(o.name)
    const heightOffset = Option.getOrElse(o.heightOffset, () => DEFAULT_HEIGHT_OFFSET)
    if (!Number.isInteger(heightOffset) || heightOffset < 1) {
      return yield* new InvalidInput({
        field: "--height-offset",
        problem: `must be a whole number of blocks, at least 1 (got ${heightOffset})`
      })
    }
    const request = yield* scheduleExtras(o)
    const rollTimeout = yield* positiveDuration("--roll-timeout", o.rollTimeout, ROLL_TIMEOUT)
    const { bounds, fleet } = yield* setup(o, CALL_TIMEOUT, clients)
    const width = Math.max(...fleet.nodes.map((n) => n.name.length))
    yield* Console.error(
      `Rolling ${name} over ${fleet.nodes.length} node${
        fleet.nodes.length === 1 ? "" : "s"
      }, one at a time: each at its head + ${heightOffset}, the next once it is done (up to ${
        Duration.format(rollTimeout)
      } each)`
    )
    const steps = yield* rollFleet(fleet.nodes, clients, {
      name,
      heightOffset,
      request,
      timeout: bounds.timeout,
      rollTimeout,
      pollInterval,
      concurrency: bounds.concurrency,
      report: {
        waiting: (node, height, head) =>
          Console.error(
            `… ${node.name}: ${name} ${
              head !== null
                ? `scheduled at block height ${height} (head ${head} + ${height - head})`
                : `already scheduled at block height ${height}`
            }; waiting for it to be done`
          ),
        step: (s) => Console.log(rollLine(name, s, width)),
        interrupted: (node, height) =>
          Console.error(
            `interrupted: ${name} is still scheduled on ${node.name} at block height ${height} and fires there at its height; cancel it with \`wemixvisor upgrade cancel ${name} --remote ${node.url}\` if it must not`
          )
      }
    })
    const stop = steps.find((s) => !rollStepOk(s))
    if (stop !== undefined) {
      const done = steps.filter(rollStepOk).map((s) => s.node.name)
      const untouched = steps.filter((s) => s.outcome === "untouched").map((s) => s.node.name)
      return yield* new FleetIncomplete({
        summary: `fleet roll of ${name} stopped at ${stop.node.name}: ${
          done.length > 0 ? `done on ${done.join(", ")}` : "done nowhere"
        }; ${untouched.length > 0 ? `not touched: ${untouched.join(", ")}` : "no node left untouched"}`
      })
    }
  })
