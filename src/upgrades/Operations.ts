import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import type { BinaryStoreService } from "../binaries/BinaryStore.js"
import { checkDownloadAllowed, type DownloadPolicy } from "../binaries/Policy.js"
import { type BinarySources, selectSource, validateSources } from "../binaries/Sources.js"
import {
  type BinaryInvalid,
  type FileCorrupt,
  InvalidInput,
  type IoError,
  type NodeUnreachable,
  type PlanLocked,
  UpgradeConflict,
  type UpgradeNotFound
} from "../domain/Errors.js"
import { Height, HeightFromString } from "../domain/Height.js"
import type { Layout } from "../domain/Layout.js"
import { NodePidFile } from "../domain/Node.js"
import { cancel as cancelIn, pendingUpgrades, schedule as scheduleIn, type ScheduleRequest } from "../domain/Plan.js"
import type { StatusObject } from "../domain/Status.js"
import type { Target } from "../domain/Target.js"
import { Checksum, Platform, type Upgrade, UpgradeName, type UpgradePlan } from "../domain/Upgrade.js"
import * as Journal from "../orchestrator/Journal.js"
import { readJsonIfExists } from "../platform/Files.js"
import { processStartTime } from "../platform/Proc.js"
import type { PlanStoreService } from "./PlanStore.js"

/*
 * The operator's operations on the plan — schedule, cancel, list, and the
 * status an operator gets without a running supervisor — in one place. The
 * CLI (writing the plan file directly), the RPC handlers and the REST routes
 * all call these, so every door refuses the same things with the same errors
 * and writes through the same PlanStore.
 *
 * Light on purpose: no viem, no HTTP. The chain head is a dependency, so the
 * CLI can pass a one-shot RPC read and `run` its HeightProvider.
 */

