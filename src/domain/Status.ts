import * as Schema from "effect/Schema"
import { Height } from "./Height.js"
import { NodeState } from "./Node.js"
import { Proposal, type ProposalState } from "./Proposal.js"
import { Upgrade, UpgradeName, UpgradeStatus } from "./Upgrade.js"

/** What `current` points at, as it appears in JSON: `genesis` or an upgrade name. */
export const TargetName = Schema.Union(Schema.Literal("genesis"), UpgradeName)

/**
 * When an upgrade's height will be reached, estimated from the block
 * interval a running supervisor measures: an ISO time (whole seconds) and the
 * seconds from now. Both null while the pace is unknown (fewer than two
 * heights seen, or no supervisor running).
 */
export const UpgradeEta = Schema.Struct({
  eta: Schema.NullOr(Schema.String),
  eta_seconds: Schema.NullOr(Schema.Number)
})
export type UpgradeEta = typeof UpgradeEta.Type

/** An upgrade as the status (its pending ones) and `upgrade list` show it: the plan's entry and its ETA. */
export const UpgradeWithEta = Schema.Struct({ ...Upgrade.fields, ...UpgradeEta.fields })
export type UpgradeWithEta = typeof UpgradeWithEta.Type

/** `upgrade list --json`: the seeds' shape, each entry with its ETA (null unless pending and estimated). */
export const UpgradeListWithEta = Schema.Struct({ upgrades: Schema.Array(UpgradeWithEta), count: Schema.Number })

/**
 * The operator's pause of upgrades (`upgrade pause`, upgrades-paused.json):
 * who paused them (the door, and the API peer), since when, and why.
 */
export const OperatorPause = Schema.Struct({
  by: Schema.String,
  since: Schema.String,
  reason: Schema.NullOr(Schema.String)
})
export type OperatorPause = typeof OperatorPause.Type

/**
 * The governance source (ARCHITECTURE §10) as the status shows it: the
 * registry followed, the last block whose events are applied (the cursor;
 * null before the first step), and why it is not keeping up (null while it
 * is: an RPC or disk error, retried on its own; or a cursor file that cannot
 * be read, which keeps the source off).
 */
export const GovernanceStatus = Schema.Struct({
  registry: Schema.String,
  confirmations: Schema.Number,
  block: Schema.NullOr(Schema.Number),
  error: Schema.NullOr(Schema.String)
})
export type GovernanceStatus = typeof GovernanceStatus.Type

/**
 * The status object of ARCHITECTURE §6 (`status --json`, REST, `GetStatus`), keys
 * exactly as documented. `version` stays null until version probing exists.
 */
export const StatusObject = Schema.Struct({
  supervisor: Schema.Literal("running", "not-running"),
  /** DAEMON_HOME of the supervisor that answers: a client checks it is talking to its own home's. */
  home: Schema.String,
  /** The pid of the `run` that answers (null from the files, when none runs). */
  supervisor_pid: Schema.NullOr(Schema.Number),
  current_height: Schema.NullOr(Height),
  /**
   * Seconds per block, the moving average a running supervisor measures over
   * the last new heads (height/Pace.ts); null until two heads were seen, and
   * from the files (no supervisor measures it).
   */
  block_interval_seconds: Schema.NullOr(Schema.Number),
  /** Seconds since the head last moved; null before the first head, and from the files. */
  head_age_seconds: Schema.NullOr(Schema.Number),
  node_state: NodeState,
  node_pid: Schema.NullOr(Schema.Number),
  restarts: Schema.Number,
  current: TargetName,
  version: Schema.NullOr(Schema.String),
  pending_upgrade: Schema.NullOr(UpgradeWithEta),
  pending: Schema.Array(UpgradeWithEta),
  upgrading: Schema.Boolean,
  in_progress: Schema.NullOr(Schema.Struct({ name: UpgradeName, step: Schema.String })),
  last: Schema.NullOr(
    Schema.Struct({ name: UpgradeName, status: UpgradeStatus, reason: Schema.NullOr(Schema.String) })
  ),
  /** Why upgrades are paused (a corrupt journal, a corrupt plan with no valid one to go on from, …), or null. */
  paused: Schema.NullOr(Schema.String),
  /**
   * The operator's pause (`upgrade pause`), or null: no upgrade fires until
   * `upgrade resume`. Apart from `paused`, which is wemixvisor's own.
   */
  upgrades_paused: Schema.NullOr(OperatorPause),
  /** What is wrong with upgrade-plan.json or its lock while upgrades go on from the last valid plan, or null. */
  plan_problem: Schema.NullOr(Schema.String),
  /**
   * The governance proposals calling the registry that are not decided yet
   * (pending, active, succeeded, queued), newest first: an upgrade coming.
   * Tracked by a running supervisor with DAEMON_GOVERNANCE_GOVERNOR set;
   * empty from the files (no supervisor tracks them).
   */
  proposals: Schema.Array(Proposal),
  /** The governance source: null when it is off (DAEMON_GOVERNANCE_REGISTRY unset) and from the files. */
  governance: Schema.NullOr(GovernanceStatus)
})
export type StatusObject = typeof StatusObject.Type

/** The proposal states still open: the status's `proposals` has these (the others are final). */
export const OPEN_PROPOSAL_STATES: ReadonlyArray<ProposalState> = ["pending", "active", "succeeded", "queued"]

/** The proposals of `all` that are not final, in their order: the status's `proposals`. */
export const openProposals = (all: ReadonlyArray<Proposal>): ReadonlyArray<Proposal> =>
  all.filter((p) => OPEN_PROPOSAL_STATES.includes(p.state))
