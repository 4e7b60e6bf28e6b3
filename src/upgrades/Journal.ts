import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { FileCorrupt, IoError } from "../domain/Errors.js"
import { Height } from "../domain/Height.js"
import { TargetName } from "../domain/Status.js"
import { OnFailure, UpgradeName } from "../domain/Upgrade.js"
import { readJsonIfExists, removeIfExists, writeJsonAtomic } from "../platform/Files.js"

/*
 * journal.json (ARCHITECTURE §3, §6): the upgrade in flight, absent when none. Each
 * step is written (atomic write + fsync) *before* it is taken, so a supervisor
 * killed at any instant finds the last step it may have started and replays
 * the upgrade forward from there. The file is removed only once the upgrade
 * has fully ended and the plan and history say so.
 */

/** ARCHITECTURE §7's steps in order, then `rollback` (the upgrade failed after the node was touched). */
export const JournalStep = Schema.Literal(
  "pre-stop",
  "stop",
  "backup",
  "switch",
  "pre-upgrade",
  "start",
  "verify",
  "done",
  "rollback"
)
export type JournalStep = typeof JournalStep.Type

export class JournalEntry extends Schema.Class<JournalEntry>("JournalEntry")({
  name: UpgradeName,
  height: Height,
  /** The target `current` pointed at before the upgrade: where a rollback goes. */
  from: TargetName,
  step: JournalStep,
  /** The head read right before `stop` (null when the RPC was down and no height was ever seen). */
  head_at_stop: Schema.NullOr(Height),
  started_at: Schema.String,
  /** Why the upgrade is rolling back; null otherwise. */
  reason: Schema.NullOr(Schema.String),
  /**
   * The data backup taken at step `backup` (its folder), once it exists: a
   * replay neither takes a second one nor loses it, and a rollback restores
   * it. Absent in journals written before backups existed (read as null).
   */
  backup: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /**
   * The failure policy in force when the upgrade started (the upgrade's own
   * `on_failure`, else DAEMON_ON_UPGRADE_FAILURE then): a replay rolls back or
   * halts as the run that started it would have, whatever the plan or the
   * environment say now. Absent in journals written before the field (read
   * as null: DAEMON_ON_UPGRADE_FAILURE decides).
   */
  on_failure: Schema.optionalWith(Schema.NullOr(OnFailure), { default: () => null })
}) {}

export interface Journal {
  readonly file: string
  /** The upgrade in flight, if any; a file that does not validate is FileCorrupt (never replaced). */
  readonly read: Effect.Effect<Option.Option<JournalEntry>, FileCorrupt | IoError>
  /** Durably records `entry` (temp file, fsync, rename, fsync the folder). */
  readonly write: (entry: JournalEntry) => Effect.Effect<void, IoError>
  readonly remove: Effect.Effect<void, IoError>
}

const encode = Schema.encodeSync(JournalEntry)

export const make = (file: string): Journal => ({
  file,
  read: readJsonIfExists(JournalEntry, file).pipe(Effect.withSpan("Journal.read")),
  write: (entry) =>
    writeJsonAtomic(file, encode(entry)).pipe(Effect.withSpan("Journal.write", { attributes: { step: entry.step } })),
  remove: removeIfExists(file).pipe(Effect.withSpan("Journal.remove"))
})
