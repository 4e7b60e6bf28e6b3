import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { BinaryStore } from "../binaries/BinaryStore.js"
import { AppConfig } from "../config/Config.js"
import { Events } from "../events/Events.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { History } from "./History.js"
import { checkSources } from "./Operations.js"
import { PlanStore } from "./PlanStore.js"
import { makeUpgradeSource } from "./PlanWatcher.js"
import { UpgradeSource } from "./UpgradeSource.js"

type LayerDeps = AppConfig | PlanStore | BinaryStore | Events | HeightProvider | History

/**
 * Live UpgradeSource: one watcher for the life of the layer, shared by every
 * subscriber of `plans`.
 */
export const layer: Layer.Layer<UpgradeSource, never, LayerDeps> = Layer.scoped(
  UpgradeSource,
  Effect.gen(function*() {
    const config = yield* AppConfig
    const heights = yield* HeightProvider
    const binaries = yield* BinaryStore
    return yield* makeUpgradeSource({
      layout: config.layout,
      pollInterval: () => config.pollInterval,
      store: yield* PlanStore,
      events: yield* Events,
      latestHeight: heights.latest,
      history: yield* History,
      // The drop-in is refused for what the CLI would refuse (downloads disabled, no checksum, …).
      vetSources: (req) =>
        Effect.gen(function*() {
          const inPlace = Either.isRight(yield* Effect.either(binaries.validate(req.name)))
          const checked = yield* checkSources(config, req.name, req, inPlace)
          return { ...req, binaries: checked.binaries, checksums: checked.checksums }
        })
    })
  })
)
