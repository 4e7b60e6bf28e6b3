import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import { make as makeBinaryStore } from "../binaries/BinaryStore.js"
import { AppConfig } from "../config/Config.js"
import type { FileCorrupt, IoError, PlanLocked } from "../domain/Errors.js"
import type { UpgradePlan } from "../domain/Upgrade.js"
import { Events } from "../events/Events.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { makePlanStore } from "./PlanFile.js"
import { checkSources } from "./Operations.js"
import { makeUpgradeSource } from "./PlanWatcher.js"

/**
 * upgrade-plan.json, the single durable source of truth (DESIGN §2). Every
 * writer — CLI, API, drop-in, orchestrator — goes through `update`, which takes
 * upgrade-plan.lock, reads and validates the file, applies `f`, and writes
 * atomically only when the plan changed. A corrupt file is never overwritten.
 */
export interface PlanStoreService {
  /** The plan on disk (empty when there is no file). */
  readonly read: Effect.Effect<UpgradePlan, FileCorrupt | IoError>
  /** The plan on disk; none when there is no file (an empty plan and a deleted file differ here). */
  readonly readFile: Effect.Effect<Option.Option<UpgradePlan>, FileCorrupt | IoError>
  /**
   * Writes `plan` under the lock only when there is no plan file: a running
   * supervisor re-creating a deleted plan from the last valid one it read.
   * False when a file exists (someone wrote one meanwhile; it is left alone).
   */
  readonly restore: (plan: UpgradePlan) => Effect.Effect<boolean, IoError | PlanLocked>
  readonly update: <A, E>(
    f: (plan: UpgradePlan) => Effect.Effect<readonly [A, UpgradePlan], E>
  ) => Effect.Effect<A, E | FileCorrupt | IoError | PlanLocked>
}

export class PlanStore extends Context.Tag("wemixvisor/PlanStore")<PlanStore, PlanStoreService>() {}

/**
 * What the orchestrator sees of the plan: the plan, no file at all (never
 * written, or deleted: the supervisor decides which from what it saw before),
 * or why it cannot be read.
 */
export type PlanSnapshot =
  | { readonly _tag: "Valid"; readonly plan: UpgradePlan }
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Corrupt"; readonly error: FileCorrupt | IoError }

/**
 * Plan changes as a Stream (DESIGN §1 UpgradeSource). Watches upgrade-plan.json
 * (written directly by the CLI) and merges the upgrade-info.json drop-in; file
 * events plus a poll fallback at DAEMON_POLL_INTERVAL. Emits the current
 * snapshot first, then one per change (equal snapshots are not repeated).
 */
export interface UpgradeSourceService {
  readonly plans: Stream.Stream<PlanSnapshot>
}

export class UpgradeSource extends Context.Tag("wemixvisor/UpgradeSource")<UpgradeSource, UpgradeSourceService>() {}

/** Live PlanStore over the configured home's upgrade-plan.json. */
export const layer: Layer.Layer<PlanStore, never, AppConfig> = Layer.effect(
  PlanStore,
  Effect.flatMap(AppConfig, (config) => makePlanStore(config.layout))
)

/**
 * Live UpgradeSource: one watcher for the life of the layer, shared by every
 * subscriber of `plans`. Also exported as `layer` from ./UpgradeSource.js.
 */
export const upgradeSourceLayer: Layer.Layer<UpgradeSource, never, AppConfig | PlanStore | Events | HeightProvider> =
  Layer.scoped(
    UpgradeSource,
    Effect.gen(function* () {
      const config = yield* AppConfig
      const heights = yield* HeightProvider
      const binaries = makeBinaryStore(config.layout)
      return yield* makeUpgradeSource({
        layout: config.layout,
        pollInterval: config.pollInterval,
        store: yield* PlanStore,
        events: yield* Events,
        latestHeight: heights.latest,
        // The drop-in is refused for what the CLI would refuse (downloads disabled, no checksum, …).
        vetSources: (req) =>
          Effect.gen(function* () {
            const inPlace = Either.isRight(yield* Effect.either(binaries.validate(req.name)))
            const checked = yield* checkSources(config, req.name, req, inPlace)
            return { ...req, binaries: checked.binaries, checksums: checked.checksums }
          })
      })
    })
  )
