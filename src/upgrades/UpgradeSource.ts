import * as Context from "effect/Context"
import type * as Stream from "effect/Stream"
import type { FileCorrupt, IoError } from "../domain/Errors.js"
import type { UpgradePlan } from "../domain/Upgrade.js"

/*
 * The UpgradeSource service (ARCHITECTURE §1): the tag; the live layer
 * (UpgradeSourceLive.ts) watches upgrade-plan.json and merges the
 * upgrade-info.json drop-in (PlanWatcher.ts).
 */

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
 * Plan changes as a Stream (ARCHITECTURE §1 UpgradeSource). Watches upgrade-plan.json
 * (written directly by the CLI) and merges the upgrade-info.json drop-in; file
 * events plus a poll fallback at DAEMON_POLL_INTERVAL. Emits the current
 * snapshot first, then one per change (equal snapshots are not repeated).
 */
export interface UpgradeSourceService {
  readonly plans: Stream.Stream<PlanSnapshot>
}

export class UpgradeSource extends Context.Tag("wemixvisor/UpgradeSource")<UpgradeSource, UpgradeSourceService>() {}
