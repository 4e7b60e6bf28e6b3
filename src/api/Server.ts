import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Headers from "@effect/platform/Headers"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as RpcServer from "@effect/rpc/RpcServer"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import { freeSpaceLive } from "../binaries/Backup.js"
import { BinaryStore } from "../binaries/BinaryStore.js"
import { AppConfig } from "../config/Config.js"
import { BodyTooLarge, type ConfigInvalid, type IoError } from "../domain/Errors.js"
import { Events } from "../events/Events.js"
import { Proposals } from "../governance/Proposals.js"
import { ChainPace } from "../height/ChainPace.js"
import { metricsRoute } from "../metrics/Http.js"
import { Metrics } from "../metrics/Metrics.js"
import { Orchestrator } from "../orchestrator/Orchestrator.js"
import { History } from "../upgrades/History.js"
import { Operations } from "../upgrades/Operations.js"
import { PlanStore } from "../upgrades/PlanStore.js"
import { preflight } from "../upgrades/Preflight.js"
import { type AccessPolicy, guard } from "./Access.js"
import { checkExposure, listenAddress } from "./Auth.js"
import * as Dashboard from "./Dashboard.js"
import { type ApiServices, authLayer, handlersLayer, PEER_HEADER, peerText } from "./Handlers.js"
import { errorResponse, health, type HealthInputs, httpStatusOf, routes } from "./Rest.js"
import { UpgradeRpcsServed } from "./Rpcs.js"
import { serverToken } from "./Token.js"

/*
 * The one HTTP server of ARCHITECTURE §6 on WEMIXVISOR_API_ADDR: POST /rpc (the
 * UpgradeRpcs group, NDJSON), the REST routes, SSE events and /health.
 * Served by `run` for the life of the supervisor. Every request passes the
 * access guard (Access.ts: Host, Origin, content type, token) first.
 */

/**
 * Routes served without a token: they hold no secret and are what probes and
 * scrapers call, and the dashboard's page (which asks for the token itself).
 */
export const PUBLIC_PATHS: ReadonlyArray<string> = ["/health", "/metrics", ...Dashboard.DASHBOARD_PATHS]

/** Request bodies above this are refused with 413 before any handler runs. */
export const MAX_BODY_BYTES = 64 * 1024

/**
 * Binding the port again after a failure (address in use, …): the node is
 * supervised meanwhile; the API comes up once the port is free.
 */
export const listenRetry = Schedule.exponential("1 second").pipe(Schedule.either(Schedule.spaced("1 minute")))

/** Past the limit the rest is read and dropped up to this much, so the client (still sending) reads the 413 rather than a reset. */
const DISCARD_BYTES = 16 * MAX_BODY_BYTES

const tooLarge = () => {
  const e = new BodyTooLarge({ limit: MAX_BODY_BYTES })
  return errorResponse(httpStatusOf(e), "request body too large", e.message, { connection: "close" })
}

/**
 * The body of the Node request as text, or none when it passes the limit.
 * Read here rather than through `request.text` with a maximum: on overflow
 * that destroys the request, and with it the socket, before any 413 is sent.
 */
const readLimited = (incoming: http.IncomingMessage): Effect.Effect<Option.Option<string>, Error> =>
  Effect.async((resume) => {
    const chunks: Array<Buffer> = []
    let bytes = 0
    const onData = (chunk: Buffer) => {
      bytes += chunk.length
      if (bytes <= MAX_BODY_BYTES) chunks.push(chunk)
      else if (bytes > MAX_BODY_BYTES + DISCARD_BYTES) finish(Effect.succeed(Option.none()))
    }
    const onEnd = () =>
      finish(
        Effect.succeed(bytes > MAX_BODY_BYTES ? Option.none() : Option.some(Buffer.concat(chunks).toString("utf8")))
      )
    const onError = (e: Error) => finish(Effect.fail(e))
    const detach = () => {
      incoming.off("data", onData)
      incoming.off("end", onEnd)
      incoming.off("error", onError)
    }
    const finish = (result: Effect.Effect<Option.Option<string>, Error>) => {
      detach()
      resume(result)
    }
    incoming.on("data", onData)
    incoming.once("end", onEnd)
    incoming.once("error", onError)
    return Effect.sync(detach)
  })

