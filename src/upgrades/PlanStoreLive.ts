import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { AppConfig } from "../config/Config.js"
import { makePlanStore } from "./PlanFile.js"
import { PlanStore } from "./PlanStore.js"

/** Live PlanStore over the configured home's upgrade-plan.json. */
export const layer: Layer.Layer<PlanStore, never, AppConfig> = Layer.effect(
  PlanStore,
  Effect.flatMap(AppConfig, (config) => makePlanStore(config.layout))
)
