import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { backupAt, Backups } from "../binaries/Backup.js"
import { BinaryStore } from "../binaries/BinaryStore.js"
import type { BackupFailed, InsufficientSpace } from "../binaries/Errors.js"
import { Preparer } from "../binaries/Preparer.js"
import { AppConfig } from "../config/Config.js"
import { type FileCorrupt, type IoError, type SpawnFailed, UpgradeConflict, UpgradeNotFound } from "../domain/Errors.js"
import type { Height } from "../domain/Height.js"
import { describeExit } from "../domain/Node.js"
import { findUpgrade, pendingUpgrades, setStatus } from "../domain/Plan.js"
import type { StatusObject } from "../domain/Status.js"
import type { Target } from "../domain/Target.js"
import type { Upgrade, UpgradePlan } from "../domain/Upgrade.js"
import { Events } from "../events/Events.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { NodeProcess } from "../node/NodeProcess.js"
import * as Cadence from "../platform/Cadence.js"
import { History, type HistoryResult } from "../upgrades/History.js"
import { type PlanSnapshot, PlanStore, UpgradeSource } from "../upgrades/PlanStore.js"
import { isBadInput, isTransient, preparable, reasonOf, toPrepared, toPreparing } from "../upgrades/Preparation.js"
import { Hooks } from "./Hooks.js"
import * as Journal from "./Journal.js"
import { JournalEntry, type JournalStep } from "./Journal.js"

/*
 * The Orchestrator (DESIGN §1, §6): combines heights and plans, and at the
 * first head ≥ an upgrade's height runs pre-stop → stop → backup → switch →
 * pre-upgrade → start → verify, or rolls back. One upgrade at a time, lowest
 * height first. Every step is journaled before it is taken, so a supervisor
 * killed at any instant replays the upgrade forward on its next start — never
 * applied twice, never two nodes.
 *
 * Ahead of the height, every pending upgrade is prepared in the background
 * (scheduled → preparing → ready: binary downloaded and verified when it is
 * not in place, executable, version probed), so a download, checksum or
 * binary problem is reported as soon as the upgrade is scheduled.
 */

// ---------------------------------------------------------------------------
// Why an upgrade failed after the node was touched. Each one is recovered by
// tag into a rollback (or a halt), never retried on its own.

export class SwitchFailed extends Data.TaggedError("SwitchFailed")<{ readonly target: Target; readonly cause: IoError }> {
  override get message() {
    return `could not switch current to ${this.target}: ${this.cause.message}`
  }
}

export class StartFailed extends Data.TaggedError("StartFailed")<{ readonly cause: SpawnFailed }> {
  override get message() {
    return `the new binary did not start: ${this.cause.message}`
  }
}

export class VerifyFailed extends Data.TaggedError("VerifyFailed")<{ readonly reason: string }> {
  override get message() {
    return `verify failed: ${this.reason}`
  }
}

/**
 * The data backup could not be taken (not enough space, an I/O error). Nothing
 * was switched; DAEMON_ON_UPGRADE_FAILURE decides as for any failed upgrade
 * (rollback: the old binary is started again; halt: the node stays stopped).
 */
export class BackupStepFailed extends Data.TaggedError("BackupStepFailed")<{
  readonly cause: BackupFailed | InsufficientSpace | IoError
}> {
  override get message() {
    return `data backup failed: ${this.cause.message}`
  }
}

/** `upgrade prepare` through a running supervisor could not make the binary ready. */
export class PreparationFailed extends Data.TaggedError("PreparationFailed")<{
  readonly name: string
  readonly reason: string
  /** The request itself cannot work here (downloads disabled, no checksum, no binary for this platform). */
  readonly badInput: boolean
}> {
  override get message() {
    return `upgrade '${this.name}' is not ready: ${this.reason}`
  }
}

export class JournalFailed extends Data.TaggedError("JournalFailed")<{ readonly step: JournalStep; readonly cause: IoError }> {
  override get message() {
    return `could not journal step ${this.step}: ${this.cause.message}`
  }
}

// ---------------------------------------------------------------------------

export interface OrchestratorService {
  /** DESIGN §5's status object. */
  readonly status: Effect.Effect<StatusObject>
  /**
   * Why upgrades are paused, or null: a corrupt plan file or journal, or an
   * ended upgrade whose outcome could not be written yet. The node is
   * supervised all the same; `/health` reports this.
   */
  readonly paused: Effect.Effect<string | null>
  /**
   * Set when DAEMON_ON_UPGRADE_FAILURE=halt left the node stopped after a
   * failed upgrade ("halted after failed upgrade <name>: <reason>"). `current`
   * points back at the previous target, so restarting wemixvisor starts the
   * old binary again.
   */
  readonly halted: Effect.Effect<string | null>
  /**
   * Prepares a pending upgrade now (`upgrade prepare` over the API): joins a
   * preparation under way, else runs one. The upgrade as the plan has it
   * afterwards (`ready`), or why it is not ready.
   */
  readonly prepare: (
    name: string
  ) => Effect.Effect<Upgrade, PreparationFailed | UpgradeNotFound | UpgradeConflict | FileCorrupt | IoError>
}

export class Orchestrator extends Context.Tag("wemixvisor/Orchestrator")<Orchestrator, OrchestratorService>() {}

// ---------------------------------------------------------------------------
// Test-only crash hook. WEMIXVISOR_TEST_CRASH_AT="<step>:<phase>" makes the
// supervisor SIGKILL itself at that exact point of an upgrade, so end-to-end
// tests can prove the journal replay: `journaled` = right after the journal
// write for <step>; `applied` = right after the step's action, before the next
// journal write (for `done`: after the plan/history bookkeeping, before the
// journal is removed; for `backup`: once the backup exists and its path is
// journaled; for `pre-stop`: after the hook, whatever its outcome; for
// `rollback`: after stop/switch back/restore/start). Operators never set it.

export type CrashPhase = "journaled" | "applied"
export interface CrashPoint {
  readonly step: JournalStep
  readonly phase: CrashPhase
}
export type CrashHook = (step: JournalStep, phase: CrashPhase) => Effect.Effect<void>

const crashSteps: ReadonlyArray<JournalStep> = Journal.JournalStep.literals

export const parseCrashAt = (raw: string): Either.Either<CrashPoint, string> => {
  const [step, phase, ...rest] = raw.split(":")
  if (rest.length === 0 && crashSteps.includes(step as JournalStep) && (phase === "journaled" || phase === "applied")) {
    return Either.right({ step: step as JournalStep, phase })
  }
  return Either.left(
    `WEMIXVISOR_TEST_CRASH_AT=${JSON.stringify(raw)}: expected <step>:<journaled|applied>, step one of ${crashSteps.join(", ")}`
  )
}

