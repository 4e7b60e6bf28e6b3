import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { BinaryStore, type BinaryStoreService } from "../binaries/BinaryStore.js"
import { AppConfig } from "../config/Config.js"
import {
  type FileCorrupt,
  type InvalidInput,
  type IoError,
  type NodeUnreachable,
  UpgradeConflict,
  type UpgradeNotFound
} from "../domain/Errors.js"
import type { Height } from "../domain/Height.js"
import type { Layout } from "../domain/Layout.js"
import { NodePidFile } from "../domain/Node.js"
import { cancel as cancelIn, pendingUpgrades, schedule as scheduleIn } from "../domain/Plan.js"
import type { StatusObject } from "../domain/Status.js"
import type { Upgrade, UpgradeName, UpgradePlan } from "../domain/Upgrade.js"
import { ChainHead } from "../height/ChainHead.js"
import { readJsonIfExists } from "../platform/Files.js"
import { processStartTime } from "../platform/Proc.js"
import {
  History,
  type HistoryEntry,
  type HistoryService,
  type Origin,
  originFields,
  scheduleDetail
} from "./History.js"
import * as Journal from "./Journal.js"
import {
  type BatchRequest,
  checkSources,
  decodeName,
  type DownloadRules,
  lastEnded,
  listOf,
  type LocalStatusOptions,
  Operations,
  type OperationsService,
  type ScheduleCommand
} from "./Operations.js"
import * as PauseMarker from "./PauseMarker.js"
import { PlanStore, type PlanStoreService } from "./PlanStore.js"

/*
 * The Operations (Operations.ts) over the PlanStore, the BinaryStore and the
 * chain head.
 */

export interface OperationsDeps {
  readonly store: PlanStoreService
  readonly binaries: BinaryStoreService
  /** The chain head, read now (not the last one seen): what a new height must be above. */
  readonly head: Effect.Effect<Height, NodeUnreachable>
  /** DAEMON_ALLOW_DOWNLOAD_BINARIES / DAEMON_UNSAFE_SKIP_CHECKSUM, and the platform binaries are picked for. */
  readonly downloads: DownloadRules
  /** Where each schedule and cancel is recorded, with its door. */
  readonly history: HistoryService
}

/** The node named by node.pid, if that process (pid and start time) is alive. */
const liveNodePid = (layout: Layout): Effect.Effect<number | null> =>
  readJsonIfExists(NodePidFile, layout.nodePid).pipe(
    Effect.map(Option.filter((p) => processStartTime(p.pid) === p.start_time)),
    Effect.map(Option.match({ onNone: () => null, onSome: (p) => p.pid })),
    // A node.pid that cannot be read names no node: reported stopped, as a starting `run` treats it, and logged with the reason.
    Effect.catchAll((e) => Effect.as(Effect.logWarning(`the node is reported stopped: ${e.message}`), null))
  )
