import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { checkDownloadAllowed, type DownloadPolicy } from "../binaries/Policy.js"
import { type BinarySources, selectSource, validateSources } from "../binaries/Sources.js"
import {
  type BinaryInvalid,
  type FileCorrupt,
  InvalidInput,
  type IoError,
  type NodeUnreachable,
  type PlanLocked,
  type UpgradeConflict,
  type UpgradeNotFound
} from "../domain/Errors.js"
import { Height, HeightFromString } from "../domain/Height.js"
import type { ScheduleRequest } from "../domain/Plan.js"
import type { StatusObject } from "../domain/Status.js"
import type { Target } from "../domain/Target.js"
import { Checksum, OnFailure, Platform, type Upgrade, UpgradeName, type UpgradePlan } from "../domain/Upgrade.js"
import type { Origin } from "./History.js"

/*
 * The operator's operations on the plan — schedule, cancel, list, and the
 * status an operator gets without a running supervisor — in one place. The
 * CLI (writing the plan file directly), the RPC handlers and the REST routes
 * all call these, so every door refuses the same things with the same errors
 * and writes through the same PlanStore.
 *
 * Light on purpose: no viem, no HTTP, no file access — the tag and what every
 * door decodes its input with. The service is OperationsLive.ts.
 */

/** What schedule-time checks need to know about downloads. */
export interface DownloadRules extends DownloadPolicy {
  /** The manifest key binaries are picked for (default: this machine's). */
  readonly platform?: string
}

/**
 * An upgrade's binary sources, checked the way every door checks them (CLI,
 * RPC, REST, the drop-in): the maps must be well-formed (platform keys,
 * http/https/file URLs, `sha256:`/`sha512:` checksums, a `?checksum=` in a
 * URL taken apart). Unless the binary will not need downloading (it is in
 * place, or copied in with --binary), the download must be possible here and
 * now: this machine has a source (its platform or `any`), downloads are
 * allowed, and the source has a checksum unless DAEMON_UNSAFE_SKIP_CHECKSUM.
 * Refusing these at scheduling time is the point: at the height it is too
 * late to find out. Returns the normalized maps.
 */
export const checkSources = (
  rules: DownloadRules,
  name: string,
  sources: Partial<BinarySources>,
  binaryInPlace: boolean
): Either.Either<BinarySources, InvalidInput> =>
  Either.gen(function*() {
    const checked = yield* validateSources(sources.binaries ?? {}, sources.checksums ?? {})
    if (Object.keys(checked.binaries).length === 0 || binaryInPlace) return checked
    const source = yield* selectSource(name, checked, rules.platform).pipe(
      Either.mapLeft((e) => new InvalidInput({ field: "binaries", problem: e.message }))
    )
    yield* checkDownloadAllowed(rules, source.url, source.checksum).pipe(
      Either.mapLeft(
        (e) => new InvalidInput({ field: rules.allowDownloadBinaries ? "checksums" : "binaries", problem: e.message })
      )
    )
    return checked
  })

/** A validated request to schedule an upgrade. */
export interface ScheduleCommand extends ScheduleRequest {
  readonly force: boolean
  /** A local binary to copy into upgrades/<name>/bin (CLI only: a path on the caller's machine). */
  readonly binary?: string
  /** Appended to the "at or below the chain head" refusal: how this door overrides it. */
  readonly forceHint?: string
}

export type ScheduleError =
  | InvalidInput
  | UpgradeConflict
  | NodeUnreachable
  | BinaryInvalid
  | FileCorrupt
  | IoError
  | PlanLocked

/** One request of `applyAll`. */
export type BatchRequest =
  | { readonly _tag: "Schedule"; readonly cmd: ScheduleCommand; readonly origin: Origin }
  | { readonly _tag: "Cancel"; readonly name: UpgradeName; readonly origin: Origin }

