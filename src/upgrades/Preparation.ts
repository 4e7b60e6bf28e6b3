import type { PrepareError } from "../binaries/Preparer.js"
import { findUpgrade, setStatus } from "../domain/Plan.js"
import { isPending, type Upgrade, type UpgradePlan } from "../domain/Upgrade.js"

/*
 * The plan side of preparing an upgrade (ARCHITECTURE §3): `scheduled → preparing
 * → ready`, or back to `scheduled` with the `reason` when it failed — the
 * upgrade stays pending so the problem can be fixed (the binary put in
 * place, `upgrade prepare` run again) before its height. Shared by the
 * orchestrator's background preparation and `upgrade prepare`, so both write
 * the same statuses and reasons.
 */

/** Prefix of the reason for a binary that is not there (or not executable) and cannot be downloaded. */
export const BINARY_MISSING = "binary missing: "

/** The `reason` a failed preparation leaves on the upgrade: one line an operator can act on. */
export const reasonOf = (e: PrepareError): string =>
  e._tag === "BinaryInvalid" ? `${BINARY_MISSING}${e.path} ${e.problem}` : e.message

/** Failures that may clear up by themselves (the network, a mirror): worth another attempt at the height. */
export const isTransient = (e: PrepareError): boolean => e._tag === "DownloadFailed" || e._tag === "IoError"

/**
 * Failures in what the operator asked for (exit 2 / 400), as opposed to what
 * happened while doing it: downloads refused, no binary for this platform, and
 * a binary that is missing or unusable where it must be placed by hand (the
 * local CLI says 2 for these too; the same request must get the same code
 * through --remote).
 */
export const isBadInput = (e: PrepareError): boolean =>
  e._tag === "DownloadRefused" || e._tag === "NoBinaryForPlatform" || e._tag === "BinaryInvalid"

/** `u` as the plan has it now, when it is still the same request (same created_at) and still waiting for its height. */
export const preparable = (plan: UpgradePlan, u: Pick<Upgrade, "name" | "created_at">): Upgrade | undefined => {
  const cur = findUpgrade(plan, u.name)
  return cur !== undefined && cur.created_at === u.created_at && isPending(cur.status) && cur.status !== "upgrading"
    ? cur
    : undefined
}

/** `preparing` (reason cleared); the plan unchanged when the upgrade was cancelled, replaced or fired meanwhile. */
export const toPreparing = (plan: UpgradePlan, u: Pick<Upgrade, "name" | "created_at">, now: string): UpgradePlan =>
  preparable(plan, u) === undefined ? plan : setStatus(plan, u.name, "preparing", null, now).plan

/** `ready` (reason null), or `scheduled` with the reason; unchanged when the upgrade is no longer this one or no longer waiting. */
export const toPrepared = (
  plan: UpgradePlan,
  u: Pick<Upgrade, "name" | "created_at">,
  reason: string | null,
  now: string
): UpgradePlan =>
  preparable(plan, u) === undefined
    ? plan
    : setStatus(plan, u.name, reason === null ? "ready" : "scheduled", reason, now).plan
