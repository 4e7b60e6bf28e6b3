import * as Option from "effect/Option"
import type * as SubscriptionRef from "effect/SubscriptionRef"
import type { Height } from "../domain/Height.js"
import { pendingUpgrades } from "../domain/Plan.js"
import type { StatusObject } from "../domain/Status.js"
import type { Target } from "../domain/Target.js"
import type { Upgrade, UpgradeName, UpgradePlan } from "../domain/Upgrade.js"
import type { PlanSnapshot } from "../upgrades/PlanStore.js"
import type { JournalEntry, JournalStep } from "./Journal.js"

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
}

export type LastOutcome = StatusObject["last"]
export type InProgress = StatusObject["in_progress"]

export interface State {
  /** The last height the stream emitted. */
  readonly latest: Option.Option<Height>
  /** The plan as last seen (the UpgradeSource, or our own write). */
  readonly snapshot: Option.Option<PlanSnapshot>
  /** The last plan that was valid: status keeps showing it while the file is corrupt. */
  readonly lastValid: Option.Option<UpgradePlan>
  readonly fired: Fired
  readonly inProgress: InProgress
  readonly lastOutcome: LastOutcome
  /** The last target `current` was read or switched to: status falls back on it when the link cannot be read. */
  readonly lastCurrent: Option.Option<Target>
  /** Why DAEMON_ON_UPGRADE_FAILURE=halt left the node stopped. */
  readonly halted: string | null
  /** Why a corrupt plan file pauses upgrades. */
  readonly pausedByPlan: string | null
  /** Why a corrupt journal (or an upgrade cut short by a defect) pauses upgrades. */
  readonly pausedByJournal: string | null
  /** An ended upgrade whose outcome could not be written to the plan yet. */
  readonly unclosed: Option.Option<Closing>
}

export const initial: State = {
  latest: Option.none(),
  snapshot: Option.none(),
  lastValid: Option.none(),
  fired: new Map(),
  inProgress: null,
  lastOutcome: null,
  lastCurrent: Option.none(),
  halted: null,
  pausedByPlan: null,
  pausedByJournal: null,
  unclosed: Option.none()
}

// -- transitions ---------------------------------------------------------------

export const heightSeen = (h: Height) => (s: State): State => ({ ...s, latest: Option.some(h) })

/** A snapshot from the UpgradeSource. */
export const planSeen = (snap: PlanSnapshot) => (s: State): State => ({
  ...s,
  snapshot: Option.some(snap),
  lastValid: snap._tag === "Valid" ? Option.some(snap.plan) : s.lastValid
})

/** Our own write: it becomes the snapshot at once. */
export const planWritten = (plan: UpgradePlan) => (s: State): State => ({
  ...s,
  snapshot: Option.some<PlanSnapshot>({ _tag: "Valid", plan }),
  lastValid: Option.some(plan)
})

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

export const entered = (name: UpgradeName, step: JournalStep) => (s: State): State => ({ ...s, inProgress: { name, step } })

export const currentIs = (target: Target) => (s: State): State => ({ ...s, lastCurrent: Option.some(target) })

export const halt = (why: string) => (s: State): State => ({ ...s, halted: why })

export const pauseByJournal = (why: string) => (s: State): State => ({ ...s, pausedByJournal: why })

/** The plan's pause reason becomes `why` (null: resumed); returns the one it replaces. */
export const pauseByPlan = (why: string | null) => (s: State): readonly [string | null, State] => [s.pausedByPlan, { ...s, pausedByPlan: why }]

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

/** The lowest pending upgrade not fired yet, when the head has reached it. */
export const nextDue = (s: State): Option.Option<Upgrade> => {
  if (Option.isNone(s.latest) || Option.isNone(s.snapshot) || s.snapshot.value._tag !== "Valid") return Option.none()
  const lowest = pendingUpgrades(s.snapshot.value.plan).find((u) => !isFired(s.fired, u))
  return lowest !== undefined && lowest.height <= s.latest.value ? Option.some(lowest) : Option.none()
}

/** Status's pending list: the last valid plan's, without what fired already (the one in flight stays). */
export const pending = (s: State): ReadonlyArray<Upgrade> =>
  Option.match(s.lastValid, {
    onNone: () => [],
    onSome: (p) => pendingUpgrades(p).filter((u) => u.name === s.inProgress?.name || !isFired(s.fired, u))
  })

/** Status's last outcome: the one seen in this run, else the latest ended upgrade of the plan. */
export const last = (s: State): LastOutcome => {
  if (s.lastOutcome !== null) return s.lastOutcome
  const ended = Option.match(s.lastValid, {
    onNone: () => [],
    onSome: (p) => p.upgrades.filter((u) => u.status === "done" || u.status === "failed")
  })
  const latestEnded = ended.reduce<Upgrade | undefined>((a, u) => (a === undefined || u.updated_at > a.updated_at ? u : a), undefined)
  return latestEnded ? { name: latestEnded.name, status: latestEnded.status, reason: latestEnded.reason } : null
}

/** Why upgrades are paused, or null. */
export const paused = (s: State): string | null => {
  if (s.pausedByJournal !== null) return s.pausedByJournal
  if (Option.isSome(s.unclosed)) return `upgrade ${s.unclosed.value.entry.name} ended but the plan could not be updated yet`
  return s.pausedByPlan
}

/** The live layer's one cell of state. */
export type StateRef = SubscriptionRef.SubscriptionRef<State>