/** The hook `layer` uses: nothing unless WEMIXVISOR_TEST_CRASH_AT is set; a bad value is a defect (a test typo must not pass silently). */
export const crashHookFromEnv = (raw: string | undefined): Effect.Effect<CrashHook> => {
  if (raw === undefined || raw === "") return Effect.succeed(() => Effect.void)
  return Either.match(parseCrashAt(raw), {
    onLeft: (problem) => Effect.dieMessage(problem),
    onRight: (at) =>
      Effect.succeed<CrashHook>((step, phase) =>
        step === at.step && phase === at.phase
          ? Effect.sync(() => process.kill(process.pid, "SIGKILL")).pipe(Effect.zipRight(Effect.never))
          : Effect.void
      )
  })
}

// ---------------------------------------------------------------------------

/** Retries while another writer holds upgrade-plan.lock. */
const planRetry = Schedule.spaced("200 millis").pipe(Schedule.intersect(Schedule.recurs(25)))

/**
 * How often the orchestrator looks again when nothing wakes it: every poll
 * interval, but at most once a second. A new height (every block) or a plan
 * change wakes it at once anyway; this covers a stalled chain, where checking
 * binaries every 300 ms bought nothing and cost an idle supervisor a tenth of
 * its CPU (scripts/bench-idle.mjs).
 */
export const quietTick = (pollInterval: Duration.DurationInput) => Schedule.spaced(Duration.max(Duration.decode(pollInterval), Duration.seconds(1)))

/**
 * One preparation of an upgrade in this run (for one `created_at`): under
 * way, or how it ended. A failed one is tried again when the binary on disk
 * changes (the operator put it there or replaced it), or at the height when
 * the failure may have been transient.
 */
type Attempt =
  | { readonly _tag: "Running"; readonly createdAt: string; readonly done: Deferred.Deferred<Ended> }
  | Ended
type Ended =
  | { readonly _tag: "Ready"; readonly createdAt: string }
  | {
      readonly _tag: "Failed"
      readonly createdAt: string
      readonly reason: string
      readonly transient: boolean
      readonly badInput: boolean
      /** What the binary on disk looked like then (see `inspect`). */
      readonly binaryKey: string
    }

/** The journaled steps a (replayed) upgrade can run from, in order. */
type Resume = "pre-stop" | "stop" | "backup" | "switch" | "pre-upgrade" | "start"
const RESUME_ORDER: ReadonlyArray<Resume> = ["pre-stop", "stop", "backup", "switch", "pre-upgrade", "start"]

/** An ended upgrade: what the plan, history and events must say before the journal goes. */
interface Closing {
  readonly entry: JournalEntry
  readonly status: "done" | "failed"
  readonly reason: string | null
  /** The previous binary was started again (rollback-completed). */
  readonly rolledBack: boolean
}

type LastOutcome = StatusObject["last"]
type InProgress = StatusObject["in_progress"]

/**
 * Names the orchestrator already fired in this run, with the `created_at`
 * of the upgrade it fired (null: any). The plan snapshot lags behind our own
 * writes, so this — not the snapshot — is what keeps an upgrade from firing
 * twice; an upgrade rescheduled under the same name has a new created_at.
 */
type Fired = ReadonlyMap<string, string | null>
const isFired = (fired: Fired, u: Upgrade) => {
  const at = fired.get(u.name)
  return at !== undefined && (at === null || at === u.created_at)
}

