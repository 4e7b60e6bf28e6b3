import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"

/*
 * The governance source (ARCHITECTURE §10): upgrades decided on chain. The
 * tag; the live layer (GovernanceLive.ts) follows a registry contract's
 * `UpgradeScheduled` / `UpgradeCancelled` events and applies each confirmed
 * one through Operations, door `governance` — the plan file stays the one
 * way into the orchestrator.
 */

/** What `status` and `config` say of the source. */
export interface GovernanceState {
  /** The registry followed; null: the source is off (DAEMON_GOVERNANCE_REGISTRY unset). */
  readonly registry: string | null
  readonly confirmations: number
  /** The last block whose events are applied; null before the first step. */
  readonly block: number | null
  /** Why the last step failed (the node, the disk); null while it keeps up. */
  readonly error: string | null
}

export interface GovernanceService {
  readonly state: Effect.Effect<GovernanceState>
}

export class Governance extends Context.Tag("wemixvisor/Governance")<Governance, GovernanceService>() {}
