import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
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
import type { PreflightResult } from "../domain/Preflight.js"
import type { Proposal, ProposalList } from "../domain/Proposal.js"
import type { OperatorPause, StatusObject } from "../domain/Status.js"
import type { Upgrade, UpgradeName } from "../domain/Upgrade.js"
import type { Events } from "../events/Events.js"
import type { NodeRestarted, PreparationFailed } from "../orchestrator/Orchestrator.js"
import type { Door, HistoryService, Origin } from "../upgrades/History.js"
import {
  type CancelError,
  decodeName,
  decodeSchedule,
  invalidInputOf,
  type OperationsService,
  type ScheduleError
} from "../upgrades/Operations.js"
import type { PreflightError } from "../upgrades/Preflight.js"
import { authProblem } from "./Auth.js"
import {
  ApiAuth,
  CancelUpgradePayload,
  CheckUpgradePayload,
  PauseUpgradesPayload,
  PrepareUpgradePayload,
  UpgradeRpcsServed
} from "./Rpcs.js"

/*
 * What the RPC handlers and the REST routes share: the Operations (the one
 * write path), the orchestrator's status, the event hub, the history, the
 * governance proposals and the token — and
 * the one mapping from what the services fail with to what the API answers.
 */

export interface ApiServices {
  readonly ops: OperationsService
  readonly status: Effect.Effect<StatusObject>
  /** The orchestrator's `prepare`: a pending upgrade made ready now (recorded in the history with `origin`). */
  readonly prepare: (name: string, origin: Origin) => Effect.Effect<Upgrade, PrepareError>
  readonly events: Context.Tag.Service<Events>
  /** The upgrade history (upgrade-history.jsonl and its rotated files), read as `upgrade history` reads it. */
  readonly history: HistoryService
  /** The orchestrator's `node restart` (refused with UpgradeConflict while an upgrade has the node). */
  readonly restartNode: (origin: Origin) => Effect.Effect<NodeRestarted, UpgradeConflict>
  /** The operator's pause and resume of upgrades (upgrades-paused.json). */
  readonly pause: (reason: string | null, origin: Origin) => Effect.Effect<OperatorPause, IoError>
  readonly resume: (origin: Origin) => Effect.Effect<OperatorPause | null, IoError>
  /** Every governance proposal tracked (the Proposals service), newest first. */
  readonly proposals: Effect.Effect<ReadonlyArray<Proposal>>
  /** `upgrade check`: would the pending upgrade `name` go through now (upgrades/Preflight.ts, with the supervisor's status). */
  readonly check: (name: UpgradeName) => Effect.Effect<PreflightResult, PreflightError>
  /** The bearer token every call needs (WEMIXVISOR_API_TOKEN or the generated api.token). */
  readonly token: string
}

