import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { AppConfig } from "../config/Config.js"
import type { NodeUnreachable } from "../domain/Errors.js"
import type { Height } from "../domain/Height.js"
import { Events } from "../events/Events.js"
import { HeightProvider } from "./HeightProvider.js"
import { makeAgent } from "./HttpRpc.js"
import { blockNumber, makeHttpClient, readHead, webSocketHeads } from "./Rpc.js"
import { errorKind, type RpcRead } from "./RpcErrors.js"
import { watchHeights } from "./Watch.js"

/*
 * The HeightProvider (HeightProvider.ts) over viem: polling, WebSocket heads,
 * the monotonic filter (Watch.ts). Loaded only by what supervises (`run`).
 */

export { readHead }

/**
 * Live: one watcher per layer, whatever the number of subscribers — HTTP
 * polling every `pollInterval`, merged with WebSocket `newHeads` when
 * `wsUrl` is set — feeding a SubscriptionRef. `heights` is its changes, so a
 * late subscriber gets the latest height first, then every new one. Closing
 * the layer's scope stops the watcher and closes its sockets.
 */
export const layer: Layer.Layer<HeightProvider, never, AppConfig | Events> = Layer.scoped(
  HeightProvider,
  Effect.gen(function*() {
    const config = yield* AppConfig
    const events = yield* Events
    // Polls reuse their connections; closing the layer closes them.
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => makeAgent(config.rpcUrl)),
      (agent) => Effect.sync(() => agent.destroy())
    )
    // The config already refused anything but an http(s) URL, so building the client cannot fail here.
    const client = yield* Effect.orDie(makeHttpClient(config.rpcUrl, agent))
    // Each failed read is published by kind, and the first answer after failures (metrics); nothing is published while reads succeed.
    const reads = yield* Effect.acquireRelease(PubSub.unbounded<RpcRead>(), PubSub.shutdown)
    const failing = yield* Ref.make(false)
    const head = blockNumber(client, config.rpcUrl).pipe(
      Effect.tapBoth({
        onFailure: (e) =>
          Effect.zipRight(Ref.set(failing, true), PubSub.publish(reads, { _tag: "Failed", kind: errorKind(e) })),
        onSuccess: () =>
          Effect.flatMap(
            Ref.getAndSet(failing, false),
            (was) => (was ? PubSub.publish(reads, { _tag: "Answered" }) : Effect.void)
          )
      })
    )
    const subscriptionLost = <A>(heads: Stream.Stream<A, NodeUnreachable>) =>
      Stream.tapError(heads, () => PubSub.publish(reads, { _tag: "Failed", kind: "subscription" }))
    const latest = yield* SubscriptionRef.make(Option.none<Height>())

    const watch = SubscriptionRef.get(latest).pipe(
      Effect.flatMap((start) =>
        watchHeights(
          {
            fetchHead: head,
            // Read at each poll: a reload of DAEMON_POLL_INTERVAL takes effect at the next one.
            pollInterval: () => config.pollInterval,
            push: Option.map(config.wsUrl, (url) => subscriptionLost(webSocketHeads(url)))
          },
          (reorg) => events.publish({ type: "height-reorg", from: reorg.from, to: reorg.to }),
          start
        ).pipe(Stream.runForEach((height) => SubscriptionRef.set(latest, Option.some(height))))
      ),
      // The stream cannot fail or end; if a bug ever stops it, say so and watch again from the last height.
      Effect.catchAllCause((cause) => Effect.logError("height watcher stopped unexpectedly; restarting", cause)),
      Effect.zipRight(Effect.sleep(config.pollInterval)),
      Effect.forever
    )
    yield* Effect.forkScoped(watch)

    return HeightProvider.of({
      heights: latest.changes.pipe(Stream.filterMap((height) => height)),
      latest: SubscriptionRef.get(latest),
      head: head.pipe(Effect.withSpan("HeightProvider.head")),
      rpcReads: Stream.fromPubSub(reads)
    })
  })
)
