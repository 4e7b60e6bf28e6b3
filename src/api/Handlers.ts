import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Context from "effect/Context"
import type { FileCorrupt, IoError, UpgradeConflict as UpgradeConflictError, UpgradeNotFound as UpgradeNotFoundError } from "../domain/Errors.js"
import type { StatusObject } from "../domain/Status.js"
import type { Upgrade } from "../domain/Upgrade.js"
import type { Events } from "../events/Events.js"
import type { PreparationFailed } from "../orchestrator/Orchestrator.js"
import {
  type CancelError,
  decodeName,
  decodeSchedule,
  invalidInputOf,
  type OperationsService,
  type ScheduleError
} from "../upgrades/Operations.js"
import { authProblem } from "./Auth.js"
import {
  ApiAuth,
  CancelUpgradePayload,
  InvalidInput,
  NodeUnreachable,
  PlanUnavailable,
  PrepareFailed,
  PrepareUpgradePayload,
  Unauthorized,
  UpgradeConflict,
  UpgradeNotFound,
  UpgradeRpcsServed
} from "./Rpcs.js"

/*
 * What the RPC handlers and the REST routes share: the Operations (the one
 * write path), the orchestrator's status, the event hub and the token — and
 * the one mapping from wemixvisor's errors to the wire errors.
 */

export interface ApiServices {
  readonly ops: OperationsService
  readonly status: Effect.Effect<StatusObject>
  /** The orchestrator's `prepare`: a pending upgrade made ready now. */
  readonly prepare: (
    name: string
  ) => Effect.Effect<Upgrade, PreparationFailed | UpgradeNotFoundError | UpgradeConflictError | FileCorrupt | IoError>
  readonly events: Context.Tag.Service<Events>
  /** The bearer token every call needs (WEMIXVISOR_API_TOKEN or the generated api.token). */
  readonly token: string
}

type PlanError = Extract<ScheduleError | CancelError, { _tag: "FileCorrupt" | "IoError" | "PlanLocked" }>

const planUnavailable = (e: PlanError) => new PlanUnavailable({ reason: e.message })

const causeText = (cause: unknown) => (cause instanceof Error ? (cause.message.split("\n")[0] ?? "") : String(cause))

export const scheduleErrorToWire = (e: ScheduleError): InvalidInput | UpgradeConflict | NodeUnreachable | PlanUnavailable => {
  switch (e._tag) {
    case "InvalidInput":
      return new InvalidInput({ field: e.field, problem: e.problem })
    case "BinaryInvalid":
      return new InvalidInput({ field: "binary", problem: e.message })
    case "UpgradeConflict":
      return new UpgradeConflict({ name: e.name, problem: e.problem })
    case "NodeUnreachable":
      return new NodeUnreachable({ url: e.url, reason: causeText(e.cause) })
    default:
      return planUnavailable(e)
  }
}

export const cancelErrorToWire = (e: CancelError): InvalidInput | UpgradeNotFound | UpgradeConflict | PlanUnavailable => {
  switch (e._tag) {
    case "InvalidInput":
      return new InvalidInput({ field: e.field, problem: e.problem })
    case "UpgradeNotFound":
      return new UpgradeNotFound({ name: e.name })
    case "UpgradeConflict":
      return new UpgradeConflict({ name: e.name, problem: e.problem })
    default:
      return planUnavailable(e)
  }
}

export const prepareErrorToWire = (
  e: PreparationFailed | UpgradeNotFoundError | UpgradeConflictError | FileCorrupt | IoError
): InvalidInput | UpgradeNotFound | UpgradeConflict | PrepareFailed | PlanUnavailable => {
  switch (e._tag) {
    case "PreparationFailed":
      // Downloads disabled, no checksum, no binary for this platform: the request, not the network.
      return e.badInput ? new InvalidInput({ field: "binaries", problem: e.reason }) : new PrepareFailed({ name: e.name, reason: e.reason })
    case "UpgradeNotFound":
      return new UpgradeNotFound({ name: e.name })
    case "UpgradeConflict":
      return new UpgradeConflict({ name: e.name, problem: e.problem })
    default:
      return planUnavailable(e)
  }
}

export const listErrorToWire = (e: Extract<PlanError, { _tag: "FileCorrupt" | "IoError" }>) => planUnavailable(e)

/** How a request through the API overrides the head check. */
export const API_FORCE_HINT = ' (set "force": true to schedule it anyway)'

/** The bearer check as RPC middleware: a typed Unauthorized for every procedure, streams included. */
export const authLayer = (token: string): Layer.Layer<ApiAuth> =>
  Layer.succeed(
    ApiAuth,
    ApiAuth.of(({ headers }) =>
      Option.match(authProblem(token, headers["authorization"]), {
        onNone: () => Effect.void,
        onSome: (reason) => Effect.fail(new Unauthorized({ reason }))
      })
    )
  )

/** An RPC payload decoded by the handler (UpgradeRpcsServed takes them as they come). */
const decodePayload =
  <A, I>(schema: Schema.Schema<A, I>) =>
  (payload: unknown): Either.Either<A, InvalidInput> =>
    Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "ignore" })(payload).pipe(
      Either.mapLeft((e) => {
        const invalid = invalidInputOf(e)
        return new InvalidInput({ field: invalid.field, problem: invalid.problem })
      })
    )
const decodeCancel = decodePayload(CancelUpgradePayload)
const decodePrepare = decodePayload(PrepareUpgradePayload)

export const handlersLayer = (api: ApiServices) =>
  UpgradeRpcsServed.toLayer({
    ScheduleUpgrade: (payload) =>
      decodeSchedule(payload, { forceHint: API_FORCE_HINT }).pipe(
        Effect.flatMap(api.ops.schedule),
        Effect.mapError(scheduleErrorToWire)
      ),
    ListUpgrades: () =>
      api.ops.list.pipe(
        Effect.map((l) => ({ upgrades: l.upgrades, count: l.count })),
        Effect.mapError(listErrorToWire)
      ),
    CancelUpgrade: (payload) =>
      decodeCancel(payload).pipe(
        Effect.flatMap(({ name }) => api.ops.cancel(Option.fromNullable(name)).pipe(Effect.mapError(cancelErrorToWire)))
      ),
    PrepareUpgrade: (payload) =>
      decodePrepare(payload).pipe(
        Effect.flatMap(({ name }) => decodeName(name)),
        Effect.mapError((e) => new InvalidInput({ field: e.field, problem: e.problem })),
        Effect.flatMap((n) => api.prepare(n).pipe(Effect.mapError(prepareErrorToWire)))
      ),
    GetStatus: () => api.status,
    WatchEvents: () => Stream.unwrapScoped(api.events.subscribe)
  })
