import * as Schema from "effect/Schema"
import { Height } from "./Height.js"

/** ARCHITECTURE §3: a name is a folder name under upgrades/ — no `/`, no `..`. */
export const UpgradeName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
    message: () => "an upgrade name is 1-64 characters of A-Z a-z 0-9 . _ - and starts with a letter or digit"
  }),
  Schema.brand("UpgradeName")
)
export type UpgradeName = typeof UpgradeName.Type

export const UpgradeStatus = Schema.Literal(
  "scheduled",
  "preparing",
  "ready",
  "upgrading",
  "done",
  "failed",
  "cancelled"
)
export type UpgradeStatus = typeof UpgradeStatus.Type

/** Statuses that still wait for their height. */
export const isPending = (status: UpgradeStatus): boolean =>
  status === "scheduled" || status === "preparing" || status === "ready" || status === "upgrading"

/** Statuses under which the same name may be scheduled again. */
export const isReschedulable = (status: UpgradeStatus): boolean => status === "cancelled" || status === "failed"

export const Platform = Schema.String
export const Checksum = Schema.String.pipe(
  Schema.pattern(/^(sha256:[0-9a-fA-F]{64}|sha512:[0-9a-fA-F]{128})$/, {
    message: () => "a checksum is sha256:<64 hex> or sha512:<128 hex>"
  })
)

/**
 * What happens when this upgrade fails after the node was touched (or is not
 * ready at its height): `rollback` or `halt`, as DAEMON_ON_UPGRADE_FAILURE
 * (ARCHITECTURE §7.5). Absent on an upgrade = follow DAEMON_ON_UPGRADE_FAILURE.
 */
export const OnFailure = Schema.Literal("rollback", "halt").annotations({
  message: () => ({ message: "expected rollback or halt", override: true })
})
export type OnFailure = typeof OnFailure.Type

export class Upgrade extends Schema.Class<Upgrade>("Upgrade")({
  name: UpgradeName,
  height: Height,
  status: UpgradeStatus,
  info: Schema.String,
  binaries: Schema.Record({ key: Platform, value: Schema.String }),
  checksums: Schema.Record({ key: Platform, value: Checksum }),
  reason: Schema.NullOr(Schema.String),
  created_at: Schema.String,
  updated_at: Schema.String,
  /**
   * Proof that wemixvisor scheduled this entry (CLI, API or drop-in): the
   * chain head its height was checked against. Absent on an entry written by
   * hand, on one scheduled without a readable head, and on entries older
   * than this field. See `force`.
   */
  checked_head: Schema.optional(Height),
  /** Scheduled through wemixvisor with --force (its height was not checked against the head). */
  force: Schema.optional(Schema.Literal(true)),
  /** This upgrade's failure policy; absent = follow DAEMON_ON_UPGRADE_FAILURE (and in plans older than the field). */
  on_failure: Schema.optional(OnFailure)
}) {}

/** The failure policy in force for `u`: its own, else the supervisor's DAEMON_ON_UPGRADE_FAILURE. */
export const failurePolicy = (u: { readonly on_failure?: OnFailure | undefined }, global: OnFailure): OnFailure =>
  u.on_failure ?? global

/**
 * Whether the entry says it came through wemixvisor (checked against the
 * head, or forced). An entry without either that appears in the plan of a
 * running supervisor with its height already reached is a hand edit, and is
 * refused rather than fired (ARCHITECTURE §3, issue #12 item 12).
 */
export const scheduledThroughWemixvisor = (u: Upgrade): boolean => u.checked_head !== undefined || u.force === true

/** The name of an upgrade listed twice, if any: a plan names each upgrade once. */
const duplicateName = (upgrades: ReadonlyArray<{ readonly name: string }>): string | undefined => {
  const seen = new Set<string>()
  for (const u of upgrades) {
    if (seen.has(u.name)) return u.name
    seen.add(u.name)
  }
  return undefined
}

export class UpgradePlan extends Schema.Class<UpgradePlan>("UpgradePlan")({
  version: Schema.Literal(1),
  upgrades: Schema.Array(Upgrade).pipe(
    Schema.filter((upgrades) => {
      const dup = duplicateName(upgrades)
      return dup === undefined || `upgrade '${dup}' is listed more than once`
    })
  )
}) {
  static readonly empty = new UpgradePlan({ version: 1, upgrades: [] })
}

/** `upgrade list --json` and `GET /api/v1/upgrades` (the seeds' shape). */
export const UpgradeList = Schema.Struct({
  upgrades: Schema.Array(Upgrade),
  count: Schema.Number
})
