import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { BinaryStore } from "../binaries/BinaryStore.js"
import * as BinaryStoreLive from "../binaries/BinaryStoreLive.js"
import { Preparer } from "../binaries/Preparer.js"
import type { AppConfig } from "../config/Config.js"
import * as ChainHeadLive from "../height/ChainHeadLive.js"
import type { History } from "../upgrades/History.js"
import * as HistoryLive from "../upgrades/HistoryLive.js"
import type { Operations } from "../upgrades/Operations.js"
import * as OperationsLive from "../upgrades/OperationsLive.js"
import type { PlanStore } from "../upgrades/PlanStore.js"
import * as PlanStoreLive from "../upgrades/PlanStoreLive.js"

/*
 * The composition root of the local CLI (`init`, `upgrade …` without
 * --remote): the services these commands work with, wired once over the
 * effective configuration (commands.ts provides them to the subtrees; `run`
 * has its own, main.ts). Building it does no I/O and loads nothing heavy: the
 * chain head (viem) and the Preparer (the HTTP client, archives) are loaded
 * by the first command that uses them, so `upgrade list` loads neither.
 */

export type LocalServices = BinaryStore | PlanStore | Operations | Preparer | History

/** The Preparer, built on first use, in the layer's scope (its HTTP client closes with it). */
const preparerOnDemand: Layer.Layer<Preparer, never, AppConfig | BinaryStore> = Layer.scoped(
  Preparer,
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const context = yield* Effect.context<AppConfig | BinaryStore>()
    const built = yield* Effect.cached(
      Effect.promise(() => import("./upgrade-prepare.js")).pipe(
        Effect.flatMap((m) => Layer.buildWithScope(m.layer, scope)),
        Effect.map(Context.get(Preparer)),
        Effect.provide(context)
      )
    )
    return Preparer.of({
      prepare: (upgrade) => Effect.flatMap(built, (p) => p.prepare(upgrade)),
      version: (target) => Effect.flatMap(built, (p) => p.version(target))
    })
  })
)

export const layer: Layer.Layer<LocalServices, never, AppConfig> = Layer.mergeAll(
  OperationsLive.layer.pipe(Layer.provide(ChainHeadLive.layer)),
  preparerOnDemand
).pipe(Layer.provideMerge(Layer.mergeAll(PlanStoreLive.layer, BinaryStoreLive.layer, HistoryLive.layer)))