export const make = (deps: OperationsDeps): OperationsService => {
  const { store, binaries } = deps
  const journalFile = Journal.make(binaries.layout.journal)
  const now = Effect.map(DateTime.now, DateTime.formatIso)

  /**
   * What may not be cancelled although the plan says pending: the upgrade
   * the journal names (a supervisor starts on the journal alone), and one
   * whose height the head (when known) has reached.
   */
  const stillCancellable = (
    u: Upgrade,
    inFlight: Option.Option<Journal.JournalEntry>,
    head: Option.Option<Height>
  ): Either.Either<void, UpgradeConflict> =>
    Option.exists(inFlight, (j) => j.name === u.name)
      ? Either.left(
        new UpgradeConflict({
          name: u.name,
          problem: `is in progress (${journalFile.file} names it) and cannot be cancelled`
        })
      )
      : Option.isSome(head) && head.value >= u.height
      ? Either.left(
        new UpgradeConflict({
          name: u.name,
          problem:
            `cannot be cancelled: the chain head ${head.value} has reached its height ${u.height}, so a running supervisor is applying it (or does so as soon as it runs)`
        })
      )
      : Either.void

  /** The plan was written: history lines that cannot be written are logged, never a failed request. */
  const recordAll = (entries: ReadonlyArray<HistoryEntry>) =>
    deps.history.appendAll(entries).pipe(
      Effect.catchAll((e) => Effect.logWarning(`upgrade history not written (${entries.length} lines): ${e.message}`))
    )

  /** The plan was written: a history line that cannot be written is logged, never a failed request. */
  const record = (entry: HistoryEntry) =>
    deps.history.append(entry).pipe(
      Effect.catchAll((e) =>
        Effect.logWarning(`upgrade history not written (${entry.step} ${entry.name}): ${e.message}`)
      )
    )

  const schedule = (request: ScheduleCommand, origin: Origin) =>
    Effect.gen(function*() {
      let cmd = request
      const opts = (head: Height | undefined, at: string) => ({
        head,
        force: cmd.force,
        now: at,
        ...(cmd.forceHint !== undefined ? { forceHint: cmd.forceHint } : {})
      })
      // Refuse a taken name and unusable sources before touching the node or the disk.
      yield* scheduleIn(yield* store.read, cmd, { ...opts(undefined, yield* now), force: true })
      const inPlace = cmd.binary !== undefined || Either.isRight(yield* Effect.either(binaries.validate(cmd.name)))
      const sources = yield* checkSources(deps.downloads, cmd.name, cmd, inPlace)
      cmd = { ...cmd, binaries: sources.binaries, checksums: sources.checksums }
      const head = cmd.force ? undefined : yield* deps.head
      yield* scheduleIn(yield* store.read, cmd, opts(head, yield* now))

      // The binary is placed under the plan lock, after the name is checked on the locked plan: a
      // concurrent `schedule` of the same name either finds it taken (and touches nothing) or
      // waits; a folder this request did not create is never removed by it.
      let placed = false
      const at = yield* now
      const upgrade = yield* store
        .update((plan) =>
          Effect.gen(function*() {
            const r = yield* scheduleIn(plan, cmd, opts(head, at))
            if (cmd.binary !== undefined) {
              const existed = fs.existsSync(binaries.layout.binary(cmd.name))
              yield* binaries.place(cmd.name, cmd.binary)
              placed = !existed
            }
            return [r.upgrade, r.plan] as const
          })
        )
        .pipe(
          Effect.tapError(() =>
            placed
              ? Effect.sync(() => fs.rmSync(binaries.layout.targetDir(cmd.name), { recursive: true, force: true }))
              : Effect.void
          )
        )
      yield* record({
        name: upgrade.name,
        step: "schedule",
        result: "ok",
        detail: scheduleDetail(upgrade, cmd.binary),
        ...originFields(origin)
      })
      return upgrade
    }).pipe(Effect.withSpan("Operations.schedule", { attributes: { name: request.name, height: request.height } }))

  const cancel = (raw: Option.Option<string>, origin: Origin) =>
    Effect.gen(function*() {
      const name = Option.isSome(raw) ? Option.some(yield* decodeName(raw.value)) : Option.none<UpgradeName>()
      // Read before the lock is taken: an RPC read never holds it.
      const head = yield* Effect.option(deps.head)
      const at = yield* now
      const upgrade = yield* store.update(
        (
          plan
        ): Effect.Effect<readonly [Upgrade, UpgradePlan], UpgradeNotFound | UpgradeConflict | FileCorrupt | IoError> =>
          Effect.gen(function*() {
            const r = yield* cancelIn(plan, Option.getOrUndefined(name), at)
            yield* stillCancellable(r.upgrade, yield* journalFile.read, head)
            return [r.upgrade, r.plan] as const
          })
      )
      yield* record({
        name: upgrade.name,
        step: "cancel",
        result: "ok",
        detail: `height ${upgrade.height}`,
        ...originFields(origin)
      })
      return upgrade
    }).pipe(Effect.withSpan("Operations.cancel"))

  const applyAll: OperationsService["applyAll"] = (requests) =>
    Effect.gen(function*() {
      if (requests.length === 0) return []
      // Read once for the batch, before the lock is taken (an RPC read never holds it).
      const head = yield* deps.head
      const at = yield* now
      // The sources are checked as `schedule` checks them, before the plan is touched.
      const vetted = yield* Effect.forEach(
        requests,
        (r): Effect.Effect<Either.Either<BatchRequest, InvalidInput>> =>
          r._tag === "Cancel"
            ? Effect.succeed(Either.right(r))
            : Effect.map(Effect.either(binaries.validate(r.cmd.name)), (inPlace) =>
              Either.map(
                checkSources(deps.downloads, r.cmd.name, r.cmd, Either.isRight(inPlace)),
                (sources): BatchRequest => ({
                  ...r,
                  cmd: { ...r.cmd, binaries: sources.binaries, checksums: sources.checksums }
                })
              ))
      )
      const results = yield* store.update((plan) =>
        Effect.gen(function*() {
          const inFlight = yield* journalFile.read
          let current = plan
          const out: Array<Either.Either<Upgrade, InvalidInput | UpgradeConflict | UpgradeNotFound>> = []
          for (const v of vetted) {
            if (Either.isLeft(v)) {
              out.push(Either.left(v.left))
              continue
            }
            const r = v.right
            const step = r._tag === "Schedule"
              ? scheduleIn(current, r.cmd, { head, force: false, now: at })
              : Either.flatMap(
                cancelIn(current, r.name, at),
                (c) => Either.map(stillCancellable(c.upgrade, inFlight, Option.some(head)), () => c)
              )
            if (Either.isRight(step)) {
              current = step.right.plan
            }
            out.push(Either.map(step, (x) => x.upgrade))
          }
          return [out, current] as const
        })
      )
      yield* recordAll(
        results.flatMap((r, i) => {
          const req = vetted[i]!
          if (Either.isLeft(r) || Either.isLeft(req)) return []
          const u = r.right
          return req.right._tag === "Schedule"
            ? [{
              name: u.name,
              step: "schedule",
              result: "ok",
              detail: scheduleDetail(u),
              ...originFields(req.right.origin)
            }]
            : [{
              name: u.name,
              step: "cancel",
              result: "ok",
              detail: `height ${u.height}`,
              ...originFields(req.right.origin)
            }]
        })
      )
      return results
    }).pipe(Effect.withSpan("Operations.applyAll", { attributes: { requests: requests.length } }))

  // Status without the supervisor's memory: what the files and the node say.
  const localStatus = (o: LocalStatusOptions) =>
    Effect.gen(function*() {
      const layout = binaries.layout
      const plan = yield* store.read
      const current = yield* binaries.current
      // A corrupt journal is not a failed status: it is what `paused` says (a supervisor would pause on it).
      const journalRead = yield* journalFile.read.pipe(
        Effect.map(Either.right),
        Effect.catchTag("FileCorrupt", (e) => Effect.succeed(Either.left(e)))
      )
      const journal = Either.getOrElse(journalRead, () => Option.none<Journal.JournalEntry>())
      const pid = yield* liveNodePid(layout)
      // The operator's pause is a file: a supervisor starting now would hold upgrades on it.
      const operatorPause = Option.getOrNull(yield* PauseMarker.read(layout))
      const head = yield* Effect.option(deps.head)
      // No supervisor measures the block interval here: the ETA is unknown.
      const pending = pendingUpgrades(plan).map((u) => ({ ...u, eta: null, eta_seconds: null }))
      const inFlight = Option.getOrNull(Option.map(journal, (j) => ({ name: j.name, step: j.step })))
      return {
        supervisor: o.supervisor,
        home: layout.home,
        supervisor_pid: o.supervisorPid,
        current_height: Option.getOrNull(head),
        // Measured only by a running supervisor, from the heights it follows.
        block_interval_seconds: null,
        head_age_seconds: null,
        node_state: pid === null ? "stopped" : "running",
        node_pid: pid,
        restarts: 0,
        current,
        version: o.version === undefined ? null : yield* o.version(current),
        pending_upgrade: pending[0] ?? null,
        pending,
        upgrading: inFlight !== null,
        in_progress: inFlight,
        last: lastEnded(plan),
        paused: Either.isLeft(journalRead) ? `upgrades paused: ${journalRead.left.message}` : null,
        upgrades_paused: operatorPause,
        plan_problem: null,
        // Governance proposals are tracked by a running supervisor (its memory, not a file of this home's).
        proposals: [],
        // As are the governance source's cursor and errors.
        governance: null
      } satisfies StatusObject
    }).pipe(Effect.withSpan("Operations.localStatus"))

  return Operations.of({
    schedule,
    cancel,
    applyAll,
    list: Effect.map(store.read, listOf).pipe(Effect.withSpan("Operations.list")),
    localStatus
  })
}

/** What the live layer is built from. */
type LayerDeps = AppConfig | PlanStore | BinaryStore | ChainHead | History

/** Live: the home's PlanStore, BinaryStore and History, the ChainHead in context (one-shot in the CLI, the HeightProvider's in `run`). */
export const layer: Layer.Layer<Operations, never, LayerDeps> = Layer.effect(
  Operations,
  Effect.gen(function*() {
    const config = yield* AppConfig
    const chain = yield* ChainHead
    return make({
      store: yield* PlanStore,
      binaries: yield* BinaryStore,
      head: chain.head,
      downloads: config,
      history: yield* History
    })
  })
)
