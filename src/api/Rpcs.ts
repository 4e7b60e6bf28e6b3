import * as Rpc from "@effect/rpc/Rpc"
import * as RpcGroup from "@effect/rpc/RpcGroup"
import * as RpcMiddleware from "@effect/rpc/RpcMiddleware"
import * as Schema from "effect/Schema"
import { StatusObject } from "../domain/Status.js"
import { Upgrade, UpgradeList } from "../domain/Upgrade.js"
import { WemixvisorEvent } from "../events/Events.js"

/*
 * The typed RPC API (DESIGN §5), served by `run` at POST /rpc with NDJSON
 * serialization and exported from the package (`wemixvisor/api`), so another
 * Effect program can be a typed client. Errors cross the wire as
 * Schema.TaggedErrors with the same tags as wemixvisor's own errors.
 *
 * Payload fields are plain strings and numbers on purpose: the server
 * validates them with the same rules as the CLI and answers a typed
 * InvalidInput naming the field, instead of a client-side encoding defect
 * (or, for a client that is not this one, a server-side decoding defect:
 * see UpgradeRpcsServed).
 */

/** A field of the request the server refused (name, height, checksums.linux/amd64, …). */
export class InvalidInput extends Schema.TaggedError<InvalidInput>("wemixvisor/InvalidInput")("InvalidInput", {
  field: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `invalid ${this.field}: ${this.problem}`
  }
}

/** The request contradicts the plan or the chain (name taken, height at or below the head, in progress, …). */
export class UpgradeConflict extends Schema.TaggedError<UpgradeConflict>("wemixvisor/UpgradeConflict")("UpgradeConflict", {
  name: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `upgrade '${this.name}': ${this.problem}`
  }
}

export class UpgradeNotFound extends Schema.TaggedError<UpgradeNotFound>("wemixvisor/UpgradeNotFound")("UpgradeNotFound", {
  name: Schema.String
}) {
  override get message() {
    return `no upgrade named '${this.name}'`
  }
}

/** The supervised node did not answer the head check (schedule with `force` to skip it). */
export class NodeUnreachable extends Schema.TaggedError<NodeUnreachable>("wemixvisor/NodeUnreachable")("NodeUnreachable", {
  url: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `node RPC ${this.url} unreachable: ${this.reason}`
  }
}

/** The plan could not be read or written right now (corrupt file, lock held too long, I/O error). */
export class PlanUnavailable extends Schema.TaggedError<PlanUnavailable>("wemixvisor/PlanUnavailable")("PlanUnavailable", {
  reason: Schema.String
}) {
  override get message() {
    return `the upgrade plan is unavailable: ${this.reason}`
  }
}

/** `PrepareUpgrade`: the binary could not be made ready (download, checksum, archive, it cannot run here). */
export class PrepareFailed extends Schema.TaggedError<PrepareFailed>("wemixvisor/PrepareFailed")("PrepareFailed", {
  name: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `upgrade '${this.name}' is not ready: ${this.reason}`
  }
}

/** Missing or wrong `Authorization: Bearer <WEMIXVISOR_API_TOKEN>`. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>("wemixvisor/Unauthorized")("Unauthorized", {
  reason: Schema.String
}) {
  override get message() {
    return `unauthorized: ${this.reason}`
  }
}

/** The API refused the request before reading it: a Host or Origin it does not serve (HTTP 403). */
export class Forbidden extends Schema.TaggedError<Forbidden>("wemixvisor/Forbidden")("Forbidden", {
  reason: Schema.String
}) {
  override get message() {
    return `forbidden: ${this.reason}`
  }
}

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
  force: Schema.optional(Schema.Boolean)
})

export const CancelUpgradePayload = Schema.Struct({
  /** Omitted: the only pending upgrade. */
  name: Schema.optional(Schema.String)
})

export const PrepareUpgradePayload = Schema.Struct({
  name: Schema.String
})

const ScheduleErrors = Schema.Union(InvalidInput, UpgradeConflict, NodeUnreachable, PlanUnavailable)
const CancelErrors = Schema.Union(InvalidInput, UpgradeNotFound, UpgradeConflict, PlanUnavailable)
const PrepareErrors = Schema.Union(InvalidInput, UpgradeNotFound, UpgradeConflict, PrepareFailed, PlanUnavailable)

const ListUpgrades = Rpc.make("ListUpgrades", { success: UpgradeList, error: PlanUnavailable })
const GetStatus = Rpc.make("GetStatus", { success: StatusObject })
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
  WatchEvents
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
  WatchEvents
).middleware(ApiAuth)
