import * as Schema from "effect/Schema"

/*
 * A governance proposal that calls the upgrade registry, as wemixvisor shows
 * it before it is decided (ARCHITECTURE §10): `upgrade proposals --json`,
 * REST `GET /api/v1/proposals`, RPC `ListProposals`, the status object's
 * `proposals`, the dashboard. Vote weights and ids are decimal strings:
 * token amounts (18 decimals) and proposal ids (uint256 hashes) do not fit
 * a JSON number.
 */

/** OpenZeppelin's Governor.state(), in lower case and in its numbering order (Pending = 0 … Executed = 7). */
export const ProposalState = Schema.Literal(
  "pending",
  "active",
  "canceled",
  "defeated",
  "succeeded",
  "queued",
  "expired",
  "executed"
)
export type ProposalState = typeof ProposalState.Type

/** One call of the proposal to the registry, decoded. */
export const ProposalAction = Schema.Union(
  Schema.Struct({
    kind: Schema.Literal("schedule"),
    name: Schema.String,
    height: Schema.Number,
    info: Schema.String
  }),
  Schema.Struct({ kind: Schema.Literal("cancel"), name: Schema.String })
)
export type ProposalAction = typeof ProposalAction.Type

export const Proposal = Schema.Struct({
  /** The Governor's proposal id (uint256), decimal. */
  id: Schema.String,
  proposer: Schema.String,
  description: Schema.String,
  /** Its calls to the registry (other calls of the same proposal are not shown). */
  actions: Schema.Array(ProposalAction),
  state: ProposalState,
  /** Votes so far (GovernorCountingSimple), decimal token units. */
  votes: Schema.Struct({ for: Schema.String, against: Schema.String, abstain: Schema.String }),
  /** Votes needed (Governor.quorum at the proposal's snapshot), decimal; null until the snapshot block. */
  quorum: Schema.NullOr(Schema.String),
  /** The blocks voting opens and closes at (proposalSnapshot, proposalDeadline). */
  vote_start: Schema.Number,
  vote_end: Schema.Number,
  /** Block of the ProposalCreated event. */
  created_block: Schema.Number,
  /** When wemixvisor last read its state and votes (ISO). */
  updated_at: Schema.String
})
export type Proposal = typeof Proposal.Type

/** `upgrade proposals --json` and `GET /api/v1/proposals`. */
export const ProposalList = Schema.Struct({ proposals: Schema.Array(Proposal), count: Schema.Number })
export type ProposalList = typeof ProposalList.Type