const make = (crash: CrashHook) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const events = yield* Events
    const node = yield* NodeProcess
    const heights = yield* HeightProvider
    const binaries = yield* BinaryStore
    const plans = yield* PlanStore
    const source = yield* UpgradeSource
    const history = yield* History
    const backups = yield* Backups
    const hooks = yield* Hooks
    const preparer = yield* Preparer
    const scope = yield* Effect.scope
    const journal = Journal.make(config.layout.journal)

    const latest = yield* Ref.make(Option.none<Height>())
    const snapshot = yield* Ref.make(Option.none<PlanSnapshot>())
    const lastValid = yield* Ref.make(Option.none<UpgradePlan>())
    const planChanged = yield* Ref.make(false)
    const lastBinaryCheck = yield* Ref.make(Number.NEGATIVE_INFINITY)
    const problems = yield* Ref.make<ReadonlyMap<string, string>>(new Map())
    const attempts = yield* Ref.make<ReadonlyMap<string, Attempt>>(new Map())
    /** Versions probed, per target (null: unknown); filled by preparation and, for `current`, on demand. */
    const versions = yield* Ref.make<ReadonlyMap<Target, string | null>>(new Map())
    const probing = yield* Ref.make<ReadonlySet<Target>>(new Set())
    // One plan write at a time from this process, so our own snapshot never goes back to an older write.
    const planLock = yield* Effect.makeSemaphore(1)
    // One preparation (download) at a time: they share the disk and the link.
    const prepareLock = yield* Effect.makeSemaphore(1)
    const fired = yield* Ref.make<Fired>(new Map())
    const inProgress = yield* Ref.make<InProgress>(null)
    const lastOutcome = yield* Ref.make<LastOutcome>(null)
    const lastCurrent = yield* Ref.make(Option.none<Target>())
    const halted = yield* Ref.make<string | null>(null)
    const pausedByPlan = yield* Ref.make<string | null>(null)
    const pausedByJournal = yield* Ref.make<string | null>(null)
    const unclosed = yield* Ref.make(Option.none<Closing>())
    const wake = yield* Queue.sliding<void>(1)

    const setFired = (name: string, createdAt: string | null) =>
      Ref.update(fired, (m) => new Map(m).set(name, createdAt))

    const record = (name: string, step: string, result: HistoryResult, detail?: string) =>
      history
        .append({ name, step, result, ...(detail !== undefined ? { detail } : {}) })
        .pipe(Effect.catchAll((e) => Effect.logError(`upgrade history not written: ${e.message}`)))

    /** Applies `f` to the plan under its lock; our own write becomes the local snapshot at once. */
    const updatePlan = <A>(f: (plan: UpgradePlan, now: string) => readonly [A, UpgradePlan]) =>
      planLock
        .withPermits(1)(
          Effect.gen(function* () {
            const now = DateTime.formatIso(yield* DateTime.now)
            const [a, next] = yield* plans.update((plan) =>
              Effect.sync(() => {
                const [a, next] = f(plan, now)
                return [[a, next] as const, next] as const
              })
            )
            yield* Ref.set(snapshot, Option.some<PlanSnapshot>({ _tag: "Valid", plan: next }))
            yield* Ref.set(lastValid, Option.some(next))
            return a
          })
        )
        .pipe(Effect.retry({ schedule: planRetry, while: (e) => e._tag === "PlanLocked" }))

    /** An absent option (no hook, no backup) skips its step: recorded, never journaled. */
    const skipped = (name: string, step: "pre-stop" | "backup" | "pre-upgrade") => record(name, step, "skipped")

    /** `upgrade-problem` once per distinct reason (a re-check finding the same problem stays quiet). */
    const reportProblem = (name: string, reason: string) =>
      Effect.gen(function* () {
        const seen = yield* Ref.get(problems)
        if (seen.get(name) === reason) return
        yield* Ref.set(problems, new Map(seen).set(name, reason))
        yield* events.publish({ type: "upgrade-problem", name, reason })
      })
    const clearProblem = (name: string) =>
      Ref.update(problems, (m) => {
        const next = new Map(m)
        next.delete(name)
        return next
      })

    // -------------------------------------------------------------------------
    // Preparation ahead of the height

    const attemptOf = (u: Pick<Upgrade, "name" | "created_at">) =>
      Ref.get(attempts).pipe(
        Effect.map((m) => {
          const a = m.get(u.name)
          return a !== undefined && a.createdAt === u.created_at ? a : undefined
        })
      )
    const setAttempt = (name: string, a: Attempt) => Ref.update(attempts, (m) => new Map(m).set(name, a))

    /**
     * The upgrade's binary as it is on disk now: usable or why not, and a key
     * that changes when the file does (put in place, replaced, chmod-ed).
     */
    const inspect = (u: Upgrade) =>
      Effect.gen(function* () {
        const check = yield* Effect.either(binaries.validate(u.name))
        let id = "absent"
        try {
          const st = fs.statSync(config.layout.binary(u.name))
          id = `${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}`
        } catch {
          // not there: "absent"
        }
        return { check, key: `${Either.isRight(check) ? "usable" : check.left.problem}|${id}` }
      })

    const hasSources = (u: Upgrade) => Object.keys(u.binaries).length > 0

    /** `u` cannot be used as it is: `scheduled` with the reason (written only when it changes) and one upgrade-problem. */
    const unusable = (u: Upgrade, reason: string, key: string) =>
      Effect.gen(function* () {
        yield* setAttempt(u.name, { _tag: "Failed", createdAt: u.created_at, reason, transient: false, badInput: false, binaryKey: key })
        if (u.status !== "scheduled" || u.reason !== reason) {
          yield* updatePlan((plan, now) => [undefined, toPrepared(plan, u, reason, now)] as const).pipe(
            Effect.catchAll((e) => Effect.logWarning(`the problem of ${u.name} is not recorded in the plan: ${e.message}`))
          )
        }
        yield* reportProblem(u.name, reason)
      })

    /** preparing → the Preparer → ready, or scheduled with the reason; each announced. */
    const prepareOnce = (u: Upgrade): Effect.Effect<Ended> =>
      Effect.gen(function* () {
        const marked = yield* updatePlan((plan, now) => [preparable(plan, u) !== undefined, toPreparing(plan, u, now)] as const).pipe(
          Effect.either
        )
        if (Either.isRight(marked) && !marked.right) {
          const gone: Ended = { _tag: "Failed", createdAt: u.created_at, reason: "cancelled or replaced", transient: false, badInput: false, binaryKey: "" }
          return gone
        }
        if (Either.isLeft(marked)) {
          yield* Effect.logWarning(`preparing ${u.name}: the plan could not be updated (${marked.left.message}); preparing all the same`)
        }
        yield* events.publish({ type: "upgrade-preparing", name: u.name })
        const result = yield* Effect.either(preparer.prepare(u))
        const { key } = yield* inspect(u)
        const reason = Either.isLeft(result) ? reasonOf(result.left) : null
        yield* updatePlan((plan, now) => [undefined, toPrepared(plan, u, reason, now)] as const).pipe(
          Effect.catchAll((e) => Effect.logWarning(`the preparation of ${u.name} is not recorded in the plan: ${e.message}`))
        )
        if (Either.isLeft(result)) {
          yield* reportProblem(u.name, reasonOf(result.left))
          const failed: Ended = {
            _tag: "Failed",
            createdAt: u.created_at,
            reason: reasonOf(result.left),
            transient: isTransient(result.left),
            badInput: isBadInput(result.left),
            binaryKey: key
          }
          return failed
        }
        const p = result.right
        yield* Ref.update(versions, (m) => new Map(m).set(u.name, p.version))
        yield* clearProblem(u.name)
        yield* events.publish({ type: "upgrade-ready", name: u.name })
        const from = p.installed === null ? "" : `; downloaded from ${p.installed.url} (${p.installed.checksum ?? "checksum NOT verified"})`
        yield* Effect.logInfo(`upgrade ${u.name} is ready: ${p.path}${p.version !== null ? ` reports "${p.version}"` : ""}${from}`)
        const ready: Ended = { _tag: "Ready", createdAt: u.created_at }
        return ready
      }).pipe(Effect.withSpan("Orchestrator.prepare", { attributes: { name: u.name } }))

    /**
     * Starts a preparation of `u` in the background and returns what it will
     * end with. Background ones go one at a time; one for an upgrade at its
     * height (`urgent`) does not queue behind another upgrade's download.
     * Forked into the orchestrator's scope, so a caller that stops waiting
     * (an RPC client gone) leaves it to finish.
     */
    const startAttempt = (u: Upgrade, urgent = false) =>
      Effect.gen(function* () {
        const done = yield* Deferred.make<Ended>()
        yield* setAttempt(u.name, { _tag: "Running", createdAt: u.created_at, done })
        yield* (urgent ? prepareOnce(u) : prepareLock.withPermits(1)(prepareOnce(u))).pipe(
          Effect.catchAllDefect((defect) =>
            Effect.logError(`preparing ${u.name}: unexpected defect`, defect).pipe(
              Effect.as<Ended>({
                _tag: "Failed",
                createdAt: u.created_at,
                reason: "internal error while preparing (see the log)",
                transient: true,
                badInput: false,
                binaryKey: ""
              })
            )
          ),
          Effect.tap((ended) =>
            Ref.update(attempts, (m) => {
              const cur = m.get(u.name)
              // A newer request under the same name keeps its own attempt.
              return cur?._tag === "Running" && cur.done === done ? new Map(m).set(u.name, ended) : m
            }).pipe(Effect.zipRight(Deferred.succeed(done, ended)))
          ),
          Effect.forkIn(scope)
        )
        return done
      })

    /**
     * Brings pending upgrades towards `ready`: starts a preparation for each
     * one not prepared in this run, or whose binary changed since a failed
     * attempt; re-checks `ready` ones (a binary removed since is reported).
     * At most once per poll interval unless the plan changed.
     */
    const reconcile = (plan: UpgradePlan) =>
      Effect.gen(function* () {
        const changed = yield* Ref.getAndSet(planChanged, false)
        const now = yield* Clock.currentTimeMillis
        const last = yield* Ref.get(lastBinaryCheck)
        if (!changed && now - last < Duration.toMillis(config.pollInterval)) return
        yield* Ref.set(lastBinaryCheck, now)
        const f = yield* Ref.get(fired)
        for (const u of pendingUpgrades(plan)) {
          if (u.status === "upgrading" || isFired(f, u)) continue
          const a = yield* attemptOf(u)
          if (a?._tag === "Running") continue
          const { check, key } = yield* inspect(u)
          const binaryChanged = a?._tag === "Failed" && a.binaryKey !== key
          if (u.status === "ready" && a?._tag !== "Failed") {
            if (Either.isLeft(check)) yield* unusable(u, reasonOf(check.left), key)
            continue
          }
          if (a?._tag === "Ready" && Either.isRight(check)) {
            // Prepared, but the plan says otherwise (a write that failed, another writer): say ready again.
            yield* updatePlan((p, at) => [undefined, toPrepared(p, u, null, at)] as const).pipe(Effect.ignore)
            continue
          }
          if (a === undefined || a._tag === "Ready" || binaryChanged) {
            // Nothing to download it from: the operator puts it in place, and a later check sees it.
            if (Either.isLeft(check) && !hasSources(u)) yield* unusable(u, reasonOf(check.left), key)
            else yield* startAttempt(u)
          }
        }
      })

    /**
     * Whether `u` can go at its height: waits for a preparation under way;
     * tries once more when it was never prepared in this run, when its binary
     * changed since a failed attempt, or when the failure may have been
     * transient. Some(reason) when it is not ready.
     */
    const readyAtHeight = (u: Upgrade): Effect.Effect<Option.Option<string>> =>
      Effect.gen(function* () {
        let a = yield* attemptOf(u)
        if (a?._tag === "Running") {
          yield* Effect.logInfo(`upgrade ${u.name} reached its height while being prepared; waiting for the preparation to end`)
          a = yield* Deferred.await(a.done)
        }
        const { check, key } = yield* inspect(u)
        if (Either.isRight(check) && (a?._tag === "Ready" || (a === undefined && u.status === "ready"))) return Option.none()
        if (a?._tag === "Failed" && !a.transient && a.binaryKey === key) return Option.some(a.reason)
        if (Either.isLeft(check) && !hasSources(u)) return Option.some(reasonOf(check.left))
        const ended = yield* Deferred.await(yield* startAttempt(u, true))
        return ended._tag === "Ready" ? Option.none() : Option.some(ended.reason)
      })

    /** The version `target` reports, from the cache; a first ask starts a probe in the background (status never waits for one). */
    const versionOf = (target: Target) =>
      Effect.gen(function* () {
        const known = yield* Ref.get(versions)
        if (known.has(target)) return known.get(target) ?? null
        const started = yield* Ref.modify(probing, (s) => (s.has(target) ? [false, s] : [true, new Set(s).add(target)]))
        if (started) {
          yield* preparer.version(target).pipe(
            Effect.flatMap((v) => Ref.update(versions, (m) => new Map(m).set(target, v))),
            Effect.ensuring(
              Ref.update(probing, (s) => {
                const next = new Set(s)
                next.delete(target)
                return next
              })
            ),
            Effect.forkIn(scope)
          )
        }
        return null
      })

    // -------------------------------------------------------------------------
    // Steps

    /** Journals `step` (durably, before it is taken) and makes it visible. */
    const enter = (entry: JournalEntry, step: JournalStep) =>
      Effect.gen(function* () {
        const next = new JournalEntry({ ...entry, step })
        yield* journal.write(next).pipe(Effect.mapError((cause) => new JournalFailed({ step, cause })))
        yield* crash(step, "journaled")
        yield* Ref.set(inProgress, { name: entry.name, step })
        yield* events.publish({ type: "upgrade-step", name: entry.name, step })
        yield* record(entry.name, step, "started")
        return next
      })

    const step = <E extends { readonly message: string }>(entry: JournalEntry, name: JournalStep, action: Effect.Effect<void, E>) =>
      Effect.gen(function* () {
        yield* enter(entry, name)
        yield* action.pipe(Effect.tapError((e) => record(entry.name, name, "failed", e.message)))
        yield* crash(name, "applied")
        yield* record(entry.name, name, "ok")
      })

    /**
     * DESIGN §6 verify: within DAEMON_VERIFY_TIMEOUT the new process stays up
     * for DAEMON_VERIFY_MIN_UP (any exit fails at once: restarts are
     * suspended), its RPC answers, its head (read directly, not the monotonic
     * stream) is not below the head at stop and — with DAEMON_VERIFY_PROGRESS —
     * has advanced beyond the first head it reported during verify.
     */
    const verify = (headAtStop: Height | null) =>
      Effect.gen(function* () {
        const startedAt = yield* Clock.currentTimeMillis
        const minUp = Duration.toMillis(config.verifyMinUp)
        const poll = Duration.toMillis(config.pollInterval)
        const pid = (yield* node.status).pid
        const problem = yield* Ref.make("the node's RPC has not answered yet")
        const baseline = yield* Ref.make(Option.none<Height>())

        /** One look: how long to wait before the next one, or 0 when verify passed. */
        const look = Effect.gen(function* () {
          const head = yield* Effect.either(heights.head)
          const upFor = (yield* Clock.currentTimeMillis) - startedAt
          if (Either.isLeft(head)) {
            yield* Ref.set(problem, `the node's RPC does not answer (${head.left.message})`)
            return poll
          }
          const h = head.right
          const base = yield* Ref.modify(baseline, (b) => {
            const v = Option.getOrElse(b, () => h)
            return [v, Option.some(v)]
          })
          if (headAtStop !== null && h < headAtStop) {
            yield* Ref.set(problem, `its head ${h} is below the head at stop (${headAtStop})`)
            return poll
          }
          if (config.verifyProgress && h <= base) {
            yield* Ref.set(problem, `its head has not advanced beyond ${base}`)
            return poll
          }
          if (upFor < minUp) {
            yield* Ref.set(problem, `it was up for only ${upFor} ms of the ${minUp} ms required`)
            return Math.min(poll, minUp - upFor)
          }
          return 0
        })
        const passes: Effect.Effect<void> = Effect.suspend(() =>
          look.pipe(Effect.flatMap((wait) => (wait === 0 ? Effect.void : Effect.zipRight(Effect.sleep(wait), passes))))
        )

        const died = node.changes.pipe(
          Stream.filter((s) => s.state !== "running" && s.state !== "starting"),
          Stream.runHead,
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.never,
              onSome: (s) =>
                Effect.fail(
                  new VerifyFailed({
                    reason: `the node is ${s.state}${s.lastExit ? ` (${describeExit(s.lastExit)})` : ""}`
                  })
                )
            })
          )
        )
        const exited = node.exits.pipe(
          Stream.filter((e) => pid === null || e.pid === pid),
          Stream.runHead,
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.never,
              onSome: (e) => Effect.fail(new VerifyFailed({ reason: `the node ${describeExit(e)}` }))
            })
          )
        )

        yield* Effect.raceFirst(passes, Effect.raceFirst(died, exited)).pipe(
          Effect.timeout(config.verifyTimeout),
          Effect.catchTag("TimeoutException", () =>
            Ref.get(problem).pipe(
              Effect.flatMap((p) =>
                Effect.fail(new VerifyFailed({ reason: `did not pass within ${Duration.format(config.verifyTimeout)}: ${p}` }))
              )
            )
          )
        )
      })

    // -------------------------------------------------------------------------
    // Ending an upgrade

    /**
     * Plan → history → events → (restarts resumed) → journal removed. When the
     * plan cannot be written the journal stays, no other upgrade starts, and
     * every tick tries again; a restart finishes it from the journal.
     */
    const close = (c: Closing): Effect.Effect<boolean> =>
      Effect.gen(function* () {
        const { name } = c.entry
        const wrote = yield* updatePlan((plan, now): readonly [{ already: boolean; createdAt: string | null }, UpgradePlan] => {
          const u = findUpgrade(plan, name)
          if (!u) return [{ already: false, createdAt: null }, plan]
          // A replay after a crash in the middle of this bookkeeping: the outcome is already recorded.
          const already = u.status === c.status
          return [{ already, createdAt: u.created_at }, setStatus(plan, name, c.status, c.reason, now).plan]
        }).pipe(Effect.either)
        if (Either.isLeft(wrote)) {
          const why = `upgrade ${name} ended (${c.status}) but the plan could not be updated: ${wrote.left.message}; no other upgrade starts until it is`
          yield* Effect.logError(why)
          yield* Ref.set(unclosed, Option.some(c))
          return false
        }
        yield* setFired(name, wrote.right.createdAt)
        if (!wrote.right.already) {
          if (c.status === "done") {
            yield* record(name, "done", "ok")
            yield* events.publish({ type: "upgrade-completed", name, height: c.entry.height })
          } else {
            const reason = c.reason ?? "failed"
            yield* record(name, "upgrade", "failed", reason)
            yield* events.publish({ type: "upgrade-failed", name, reason })
            if (c.rolledBack) yield* events.publish({ type: "rollback-completed", name, current: c.entry.from })
          }
        }
        if (c.status === "done") yield* node.resumeRestarts
        if (c.entry.step === "done") yield* crash("done", "applied")
        yield* journal.remove.pipe(
          Effect.catchAll((e) => Effect.logError(`${e.message}; the next start will finish this upgrade's bookkeeping again`))
        )
        yield* Ref.set(lastOutcome, { name, status: c.status, reason: c.reason })
        yield* Ref.set(inProgress, null)
        yield* Ref.set(unclosed, Option.none())
        return true
      })

    /**
     * Failure after the node was touched: `current` back to the previous
     * target (when it had moved), the data dir restored from the backup taken
     * at step `backup` (if any), then (rollback) the previous binary started,
     * or (halt) the node left stopped.
     */
    const rollback = (entry: JournalEntry, reason: string) =>
      Effect.gen(function* () {
        const name = entry.name
        const rolling = new JournalEntry({ ...entry, step: "rollback", reason })
        yield* Effect.logError(`upgrade ${name} failed: ${reason}; ${config.onUpgradeFailure === "halt" ? "halting" : `rolling back to ${entry.from}`}`)
        yield* journal.write(rolling).pipe(Effect.catchAll((e) => Effect.logError(`${e.message}; rolling back anyway`)))
        yield* crash("rollback", "journaled")
        yield* Ref.set(inProgress, { name, step: "rollback" })
        yield* events.publish({ type: "upgrade-step", name, step: "rollback" })
        yield* record(name, "rollback", "started", reason)

        yield* node.stop
        let problem: string | null = null
        const now = yield* Effect.option(binaries.current)
        // A failure before `switch` (backup, journal) left `current` where it was.
        if (!Option.contains(now, entry.from)) {
          const switched = yield* Effect.either(binaries.switchTo(entry.from))
          if (Either.isLeft(switched)) problem = `could not switch current back to ${entry.from}: ${switched.left.message}`
        }
        if (problem === null) yield* Ref.set(lastCurrent, Option.some(entry.from))
        if (problem === null && entry.backup !== null) {
          // The new binary may have changed the data in place: the old one gets the data it left.
          const restored = yield* Effect.either(backups.restore(backupAt(entry.backup, name)))
          if (Either.isLeft(restored)) {
            problem = `could not restore ${config.dataDir} from ${entry.backup}: ${restored.left.message}; the previous binary is not started on data the new one may have changed`
            yield* record(name, "restore", "failed", problem)
          } else {
            yield* record(name, "restore", "ok", entry.backup)
          }
        }
        // Never start a binary `current` may still point at when the switch back failed, nor on unrestored data.
        const leaveStopped = config.onUpgradeFailure === "halt" || problem !== null
        if (!leaveStopped) {
          const started = yield* Effect.either(node.start)
          if (Either.isLeft(started)) problem = `the previous binary did not start: ${started.left.message}`
          yield* node.resumeRestarts
        }
        yield* crash("rollback", "applied")
        yield* record(name, "rollback", problem === null ? "ok" : "failed", problem ?? `current -> ${entry.from}`)
        if (leaveStopped) {
          const why = `halted after failed upgrade ${name}: ${reason}${problem !== null ? `; ${problem}` : ""}`
          yield* Ref.set(halted, why)
          yield* Effect.logError(`${why}; restarting wemixvisor starts ${entry.from} again`)
        } else if (problem !== null) {
          yield* Effect.logError(problem)
        }
        yield* close({ entry: rolling, status: "failed", reason, rolledBack: !leaveStopped && problem === null })
      })

    /** Failed before anything was touched (not ready, `current` unreadable): the node runs on. */
    const failUntouched = (u: Upgrade, reason: string) =>
      Effect.gen(function* () {
        yield* Effect.logError(`upgrade ${u.name} at height ${u.height} failed: ${reason}; the node keeps running on the current binary`)
        yield* markFailedUntouched(u, reason)
      })

    /**
     * The height is reached and the upgrade is not ready (DESIGN §2: only
     * now does a missing or broken binary fail it). DAEMON_ON_UPGRADE_FAILURE
     * decides, as for any failed upgrade: rollback = the node goes on with
     * the binary it runs (nothing was switched); halt = the node is stopped
     * and stays stopped until wemixvisor is restarted.
     */
    const notReady = (u: Upgrade, problem: string) =>
      Effect.gen(function* () {
        const reason = `not ready at its height ${u.height}: ${problem}`
        const on = Option.getOrElse(yield* Effect.option(binaries.current), (): string => "the current binary")
        if (config.onUpgradeFailure === "halt") {
          yield* Effect.logError(`upgrade ${u.name} is ${reason}; DAEMON_ON_UPGRADE_FAILURE=halt: stopping the node (current stays ${on})`)
          yield* node.suspendRestarts
          yield* node.stop
          yield* Ref.set(halted, `halted after failed upgrade ${u.name}: ${reason}`)
        } else {
          yield* Effect.logError(`upgrade ${u.name} is ${reason}; DAEMON_ON_UPGRADE_FAILURE=rollback: the node keeps running on ${on}`)
        }
        yield* markFailedUntouched(u, reason)
      })

    const markFailedUntouched = (u: Upgrade, reason: string) =>
      Effect.gen(function* () {
        yield* record(u.name, "check", "failed", reason)
        yield* updatePlan((plan, now) => {
          const cur = findUpgrade(plan, u.name)
          return [undefined, cur && cur.created_at === u.created_at ? setStatus(plan, u.name, "failed", reason, now).plan : plan] as const
        }).pipe(Effect.catchAll((e) => Effect.logError(`could not mark ${u.name} failed: ${e.message}`)))
        yield* events.publish({ type: "upgrade-failed", name: u.name, reason })
        yield* Ref.set(lastOutcome, { name: u.name, status: "failed", reason })
      })

    // -------------------------------------------------------------------------
    // Running an upgrade (fresh, or replayed from the journal)

    /**
     * DAEMON_PRE_STOP: a failure (exit ≠ 0, timeout) is logged, recorded and
     * published, and the upgrade goes on — its height is mandatory, and the
     * old binary cannot go past it. Returns the entry with the head read
     * again: the hook may have taken a while.
     */
    const preStop = (entry: JournalEntry) =>
      Effect.gen(function* () {
        const name = entry.name
        const entered = yield* enter(entry, "pre-stop")
        const ran = yield* Effect.either(hooks.preStop({ name, height: entry.height }))
        yield* crash("pre-stop", "applied")
        if (Either.isLeft(ran)) {
          const why = `${ran.left.message}; the upgrade goes on (its height is mandatory)`
          yield* record(name, "pre-stop", "failed", why)
          yield* events.publish({ type: "upgrade-problem", name, reason: why })
        } else {
          yield* record(name, "pre-stop", "ok")
        }
        const head = yield* Effect.option(heights.head)
        return Option.isSome(head) ? new JournalEntry({ ...entered, head_at_stop: head.value }) : entered
      })

    /**
     * DAEMON_BACKUP: the data dir copied to backups/ (free space checked
     * first; rotation keeps the newest DAEMON_BACKUP_KEEP). Its path is
     * journaled once it exists: a replay neither takes a second backup nor
     * loses this one — a backup finished just before a crash, before its
     * path reached the journal, is found by name and time and adopted.
     */
    const backupStep = (entry: JournalEntry) =>
      Effect.gen(function* () {
        const name = entry.name
        const entered = yield* enter(entry, "backup")
        if (entered.backup !== null) {
          yield* crash("backup", "applied")
          yield* record(name, "backup", "ok", `${entered.backup} (taken before wemixvisor restarted)`)
          return entered
        }
        const earlier = yield* backups.list.pipe(
          Effect.map((all) => all.find((b) => b.upgrade === name && b.createdAt >= entered.started_at)),
          Effect.orElseSucceed(() => undefined)
        )
        const taken =
          earlier ??
          (yield* backups.create(name).pipe(
            Effect.tapError((e) => record(name, "backup", "failed", e.message)),
            Effect.mapError((cause) => new BackupStepFailed({ cause }))
          ))
        const withBackup = new JournalEntry({ ...entered, backup: taken.path })
        yield* journal.write(withBackup).pipe(Effect.mapError((cause) => new JournalFailed({ step: "backup", cause })))
        yield* crash("backup", "applied")
        yield* record(name, "backup", "ok", taken.path)
        return withBackup
      })

    const execute = (first: JournalEntry, from: Resume) => {
      const name = first.name
      const ctx = { name, height: first.height }
      const reached = (s: Resume) => RESUME_ORDER.indexOf(s) >= RESUME_ORDER.indexOf(from)
      // The entry as it grows: head at stop after the pre-stop hook, the backup once taken.
      let entry = first
      const forward = Effect.gen(function* () {
        // Replayed past `stop`: nobody in this run suspended them yet.
        if (!reached("stop")) yield* node.suspendRestarts
        if (reached("pre-stop")) {
          if (Option.isSome(config.preStop)) entry = yield* preStop(entry)
          else yield* skipped(name, "pre-stop")
        }
        if (reached("stop")) {
          yield* step(entry, "stop", Effect.zipRight(node.suspendRestarts, node.stop))
          // Let the old node's database locks go before anything else touches its data.
          if (Duration.toMillis(config.upgradeDelay) > 0) yield* Effect.sleep(config.upgradeDelay)
        }
        if (reached("backup")) {
          if (config.backup) entry = yield* backupStep(entry)
          else yield* skipped(name, "backup")
        }
        if (reached("switch")) {
          yield* step(
            entry,
            "switch",
            binaries.switchTo(name).pipe(
              Effect.mapError((cause) => new SwitchFailed({ target: name, cause })),
              Effect.zipRight(Ref.set(lastCurrent, Option.some<Target>(name)))
            )
          )
        }
        if (reached("pre-upgrade")) {
          // Replayed from here, the hook runs again: hooks are expected to be idempotent.
          if (Option.isSome(config.preUpgrade)) yield* step(entry, "pre-upgrade", hooks.preUpgrade(ctx))
          else yield* skipped(name, "pre-upgrade")
        }
        yield* step(entry, "start", node.start.pipe(Effect.mapError((cause) => new StartFailed({ cause }))))
        yield* step(entry, "verify", verify(entry.head_at_stop))
        // The node runs the verified binary: a journal that cannot say "done" only means a replay verifies it again.
        const done = yield* enter(entry, "done").pipe(
          Effect.catchAll((e) => Effect.logError(e.message).pipe(Effect.as(new JournalEntry({ ...entry, step: "done" }))))
        )
        yield* close({ entry: done, status: "done", reason: null, rolledBack: false })
      })
      return forward.pipe(
        Effect.catchTags({
          BackupStepFailed: (e) => rollback(entry, e.message),
          SwitchFailed: (e) => rollback(entry, e.message),
          HookFailed: (e) => rollback(entry, e.message),
          StartFailed: (e) => rollback(entry, e.message),
          VerifyFailed: (e) => rollback(entry, e.message),
          JournalFailed: (e) =>
            e.step === "pre-stop" || e.step === "stop"
              ? // Nothing was touched yet: the old node runs on (or, after a replay, is started by the caller).
                close({ entry, status: "failed", reason: e.message, rolledBack: false })
              : rollback(entry, e.message)
        }),
        Effect.withSpan("Orchestrator.upgrade", { attributes: { name, from } })
      )
    }

    /** Fires `u` (its height is reached). False when the plan could not be marked and the next tick should retry. */
    const runUpgrade = (u: Upgrade) =>
      Effect.gen(function* () {
        yield* setFired(u.name, u.created_at)
        const problem = yield* readyAtHeight(u)
        if (Option.isSome(problem)) {
          yield* notReady(u, problem.value)
          return true
        }
        const from = yield* Effect.either(binaries.current)
        if (Either.isLeft(from)) {
          yield* failUntouched(u, `cannot read current: ${from.left.message}`)
          return true
        }
        // Marked before the first journal write: cancel refuses an upgrading upgrade, and a
        // crash between the two leaves a pending upgrade that simply fires again.
        const begun = yield* updatePlan((plan, now) => {
          const cur = findUpgrade(plan, u.name)
          if (!cur || cur.created_at !== u.created_at || !pendingUpgrades(plan).includes(cur)) return [false, plan] as const
          return [true, setStatus(plan, u.name, "upgrading", null, now).plan] as const
        }).pipe(Effect.either)
        if (Either.isLeft(begun)) {
          yield* Effect.logError(`upgrade ${u.name} not started: ${begun.left.message}; trying again`)
          yield* Ref.update(fired, (m) => {
            const next = new Map(m)
            next.delete(u.name)
            return next
          })
          return false
        }
        if (!begun.right) return true // cancelled or replaced meanwhile
        const seen = yield* Ref.get(latest)
        yield* events.publish({
          type: "upgrade-started",
          name: u.name,
          height: u.height,
          current_height: Option.getOrElse(seen, () => u.height)
        })
        // The head at stop, read directly; the last height seen when the RPC is down.
        const headAtStop = yield* heights.head.pipe(
          Effect.map(Option.some),
          Effect.orElse(() => Effect.succeed(seen))
        )
        const entry = new JournalEntry({
          name: u.name,
          height: u.height,
          from: from.right,
          step: "stop",
          head_at_stop: Option.getOrNull(headAtStop),
          started_at: DateTime.formatIso(yield* DateTime.now),
          reason: null
        })
        yield* Effect.logInfo(`upgrade ${u.name} at height ${u.height}: ${from.right} -> ${u.name}`)
        yield* execute(entry, "pre-stop")
        return true
      })

    // -------------------------------------------------------------------------
    // Recovery: replay the journal forward (before the node is started)

    /**
     * An upgrade is marked `upgrading` just before its first step is
     * journaled. Killed in between, the previous run touched nothing: the
     * upgrade goes back to `scheduled`, is prepared again and fires as usual.
     */
    const unmarkUnjournaled = Effect.gen(function* () {
      const plan = yield* Effect.option(plans.read)
      if (Option.isNone(plan)) return
      for (const u of plan.value.upgrades) {
        if (u.status !== "upgrading") continue
        yield* Effect.logWarning(`upgrade ${u.name} was marked upgrading but no step was taken (no journal); scheduling it again`)
        yield* updatePlan((p, now) => [undefined, findUpgrade(p, u.name)?.status === "upgrading" ? setStatus(p, u.name, "scheduled", null, now).plan : p] as const).pipe(
          Effect.catchAll((e) => Effect.logError(`upgrade ${u.name} could not be scheduled again: ${e.message}`))
        )
      }
    })

    const recover = Effect.gen(function* () {
      const read = yield* Effect.either(journal.read)
      if (Either.isLeft(read)) {
        const why = `upgrades paused: ${read.left.message}`
        yield* Effect.logError(`${why}; the node is supervised on the current binary; fix or remove ${journal.file}`)
        yield* Ref.set(pausedByJournal, why)
        return
      }
      if (Option.isNone(read.right)) return yield* unmarkUnjournaled
      const entry = read.right.value
      yield* Effect.logWarning(`resuming upgrade ${entry.name} from step ${entry.step} (${journal.file})`)
      yield* record(entry.name, "recover", "started", `journal at ${entry.step}`)
      yield* setFired(entry.name, null)
      yield* Ref.set(inProgress, { name: entry.name, step: entry.step })
      const plan = yield* Effect.option(plans.read)
      const recorded = Option.flatMap(plan, (p) => Option.fromNullable(findUpgrade(p, entry.name)))
      // `done` in the plan is final: never switch to (or away from) it again.
      if (entry.step !== "rollback" && Option.exists(recorded, (u) => u.status === "done")) {
        yield* close({ entry: new JournalEntry({ ...entry, step: "done" }), status: "done", reason: null, rolledBack: false })
        return
      }
      switch (entry.step) {
        // The node was reaped when `run` started: the pre-stop hook (a hand-off) is not run again.
        case "pre-stop":
        case "stop":
          return yield* execute(entry, "stop")
        case "backup":
          return yield* execute(entry, "backup")
        case "switch":
          return yield* execute(entry, "switch")
        case "pre-upgrade":
          return yield* execute(entry, "pre-upgrade")
        case "start":
        case "verify":
          // Start it again and verify from scratch.
          return yield* execute(entry, "start")
        case "done":
          yield* close({ entry, status: "done", reason: null, rolledBack: false })
          return
        case "rollback":
          return yield* rollback(entry, entry.reason ?? "the upgrade was rolling back when wemixvisor stopped")
      }
    })

    /** Starts the node unless it runs already or a halt left it stopped on purpose. */
    const ensureStarted = Effect.gen(function* () {
      if ((yield* Ref.get(halted)) !== null) return
      const s = yield* node.status
      if (s.state !== "stopped") return
      yield* node.start.pipe(Effect.catchAll((e) => Effect.logError(e.message)))
    })

    // -------------------------------------------------------------------------
    // The main loop

    /** The lowest pending upgrade not fired yet, when the head has reached it. */
    const nextDue = Effect.gen(function* () {
      const h = yield* Ref.get(latest)
      const snap = yield* Ref.get(snapshot)
      const f = yield* Ref.get(fired)
      if (Option.isNone(h) || Option.isNone(snap) || snap.value._tag !== "Valid") return Option.none<Upgrade>()
      const lowest = pendingUpgrades(snap.value.plan).find((u) => !isFired(f, u))
      return lowest !== undefined && lowest.height <= h.value ? Option.some(lowest) : Option.none<Upgrade>()
    })

    const tick = Effect.gen(function* () {
      if ((yield* Ref.get(halted)) !== null || (yield* Ref.get(pausedByJournal)) !== null) return
      const pendingClose = yield* Ref.get(unclosed)
      if (Option.isSome(pendingClose) && !(yield* close(pendingClose.value))) return
      const snap = yield* Ref.get(snapshot)
      if (Option.isNone(snap)) return
      if (snap.value._tag === "Corrupt") {
        const why = `upgrades paused: ${snap.value.error.message}`
        if ((yield* Ref.getAndSet(pausedByPlan, why)) !== why) {
          yield* Effect.logError(`${why}; the node is supervised on the current binary`)
        }
        return
      }
      if ((yield* Ref.getAndSet(pausedByPlan, null)) !== null) yield* Effect.logInfo("the plan file is readable again; upgrades resumed")
      yield* reconcile(snap.value.plan)
      // One at a time, lowest first; after each, look again at the latest height and plan.
      for (;;) {
        if ((yield* Ref.get(halted)) !== null || Option.isSome(yield* Ref.get(unclosed))) return
        const due = yield* nextDue
        if (Option.isNone(due)) return
        if (!(yield* runUpgrade(due.value))) return
      }
    })

    // -------------------------------------------------------------------------

    yield* Effect.either(binaries.current).pipe(
      Effect.flatMap(Either.match({ onLeft: (e) => Effect.logError(e.message), onRight: (t) => Ref.set(lastCurrent, Option.some(t)) }))
    )

    const signal = Queue.offer(wake, undefined)
    yield* heights.heights.pipe(
      Stream.runForEach((h) => Ref.set(latest, Option.some(h)).pipe(Effect.zipRight(signal))),
      Effect.forkScoped
    )
    yield* source.plans.pipe(
      Stream.runForEach((s) =>
        Effect.all([
          Ref.set(snapshot, Option.some(s)),
          s._tag === "Valid" ? Ref.set(lastValid, Option.some(s.plan)) : Effect.void,
          Ref.set(planChanged, true),
          signal
        ])
      ),
      Effect.forkScoped
    )
    // The fallback tick: binary checks and retries happen even when neither heights nor plans change
    // (a stalled chain). Heights and plan changes wake the loop at once; this only covers the quiet.
    yield* Cadence.repeat(signal, quietTick(config.pollInterval)).pipe(Effect.forkScoped)
    /**
     * A defect is a bug, but the node must stay supervised. One that cuts an
     * upgrade short leaves its journal: no other upgrade may overwrite it, so
     * upgrades pause until a restart replays it.
     */
    const survive = <A>(self: Effect.Effect<A>) =>
      self.pipe(
        Effect.asVoid,
        Effect.catchAllDefect((defect) =>
          Effect.gen(function* () {
            yield* Effect.logError("orchestrator: unexpected defect; still supervising the node", defect)
            const flight = yield* Ref.get(inProgress)
            if (flight !== null) {
              yield* Ref.set(
                pausedByJournal,
                `upgrade ${flight.name} was cut short by an internal error at step ${flight.step}; restart wemixvisor to replay it from ${journal.file}`
              )
            }
          })
        )
      )

    // Recovery runs in the background too: a replayed verify takes up to DAEMON_VERIFY_TIMEOUT,
    // and the rest of `run` (API, status) must not wait for it.
    yield* Effect.gen(function* () {
      // A restore of the data dir cut short by a crash is finished (or undone) before any node touches the data.
      if (config.backup || fs.existsSync(config.layout.backups)) {
        yield* survive(backups.recover.pipe(Effect.catchAll((e) => Effect.logError(`checking ${config.dataDir} after a restore: ${e.message}`))))
      }
      yield* survive(recover)
      yield* survive(ensureStarted)
      yield* Effect.forever(Queue.take(wake).pipe(Effect.zipRight(survive(tick))))
    }).pipe(Effect.forkScoped)

    const derivedLast = (plan: Option.Option<UpgradePlan>): LastOutcome => {
      const ended = Option.match(plan, {
        onNone: () => [],
        onSome: (p) => p.upgrades.filter((u) => u.status === "done" || u.status === "failed")
      })
      const latestEnded = ended.reduce<Upgrade | undefined>((a, u) => (a === undefined || u.updated_at > a.updated_at ? u : a), undefined)
      return latestEnded ? { name: latestEnded.name, status: latestEnded.status, reason: latestEnded.reason } : null
    }

    return Orchestrator.of({
      status: Effect.gen(function* () {
        const s = yield* node.status
        const seen = yield* heights.latest
        const own = yield* Ref.get(latest)
        const current = yield* binaries.current.pipe(
          Effect.map(Option.some),
          Effect.orElse(() => Ref.get(lastCurrent))
        )
        const plan = yield* Ref.get(lastValid)
        const flight = yield* Ref.get(inProgress)
        const f = yield* Ref.get(fired)
        const pending = Option.match(plan, {
          onNone: () => [],
          onSome: (p) => pendingUpgrades(p).filter((u) => u.name === flight?.name || !isFired(f, u))
        })
        return {
          supervisor: "running",
          home: config.home,
          supervisor_pid: process.pid,
          current_height: Option.getOrNull(Option.orElse(seen, () => own)),
          node_state: s.state,
          node_pid: s.pid,
          restarts: s.restarts,
          current: Option.getOrElse(current, (): Target => "genesis"),
          version: yield* versionOf(Option.getOrElse(current, (): Target => "genesis")),
          pending_upgrade: pending[0] ?? null,
          pending,
          upgrading: flight !== null,
          in_progress: flight,
          last: (yield* Ref.get(lastOutcome)) ?? derivedLast(plan)
        } satisfies StatusObject
      }),
      paused: Effect.gen(function* () {
        const j = yield* Ref.get(pausedByJournal)
        if (j !== null) return j
        const c = yield* Ref.get(unclosed)
        if (Option.isSome(c)) return `upgrade ${c.value.entry.name} ended but the plan could not be updated yet`
        return yield* Ref.get(pausedByPlan)
      }),
      halted: Ref.get(halted),
      prepare: (name) =>
        Effect.gen(function* () {
          const plan = yield* plans.read
          const u = findUpgrade(plan, name)
          if (u === undefined) return yield* new UpgradeNotFound({ name })
          if (preparable(plan, u) === undefined || isFired(yield* Ref.get(fired), u)) {
            return yield* new UpgradeConflict({ name, problem: `is ${u.status}; only an upgrade waiting for its height can be prepared` })
          }
          const a = yield* attemptOf(u)
          const ended = yield* Deferred.await(a?._tag === "Running" ? a.done : yield* startAttempt(u))
          if (ended._tag === "Failed") {
            return yield* new PreparationFailed({ name, reason: ended.reason, badInput: ended.badInput })
          }
          const after = findUpgrade(yield* plans.read, name)
          return after ?? u
        })
    })
  })

/** The orchestrator with a given crash hook (tests drive recovery with it; see `crashHookFromEnv`). */
export const layerWithCrashHook = (crash: CrashHook) => Layer.scoped(Orchestrator, make(crash))

/** Live: WEMIXVISOR_TEST_CRASH_AT (test-only) is read once, here, at layer build. */
export const layer: Layer.Layer<
  Orchestrator,
  never,
  | AppConfig
  | Events
  | NodeProcess
  | HeightProvider
  | BinaryStore
  | PlanStore
  | UpgradeSource
  | History
  | Backups
  | Hooks
  | Preparer
> = Layer.scoped(
  Orchestrator,
  Effect.suspend(() => crashHookFromEnv(process.env.WEMIXVISOR_TEST_CRASH_AT)).pipe(Effect.flatMap(make))
)
