import * as Headers from "@effect/platform/Headers"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { type ErrorKind, InvalidInput, kindOf } from "../domain/Errors.js"
import { PreflightResult } from "../domain/Preflight.js"
import { ProposalList } from "../domain/Proposal.js"
import { StatusObject } from "../domain/Status.js"
import { Upgrade, UpgradeList } from "../domain/Upgrade.js"
import { WemixvisorEvent } from "../events/Events.js"
import * as Pace from "../height/Pace.js"
import { HistoryRecord, readHistory } from "../upgrades/History.js"
import { decodeName, decodeSchedule } from "../upgrades/Operations.js"
import { notReadySoon } from "../warnings/Rules.js"
import {
  API_FORCE_HINT,
  type ApiServices,
  decodePause,
  originOf,
  pauseToWire,
  proposalList,
  toWire,
  type WireError
} from "./Handlers.js"

/*
 * REST for curl and dashboards (ARCHITECTURE §6): the seeds' routes and shapes,
 * over the same Operations as the RPC handlers, plus prepare (the
 * orchestrator's, as PrepareUpgrade), the history (read as `upgrade
 * history` reads it) and the governance proposals tracked. Errors are
 * `{"error": "…", "details": "…"}` with the status of the error's kind:
 * 400 names the field, 409 conflict, 404 unknown, 401 token, 403 Host or
 * Origin, 413 body too large, 415 content type, 503 node or plan unavailable,
 * 500 a preparation that failed (download, checksum, probe) or a history
 * that cannot be read.
 */

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson(body, { status, headers: Headers.fromInput(headers) })

export const errorResponse = (status: number, error: string, details: string, headers: Record<string, string> = {}) =>
  json(status, { error, details }, headers)

/** The HTTP status of each kind of failure. */
export const httpStatus: { readonly [K in ErrorKind]: number } = {
  input: 400,
  conflict: 409,
  missing: 404,
  unauthorized: 401,
  forbidden: 403,
  "too-large": 413,
  unsupported: 415,
  unavailable: 503,
  // A failed preparation (PrepareFailed) and an unreadable history; the plan's own I/O errors are PlanUnavailable by then.
  operational: 500
}

export const httpStatusOf = (e: unknown): number => httpStatus[kindOf(e)]

/** The body's heading and details: the field for bad input, the error's own words otherwise. */
const bodyOf = (e: WireError): readonly [error: string, details: string] => {
  switch (e._tag) {
    case "InvalidInput":
      return [`invalid ${e.field}`, e.problem]
    case "UpgradeConflict":
      return ["conflict", e.message]
    case "UpgradeNotFound":
      return ["not found", e.message]
    case "NodeUnreachable":
      return ["node unreachable", e.message]
    case "PlanUnavailable":
      return ["plan unavailable", e.reason]
    case "PrepareFailed":
      return ["not ready", e.message]
  }
}

export const wireToHttp = (e: WireError) => errorResponse(httpStatusOf(e), ...bodyOf(e))

const encodeUpgrade = Schema.encodeSync(Upgrade)
const encodeList = Schema.encodeSync(UpgradeList)
const encodeStatus = Schema.encodeSync(StatusObject)
const encodeEvent = Schema.encodeSync(WemixvisorEvent)
const encodeHistory = Schema.encodeSync(Schema.Array(HistoryRecord))
const encodeProposals = Schema.encodeSync(ProposalList)
const encodePreflight = Schema.encodeSync(PreflightResult)

/** The body of a POST that may have none (pause's is optional): empty is `{}`. */
const optionalJsonBody = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const text = yield* Effect.orElseSucceed(request.text, () => "")
  if (text.trim() === "") return Either.right<unknown>({})
  return yield* jsonBody
})

/** GET /api/v1/history without `limit`, and the most it may ask for. */
export const HISTORY_DEFAULT_LIMIT = 200
export const HISTORY_MAX_LIMIT = 1000

/** One query parameter: absent, or given once (twice is bad input: which one was meant?). */
const oneParam = (
  params: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>,
  field: string
): Either.Either<Option.Option<string>, InvalidInput> => {
  const v = params[field]
  if (v === undefined) return Either.right(Option.none())
  if (typeof v === "string") return Either.right(Option.some(v))
  return Either.left(new InvalidInput({ field, problem: "given more than once" }))
}

