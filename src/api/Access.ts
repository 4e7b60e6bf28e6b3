import * as Headers from "@effect/platform/Headers"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { Forbidden, Unauthorized, UnsupportedMediaType } from "../domain/Errors.js"
import { authProblem, isLoopback } from "./Auth.js"
import { errorResponse, httpStatus, httpStatusOf } from "./Rest.js"

/*
 * Who may talk to the API (ARCHITECTURE §6 "Access: secure by default"), checked
 * before any route runs and before a body is read:
 * - Host: on a loopback bind only localhost, 127.0.0.1, [::1] (any port),
 *   the bound address and WEMIXVISOR_API_HOSTS — a DNS-rebinding page has
 *   its own name in Host. 403.
 * - Origin: a browser names the page that sends a request; only the API's
 *   own origin and WEMIXVISOR_API_CORS may. A cross-site "simple" request
 *   needs no preflight, so this check, not CORS, is what stops it. 403.
 * - Content type: REST bodies are application/json, RPC application/ndjson
 *   or application/json — neither is a type a foreign form can send. 415.
 * - The bearer token, on every route but the public ones. 401. (The RPC
 *   endpoint answers a typed Unauthorized itself: its client cannot read a
 *   bare 401.)
 * Each refusal is logged with the peer address, once a minute per peer and
 * reason at most, so a page hammering the port cannot flood the log.
 */

export interface AccessPolicy {
  /** The bound host (`127.0.0.1`, `0.0.0.0`, `::1`, …). */
  readonly bindHost: string
  /** WEMIXVISOR_API_HOSTS, lower case, without brackets. */
  readonly extraHosts: ReadonlyArray<string>
  /** WEMIXVISOR_API_CORS: origins allowed to call from a browser. */
  readonly corsOrigins: ReadonlyArray<string>
  readonly token: string
  /** Served to anyone (no token): probes and scrapers. */
  readonly publicPaths: ReadonlyArray<string>
  /** The RPC endpoint: checks its own token (typed), takes NDJSON. */
  readonly rpcPath: string
}

export interface Refusal {
  readonly status: number
  readonly error: string
  readonly details: string
}

/** A refusal as the API answers it: the status of the error's kind, a heading, the error's reason. */
const refuse = (e: Forbidden | Unauthorized | UnsupportedMediaType, error: string): Refusal => ({
  status: httpStatusOf(e),
  error,
  details: e.reason
})

/** The host name of a Host header, lower case, without port or brackets; undefined when it is not one. */
export const hostName = (header: string): string | undefined => {
  const h = header.trim().toLowerCase()
  const m = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h) ?? /^([^:[\]\s]+)(?::\d{1,5})?$/.exec(h)
  return m?.[1]?.replace(/\.$/, "")
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"]

/** The media type of a Content-Type header, without parameters. */
const mediaType = (header: string | undefined) => (header ?? "").split(";")[0]!.trim().toLowerCase()

const pathOf = (url: string) => url.split("?")[0] ?? url

/** Why a request is refused, or none. Pure: the headers and the policy decide. */
export const refusalOf = (
  policy: AccessPolicy,
  request: {
    readonly method: string
    readonly url: string
    readonly headers: Readonly<Record<string, string | undefined>>
  }
): Option.Option<Refusal> => {
  const host = request.headers["host"]
  if (isLoopback(policy.bindHost) && host !== undefined) {
    const name = hostName(host)
    const allowed = name !== undefined &&
      (LOOPBACK_NAMES.includes(name) || name === policy.bindHost.toLowerCase() || policy.extraHosts.includes(name))
    if (!allowed) {
      return Option.some(
        refuse(
          new Forbidden({
            reason: `Host ${
              JSON.stringify(host)
            } is not this API's (localhost, 127.0.0.1, [::1] or WEMIXVISOR_API_HOSTS)`
          }),
          "forbidden"
        )
      )
    }
  }
  const origin = request.headers["origin"]
  if (origin !== undefined && !originAllowed(policy, origin, host)) {
    return Option.some(
      refuse(
        new Forbidden({
          reason: `Origin ${JSON.stringify(origin)} may not call this API (only its own origin and WEMIXVISOR_API_CORS)`
        }),
        "forbidden"
      )
    )
  }
  const route = pathOf(request.url)
  // A preflight carries no token; the guard answers it for a listed origin, the router with 404 otherwise.
  if (policy.publicPaths.includes(route) || request.method === "OPTIONS") return Option.none()
  // POST is the only method the API takes a body on (PUT, PATCH: no route, 404).
  if (request.method === "POST") {
    const type = mediaType(request.headers["content-type"])
    const accepted = route === policy.rpcPath ? ["application/ndjson", "application/json"] : ["application/json"]
    if (!accepted.includes(type)) {
      return Option.some(
        refuse(
          new UnsupportedMediaType({
            reason: `Content-Type must be ${accepted.join(" or ")}, not ${
              JSON.stringify(request.headers["content-type"] ?? "")
            }`
          }),
          "unsupported media type"
        )
      )
    }
  }
  if (route === policy.rpcPath) return Option.none()
  return Option.map(
    authProblem(policy.token, request.headers["authorization"]),
    (reason) => refuse(new Unauthorized({ reason }), "unauthorized")
  )
}

