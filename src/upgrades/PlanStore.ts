import { Context, type Effect, type Stream } from "effect"
import type { FileCorrupt, IoError, PlanLocked } from "../domain/Errors.js"
import type { UpgradePlan } from "../domain/Upgrade.js"

/**
 * upgrade-plan.json, the single durable source of truth (DESIGN §2). Every
 * writer — CLI, API, drop-in, orchestrator — goes through `update`, which takes
 * upgrade-plan.lock, reads and validates the file, applies `f`, and writes
 * atomically only when the plan changed. A corrupt file is never overwritten.
 */
export interface PlanStoreService {
  /** The plan on disk (empty when there is no file). */
  readonly read: Effect.Effect<UpgradePlan, FileCorrupt | IoError>
  readonly update: <A, E>(
    f: (plan: UpgradePlan) => Effect.Effect<readonly [A, UpgradePlan], E>
  ) => Effect.Effect<A, E | FileCorrupt | IoError | PlanLocked>
}

export class PlanStore extends Context.Tag("wemixvisor/PlanStore")<PlanStore, PlanStoreService>() {}

/** What the orchestrator sees of the plan: the plan, or why it cannot be read. */
export type PlanSnapshot =
  | { readonly _tag: "Valid"; readonly plan: UpgradePlan }
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