/** GET /api/v1/history's query: `name` an upgrade name, `limit` a whole number 1..1000 (default 200). */
export const decodeHistoryQuery = (
  params: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
): Either.Either<{ readonly name: Option.Option<string>; readonly limit: number }, InvalidInput> =>
  Either.gen(function*() {
    const rawName = yield* oneParam(params, "name")
    const name = Option.isSome(rawName)
      ? Option.some<string>(yield* decodeName(rawName.value))
      : Option.none<string>()
    const rawLimit = yield* oneParam(params, "limit")
    if (Option.isNone(rawLimit)) return { name, limit: HISTORY_DEFAULT_LIMIT }
    const limit = /^[0-9]{1,7}$/.test(rawLimit.value) ? Number(rawLimit.value) : Number.NaN
    if (!(limit >= 1 && limit <= HISTORY_MAX_LIMIT)) {
      return yield* Either.left(
        new InvalidInput({
          field: "limit",
          problem: `must be a whole number of records from 1 to ${HISTORY_MAX_LIMIT} (got ${
            JSON.stringify(rawLimit.value)
          })`
        })
      )
    }
    return { name, limit }
  })

/** SSE keeps idle connections (and the proxies between) open with a comment now and then. */
export const sseKeepAlive = Schedule.spaced("15 seconds")

/** `event: <type>` / `data: <json>` frames; a `: connected` comment once the subscription exists. */
const eventStream = (api: ApiServices): Stream.Stream<Uint8Array> =>
  Stream.unwrapScoped(
    Effect.map(api.events.subscribe, (events) =>
      Stream.make(": connected\n\n").pipe(
        Stream.concat(
          Stream.merge(
            Stream.map(events, (e) => `event: ${e.type}\ndata: ${JSON.stringify(encodeEvent(e))}\n\n`),
            Stream.fromSchedule(sseKeepAlive).pipe(Stream.as(": keep-alive\n\n")),
            { haltStrategy: "left" }
          )
        )
      ))
  ).pipe(Stream.encodeText)

/** The body as JSON; the size limit was enforced (and the body read) by the server's middleware. */
const jsonBody = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const text = yield* Effect.either(request.text)
  if (Either.isLeft(text)) {
    return Either.left(
      wireToHttp(new InvalidInput({ field: "body", problem: `could not read it: ${text.left.message}` }))
    )
  }
  try {
    return Either.right<unknown>(JSON.parse(text.right))
  } catch (e) {
    return Either.left(errorResponse(400, "invalid JSON", (e as Error).message))
  }
})

