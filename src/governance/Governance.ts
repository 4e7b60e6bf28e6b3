import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { GovernanceStatus } from "../domain/Status.js"

/*
 * The governance source (ARCHITECTURE §10): upgrades decided on chain. The
 * tag; the live layer (GovernanceLive.ts) follows a registry contract's
 * `UpgradeScheduled` / `UpgradeCancelled` events and applies each confirmed
 * one through Operations, door `governance` — the plan file stays the one
 * way into the orchestrator.
 */

export interface GovernanceService {
  /** What the status says of the source (its `governance` key); null when it is off. */
  readonly state: Effect.Effect<GovernanceStatus | null>
}

export class Governance extends Context.Tag("wemixvisor/Governance")<Governance, GovernanceService>() {}