/** `GET /api/v1/proposals` and ListProposals: every tracked proposal, newest first, and how many. */
export const proposalList = (api: ApiServices): Effect.Effect<ProposalList> =>
  Effect.map(api.proposals, (proposals) => ({ proposals, count: proposals.length }))

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
export function toWire(e: PreflightError): UpgradeNotFound | UpgradeConflict | PlanUnavailable
export function toWire(e: ScheduleError | CancelError | PrepareError | PreflightError): WireError {
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

/**
 * The peer (`ip:port`) of an API request, as the server (Server.ts) hands it
 * to the routes and the RPC handlers: a request header it sets itself. RPC
 * handlers see only headers — the HTTP request's, then those inside each RPC
 * message, which win — so the name is random per process: no client can
 * send one that passes for the server's.
 */
export const PEER_HEADER = `x-wemixvisor-peer-${crypto.randomBytes(8).toString("hex")}`

/** `ip:port` as a peer is written: IPv6 addresses in brackets. */
export const peerText = (address: string, port: number | undefined): string => {
  const host = address.includes(":") ? `[${address}]` : address
  return port === undefined ? host : `${host}:${port}`
}

/** Who made an API request, for the history: the door and the peer the server recorded. */
export const originOf = (door: Door, headers: Readonly<Record<string, string | undefined>>): Origin => {
  const peer = headers[PEER_HEADER]
  return peer === undefined || peer === "" ? { door } : { door, peer }
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
const decodeCheck = decodePayload(CheckUpgradePayload)
const decodePauseBody = decodePayload(PauseUpgradesPayload)

/** The longest pause reason: a sentence for the status and the dashboard, not a document. */
export const PAUSE_REASON_MAX = 500

/** A pause request's reason, checked as the CLI checks --reason: one line, at most PAUSE_REASON_MAX characters; blank = none. */
export const decodePauseReason = (reason: string | undefined): Either.Either<string | null, InvalidInput> => {
  const text = reason?.trim() ?? ""
  if (text === "") return Either.right(null)
  if (/[\r\n]/.test(text)) return Either.left(new InvalidInput({ field: "reason", problem: "must be one line" }))
  if (text.length > PAUSE_REASON_MAX) {
    return Either.left(
      new InvalidInput({
        field: "reason",
        problem: `must be at most ${PAUSE_REASON_MAX} characters (got ${text.length})`
      })
    )
  }
  return Either.right(text)
}

/** A pause request (RPC payload or REST body) decoded: its reason. */
export const decodePause = (payload: unknown): Either.Either<string | null, InvalidInput> =>
  Either.flatMap(decodePauseBody(payload ?? {}), (p) => decodePauseReason(p.reason))

/** A marker that could not be written or removed, as the API answers it. */
export const pauseToWire = (e: IoError): PlanUnavailable =>
  new PlanUnavailable({ reason: `the pause marker: ${e.message}` })

export const handlersLayer = (api: ApiServices) =>
  UpgradeRpcsServed.toLayer({
    ScheduleUpgrade: (payload, { headers }) =>
      decodeSchedule(payload, { forceHint: API_FORCE_HINT }).pipe(
        Effect.flatMap((cmd) => api.ops.schedule(cmd, originOf("rpc", headers))),
        Effect.mapError((e) => toWire(e))
      ),
    ListUpgrades: () =>
      api.ops.list.pipe(
        Effect.map((l) => ({ upgrades: l.upgrades, count: l.count })),
        Effect.mapError((e) => toWire(e))
      ),
    CancelUpgrade: (payload, { headers }) =>
      decodeCancel(payload).pipe(
        Effect.flatMap(({ name }) =>
          api.ops.cancel(Option.fromNullable(name), originOf("rpc", headers)).pipe(Effect.mapError((e) => toWire(e)))
        )
      ),
    PrepareUpgrade: (payload, { headers }) =>
      decodePrepare(payload).pipe(
        Effect.flatMap(({ name }) => decodeName(name)),
        Effect.flatMap((n) => api.prepare(n, originOf("rpc", headers)).pipe(Effect.mapError((e) => toWire(e))))
      ),
    GetStatus: () => api.status,
    WatchEvents: () => Stream.unwrapScoped(api.events.subscribe),
    RestartNode: (_, { headers }) => api.restartNode(originOf("rpc", headers)),
    PauseUpgrades: (payload, { headers }) =>
      decodePause(payload).pipe(
        Effect.flatMap((reason) => api.pause(reason, originOf("rpc", headers)).pipe(Effect.mapError(pauseToWire)))
      ),
    ResumeUpgrades: (_, { headers }) =>
      api.resume(originOf("rpc", headers)).pipe(
        Effect.map((resumed) => ({ resumed })),
        Effect.mapError(pauseToWire)
      ),
    ListProposals: () => proposalList(api),
    CheckUpgrade: (payload) =>
      decodeCheck(payload).pipe(
        Effect.flatMap(({ name }) => decodeName(name)),
        Effect.flatMap((n) => api.check(n).pipe(Effect.mapError((e) => toWire(e))))
      )
  })
