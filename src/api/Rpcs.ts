import * as Rpc from "@effect/rpc/Rpc"
import * as RpcGroup from "@effect/rpc/RpcGroup"
import * as RpcMiddleware from "@effect/rpc/RpcMiddleware"
import * as Schema from "effect/Schema"
import {
  InvalidInput,
  NodeUnreachable,
  PlanUnavailable,
  PrepareFailed,
  Unauthorized,
  UpgradeConflict,
  UpgradeNotFound
} from "../domain/Errors.js"
import { NodeState } from "../domain/Node.js"
import { PreflightResult } from "../domain/Preflight.js"
import { ProposalList } from "../domain/Proposal.js"
import { OperatorPause, StatusObject } from "../domain/Status.js"
import { Upgrade, UpgradeList } from "../domain/Upgrade.js"
import { WemixvisorEvent } from "../events/Events.js"

/*
 * The typed RPC API (ARCHITECTURE §6), served by `run` at POST /rpc with NDJSON
 * serialization and exported from the package (`wemixvisor/api`), so another
 * Effect program can be a typed client. Errors cross the wire as they are:
 * wemixvisor's own Schema.TaggedErrors (src/domain/Errors.ts).
 *
 * Payload fields are plain strings and numbers on purpose: the server
 * validates them with the same rules as the CLI and answers a typed
 * InvalidInput naming the field, instead of a client-side encoding defect
 * (or, for a client that is not this one, a server-side decoding defect:
 * see UpgradeRpcsServed).
 */

/**
 * Bearer-token check on every RPC. A typed failure rather than an HTTP 401:
 * the RPC client cannot read an empty 401 body (it would wait forever).
 */
export class ApiAuth extends RpcMiddleware.Tag<ApiAuth>()("wemixvisor/ApiAuth", { failure: Unauthorized }) {}

export const ScheduleUpgradePayload = Schema.Struct({
  name: Schema.String,
  height: Schema.Number,
  info: Schema.optional(Schema.String),
  /** Per platform (`linux/amd64`): where the binary can be downloaded. */
  binaries: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  /** Per platform: `sha256:<hex>` or `sha512:<hex>`. */
  checksums: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  /** Schedule even at or below the chain head, or while the node cannot be reached. */
  force: Schema.optional(Schema.Boolean),
  /** `rollback` or `halt`: this upgrade's failure policy; omitted = follow DAEMON_ON_UPGRADE_FAILURE. */
  on_failure: Schema.optional(Schema.String)
})

export const CancelUpgradePayload = Schema.Struct({
  /** Omitted: the only pending upgrade. */
  name: Schema.optional(Schema.String)
})

export const PrepareUpgradePayload = Schema.Struct({
  name: Schema.String
})

export const CheckUpgradePayload = Schema.Struct({
  name: Schema.String
})

export const PauseUpgradesPayload = Schema.Struct({
  /** Free text kept with the pause and shown wherever it is (status, list, /health's log line, the dashboard). */
  reason: Schema.optional(Schema.String)
})

/** `node restart`'s answer: the node afterwards (`error` with the reason when its binary could not be started). */
export const NodeRestarted = Schema.Struct({
  state: NodeState,
  pid: Schema.NullOr(Schema.Number),
  reason: Schema.NullOr(Schema.String)
})

/** `upgrade resume`'s answer: the operator's pause it lifted, null when upgrades were not paused by one. */
export const UpgradesResumed = Schema.Struct({ resumed: Schema.NullOr(OperatorPause) })

const ScheduleErrors = Schema.Union(InvalidInput, UpgradeConflict, NodeUnreachable, PlanUnavailable)
const CancelErrors = Schema.Union(InvalidInput, UpgradeNotFound, UpgradeConflict, PlanUnavailable)
const PauseErrors = Schema.Union(InvalidInput, PlanUnavailable)
const PrepareErrors = Schema.Union(InvalidInput, UpgradeNotFound, UpgradeConflict, PrepareFailed, PlanUnavailable)
const CheckErrors = Schema.Union(InvalidInput, UpgradeNotFound, UpgradeConflict, PlanUnavailable)

/** Stop the node gracefully and start it again (out of `error` too); refused (UpgradeConflict) while an upgrade has it. */
const RestartNode = Rpc.make("RestartNode", { success: NodeRestarted, error: UpgradeConflict })
const ResumeUpgrades = Rpc.make("ResumeUpgrades", { success: UpgradesResumed, error: PlanUnavailable })
const ListUpgrades = Rpc.make("ListUpgrades", { success: UpgradeList, error: PlanUnavailable })
const GetStatus = Rpc.make("GetStatus", { success: StatusObject })
/** Every governance proposal the supervisor tracks (DAEMON_GOVERNANCE_GOVERNOR), final ones included, newest first. */
const ListProposals = Rpc.make("ListProposals", { success: ProposalList })
/** Every event from the moment of the call, in the order the log has them. */
const WatchEvents = Rpc.make("WatchEvents", { success: WemixvisorEvent, stream: true })

/** The group as clients see it: typed payloads. */
export class UpgradeRpcs extends RpcGroup.make(
  Rpc.make("ScheduleUpgrade", { payload: ScheduleUpgradePayload, success: Upgrade, error: ScheduleErrors }),
  ListUpgrades,
  Rpc.make("CancelUpgrade", { payload: CancelUpgradePayload, success: Upgrade, error: CancelErrors }),
  /**
   * Prepares a pending upgrade now (download, verify, executable check,
   * version probe) and answers it `ready` — or why it is not. Waits for a
   * preparation already under way.
   */
  Rpc.make("PrepareUpgrade", { payload: PrepareUpgradePayload, success: Upgrade, error: PrepareErrors }),
  GetStatus,
  WatchEvents,
  RestartNode,
  /** No upgrade fires until ResumeUpgrades (persisted: it outlives a restart of wemixvisor). */
  Rpc.make("PauseUpgrades", { payload: PauseUpgradesPayload, success: OperatorPause, error: PauseErrors }),
  ResumeUpgrades,
  ListProposals,
  /**
   * `upgrade check`: would this pending upgrade go through now (binary,
   * hooks, backup room, verify timings, RPC and chain id, pauses), its ETA
   * and what a failure does. A NO GO is an answer (`go: false`), not an error.
   */
  Rpc.make("CheckUpgrade", { payload: CheckUpgradePayload, success: PreflightResult, error: CheckErrors })
).middleware(ApiAuth) {}

/**
 * The same group as the server serves it: payloads taken as they come. The
 * framework decodes a payload before any handler runs and turns a mismatch
 * into an untyped defect; the handlers decode them instead (the CLI's rules),
 * so a wrong or missing field is a typed InvalidInput naming it.
 */
export const UpgradeRpcsServed = RpcGroup.make(
  Rpc.make("ScheduleUpgrade", { payload: Schema.Unknown, success: Upgrade, error: ScheduleErrors }),
  ListUpgrades,
  Rpc.make("CancelUpgrade", { payload: Schema.Unknown, success: Upgrade, error: CancelErrors }),
  Rpc.make("PrepareUpgrade", { payload: Schema.Unknown, success: Upgrade, error: PrepareErrors }),
  GetStatus,
  WatchEvents,
  RestartNode,
  Rpc.make("PauseUpgrades", { payload: Schema.Unknown, success: OperatorPause, error: PauseErrors }),
  ResumeUpgrades,
  ListProposals,
  Rpc.make("CheckUpgrade", { payload: Schema.Unknown, success: PreflightResult, error: CheckErrors })
).middleware(ApiAuth)
