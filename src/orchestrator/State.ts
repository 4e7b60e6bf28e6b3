import * as Option from "effect/Option"
import type * as SubscriptionRef from "effect/SubscriptionRef"
import type { Height } from "../domain/Height.js"
import { pendingUpgrades } from "../domain/Plan.js"
import type { OperatorPause, StatusObject } from "../domain/Status.js"
import type { Target } from "../domain/Target.js"
import { scheduledThroughWemixvisor, type Upgrade, type UpgradeName, type UpgradePlan } from "../domain/Upgrade.js"
import type { JournalEntry, JournalStep } from "../upgrades/Journal.js"
import type { PlanSnapshot } from "../upgrades/UpgradeSource.js"

/*
 * What the orchestrator knows in this run, as one record (held in a
 * SubscriptionRef by the live layer), and its transitions and views as pure
 * functions. Preparation keeps its own bookkeeping (Preparations.ts).
 */

/**
 * Names the orchestrator already fired in this run, with the `created_at`
 * of the upgrade it fired (null: any). The plan snapshot lags behind our own
 * writes, so this — not the snapshot — is what keeps an upgrade from firing
 * twice; an upgrade rescheduled under the same name has a new created_at.
 */
export type Fired = ReadonlyMap<string, string | null>

export const isFired = (fired: Fired, u: Upgrade) => {
  const at = fired.get(u.name)
  return at !== undefined && (at === null || at === u.created_at)
}

/** An ended upgrade: what the plan, history and events must say before the journal goes. */
export interface Closing {
  readonly entry: JournalEntry
  readonly status: "done" | "failed"
  readonly reason: string | null
  /** The previous binary was started again (rollback-completed). */
  readonly rolledBack: boolean
  /**
   * Whether this outcome's events and history line are already out: `no` on
   * the live path, `yes` on a retry after they went out or when the plan
   * already says the outcome (it is written after them), `maybe` on a replay
   * from the journal: the history decides.
   */
  readonly announced: "no" | "yes" | "maybe"
}

/** An entry's identity across plan writes: an upgrade rescheduled under the same name has a new created_at. */
export const entryKey = (u: Pick<Upgrade, "name" | "created_at">) => `${u.name}\u0000${u.created_at}`

/**
 * A hand-edited entry refused instead of fired (issue #12 item 12): it
 * appeared after this run started, its height was already reached, and
 * nothing says wemixvisor scheduled it (`checked_head`, `force`).
 */
export interface Refusal {
  readonly upgrade: Upgrade
  readonly reason: string
  /** plan-invalid published and logged. */
  readonly reported: boolean
}

/** Why upgrades are paused by the journal; `recheck`: a corrupt file, re-read until it is fixed or removed. */
export interface JournalPause {
  readonly reason: string
  readonly recheck: boolean
}

export type LastOutcome = StatusObject["last"]
export type InProgress = StatusObject["in_progress"]

export interface State {
  /** The last height the stream emitted. */
  readonly latest: Option.Option<Height>
  /** The plan as last seen (the UpgradeSource, or our own write). */
  readonly snapshot: Option.Option<PlanSnapshot>
  /**
   * The last plan that was valid (read, or our own write): upgrades fire
   * from it while the file is corrupt or missing, and a missing file is
   * re-created from it.
   */
  readonly lastValid: Option.Option<UpgradePlan>
  /** Every entry seen in this run (entryKey); none until the first plan, whose entries are never refused. */
  readonly known: Option.Option<ReadonlySet<string>>
  /** Hand-edited entries refused, by entryKey. */
  readonly refused: ReadonlyMap<string, Refusal>
  /** Another process has held upgrade-plan.lock past PlanStore's wait (the log line, with its pid). */
  readonly lockHeld: string | null
  readonly fired: Fired
  readonly inProgress: InProgress
  readonly lastOutcome: LastOutcome
  /** The last target `current` was read or switched to: status falls back on it when the link cannot be read. */
  readonly lastCurrent: Option.Option<Target>
  /** Why DAEMON_ON_UPGRADE_FAILURE=halt left the node stopped. */
  readonly halted: string | null
  /** Why a corrupt plan file, with no valid plan read before, pauses upgrades. */
  readonly pausedByPlan: string | null
  /** Why a corrupt journal (or an upgrade cut short by a defect) pauses upgrades. */
  readonly pausedByJournal: JournalPause | null
  /** An ended upgrade whose outcome could not be written to the plan yet. */
  readonly unclosed: Option.Option<Closing>
  /**
   * The operator's pause (`upgrade pause`, upgrades-paused.json): apart from
   * the pauses above, which wemixvisor lifts by itself, and lifted only by
   * `upgrade resume`.
   */
  readonly pausedByOperator: OperatorPause | null
}

