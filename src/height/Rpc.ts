import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Agent } from "node:http"
import { BaseError, createPublicClient, custom, type PublicClient, webSocket } from "viem"
import { NodeUnreachable } from "../domain/Errors.js"
import { type Height, heightFromBigInt } from "../domain/Height.js"
import { makeJsonRpcRequest } from "./HttpRpc.js"

/*
 * Everything that talks JSON-RPC, through viem. Two viem defaults are wrong
 * for a supervisor (anvil, the real test node: test/support/fixtures.ts): getBlockNumber caches its answer for 4 s
 * (we pass cacheTime 0), and the WebSocket client's own reconnect gives up
 * after a few tries — so it is switched off, and a dead connection ends the
 * stream instead, to be reopened on our Schedule with a fresh client.
 */

/** Per request: a node that has not answered in 2 s is treated as down for this round. */
export const RPC_TIMEOUT = Duration.seconds(2)

/** viem's own message is often just "HTTP request failed."; its `details` say why (e.g. ECONNREFUSED). */
export const unreachable = (url: string) => (cause: unknown) =>
  new NodeUnreachable({
    url,
    cause: cause instanceof BaseError && cause.details && !cause.shortMessage.includes(cause.details)
      ? new Error(`${cause.shortMessage.replace(/\.$/, "")}: ${cause.details}`, { cause })
      : cause
  })

/** A bigint head as a Height; one that does not fit is refused, never rounded. */
const toHeight = (url: string) => (n: bigint): Effect.Effect<Height, NodeUnreachable> => {
  const height = heightFromBigInt(n)
  return height === undefined
    ? Effect.fail(
      new NodeUnreachable({ url, cause: new Error(`the node reported head ${n}, which is not a usable height`) })
    )
    : Effect.succeed(height)
}

/** The block number of a `newHeads` notification (`{subscription, result: {number: "0x…"}}`). */
const headNumber = (data: unknown): bigint | undefined => {
  if (typeof data !== "object" || data === null || !("result" in data)) return undefined
  const result = data.result
  if (typeof result !== "object" || result === null || !("number" in result)) return undefined
  return typeof result.number === "string" && /^0x[0-9a-fA-F]+$/.test(result.number) ? BigInt(result.number) : undefined
}

/** One `eth_blockNumber`, uncached. */
export const blockNumber = (
  client: Pick<PublicClient, "getBlockNumber">,
  url: string
): Effect.Effect<Height, NodeUnreachable> =>
  Effect.tryPromise({ try: () => client.getBlockNumber({ cacheTime: 0 }), catch: unreachable(url) }).pipe(
    Effect.flatMap(toHeight(url))
  )

/**
 * An HTTP client without retries (our Schedules retry) and with a short
 * timeout, over `agent`'s kept-alive connections (a one-off connection per
 * request without one). viem's `custom` transport over node:http
 * (src/height/HttpRpc.ts: a fraction of the CPU of its fetch-based `http`).
 */
export const makeHttpClient = (
  rpcUrl: string,
  agent?: Agent,
  timeout: Duration.Duration = RPC_TIMEOUT
): Effect.Effect<PublicClient, NodeUnreachable> =>
  Effect.try({
    try: () =>
      createPublicClient({
        transport: custom({ request: makeJsonRpcRequest(rpcUrl, Duration.toMillis(timeout), agent) }, {
          retryCount: 0
        })
      }),
    catch: unreachable(rpcUrl)
  })

/** The hash of block `n`; none when the node has no such block (yet, or any more: a reorganisation). */
export const blockHash = (
  client: PublicClient,
  url: string,
  n: number
): Effect.Effect<Option.Option<string>, NodeUnreachable> =>
  Effect.tryPromise({ try: () => client.getBlock({ blockNumber: BigInt(n) }), catch: (e) => e }).pipe(
    Effect.map((b) => Option.fromNullable(b.hash)),
    // viem throws BlockNotFoundError for a block the node does not have: that is an answer, not an outage.
    Effect.catchAll((e) =>
      e instanceof Error && e.name === "BlockNotFoundError"
        ? Effect.succeed(Option.none<string>())
        : Effect.fail(unreachable(url)(e))
    )
  )