export type CancelError = InvalidInput | UpgradeNotFound | UpgradeConflict | FileCorrupt | IoError | PlanLocked

/** `upgrade list --json` and `GET /api/v1/upgrades`. */
export interface UpgradeListObject {
  readonly upgrades: ReadonlyArray<Upgrade>
  readonly count: number
}

// ---------------------------------------------------------------------------
// Input: every door decodes through these, so a bad field is refused with the
// same words whether it came from argv, JSON or an RPC payload.

/** The fields of a schedule request, as REST and RPC carry them (and the CLI after parsing argv). */
export const ScheduleFields = Schema.Struct({
  name: UpgradeName,
  height: Height,
  info: Schema.optional(Schema.String),
  binaries: Schema.optional(Schema.Record({ key: Platform, value: Schema.String })),
  checksums: Schema.optional(Schema.Record({ key: Platform, value: Checksum })),
  force: Schema.optional(Schema.Boolean),
  /** rollback | halt; absent or null = follow DAEMON_ON_UPGRADE_FAILURE. */
  on_failure: Schema.optional(Schema.NullOr(OnFailure))
})

/** The first problem of a parse error as InvalidInput naming the field (`height`, `checksums.linux/amd64`, …). */
export const invalidInputOf = (error: ParseResult.ParseError, whole = "body"): InvalidInput => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  const field = issue && issue.path.length > 0 ? issue.path.map(String).join(".") : whole
  return new InvalidInput({ field, problem: issue?.message ?? error.message })
}

/** Decodes a request body or RPC payload; unknown fields are ignored. */
export const decodeSchedule = (
  input: unknown,
  extra: { readonly binary?: string; readonly forceHint?: string } = {}
): Either.Either<ScheduleCommand, InvalidInput> =>
  Schema.decodeUnknownEither(ScheduleFields, { errors: "first", onExcessProperty: "ignore" })(input).pipe(
    Either.mapLeft((e) => invalidInputOf(e)),
    Either.map((f) => ({
      name: f.name,
      height: f.height,
      ...(f.info !== undefined ? { info: f.info } : {}),
      ...(f.binaries !== undefined ? { binaries: f.binaries } : {}),
      ...(f.checksums !== undefined ? { checksums: f.checksums } : {}),
      force: f.force ?? false,
      ...(f.on_failure !== undefined && f.on_failure !== null ? { onFailure: f.on_failure } : {}),
      ...(extra.binary !== undefined ? { binary: extra.binary } : {}),
      ...(extra.forceHint !== undefined ? { forceHint: extra.forceHint } : {})
    }))
  )

/** A height typed on a command line: digits only. */
export const decodeHeightArg = (raw: string): Either.Either<Height, InvalidInput> =>
  Schema.decodeUnknownEither(HeightFromString, { errors: "first" })(raw).pipe(
    Either.mapLeft((e) => invalidInputOf(e, "height")),
    // A digits-only string fails on the number checks, whose path is empty: it is still the height.
    Either.mapLeft((e) => (e.field === "body" ? new InvalidInput({ field: "height", problem: e.problem }) : e))
  )

/** `--on-failure` typed on a command line: rollback or halt. */
export const decodeOnFailureArg = (raw: string): Either.Either<OnFailure, InvalidInput> =>
  Schema.decodeUnknownEither(OnFailure, { errors: "first" })(raw).pipe(
    Either.mapLeft((e) => invalidInputOf(e, "--on-failure"))
  )

export const decodeName = (raw: string): Either.Either<UpgradeName, InvalidInput> =>
  Schema.decodeUnknownEither(UpgradeName, { errors: "first" })(raw).pipe(
    Either.mapLeft((e) => invalidInputOf(e, "name"))
  )

// ---------------------------------------------------------------------------

/** Lowest height first; equal heights keep the plan's (scheduling) order. */
const byHeight = (plan: UpgradePlan): ReadonlyArray<Upgrade> =>
  plan.upgrades.slice().sort((a, b) => a.height - b.height)