export interface OperationsDeps {
  readonly store: PlanStoreService
  readonly binaries: BinaryStoreService
  /** The chain head, read now (not the last one seen): what a new height must be above. */
  readonly head: Effect.Effect<Height, NodeUnreachable>
  /** DAEMON_ALLOW_DOWNLOAD_BINARIES / DAEMON_UNSAFE_SKIP_CHECKSUM, and the platform binaries are picked for. */
  readonly downloads: DownloadRules
}

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
  Either.gen(function* () {
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
  force: Schema.optional(Schema.Boolean)
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

export const decodeName = (raw: string): Either.Either<UpgradeName, InvalidInput> =>
  Schema.decodeUnknownEither(UpgradeName, { errors: "first" })(raw).pipe(Either.mapLeft((e) => invalidInputOf(e, "name")))

const fromEither = <A, E>(e: Either.Either<A, E>): Effect.Effect<A, E> =>
  Either.match(e, { onLeft: Effect.fail, onRight: Effect.succeed })

// ---------------------------------------------------------------------------

/** Lowest height first; equal heights keep the plan's (scheduling) order. */
const byHeight = (plan: UpgradePlan): ReadonlyArray<Upgrade> => plan.upgrades.slice().sort((a, b) => a.height - b.height)

export const listOf = (plan: UpgradePlan): UpgradeListObject => {
  const upgrades = byHeight(plan)
  return { upgrades, count: upgrades.length }
}

export interface Operations {
  /**
   * Schedules an upgrade. Refuses, with nothing written: a name whose status
   * is not `cancelled`/`failed`; a height at or below the chain head unless
   * `force`; a head that cannot be read unless `force` (NodeUnreachable); a
   * `binary` that is not an executable file or differs from one already in
   * place. A binary copied in for a request that is refused at the last
   * moment (a concurrent writer) is removed again.
   */
  readonly schedule: (cmd: ScheduleCommand) => Effect.Effect<Upgrade, ScheduleError>
  /**
   * Cancels by name, or without one the only pending upgrade; refuses an
   * unknown one and one in progress: marked `upgrading`, named by the
   * journal (a supervisor starts an upgrade on the journal alone, before the
   * plan says so), or whose height the chain head has reached (when the head
   * can be read: a supervisor fires it at once, or did).
   */
  readonly cancel: (name: Option.Option<string>) => Effect.Effect<Upgrade, CancelError>
  readonly list: Effect.Effect<UpgradeListObject, FileCorrupt | IoError>
}

export const makeOperations = (deps: OperationsDeps): Operations => {
  const { store, binaries } = deps
  const journal = Journal.make(binaries.layout.journal)
  const now = Effect.map(DateTime.now, DateTime.formatIso)

  const schedule = (request: ScheduleCommand) =>
    Effect.gen(function* () {
      let cmd = request
      const opts = (head: Height | undefined, at: string) => ({
        head,
        force: cmd.force,
        now: at,
        ...(cmd.forceHint !== undefined ? { forceHint: cmd.forceHint } : {})
      })
      // Refuse a taken name and unusable sources before touching the node or the disk.
      yield* fromEither(scheduleIn(yield* store.read, cmd, { ...opts(undefined, yield* now), force: true }))
      const inPlace = cmd.binary !== undefined || Either.isRight(yield* Effect.either(binaries.validate(cmd.name)))
      const sources = yield* fromEither(checkSources(deps.downloads, cmd.name, cmd, inPlace))
      cmd = { ...cmd, binaries: sources.binaries, checksums: sources.checksums }
      const head = cmd.force ? undefined : yield* deps.head
      yield* fromEither(scheduleIn(yield* store.read, cmd, opts(head, yield* now)))

      let placed = false
      if (cmd.binary !== undefined) {
        const dest = binaries.layout.binary(cmd.name)
        const existed = fs.existsSync(dest)
        yield* binaries.place(cmd.name, cmd.binary)
        placed = !existed
      }
      const at = yield* now
      return yield* store
        .update((plan) => fromEither(scheduleIn(plan, cmd, opts(head, at))).pipe(Effect.map((r) => [r.upgrade, r.plan] as const)))
        .pipe(
          Effect.tapError(() =>
            placed
              ? Effect.sync(() => fs.rmSync(binaries.layout.targetDir(cmd.name), { recursive: true, force: true }))
              : Effect.void
          )
        )
    }).pipe(Effect.withSpan("Operations.schedule", { attributes: { name: request.name, height: request.height } }))

  const cancel = (raw: Option.Option<string>) =>
    Effect.gen(function* () {
      const name = Option.isSome(raw) ? Option.some(yield* fromEither(decodeName(raw.value))) : Option.none<UpgradeName>()
      // Read before the lock is taken: an RPC read never holds it.
      const head = yield* Effect.option(deps.head)
      const at = yield* now
      return yield* store.update(
        (plan): Effect.Effect<readonly [Upgrade, UpgradePlan], InvalidInput | UpgradeNotFound | UpgradeConflict | FileCorrupt | IoError> =>
          Effect.gen(function* () {
            if (Option.isNone(name) && pendingUpgrades(plan).length === 0) {
              return yield* new InvalidInput({ field: "name", problem: "no upgrade is pending; there is nothing to cancel" })
            }
            const r = yield* fromEither(cancelIn(plan, Option.getOrUndefined(name), at))
            const inFlight = yield* journal.read
            if (Option.exists(inFlight, (j) => j.name === r.upgrade.name)) {
              return yield* new UpgradeConflict({ name: r.upgrade.name, problem: `is in progress (${journal.file} names it) and cannot be cancelled` })
            }
            if (Option.isSome(head) && head.value >= r.upgrade.height) {
              return yield* new UpgradeConflict({
                name: r.upgrade.name,
                problem: `cannot be cancelled: the chain head ${head.value} has reached its height ${r.upgrade.height}, so a running supervisor is applying it (or does so as soon as it runs)`
              })
            }
            return [r.upgrade, r.plan] as const
          })
      )
    }).pipe(Effect.withSpan("Operations.cancel"))

  return {
    schedule,
    cancel,
    list: Effect.map(store.read, listOf).pipe(Effect.withSpan("Operations.list"))
  }
}

// ---------------------------------------------------------------------------
// Status without the supervisor's memory: what the files and the node say.

/** The most recent upgrade that ended (done or failed), as `last`. */
export const lastEnded = (plan: UpgradePlan): StatusObject["last"] => {
  const ended = plan.upgrades.filter((u) => u.status === "done" || u.status === "failed")
  const latest = ended.reduce<Upgrade | undefined>((a, u) => (a === undefined || u.updated_at > a.updated_at ? u : a), undefined)
  return latest ? { name: latest.name, status: latest.status, reason: latest.reason } : null
}

/** The node named by node.pid, if that process (pid and start time) is alive. */
const liveNodePid = (layout: Layout): Effect.Effect<number | null> =>
  readJsonIfExists(NodePidFile, layout.nodePid).pipe(
    Effect.map(Option.filter((p) => processStartTime(p.pid) === p.start_time)),
    Effect.map(Option.match({ onNone: () => null, onSome: (p) => p.pid })),
    Effect.orElseSucceed(() => null)
  )

/**
 * DESIGN §4 `status` from the files: the plan, `current`, the upgrade in the
 * journal, the node named by node.pid, and the head when the node answers
 * (`head` yields none when it does not). `supervisor` says whether a `run`
 * holds run.lock; with one running, prefer its own status (GetStatus).
 */
export const localStatus = (deps: {
  readonly store: PlanStoreService
  readonly binaries: BinaryStoreService
  readonly head: Effect.Effect<Option.Option<Height>>
  /** The version a target's binary reports (null: unknown or not asked). */
  readonly version?: (target: Target) => Effect.Effect<string | null>
  readonly supervisor: StatusObject["supervisor"]
  /** The pid holding run.lock, when a supervisor runs. */
  readonly supervisorPid: number | null
}): Effect.Effect<StatusObject, FileCorrupt | IoError> =>
  Effect.gen(function* () {
    const layout = deps.binaries.layout
    const plan = yield* deps.store.read
    const current = yield* deps.binaries.current
    // A corrupt journal is not a failed status: it is what `paused` says (a supervisor would pause on it).
    const journalRead = yield* Journal.make(layout.journal).read.pipe(
      Effect.map(Either.right),
      Effect.catchTag("FileCorrupt", (e) => Effect.succeed(Either.left(e)))
    )
    const journal = Either.getOrElse(journalRead, () => Option.none<Journal.JournalEntry>())
    const pid = yield* liveNodePid(layout)
    const head = yield* deps.head
    const pending = pendingUpgrades(plan)
    const inFlight = Option.getOrNull(Option.map(journal, (j) => ({ name: j.name, step: j.step })))
    return {
      supervisor: deps.supervisor,
      home: layout.home,
      supervisor_pid: deps.supervisorPid,
      current_height: Option.getOrNull(head),
      node_state: pid === null ? "stopped" : "running",
      node_pid: pid,
      restarts: 0,
      current,
      version: deps.version === undefined ? null : yield* deps.version(current),
      pending_upgrade: pending[0] ?? null,
      pending,
      upgrading: inFlight !== null,
      in_progress: inFlight,
      last: lastEnded(plan),
      paused: Either.isLeft(journalRead) ? `upgrades paused: ${journalRead.left.message}` : null,
      plan_problem: null
    } satisfies StatusObject
  }).pipe(Effect.withSpan("Operations.localStatus"))