export const initial: State = {
  latest: Option.none(),
  snapshot: Option.none(),
  lastValid: Option.none(),
  known: Option.none(),
  refused: new Map(),
  lockHeld: null,
  fired: new Map(),
  inProgress: null,
  lastOutcome: null,
  lastCurrent: Option.none(),
  halted: null,
  pausedByPlan: null,
  pausedByJournal: null,
  unclosed: Option.none(),
  pausedByOperator: null
}

// -- transitions ---------------------------------------------------------------

export const heightSeen = (h: Height) => (s: State): State => ({ ...s, latest: Option.some(h) })

/**
 * A valid plan's entries become known. The first plan of the run is the one
 * it started with: its entries fire when due, however far below the head
 * (the supervisor was down at the height). A later entry whose height the
 * head had already reached when it first appeared, and that does not say
 * wemixvisor scheduled it, is a hand edit: refused, as the drop-in refuses a
 * height at or below the head.
 */
const absorb = (plan: UpgradePlan, s: State): Pick<State, "known" | "refused"> => {
  const keys = plan.upgrades.map(entryKey)
  if (Option.isNone(s.known)) return { known: Option.some(new Set(keys)), refused: s.refused }
  const known = s.known.value
  const fresh = plan.upgrades.filter((u) => !known.has(entryKey(u)))
  if (fresh.length === 0) return { known: s.known, refused: s.refused }
  const refused = new Map(s.refused)
  for (const u of pendingUpgrades(plan)) {
    if (
      known.has(entryKey(u)) || scheduledThroughWemixvisor(u) || Option.isNone(s.latest) || u.height > s.latest.value
    ) continue
    refused.set(entryKey(u), {
      upgrade: u,
      reason:
        `height ${u.height} was already reached (chain head ${s.latest.value}) when '${u.name}' appeared in the plan, ` +
        `and nothing says wemixvisor scheduled it (an edit by hand?); not applied: to apply it anyway, schedule it again with --force`,
      reported: false
    })
  }
  return { known: Option.some(new Set([...known, ...keys])), refused }
}

/** A snapshot from the UpgradeSource. */
export const planSeen = (snap: PlanSnapshot) => (s: State): State => {
  const base = { ...s, snapshot: Option.some(snap) }
  if (snap._tag === "Valid") return { ...base, lastValid: Option.some(snap.plan), ...absorb(snap.plan, s) }
  // No file at the start of a run: the plan it started with is empty.
  if (snap._tag === "Missing" && Option.isNone(s.known)) return { ...base, known: Option.some(new Set()) }
  return base
}

/** Our own write (or a re-created file): it becomes the snapshot at once. */
export const planWritten = (plan: UpgradePlan) => (s: State): State => ({
  ...s,
  snapshot: Option.some<PlanSnapshot>({ _tag: "Valid", plan }),
  lastValid: Option.some(plan),
  ...absorb(plan, s)
})

/** The refusals of `keys` were published. */
export const refusalsReported = (keys: ReadonlyArray<string>) => (s: State): State => {
  const refused = new Map(s.refused)
  for (const k of keys) {
    const r = refused.get(k)
    if (r !== undefined) refused.set(k, { ...r, reported: true })
  }
  return { ...s, refused }
}

/** The plan lock's problem becomes `why` (null: free again); returns the one it replaces. */
export const lockIs =
  (why: string | null) => (s: State): readonly [string | null, State] => [s.lockHeld, { ...s, lockHeld: why }]

export const fire = (name: string, createdAt: string | null) => (s: State): State => ({
  ...s,
  fired: new Map(s.fired).set(name, createdAt)
})

/** The plan could not be marked: the next tick fires it again. */
export const unfire = (name: string) => (s: State): State => {
  const fired = new Map(s.fired)
  fired.delete(name)
  return { ...s, fired }
}

export const entered = (name: UpgradeName, step: JournalStep) => (s: State): State => ({
  ...s,
  inProgress: { name, step }
})

export const currentIs = (target: Target) => (s: State): State => ({ ...s, lastCurrent: Option.some(target) })

export const halt = (why: string) => (s: State): State => ({ ...s, halted: why })

/** `recheck`: the journal is re-read on every tick, and a fix or a removal resumes upgrades live. */
export const pauseByJournal = (why: string, recheck = false) => (s: State): State => ({
  ...s,
  pausedByJournal: { reason: why, recheck }
})

