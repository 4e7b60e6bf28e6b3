import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as RpcClient from "@effect/rpc/RpcClient"
import type { RpcClientError } from "@effect/rpc/RpcClientError"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Forbidden, Unauthorized } from "../domain/Errors.js"
import { UpgradeRpcs } from "./Rpcs.js"

/*
 * The client side of UpgradeRpcs: what `upgrade … --remote` uses, exported
 * for any Effect program that wants to be a typed client.
 */

/** `http://host:8590` → `http://host:8590/rpc`; a URL with a path is used as given. */
export const rpcUrl = (url: string): string => {
  const u = new URL(url)
  if (u.pathname === "" || u.pathname === "/") u.pathname = "/rpc"
  return u.toString()
}

export interface ClientOptions {
  /** The API's base URL (`http://127.0.0.1:8590`) or its RPC endpoint (`…/rpc`). */
  readonly url: string
  /** WEMIXVISOR_API_TOKEN of the server, when it has one. */
  readonly token?: string | undefined
}

/** The `details` of wemixvisor's JSON error body, else the start of whatever body came. */
const detailsOf = (text: string) => {
  try {
    const body: unknown = JSON.parse(text)
    if (typeof body === "object" && body !== null && "details" in body && typeof body.details === "string") {
      return body.details
    }
  } catch {
    // not JSON: a proxy's page, another program's answer
  }
  return text.trim().slice(0, 200)
}

/**
 * Non-2xx answers (the API's 403/415, a proxy's 502, a 413) fail the call
 * instead of leaving it waiting for a body that never comes, with what the
 * server said in the error's description.
 */
const failNonOk = (client: HttpClient.HttpClient) =>
  HttpClient.transformResponse(client, (response) =>
    Effect.flatMap(response, (r) =>
      r.status >= 200 && r.status < 300
        ? Effect.succeed(r)
        : Effect.flatMap(Effect.orElseSucceed(r.text, () => ""), (text) =>
          Effect.fail(
            new HttpClientError.ResponseError({
              request: r.request,
              response: r,
              reason: "StatusCode",
              description: `${r.status}${text === "" ? "" : `: ${detailsOf(text)}`}`
            })
          ))))

/**
 * A call the server refused at the HTTP level, as the typed error it is: 403
 * (Host or Origin not allowed) → Forbidden, 401 → Unauthorized. (A missing
 * or wrong token on an RPC is answered as a typed Unauthorized already.)
 */
export const refusalOf = (e: RpcClientError): Option.Option<Forbidden | Unauthorized> => {
  const cause = e.cause
  if (!HttpClientError.isHttpClientError(cause) || cause._tag !== "ResponseError") return Option.none()
  const reason = cause.description?.replace(/^\d+: ?/, "") ?? ""
  if (cause.response.status === 403) return Option.some(new Forbidden({ reason }))
  if (cause.response.status === 401) return Option.some(new Unauthorized({ reason }))
  return Option.none()
}

/** What the server or the transport said, for a message: the HTTP status and details, or the cause's own words. */
export const problemOf = (e: RpcClientError): string => {
  const cause = e.cause
  if (HttpClientError.isHttpClientError(cause)) {
    return cause._tag === "ResponseError" ? `HTTP ${cause.description ?? cause.response.status}` : cause.message
  }
  return e.message
}

/**
 * The RPC protocol over HTTP with NDJSON (streams arrive as they happen) and
 * the bearer token.
 */
export const layerProtocol = (options: ClientOptions): Layer.Layer<RpcClient.Protocol> => {
  const httpClient = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) => {
      const ok = failNonOk(client)
      const token = options.token
      return token === undefined || token === "" ? ok : HttpClient.mapRequest(ok, HttpClientRequest.bearerToken(token))
    })
  ).pipe(Layer.provide(FetchHttpClient.layer))
  return RpcClient.layerProtocolHttp({ url: rpcUrl(options.url) }).pipe(
    Layer.provide([httpClient, RpcSerialization.layerNdjson])
  )
}

/** A typed client of UpgradeRpcs, for the life of the scope. */
export const makeClient = RpcClient.make(UpgradeRpcs)

export type UpgradeClient = Effect.Effect.Success<typeof makeClient>