export const listOf = (plan: UpgradePlan): UpgradeListObject => {
  const upgrades = byHeight(plan)
  return { upgrades, count: upgrades.length }
}

/** The most recent upgrade that ended (done or failed), as `last`. */
export const lastEnded = (plan: UpgradePlan): StatusObject["last"] => {
  const ended = plan.upgrades.filter((u) => u.status === "done" || u.status === "failed")
  const latest = ended.reduce<Upgrade | undefined>(
    (a, u) => (a === undefined || u.updated_at > a.updated_at ? u : a),
    undefined
  )
  return latest ? { name: latest.name, status: latest.status, reason: latest.reason } : null
}

export interface OperationsService {
  /**
   * Schedules an upgrade. Refuses, with nothing written: a name whose status
   * is not `cancelled`/`failed`; a height at or below the chain head unless
   * `force`; a head that cannot be read unless `force` (NodeUnreachable); a
   * `binary` that is not an executable file or differs from one already in
   * place. A binary copied in for a request that is refused at the last
   * moment (a concurrent writer) is removed again. A scheduled upgrade is
   * recorded in the history once (step `schedule`, with `origin`'s door and
   * peer); a refused one is not.
   */
  readonly schedule: (cmd: ScheduleCommand, origin: Origin) => Effect.Effect<Upgrade, ScheduleError>
  /**
   * Cancels by name, or without one the only pending upgrade; refuses an
   * unknown one and one in progress: marked `upgrading`, named by the
   * journal (a supervisor starts an upgrade on the journal alone, before the
   * plan says so), or whose height the chain head has reached (when the head
   * can be read: a supervisor fires it at once, or did). Recorded in the
   * history like `schedule` (step `cancel`).
   */
  readonly cancel: (name: Option.Option<string>, origin: Origin) => Effect.Effect<Upgrade, CancelError>
  /**
   * A batch of schedules and cancels applied in order with one plan write
   * and one history write: the governance source's events of a catch-up,
   * which one at a time would cost three fsyncs each. Each request is
   * checked as `schedule` (without `force` or `binary`) or `cancel` check
   * it, against the plan as the requests before it left it; a refused one
   * is its Left and leaves the plan as it was. Fails only for what
   * concerns the whole batch (the plan unreadable or locked, the head
   * unknown, the disk).
   */
  readonly applyAll: (
    requests: ReadonlyArray<BatchRequest>
  ) => Effect.Effect<
    ReadonlyArray<Either.Either<Upgrade, InvalidInput | UpgradeConflict | UpgradeNotFound>>,
    FileCorrupt | IoError | PlanLocked | NodeUnreachable
  >
  readonly list: Effect.Effect<UpgradeListObject, FileCorrupt | IoError>
  /**
   * ARCHITECTURE §5 `status` from the files: the plan, `current`, the upgrade in the
   * journal, the node named by node.pid, and the head when the node answers
   * (null when it does not). With a supervisor running, prefer its own status
   * (GetStatus).
   */
  readonly localStatus: (options: LocalStatusOptions) => Effect.Effect<StatusObject, FileCorrupt | IoError>
}

/** What `localStatus` cannot find in the files. */
export interface LocalStatusOptions {
  /** The version a target's binary reports (null: unknown or not asked). */
  readonly version?: (target: Target) => Effect.Effect<string | null>
  /** Whether a `run` holds run.lock. */
  readonly supervisor: StatusObject["supervisor"]
  /** The pid holding run.lock, when a supervisor runs. */
  readonly supervisorPid: number | null
}

/**
 * The service tag; the live layer (OperationsLive.ts) writes through the
 * PlanStore, records in the History and reads the head from ChainHead — the
 * CLI's one-shot RPC read, `run`'s HeightProvider.
 */
export class Operations extends Context.Tag("wemixvisor/Operations")<Operations, OperationsService>() {}