export const resumeByJournal = (s: State): State => ({ ...s, pausedByJournal: null })

/** The plan's pause reason becomes `why` (null: resumed); returns the one it replaces. */
export const pauseByPlan =
  (why: string | null) => (s: State): readonly [string | null, State] => [s.pausedByPlan, { ...s, pausedByPlan: why }]

/** The operator's pause becomes `pause` (null: resumed); returns the one it replaces. */
export const pauseByOperator = (pause: OperatorPause | null) => (s: State): readonly [OperatorPause | null, State] => [
  s.pausedByOperator,
  { ...s, pausedByOperator: pause }
]

export const unclosedAt = (c: Closing) => (s: State): State => ({ ...s, unclosed: Option.some(c) })

/** An upgrade ended and the plan says so. */
export const closed = (outcome: NonNullable<LastOutcome>) => (s: State): State => ({
  ...s,
  lastOutcome: outcome,
  inProgress: null,
  unclosed: Option.none()
})

/** An upgrade failed before anything was touched. */
export const failedUntouched = (name: UpgradeName, reason: string) => (s: State): State => ({
  ...s,
  lastOutcome: { name, status: "failed", reason }
})

// -- views -----------------------------------------------------------------------

/**
 * The plan upgrades fire from: the file as last read, or — while it is
 * corrupt or missing — the last valid plan (ARCHITECTURE §7: a scheduled upgrade
 * is never lost). None before any plan, or on a corrupt file with no valid
 * plan read before it.
 */
export const actingPlan = (s: State): Option.Option<UpgradePlan> =>
  Option.flatMap(s.snapshot, (snap) => (snap._tag === "Valid" ? Option.some(snap.plan) : s.lastValid))

const isRefused = (s: State, u: Upgrade) => s.refused.has(entryKey(u))

/** The lowest pending upgrade not fired (nor refused) yet, when the head has reached it. */
export const nextDue = (s: State): Option.Option<Upgrade> => {
  const plan = actingPlan(s)
  if (Option.isNone(s.latest) || Option.isNone(plan)) return Option.none()
  const lowest = pendingUpgrades(plan.value).find((u) => !isFired(s.fired, u) && !isRefused(s, u))
  return lowest !== undefined && lowest.height <= s.latest.value ? Option.some(lowest) : Option.none()
}

/** Status's pending list: the last valid plan's, without what fired already (the one in flight stays) or was refused. */
export const pending = (s: State): ReadonlyArray<Upgrade> =>
  Option.match(s.lastValid, {
    onNone: () => [],
    onSome: (p) =>
      pendingUpgrades(p).filter((u) => !isRefused(s, u) && (u.name === s.inProgress?.name || !isFired(s.fired, u)))
  })

/**
 * Status's `plan_problem`: what is wrong with the plan file or its lock
 * while upgrades go on (or, with no valid plan to fall back on, are paused).
 */
export const planProblem = (s: State): string | null => {
  const parts: Array<string> = []
  const snap = Option.getOrUndefined(s.snapshot)
  if (snap?._tag === "Corrupt") {
    parts.push(
      `${snap.error.message}; ${
        Option.isSome(s.lastValid)
          ? "upgrades go on from the last valid plan read"
          : "upgrades are paused until it is fixed"
      } (the file is never overwritten)`
    )
  }
  if (s.lockHeld !== null) parts.push(s.lockHeld)
  return parts.length === 0 ? null : parts.join("; ")
}

/** Status's last outcome: the one seen in this run, else the latest ended upgrade of the plan. */
export const last = (s: State): LastOutcome => {
  if (s.lastOutcome !== null) return s.lastOutcome
  const ended = Option.match(s.lastValid, {
    onNone: () => [],
    onSome: (p) => p.upgrades.filter((u) => u.status === "done" || u.status === "failed")
  })
  const latestEnded = ended.reduce<Upgrade | undefined>(
    (a, u) => (a === undefined || u.updated_at > a.updated_at ? u : a),
    undefined
  )
  return latestEnded ? { name: latestEnded.name, status: latestEnded.status, reason: latestEnded.reason } : null
}

/** Why upgrades are paused, or null. */
export const paused = (s: State): string | null => {
  if (s.pausedByJournal !== null) return s.pausedByJournal.reason
  if (Option.isSome(s.unclosed)) {
    return `upgrade ${s.unclosed.value.entry.name} ended but the plan could not be updated yet`
  }
  return s.pausedByPlan
}

/** The live layer's one cell of state. */
export type StateRef = SubscriptionRef.SubscriptionRef<State>
