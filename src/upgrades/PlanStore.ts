import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { FileCorrupt, IoError, PlanLocked } from "../domain/Errors.js"
import type { UpgradePlan } from "../domain/Upgrade.js"

/**
 * upgrade-plan.json, the single durable source of truth (ARCHITECTURE §3). Every
 * writer — CLI, API, drop-in, orchestrator — goes through `update`, which takes
 * upgrade-plan.lock, reads and validates the file, applies `f`, and writes
 * atomically only when the plan changed. A corrupt file is never overwritten.
 *
 * The tag lives here, apart from its implementation (PlanFile.ts, wired by
 * PlanStoreLive.ts): the lowest module of upgrades/, it depends on nothing else.
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