/** The request with its body already read: what the routes and the RPC server read from. */
const withBody = (request: HttpServerRequest.HttpServerRequest, body: string) => {
  const headers = new globalThis.Headers()
  for (const [k, v] of Object.entries(request.headers)) {
    if (k !== "transfer-encoding" && k !== "content-length") headers.set(k, v)
  }
  return HttpServerRequest.fromWeb(
    new Request(new URL(request.url, "http://wemixvisor.invalid"), {
      method: request.method,
      headers,
      // A web Request refuses any body on GET and HEAD, even an empty one; no route reads one there.
      ...(request.method === "GET" || request.method === "HEAD" ? {} : { body })
    })
  ).modify(Option.match(request.remoteAddress, { onNone: () => ({}), onSome: (remoteAddress) => ({ remoteAddress }) }))
}

/**
 * Enforces the body limit for every route (the RPC endpoint included) and
 * reads the body once, here, for the handler. A declared length over the
 * limit is refused unread.
 */
const limitBody = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const declared = request.headers["content-length"]
    if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) return tooLarge()
    const hasBody = (declared !== undefined && Number(declared) > 0) ||
      request.headers["transfer-encoding"] !== undefined
    if (!hasBody) return yield* app
    const read = yield* Effect.either(readLimited(NodeHttpServerRequest.toIncomingMessage(request)))
    if (Either.isLeft(read)) return errorResponse(400, "invalid body", read.left.message)
    if (Option.isNone(read.right)) return tooLarge()
    return yield* Effect.provideService(app, HttpServerRequest.HttpServerRequest, withBody(request, read.right.value))
  })

/**
 * The peer (`ip:port`, from the socket) as the PEER_HEADER the routes and the
 * RPC handlers read it from, for the history; a client's own is dropped.
 */
const withPeer = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const socket = NodeHttpServerRequest.toIncomingMessage(request).socket
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(request.headers)) if (k !== PEER_HEADER) headers[k] = v
    if (socket.remoteAddress !== undefined) headers[PEER_HEADER] = peerText(socket.remoteAddress, socket.remotePort)
    return yield* Effect.provideService(
      app,
      HttpServerRequest.HttpServerRequest,
      request.modify({ headers: Headers.fromInput(headers) })
    )
  })

/** The first line of what went wrong, for a client that sent something the protocol cannot take. */
const causeText = (cause: Cause.Cause<unknown>) => {
  const first = Cause.squash(cause)
  return (first instanceof Error ? first.message : String(first)).split("\n")[0] ?? ""
}

/** The whole HTTP app; the RPC server runs in the caller's scope. */
export const makeApp = (
  api: ApiServices,
  healthInputs: HealthInputs,
  access: Omit<AccessPolicy, "token" | "publicPaths" | "rpcPath">,
  extra: HttpRouter.HttpRouter = HttpRouter.empty
) =>
  Effect.gen(function*() {
    const rpcContext = yield* Layer.build(
      Layer.mergeAll(handlersLayer(api), authLayer(api.token), RpcSerialization.layerNdjson)
    )
    const rpc = yield* RpcServer.toHttpApp(UpgradeRpcsServed).pipe(Effect.provide(rpcContext))
    // A request line the protocol cannot take (no `headers`, …) dies inside
    // @effect/rpc, which the HTTP server would answer with an empty 500.
    const rpcApp = rpc.pipe(
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause)
          : Effect.succeed(
            errorResponse(
              400,
              "invalid RPC request",
              `not an @effect/rpc NDJSON request (each Request line has _tag, id, tag, payload and headers): ${
                causeText(cause)
              }`
            )
          )
      )
    )
    const router = routes(api).pipe(
      HttpRouter.post("/rpc", rpcApp),
      HttpRouter.concat(health(healthInputs)),
      HttpRouter.concat(extra)
    )
    const app = withPeer(limitBody(router)).pipe(
      Effect.catchTag("RouteNotFound", (e) =>
        Effect.succeed(errorResponse(404, "not found", `no route ${e.request.method} ${e.request.url}`)))
    )
    return yield* guard({ ...access, token: api.token, publicPaths: PUBLIC_PATHS, rpcPath: "/rpc" }, app)
  })

