import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import * as Stream from "effect/Stream"

/*
 * SIGHUP (a closed terminal, `systemctl reload`) is never fatal to `run`
 * (ARCHITECTURE §7 "Signals"). Node's default for it is to exit at once, without a
 * word, leaving the node unsupervised; a listener replaces that default.
 * Each SIGHUP is logged and published as a reload request: the
 * configuration reload (config/Reload.ts) subscribes to `requests`.
 */

export interface ReloadRequest {
  readonly signal: "SIGHUP"
}

export interface ReloadRequestsService {
  /** Every reload request from the moment of subscribing. */
  readonly requests: Stream.Stream<ReloadRequest>
}

export class ReloadRequests extends Context.Tag("wemixvisor/ReloadRequests")<ReloadRequests, ReloadRequestsService>() {}

/** SIGHUP handled (not fatal) for the life of the layer; the default comes back when it closes. */
export const layer: Layer.Layer<ReloadRequests> = Layer.scoped(
  ReloadRequests,
  Effect.gen(function*() {
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<ReloadRequest>(), PubSub.shutdown)
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const onHangup = () => {
      runFork(
        Effect.logWarning(
          "SIGHUP received: reloading the configuration (the node and wemixvisor keep running)"
        ).pipe(
          Effect.zipRight(PubSub.publish(hub, { signal: "SIGHUP" } as const))
        )
      )
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => process.on("SIGHUP", onHangup)),
      () => Effect.sync(() => process.off("SIGHUP", onHangup))
    )
    return ReloadRequests.of({ requests: Stream.fromPubSub(hub) })
  })
)
