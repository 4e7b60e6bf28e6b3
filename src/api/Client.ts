import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as RpcClient from "@effect/rpc/RpcClient"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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

/**
 * The RPC protocol over HTTP with NDJSON (streams arrive as they happen) and
 * the bearer token. Non-2xx answers (a proxy's 502, a 413) fail the call
 * instead of leaving it waiting for a body that never comes.
 */
export const layerProtocol = (options: ClientOptions): Layer.Layer<RpcClient.Protocol> => {
  const httpClient = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) => {
      const ok = HttpClient.filterStatusOk(client)
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
