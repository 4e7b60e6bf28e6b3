import * as Schema from "effect/Schema"
import { Height } from "./Height.js"
import { NodeState } from "./Node.js"
import { Upgrade, UpgradeName, UpgradeStatus } from "./Upgrade.js"

/** What `current` points at, as it appears in JSON: `genesis` or an upgrade name. */
export const TargetName = Schema.Union(Schema.Literal("genesis"), UpgradeName)

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
  node_state: NodeState,
  node_pid: Schema.NullOr(Schema.Number),
  restarts: Schema.Number,
  current: TargetName,
  version: Schema.NullOr(Schema.String),
  pending_upgrade: Schema.NullOr(Upgrade),
  pending: Schema.Array(Upgrade),
  upgrading: Schema.Boolean,
  in_progress: Schema.NullOr(Schema.Struct({ name: UpgradeName, step: Schema.String })),
  last: Schema.NullOr(
    Schema.Struct({ name: UpgradeName, status: UpgradeStatus, reason: Schema.NullOr(Schema.String) })
  ),
  /** Why upgrades are paused (a corrupt journal, a corrupt plan with no valid one to go on from, …), or null. */
  paused: Schema.NullOr(Schema.String),
  /** What is wrong with upgrade-plan.json or its lock while upgrades go on from the last valid plan, or null. */
  plan_problem: Schema.NullOr(Schema.String)
})
export type StatusObject = typeof StatusObject.Type
