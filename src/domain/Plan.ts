import * as Either from "effect/Either"
import { UpgradeConflict, UpgradeNotFound } from "./Errors.js"
import type { Height } from "./Height.js"
import {
  isPending,
  isReschedulable,
  type OnFailure,
  Upgrade,
  type UpgradeName,
  UpgradePlan,
  type UpgradeStatus
} from "./Upgrade.js"

/*
 * The plan's rules, as pure functions over UpgradePlan. The CLI, the API and
 * the drop-in all schedule through `schedule`, so they refuse the same things.
 */

export interface ScheduleRequest {
  readonly name: UpgradeName
  readonly height: Height
  readonly info?: string
  readonly binaries?: Readonly<Record<string, string>>
  readonly checksums?: Readonly<Record<string, string>>
  /** This upgrade's failure policy; absent = follow DAEMON_ON_UPGRADE_FAILURE. */
  readonly onFailure?: OnFailure | undefined
}

export const findUpgrade = (plan: UpgradePlan, name: string): Upgrade | undefined =>
  plan.upgrades.find((u) => u.name === name)

/** Pending upgrades, lowest height first (ties: the order they were scheduled). */
export const pendingUpgrades = (plan: UpgradePlan): ReadonlyArray<Upgrade> =>
  plan.upgrades.filter((u) => isPending(u.status)).slice().sort((a, b) => a.height - b.height)

/** How the CLI overrides the head check (the default hint). */
export const CLI_FORCE_HINT = " (use --force to schedule it anyway)"
/** How a request through the API overrides it. */
export const API_FORCE_HINT = " (set \"force\": true to schedule it anyway)"

/** A server's refusal as the CLI user who sent it through the API reads it: they type --force, not JSON. */
export const cliWorded = (e: UpgradeConflict): UpgradeConflict =>
  e.problem.endsWith(API_FORCE_HINT)
    ? new UpgradeConflict({ name: e.name, problem: e.problem.slice(0, -API_FORCE_HINT.length) + CLI_FORCE_HINT })
    : e

/**
 * Adds an upgrade. Refuses a name that is already known unless its status is
 * `cancelled` or `failed` (then it is replaced), and a height at or below the
 * chain head unless `force`.
 */

export const schedule = (
  plan: UpgradePlan,
  req: ScheduleRequest,
  opts: {
    readonly head: Height | undefined
    readonly force: boolean
    readonly now: string
    /** How the caller overrides the head check, appended to that refusal; the drop-in has no override. */
    readonly forceHint?: string
  }
): Either.Either<{ readonly plan: UpgradePlan; readonly upgrade: Upgrade }, UpgradeConflict> => {
  const existing = findUpgrade(plan, req.name)
  if (existing && !isReschedulable(existing.status)) {
    // Only a pending upgrade can be cancelled to free its name; one that ran or is running keeps it.
    const why = existing.status === "done"
      ? "already ran (done); an upgrade name is used once: choose another name"
      : existing.status === "upgrading"
      ? "is in progress; choose another name"
      : `already exists with status '${existing.status}' (cancel it first)`
    return Either.left(new UpgradeConflict({ name: req.name, problem: why }))
  }
  if (!opts.force && opts.head !== undefined && req.height <= opts.head) {
    return Either.left(
      new UpgradeConflict({
        name: req.name,
        problem: `height ${req.height} is at or below the chain head ${opts.head}${opts.forceHint ?? CLI_FORCE_HINT}`
      })
    )
  }
  const upgrade = new Upgrade({
    name: req.name,
    height: req.height,
    status: "scheduled",
    info: req.info ?? "",
    binaries: { ...(req.binaries ?? {}) },
    checksums: { ...(req.checksums ?? {}) },
    reason: null,
    created_at: opts.now,
    updated_at: opts.now,
    ...(opts.force ? { force: true as const } : opts.head !== undefined ? { checked_head: opts.head } : {}),
    ...(req.onFailure !== undefined ? { on_failure: req.onFailure } : {})
  })
  const others = plan.upgrades.filter((u) => u.name !== req.name)
  return Either.right({ plan: new UpgradePlan({ version: 1, upgrades: [...others, upgrade] }), upgrade })
}

/**
 * The pending upgrade this exact request already produced, if any: a drop-in
 * merged just before a crash, before it could be renamed, is found here on
 * restart instead of being refused as a duplicate of itself.
 */
export const alreadyScheduled = (plan: UpgradePlan, req: ScheduleRequest): Upgrade | undefined => {
  const u = findUpgrade(plan, req.name)
  const sameMap = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v)
  return u !== undefined &&
      isPending(u.status) &&
      u.height === req.height &&
      u.info === (req.info ?? "") &&
      sameMap(u.binaries, req.binaries ?? {}) &&
      sameMap(u.checksums, req.checksums ?? {}) &&
      u.on_failure === req.onFailure
    ? u
    : undefined
}

/**
 * Cancels by name, or — without a name — the only pending upgrade. Refuses an
 * unknown name, an upgrade in progress, and one that is already over.
 */
export const cancel = (
  plan: UpgradePlan,
  name: UpgradeName | undefined,
  now: string
): Either.Either<{ readonly plan: UpgradePlan; readonly upgrade: Upgrade }, UpgradeNotFound | UpgradeConflict> => {
  let target: Upgrade | undefined
  if (name === undefined) {
    const pending = pendingUpgrades(plan)
    if (pending.length === 0) return Either.left(new UpgradeNotFound({ name: "" }))
    if (pending.length > 1) {
      const list = pending.map((u) => `${u.name} at ${u.height}`).join(", ")
      return Either.left(
        new UpgradeConflict({
          name: "",
          problem: `${pending.length} upgrades are pending (${list}); name the one to cancel`
        })
      )
    }
    target = pending[0]
  } else {
    target = findUpgrade(plan, name)
  }
  if (!target) return Either.left(new UpgradeNotFound({ name: name ?? "" }))
  if (target.status === "upgrading") {
    return Either.left(new UpgradeConflict({ name: target.name, problem: "is in progress and cannot be cancelled" }))
  }
  if (!isPending(target.status)) {
    return Either.left(new UpgradeConflict({ name: target.name, problem: `is already ${target.status}` }))
  }
  return Either.right(setStatus(plan, target.name, "cancelled", null, now))
}

/** Sets an upgrade's status and reason; the plan unchanged (same object) when nothing differs. */
export const setStatus = (
  plan: UpgradePlan,
  name: string,
  status: UpgradeStatus,
  reason: string | null,
  now: string
): { readonly plan: UpgradePlan; readonly upgrade: Upgrade } => {
  const existing = findUpgrade(plan, name)
  if (!existing) throw new Error(`setStatus: no upgrade ${name}`)
  if (existing.status === status && existing.reason === reason) return { plan, upgrade: existing }
  const upgrade = new Upgrade({ ...existing, status, reason, updated_at: now })
  return {
    plan: new UpgradePlan({ version: 1, upgrades: plan.upgrades.map((u) => (u.name === name ? upgrade : u)) }),
    upgrade
  }
}