export const routes = (api: ApiServices) =>
  HttpRouter.empty.pipe(
    HttpRouter.post(
      "/api/v1/upgrades",
      Effect.gen(function*() {
        const body = yield* jsonBody
        if (Either.isLeft(body)) return body.left
        if (typeof body.right !== "object" || body.right === null || Array.isArray(body.right)) {
          return wireToHttp(new InvalidInput({ field: "body", problem: "expected a JSON object" }))
        }
        const { headers } = yield* HttpServerRequest.HttpServerRequest
        return yield* decodeSchedule(body.right, { forceHint: API_FORCE_HINT }).pipe(
          Effect.flatMap((cmd) => api.ops.schedule(cmd, originOf("rest", headers))),
          Effect.mapError((e) => toWire(e)),
          Effect.match({
            onFailure: wireToHttp,
            onSuccess: (u) => json(201, { message: "Upgrade scheduled successfully", upgrade: encodeUpgrade(u) })
          })
        )
      })
    ),
    HttpRouter.get(
      "/api/v1/upgrades",
      api.ops.list.pipe(
        Effect.mapError((e) => toWire(e)),
        Effect.match({ onFailure: wireToHttp, onSuccess: (l) => json(200, encodeList(l)) })
      )
    ),
    HttpRouter.get(
      "/api/v1/upgrades/status",
      Effect.map(api.status, (s) => json(200, encodeStatus(s)))
    ),
    HttpRouter.del(
      "/api/v1/upgrades/:name",
      Effect.gen(function*() {
        const { name } = yield* HttpRouter.params
        const { headers } = yield* HttpServerRequest.HttpServerRequest
        return yield* api.ops.cancel(Option.fromNullable(name), originOf("rest", headers)).pipe(
          Effect.mapError((e) => toWire(e)),
          Effect.match({
            onFailure: wireToHttp,
            onSuccess: (u) => json(200, { message: "Upgrade cancelled successfully", name: u.name })
          })
        )
      })
    ),
    HttpRouter.post(
      "/api/v1/upgrades/:name/prepare",
      Effect.gen(function*() {
        const { name } = yield* HttpRouter.params
        const { headers } = yield* HttpServerRequest.HttpServerRequest
        // No body to read: the name is in the path (a body sent anyway is ignored).
        return yield* decodeName(name ?? "").pipe(
          Effect.flatMap((n) => api.prepare(n, originOf("rest", headers)).pipe(Effect.mapError((e) => toWire(e)))),
          Effect.match({
            onFailure: wireToHttp,
            onSuccess: (u) => json(200, { message: "Upgrade prepared", upgrade: encodeUpgrade(u) })
          })
        )
      })
    ),
    HttpRouter.get(
      "/api/v1/upgrades/:name/check",
      Effect.gen(function*() {
        const { name } = yield* HttpRouter.params
        // 200 for a NO GO too: the answer is the verdict (`go`), not a failure of the request.
        return yield* decodeName(name ?? "").pipe(
          Effect.flatMap((n) => api.check(n).pipe(Effect.mapError((e) => toWire(e)))),
          Effect.match({ onFailure: wireToHttp, onSuccess: (r) => json(200, encodePreflight(r)) })
        )
      })
    ),
    HttpRouter.post(
      "/api/v1/node/restart",
      Effect.gen(function*() {
        const { headers } = yield* HttpServerRequest.HttpServerRequest
        // No body to read (one sent anyway is ignored).
        return yield* api.restartNode(originOf("rest", headers)).pipe(
          Effect.match({
            onFailure: wireToHttp,
            onSuccess: (r) =>
              // The request was carried out; a binary that would not start is the node's `error`, said as such.
              json(r.state === "running" ? 200 : 500, {
                message: r.state === "running" ? "Node restarted" : "Node stopped but could not be started",
                node: r
              })
          })
        )
      })
    ),
    HttpRouter.post(
      "/api/v1/upgrades/pause",
      Effect.gen(function*() {
        const body = yield* optionalJsonBody
        if (Either.isLeft(body)) return body.left
        if (typeof body.right !== "object" || body.right === null || Array.isArray(body.right)) {
          return wireToHttp(new InvalidInput({ field: "body", problem: "expected a JSON object" }))
        }
        const { headers } = yield* HttpServerRequest.HttpServerRequest
        return yield* decodePause(body.right).pipe(
          Effect.flatMap((reason) => api.pause(reason, originOf("rest", headers)).pipe(Effect.mapError(pauseToWire))),
          Effect.match({
            onFailure: wireToHttp,
            onSuccess: (p) => json(200, { message: "Upgrades paused", upgrades_paused: p })
          })
        )
      })
    ),
    HttpRouter.post(
      "/api/v1/upgrades/resume",
      Effect.gen(function*() {
        const { headers } = yield* HttpServerRequest.HttpServerRequest
        return yield* api.resume(originOf("rest", headers)).pipe(
          Effect.mapError(pauseToWire),
          Effect.match({
            onFailure: wireToHttp,
            onSuccess: (was) =>
              json(200, { message: was === null ? "Upgrades were not paused" : "Upgrades resumed", resumed: was })
          })
        )
      })
    ),
    HttpRouter.get(
      "/api/v1/history",
      Effect.gen(function*() {
        const query = decodeHistoryQuery(yield* HttpServerRequest.ParsedSearchParams)
        if (Either.isLeft(query)) return wireToHttp(query.left)
        return yield* readHistory(api.history, { name: query.right.name, limit: Option.some(query.right.limit) }).pipe(
          Effect.match({
            onFailure: (e) => errorResponse(httpStatusOf(e), "history unavailable", e.message),
            onSuccess: ({ records }) => json(200, { records: encodeHistory(records), count: records.length })
          })
        )
      })
    ),
    HttpRouter.get(
      "/api/v1/proposals",
      Effect.map(proposalList(api), (l) => json(200, encodeProposals(l)))
    ),
    HttpRouter.get(
      "/api/v1/events",
      Effect.succeed(
        HttpServerResponse.stream(eventStream(api), {
          contentType: "text/event-stream",
          headers: Headers.fromInput({ "cache-control": "no-cache", "x-accel-buffering": "no" })
        })
      )
    )
  )

