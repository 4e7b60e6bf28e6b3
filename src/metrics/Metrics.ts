import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { StatusObject } from "../domain/Status.js"

/*
 * Prometheus metrics (docs/METRICS.md), served on GET /metrics. The metrics are
 * derived, not reported: the live layer (MetricsLive.ts) subscribes to the
 * event stream, the heights and the RPC reads of the HeightProvider, and the
 * plan snapshots, and reads the status object at each scrape. The one
 * thing it is told is the fate of each notification (`notified`): no event
 * carries it, since a notification about a notification would loop.
 *
 * The tag lives here, apart from its implementation, so what depends on it
 * (the API server) loads no metrics library.
 */

/** What became of one notification: sent, given up on after its retries, or dropped because its channel's queue was full. */
export type NotifyResult = "delivered" | "failed" | "dropped"
export const NOTIFY_RESULTS: ReadonlyArray<NotifyResult> = ["delivered", "failed", "dropped"]

export interface MetricsService {
  /** The Content-Type of `render`'s text (the Prometheus text format, 0.0.4). */
  readonly contentType: string
  /** Every metric in the Prometheus text format, with `status` (read at this scrape) for the node and the plan. */
  readonly render: (status: StatusObject) => Effect.Effect<string>
  /** Counts one notification in `wemixvisor_notifications_total{channel,result}`. */
  readonly notified: (channel: string, result: NotifyResult) => Effect.Effect<void>
}

export class Metrics extends Context.Tag("wemixvisor/Metrics")<Metrics, MetricsService>() {}
