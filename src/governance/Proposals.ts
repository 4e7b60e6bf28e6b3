import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { Proposal } from "../domain/Proposal.js"

/*
 * The proposals of a Governor (DAEMON_GOVERNANCE_GOVERNOR) that call the
 * registry, tracked so an operator sees an upgrade coming before it is
 * decided (ARCHITECTURE §10). The tag; the live layer is ProposalsLive.ts.
 * Without a Governor configured, the list is empty.
 */

export interface ProposalsService {
  /** Every tracked proposal, newest first (by created_block). */
  readonly list: Effect.Effect<ReadonlyArray<Proposal>>
}

export class Proposals extends Context.Tag("wemixvisor/Proposals")<Proposals, ProposalsService>() {}