/** The API's own origin (its Host, over http or https behind a proxy) or one listed in WEMIXVISOR_API_CORS. */
const originAllowed = (policy: AccessPolicy, origin: string, host: string | undefined) => {
  const o = origin.trim().toLowerCase()
  if (policy.corsOrigins.includes(o)) return true
  return host !== undefined &&
    (o === `http://${host.trim().toLowerCase()}` || o === `https://${host.trim().toLowerCase()}`)
}

/** CORS response headers: only for a listed origin. */
export const corsHeaders = (policy: AccessPolicy, origin: string | undefined): Record<string, string> =>
  origin !== undefined && policy.corsOrigins.includes(origin.trim().toLowerCase())
    ? { "access-control-allow-origin": origin.trim(), vary: "Origin" }
    : {}

const preflightHeaders = {
  "access-control-allow-methods": "GET, POST, DELETE",
  "access-control-allow-headers": "authorization, content-type",
  "access-control-max-age": "600"
}

/** At most one log line per peer and reason in this window. */
export const REFUSAL_LOG_WINDOW = Duration.minutes(1)

/** Peers remembered for the log's rate limit; past this the memory starts over (a flood must not grow it). */
const MAX_REMEMBERED = 1024

/** Logs a refusal unless the same peer was logged for the same reason within REFUSAL_LOG_WINDOW. */
export const makeRefusalLog = Effect.map(
  Ref.make(new Map<string, number>()),
  (seen) => (peer: string, refusal: Refusal, request: string) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const key = `${peer} ${refusal.status} ${refusal.error}`
      const last = (yield* Ref.get(seen)).get(key)
      if (last !== undefined && now - last < Duration.toMillis(REFUSAL_LOG_WINDOW)) return
      yield* Ref.update(seen, (m) => {
        const next = m.size >= MAX_REMEMBERED ? new Map<string, number>() : new Map(m)
        return next.set(key, now)
      })
      yield* Effect.logWarning(
        `API refused ${request} from ${peer}: ${refusal.status} ${refusal.details} (same refusals from this peer are not logged again for a minute)`
      )
    })
)

/**
 * The access checks around the whole app: a refusal is answered here, before
 * the app (and its body reader) runs; a listed origin gets CORS headers and
 * its preflight answered.
 */
export const guard = <E, R>(policy: AccessPolicy, app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.map(makeRefusalLog, (logRefusal) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const origin = request.headers["origin"]
      const refusal = refusalOf(policy, request)
      if (Option.isSome(refusal)) {
        const r = refusal.value
        yield* logRefusal(
          Option.getOrElse(request.remoteAddress, () => "unknown peer"),
          r,
          `${request.method} ${pathOf(request.url)}`
        )
        return errorResponse(r.status, r.error, r.details, {
          ...corsHeaders(policy, origin),
          ...(r.status === httpStatus.unauthorized ? { "www-authenticate": "Bearer realm=\"wemixvisor\"" } : {})
        })
      }
      const cors = corsHeaders(policy, origin)
      if (request.method === "OPTIONS" && cors["access-control-allow-origin"] !== undefined) {
        return HttpServerResponse.empty({ status: 204, headers: Headers.fromInput({ ...cors, ...preflightHeaders }) })
      }
      const response = yield* app
      return Object.keys(cors).length === 0 ? response : HttpServerResponse.setHeaders(response, cors)
    }))
