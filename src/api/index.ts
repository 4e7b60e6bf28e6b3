/*
 * `wemixvisor/api`: the typed RPC API of a running wemixvisor (ARCHITECTURE §6).
 *
 *   import { layerProtocol, makeClient } from "wemixvisor/api"
 *   const client = yield* makeClient            // in a Scope, with layerProtocol({ url, token })
 *   const upgrade = yield* client.ScheduleUpgrade({ name: "v2", height: 1500000 })
 */
export {
  Forbidden,
  InvalidInput,
  NodeUnreachable,
  PlanUnavailable,
  Unauthorized,
  UpgradeConflict,
  UpgradeNotFound
} from "../domain/Errors.js"
export { Height } from "../domain/Height.js"
export { PreflightFinding, PreflightLevel, PreflightResult } from "../domain/Preflight.js"
export { Proposal, ProposalAction, ProposalList, ProposalState } from "../domain/Proposal.js"
export { StatusObject, TargetName } from "../domain/Status.js"
export { Upgrade, UpgradeList, UpgradeName, UpgradePlan, UpgradeStatus } from "../domain/Upgrade.js"
export { type EventType, WemixvisorEvent } from "../events/Events.js"
export {
  type ClientOptions,
  layerProtocol,
  makeClient,
  problemOf,
  refusalOf,
  rpcUrl,
  type UpgradeClient
} from "./Client.js"
export { ApiAuth, CancelUpgradePayload, CheckUpgradePayload, ScheduleUpgradePayload, UpgradeRpcs } from "./Rpcs.js"