// ---------------------------------------------------------------------------
// /health

export interface HealthInputs {
  readonly status: Effect.Effect<StatusObject>
  /** Why upgrades are paused (corrupt plan or journal, …), or null. */
  readonly paused: Effect.Effect<string | null>
  /** Set when a failed upgrade halted the node, or null. */
  readonly halted: Effect.Effect<string | null>
  /** The chain's pace now: the head, how long it has not moved, the block interval. */
  readonly pace: Effect.Effect<Pace.Pace>
  /** WEMIXVISOR_STALL_AFTER; none: max(60 s, 10 block intervals), the `node-stalled` rule. */
  readonly stallAfter: Option.Option<Duration.Duration>
}

/** /health's words for a node that is not running. */
const NODE_STATE_REASON: Record<Exclude<StatusObject["node_state"], "running">, string> = {
  stopped: "node is stopped",
  starting: "node is starting",
  stopping: "node is stopping",
  crashed: "node crashed (restarting)",
  error: "node is down: it kept crashing and is no longer restarted (see the wemixvisor log)"
}

/**
 * Healthy: the node is running, new heights arrive, upgrades are neither
 * paused nor halted, and the plan file and its lock have no problem. The reason says which, and nothing more: /health needs
 * no token, so it names no paths, pids or heights.
 */
export const healthProblem = (h: HealthInputs): Effect.Effect<Option.Option<string>> =>
  Effect.gen(function*() {
    if ((yield* h.halted) !== null) return Option.some("halted after a failed upgrade")
    const status = yield* h.status
    if (status.node_state !== "running") return Option.some(NODE_STATE_REASON[status.node_state])
    const pace = yield* h.pace
    if (Option.isNone(pace.head)) return Option.some("no block height received from the node yet")
    if (Pace.isStalled(pace, h.stallAfter)) {
      return Option.some(`no new block height for ${Math.floor(Pace.headAgeSeconds(pace))}s`)
    }
    if ((yield* h.paused) !== null) return Option.some("upgrades paused (see the wemixvisor log)")
    if (Option.isSome(notReadySoon(status.pending))) {
      return Option.some("an upgrade due within the hour is not ready (see `wemixvisor upgrade list`)")
    }
    if (status.plan_problem !== null) {
      return Option.some(
        "upgrade plan problem: upgrades go on from the last valid plan (see `wemixvisor upgrade status`)"
      )
    }
    return Option.none()
  })

/**
 * What is worth a look on a healthy supervisor: the operator's pause of
 * upgrades. Said (200, `degraded`), never 503: a pause is deliberate, and a
 * probe must not take a healthy node for a dead one — but a forgotten pause
 * must not hide either. Like the reasons, it names no path or peer.
 */
export const healthNotice = (h: HealthInputs): Effect.Effect<Option.Option<string>> =>
  Effect.map(
    h.status,
    (s) =>
      s.upgrades_paused === null
        ? Option.none()
        : Option.some("upgrades paused by the operator: none fires until `wemixvisor upgrade resume`")
  )

export const health = (h: HealthInputs) =>
  HttpRouter.empty.pipe(
    HttpRouter.get(
      "/health",
      Effect.flatMap(
        healthProblem(h),
        Option.match({
          onNone: () =>
            Effect.map(
              healthNotice(h),
              Option.match({
                onNone: () => json(200, { status: "ok" }),
                onSome: (degraded) => json(200, { status: "ok", degraded })
              })
            ),
          onSome: (reason) => Effect.succeed(json(503, { status: "unhealthy", reason }))
        })
      )
    )
  )
