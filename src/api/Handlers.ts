import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import {
  type FileCorrupt,
  InvalidInput,
  type IoError,
  type NodeUnreachable,
  PlanUnavailable,
  PrepareFailed,
  Unauthorized,
  type UpgradeConflict,
  type UpgradeNotFound
} from "../domain/Errors.js"
import { API_FORCE_HINT } from "../domain/Plan.js"
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
import { ApiAuth, CancelUpgradePayload, PrepareUpgradePayload, UpgradeRpcsServed } from "./Rpcs.js"

/*
 * What the RPC handlers and the REST routes share: the Operations (the one
 * write path), the orchestrator's status, the event hub and the token — and
 * the one mapping from what the services fail with to what the API answers.
 */

export interface ApiServices {
  readonly ops: OperationsService
  readonly status: Effect.Effect<StatusObject>
  /** The orchestrator's `prepare`: a pending upgrade made ready now. */
  readonly prepare: (name: string) => Effect.Effect<Upgrade, PrepareError>
  readonly events: Context.Tag.Service<Events>
  /** The bearer token every call needs (WEMIXVISOR_API_TOKEN or the generated api.token). */
  readonly token: string
}

export type PrepareError = PreparationFailed | UpgradeNotFound | UpgradeConflict | FileCorrupt | IoError

/** Every error the API can answer with, RPC and REST. */
export type WireError =
  | InvalidInput
  | UpgradeConflict
  | UpgradeNotFound
  | NodeUnreachable
  | PlanUnavailable
  | PrepareFailed

/**
 * What the API answers for a failed request. The wire errors go out as they
 * are; the plan's own errors (corrupt, unreadable, locked) as PlanUnavailable;
 * a refused binary as the bad input it is; a failed preparation as bad input
 * when the request cannot work here (downloads disabled, no checksum, no
 * binary for this platform), else as PrepareFailed. One signature per
 * request, so each RPC's answer keeps its own error union.
 */
export function toWire(e: FileCorrupt | IoError): PlanUnavailable
export function toWire(e: ScheduleError): InvalidInput | UpgradeConflict | NodeUnreachable | PlanUnavailable
export function toWire(e: CancelError): InvalidInput | UpgradeNotFound | UpgradeConflict | PlanUnavailable
export function toWire(
  e: PrepareError
): InvalidInput | UpgradeNotFound | UpgradeConflict | PrepareFailed | PlanUnavailable
export function toWire(e: ScheduleError | CancelError | PrepareError): WireError {
  switch (e._tag) {
    case "FileCorrupt":
    case "IoError":
    case "PlanLocked":
      return new PlanUnavailable({ reason: e.message })
    case "BinaryInvalid":
      return new InvalidInput({ field: "binary", problem: e.message })
    case "PreparationFailed":
      return e.badInput
        ? new InvalidInput({ field: "binaries", problem: e.reason })
        : new PrepareFailed({ name: e.name, reason: e.reason })
    default:
      return e
  }
}

/** How a request through the API overrides the head check. */
export { API_FORCE_HINT }

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
const decodePayload = <A, I>(schema: Schema.Schema<A, I>) => (payload: unknown): Either.Either<A, InvalidInput> =>
  Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "ignore" })(payload).pipe(
    Either.mapLeft((e) => invalidInputOf(e))
  )
const decodeCancel = decodePayload(CancelUpgradePayload)
const decodePrepare = decodePayload(PrepareUpgradePayload)

export const handlersLayer = (api: ApiServices) =>
  UpgradeRpcsServed.toLayer({
    ScheduleUpgrade: (payload) =>
      decodeSchedule(payload, { forceHint: API_FORCE_HINT }).pipe(
        Effect.flatMap(api.ops.schedule),
        Effect.mapError((e) => toWire(e))
      ),
    ListUpgrades: () =>
      api.ops.list.pipe(
        Effect.map((l) => ({ upgrades: l.upgrades, count: l.count })),
        Effect.mapError((e) => toWire(e))
      ),
    CancelUpgrade: (payload) =>
      decodeCancel(payload).pipe(
        Effect.flatMap(({ name }) => api.ops.cancel(Option.fromNullable(name)).pipe(Effect.mapError((e) => toWire(e))))
      ),
    PrepareUpgrade: (payload) =>
      decodePrepare(payload).pipe(
        Effect.flatMap(({ name }) => decodeName(name)),
        Effect.flatMap((n) => api.prepare(n).pipe(Effect.mapError((e) => toWire(e))))
      ),
    GetStatus: () => api.status,
    WatchEvents: () => Stream.unwrapScoped(api.events.subscribe)
  })
