import { Clock, Context, Data, DateTime, Duration, Effect, Either, Layer, Option, Queue, Ref, Schedule, Stream } from "effect"
import { BinaryStore } from "../binaries/BinaryStore.js"
import { AppConfig } from "../config/Config.js"
import type { BinaryInvalid, IoError, SpawnFailed } from "../domain/Errors.js"
import type { Height } from "../domain/Height.js"
import { describeExit } from "../domain/Node.js"
import { findUpgrade, pendingUpgrades, setStatus } from "../domain/Plan.js"
import type { StatusObject } from "../domain/Status.js"
import type { Target } from "../domain/Target.js"
import type { Upgrade, UpgradePlan } from "../domain/Upgrade.js"
import { Events } from "../events/Events.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { NodeProcess } from "../node/NodeProcess.js"
import { History, type HistoryResult } from "../upgrades/History.js"
import { type PlanSnapshot, PlanStore, UpgradeSource } from "../upgrades/PlanStore.js"
import * as Journal from "./Journal.js"
import { JournalEntry, type JournalStep } from "./Journal.js"

/*
 * The Orchestrator (DESIGN §1, §6): combines heights and plans, and at the
 * first head ≥ an upgrade's height runs stop → switch → start → verify, or
 * rolls back. One upgrade at a time, lowest height first. Every step is
 * journaled before it is taken, so a supervisor killed at any instant replays
 * the upgrade forward on its next start — never applied twice, never two nodes.
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
}

export class Orchestrator extends Context.Tag("wemixvisor/Orchestrator")<Orchestrator, OrchestratorService>() {}

// ---------------------------------------------------------------------------
// Test-only crash hook. WEMIXVISOR_TEST_CRASH_AT="<step>:<phase>" makes the
// supervisor SIGKILL itself at that exact point of an upgrade, so end-to-end
// tests can prove the journal replay: `journaled` = right after the journal
// write for <step>; `applied` = right after the step's action, before the next
// journal write (for `done`: after the plan/history bookkeeping, before the
// journal is removed; for `rollback`: after stop/switch back/start). Operators
// never set it.

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

const BINARY_MISSING = "binary missing: "
const binaryReason = (e: BinaryInvalid) => `${BINARY_MISSING}${e.path} ${e.problem}`

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
    const journal = Journal.make(config.layout.journal)

    const latest = yield* Ref.make(Option.none<Height>())
    const snapshot = yield* Ref.make(Option.none<PlanSnapshot>())
    const lastValid = yield* Ref.make(Option.none<UpgradePlan>())
    const planChanged = yield* Ref.make(false)
    const lastBinaryCheck = yield* Ref.make(Number.NEGATIVE_INFINITY)
    const problems = yield* Ref.make<ReadonlyMap<string, string>>(new Map())
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
      }).pipe(Effect.retry({ schedule: planRetry, while: (e) => e._tag === "PlanLocked" }))

    // Hooks and backups are issue-#5 features: an absent option skips its step
    // (recorded as skipped, never journaled).
    const skipped = (name: string, step: "pre-stop" | "backup" | "pre-upgrade") => {
      const configured =
        step === "pre-stop" ? Option.isSome(config.preStop) : step === "pre-upgrade" ? Option.isSome(config.preUpgrade) : config.backup
      return record(name, step, "skipped", configured ? "configured, but not supported by this version" : undefined)
    }

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
     * target, then (rollback) start it, or (halt) leave the node stopped.
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
        const switched = yield* Effect.either(binaries.switchTo(entry.from))
        if (Either.isLeft(switched)) problem = `could not switch current back to ${entry.from}: ${switched.left.message}`
        else yield* Ref.set(lastCurrent, Option.some(entry.from))
        // Never start a binary `current` may still point at when the switch back failed.
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

    /** Failed before anything was touched (no usable binary, …): the node runs on. */
    const failUntouched = (u: Upgrade, reason: string) =>
      Effect.gen(function* () {
        yield* Effect.logError(`upgrade ${u.name} at height ${u.height} failed: ${reason}; the node keeps running on the current binary`)
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

    type Resume = "stop" | "switch" | "start"

    const execute = (entry: JournalEntry, from: Resume) => {
      const name = entry.name
      const forward = Effect.gen(function* () {
        if (from === "stop") {
          yield* skipped(name, "pre-stop")
          yield* step(entry, "stop", Effect.zipRight(node.suspendRestarts, node.stop))
          // Let the old node's database locks go before the new one starts.
          if (Duration.toMillis(config.upgradeDelay) > 0) yield* Effect.sleep(config.upgradeDelay)
          yield* skipped(name, "backup")
        }
        if (from === "stop" || from === "switch") {
          yield* step(
            entry,
            "switch",
            binaries.switchTo(name).pipe(
              Effect.mapError((cause) => new SwitchFailed({ target: name, cause })),
              Effect.zipRight(Ref.set(lastCurrent, Option.some<Target>(name)))
            )
          )
          yield* skipped(name, "pre-upgrade")
        }
        // Replayed from `start`: nobody in this run suspended them yet.
        if (from === "start") yield* node.suspendRestarts
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
          SwitchFailed: (e) => rollback(entry, e.message),
          StartFailed: (e) => rollback(entry, e.message),
          VerifyFailed: (e) => rollback(entry, e.message),
          JournalFailed: (e) =>
            e.step === "stop"
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
        const invalid = yield* binaries.validate(u.name).pipe(Effect.flip, Effect.option)
        if (Option.isSome(invalid)) {
          yield* failUntouched(u, binaryReason(invalid.value))
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
        yield* execute(entry, "stop")
        return true
      })

    // -------------------------------------------------------------------------
    // Recovery: replay the journal forward (before the node is started)

    const recover = Effect.gen(function* () {
      const read = yield* Effect.either(journal.read)
      if (Either.isLeft(read)) {
        const why = `upgrades paused: ${read.left.message}`
        yield* Effect.logError(`${why}; the node is supervised on the current binary; fix or remove ${journal.file}`)
        yield* Ref.set(pausedByJournal, why)
        return
      }
      if (Option.isNone(read.right)) return
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
        case "pre-stop":
        case "stop":
          return yield* execute(entry, "stop")
        case "backup":
        case "switch":
          return yield* execute(entry, "switch")
        case "pre-upgrade":
        case "start":
        case "verify":
          // The node was reaped when `run` started: start it again and verify from scratch.
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

    /** Keeps `reason` on scheduled upgrades whose binary is unusable; clears it once fixed. At most once per poll interval. */
    const checkBinaries = (plan: UpgradePlan) =>
      Effect.gen(function* () {
        const changed = yield* Ref.getAndSet(planChanged, false)
        const now = yield* Clock.currentTimeMillis
        const last = yield* Ref.get(lastBinaryCheck)
        if (!changed && now - last < Duration.toMillis(config.pollInterval)) return
        yield* Ref.set(lastBinaryCheck, now)
        const f = yield* Ref.get(fired)
        const wanted = new Map<string, string | null>()
        for (const u of plan.upgrades) {
          if (u.status !== "scheduled" || isFired(f, u)) continue
          const reason = yield* binaries.validate(u.name).pipe(
            Effect.match({ onFailure: binaryReason, onSuccess: () => null })
          )
          if (reason !== null) wanted.set(u.name, reason)
          else if (u.reason !== null && u.reason.startsWith(BINARY_MISSING)) wanted.set(u.name, null)
        }
        const seen = yield* Ref.get(problems)
        const nextSeen = new Map(seen)
        for (const [name, reason] of wanted) {
          if (reason === null) nextSeen.delete(name)
          else if (seen.get(name) !== reason) {
            nextSeen.set(name, reason)
            yield* events.publish({ type: "upgrade-problem", name, reason })
          }
        }
        yield* Ref.set(problems, nextSeen)
        const diffs = [...wanted].filter(([name, reason]) => findUpgrade(plan, name)?.reason !== reason)
        if (diffs.length === 0) return
        yield* updatePlan((p, at) => {
          let next = p
          for (const [name, reason] of diffs) {
            const cur = findUpgrade(next, name)
            if (cur && cur.status === "scheduled") next = setStatus(next, name, "scheduled", reason, at).plan
          }
          return [undefined, next] as const
        }).pipe(Effect.catchAll((e) => Effect.logWarning(`binary check not recorded in the plan: ${e.message}`)))
      })

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
      yield* checkBinaries(snap.value.plan)
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
    const unsupported = [
      Option.isSome(config.preStop) ? "DAEMON_PRE_STOP" : null,
      config.backup ? "DAEMON_BACKUP" : null,
      Option.isSome(config.preUpgrade) ? "DAEMON_PRE_UPGRADE" : null
    ].filter((x) => x !== null)
    if (unsupported.length > 0) {
      yield* Effect.logWarning(`${unsupported.join(", ")} set, but not supported by this version: those upgrade steps are skipped`)
    }

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
    // The poll tick: binary checks and retries happen even when neither heights nor plans change.
    yield* signal.pipe(Effect.repeat(Schedule.spaced(config.pollInterval)), Effect.forkScoped)
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
          current_height: Option.getOrNull(Option.orElse(seen, () => own)),
          node_state: s.state,
          node_pid: s.pid,
          restarts: s.restarts,
          current: Option.getOrElse(current, (): Target => "genesis"),
          version: null,
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
      halted: Ref.get(halted)
    })
  })

/** The orchestrator with a given crash hook (tests drive recovery with it; see `crashHookFromEnv`). */
export const layerWithCrashHook = (crash: CrashHook) => Layer.scoped(Orchestrator, make(crash))

/** Live: WEMIXVISOR_TEST_CRASH_AT (test-only) is read once, here, at layer build. */
export const layer: Layer.Layer<
  Orchestrator,
  never,
  AppConfig | Events | NodeProcess | HeightProvider | BinaryStore | PlanStore | UpgradeSource | History
> = Layer.scoped(
  Orchestrator,
  Effect.suspend(() => crashHookFromEnv(process.env.WEMIXVISOR_TEST_CRASH_AT)).pipe(Effect.flatMap(make))
)