/** The code at `address` (`0x` when no contract is there). */
export const codeAt = (
  client: PublicClient,
  url: string,
  address: `0x${string}`
): Effect.Effect<string, NodeUnreachable> =>
  Effect.tryPromise({ try: () => client.getCode({ address }).then((c) => c ?? "0x"), catch: unreachable(url) })

/**
 * The node's head, read once over HTTP without building the HeightProvider
 * layer (e.g. the CLI's `upgrade schedule` check).
 */
export const readHead = Effect.fn("HeightProvider.readHead")(function*(rpcUrl: string) {
  const client = yield* makeHttpClient(rpcUrl)
  return yield* blockNumber(client, rpcUrl)
})

/**
 * One WebSocket connection's heads: every `newHeads`, plus the head read once
 * right after (re)subscribing (viem's `emitOnBegin` is ignored in
 * subscription mode). Fails when the connection cannot be opened or is lost;
 * the socket is closed when the stream's scope closes.
 *
 * viem keeps one socket per URL and options in a process-wide cache, and a
 * dead one stays there until closed: closing it on scope close is what gives
 * the next attempt a fresh socket. Two watchers of the same URL in one process
 * would share (and close) one socket — build the layer once.
 */
export const webSocketHeads = (wsUrl: string): Stream.Stream<Height, NodeUnreachable> =>
  Stream.unwrapScoped(
    Effect.gen(function*() {
      const client = yield* Effect.try({
        try: () =>
          createPublicClient({
            transport: webSocket(wsUrl, { reconnect: false, retryCount: 0, timeout: Duration.toMillis(RPC_TIMEOUT) })
          }),
        catch: unreachable(wsUrl)
      })
      const connect = Effect.tryPromise({
        try: (signal) => {
          const opening = client.transport.getRpcClient()
          // Gave up waiting (timeout, scope closed): close the socket if it opens after all.
          signal.addEventListener("abort", () => opening.then((socket) => socket.close(), () => undefined), {
            once: true
          })
          return opening
        },
        catch: unreachable(wsUrl)
      }).pipe(
        Effect.timeoutFail({
          duration: RPC_TIMEOUT,
          onTimeout: () => unreachable(wsUrl)(new Error("connect timed out"))
        })
      )
      // Interruptible so the timeout can fire; the abort handler above covers a late open.
      yield* Effect.acquireRelease(Effect.interruptible(connect), (socket) => Effect.sync(() => socket.close()))

      // Subscribe first, then read the head: no block can fall between the two.
      const heads = Stream.asyncScoped<bigint, NodeUnreachable>((emit) =>
        Effect.acquireRelease(
          Effect.tryPromise({
            try: () =>
              client.transport.subscribe({
                params: ["newHeads"],
                onData: (data) => {
                  const n = headNumber(data)
                  void (n === undefined
                    ? emit.fail(unreachable(wsUrl)(new Error("malformed newHeads notification")))
                    : emit.single(n))
                },
                onError: (cause) => void emit.fail(unreachable(wsUrl)(cause))
              }),
            catch: unreachable(wsUrl)
          }),
          // Fire and forget: on a dead socket the answer never comes, and the socket is closed next anyway.
          (subscription) => Effect.sync(() => void subscription.unsubscribe())
        ).pipe(
          Effect.zipRight(
            Effect.tryPromise({ try: () => client.getBlockNumber({ cacheTime: 0 }), catch: unreachable(wsUrl) })
          ),
          Effect.tap((n) => Effect.sync(() => void emit.single(n)))
        )
      )
      return heads.pipe(Stream.mapEffect(toHeight(wsUrl)))
    })
  )

/** The node's `eth_chainId`, read once over HTTP (the chain-id guard and `config check`). */
export const readChainId = Effect.fn("HeightProvider.readChainId")(function*(rpcUrl: string) {
  const client = yield* makeHttpClient(rpcUrl)
  return yield* Effect.tryPromise({ try: () => client.getChainId(), catch: unreachable(rpcUrl) })
})