type Deps = AppConfig | Events | Operations | ChainPace | Orchestrator | History | Proposals | PlanStore | BinaryStore

/**
 * Serves the API until the scope closes. Fails (ConfigInvalid, exit 2) when
 * the address is not loopback and no token is set. A port that cannot be
 * bound is logged and retried on `listenRetry`: the supervisor never stops
 * supervising the node because of its API.
 */
export const serve: Effect.Effect<void, ConfigInvalid | IoError, Deps | Scope.Scope> = Effect.gen(function*() {
  const config = yield* AppConfig
  yield* checkExposure(config)
  const token = yield* serverToken(config)
  const events = yield* Events
  const orchestrator = yield* Orchestrator
  const ops = yield* Operations

  const pace = yield* ChainPace
  const history = yield* History
  const proposals = yield* Proposals
  const checkContext = yield* Effect.context<PlanStore | BinaryStore>()
  const api: ApiServices = {
    ops,
    status: orchestrator.status,
    prepare: orchestrator.prepare,
    restartNode: orchestrator.restartNode,
    pause: orchestrator.pause,
    resume: orchestrator.resume,
    events,
    history,
    proposals: proposals.list,
    // The same check as the CLI's local path, with this supervisor's status (ETA, pauses) and its live configuration.
    check: (name) =>
      Effect.flatMap(
        orchestrator.status,
        (status) => preflight(name, { config, status: Option.some(status), supervised: true })
      ).pipe(Effect.provide(checkContext), Effect.provide(freeSpaceLive)),
    token
  }
  const { host, port } = listenAddress(config.apiAddr)
  const app = yield* makeApp(
    api,
    {
      status: orchestrator.status,
      paused: orchestrator.paused,
      halted: orchestrator.halted,
      pace: pace.now,
      stallAfter: config.stallAfter
    },
    { bindHost: host, extraHosts: config.apiHosts, corsOrigins: config.apiCors },
    // GET /metrics when the Metrics layer is part of the composition (`run`'s is); the dashboard's page.
    Option.match(yield* Effect.serviceOption(Metrics), {
      onNone: () => HttpRouter.empty,
      onSome: (m) => metricsRoute(m, orchestrator.status)
    }).pipe(HttpRouter.concat(yield* Dashboard.router))
  )

  const listen = Effect.gen(function*() {
    const nodeServer = http.createServer()
    const server = yield* NodeHttpServer.make(() => nodeServer, { host, port })
    // Runs before the server's own close, which would wait for long-lived
    // responses (SSE, WatchEvents) forever: those clients see the end and reconnect.
    yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
    yield* HttpServer.serveEffect(app).pipe(Effect.provideService(HttpServer.HttpServer, server))
    const a = server.address
    yield* Effect.logInfo(
      `API listening on ${
        a._tag === "TcpAddress"
          ? `http://${a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname}:${a.port}`
          : a.path
      }`
    )
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.tapError((e) =>
      Effect.logError(
        `API not available on ${config.apiAddr}: ${
          e.cause instanceof Error ? e.cause.message : String(e.cause)
        }; retrying`
      )
    )
  )
  yield* listen.pipe(Effect.retry(listenRetry), Effect.forkScoped)
})

/** `serve` as the layer `run` includes. */
export const layer: Layer.Layer<never, ConfigInvalid | IoError, Deps> = Layer.scopedDiscard(serve)
