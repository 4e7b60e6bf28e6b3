import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type { StatusObject } from "../domain/Status.js"
import type { MetricsService } from "./Metrics.js"

/** GET /metrics (ARCHITECTURE §6, §7): public like /health — it holds no secret. */
export const metricsRoute = (metrics: MetricsService, status: Effect.Effect<StatusObject>) =>
  HttpRouter.empty.pipe(
    HttpRouter.get(
      "/metrics",
      Effect.flatMap(status, metrics.render).pipe(
        Effect.map((body) =>
          HttpServerResponse.text(body, { contentType: metrics.contentType, headers: { "cache-control": "no-store" } })
        )
      )
    )
  )
