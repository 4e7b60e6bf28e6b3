import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { Backups } from "../binaries/Backup.js"
import { Events } from "../events/Events.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { type Journal, JournalEntry, type JournalStep } from "../upgrades/Journal.js"
import { CrashPoints } from "./CrashPoints.js"
import { BackupStepFailed, JournalFailed } from "./Errors.js"
import { Hooks } from "./Hooks.js"
import type { Records } from "./Records.js"
import * as State from "./State.js"

/*
 * One step of an upgrade: journaled (durably, before it is taken), made
 * visible (status, event, history), taken, recorded. The pre-stop hook and the
 * backup have rules of their own.
 */

export interface Steps {
  /** Journals `step` and makes it visible; the entry as journaled. */
  readonly enter: (entry: JournalEntry, step: JournalStep) => Effect.Effect<JournalEntry, JournalFailed>
  /** `enter`, then `action`, each end recorded. */
  readonly step: <E extends { readonly message: string }>(
    entry: JournalEntry,
    name: JournalStep,
    action: Effect.Effect<void, E>
  ) => Effect.Effect<void, E | JournalFailed>
  /**
   * DAEMON_PRE_STOP: a failure (exit ≠ 0, timeout) is logged, recorded and
   * published, and the upgrade goes on — its height is mandatory, and the
   * old binary cannot go past it. Returns the entry with the head read
   * again: the hook may have taken a while.
   */
  readonly preStop: (entry: JournalEntry) => Effect.Effect<JournalEntry, JournalFailed>
  /**
   * DAEMON_BACKUP: the data dir copied to backups/ (free space checked
   * first; rotation keeps the newest DAEMON_BACKUP_KEEP). Its path is
   * journaled once it exists: a replay neither takes a second backup nor
   * loses this one — a backup finished just before a crash, before its
   * path reached the journal, is found by name and time and adopted.
   */
  readonly backup: (entry: JournalEntry) => Effect.Effect<JournalEntry, JournalFailed | BackupStepFailed>
}

export const make = (
  state: State.StateRef,
  records: Records,
  journal: Journal
): Effect.Effect<Steps, never, Events | HeightProvider | Hooks | Backups | CrashPoints> =>
  Effect.gen(function*() {
    const events = yield* Events
    const heights = yield* HeightProvider
    const hooks = yield* Hooks
    const backups = yield* Backups
    const crash = (yield* CrashPoints).reached
    const { record } = records

    const enter: Steps["enter"] = (entry, step) =>
      Effect.gen(function*() {
        const next = new JournalEntry({ ...entry, step })
        yield* journal.write(next).pipe(Effect.mapError((cause) => new JournalFailed({ step, cause })))
        yield* crash(step, "journaled")
        yield* SubscriptionRef.update(state, State.entered(entry.name, step))
        yield* events.publish({ type: "upgrade-step", name: entry.name, step })
        yield* record(entry.name, step, "started")
        return next
      })

    const step: Steps["step"] = (entry, name, action) =>
      Effect.gen(function*() {
        yield* enter(entry, name)
        yield* action.pipe(Effect.tapError((e) => record(entry.name, name, "failed", e.message)))
        yield* crash(name, "applied")
        yield* record(entry.name, name, "ok")
      })

    const preStop: Steps["preStop"] = (entry) =>
      Effect.gen(function*() {
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

    /** A backup of this upgrade taken since it started (before a crash), if the folder can be listed. */
    const earlierBackup = (entry: JournalEntry) =>
      backups.list.pipe(
        Effect.map((all) => all.find((b) => b.upgrade === entry.name && b.createdAt >= entry.started_at)),
        Effect.catchAll((e) =>
          Effect.logWarning(
            `upgrade ${entry.name}: the backups cannot be listed (${e.message}); taking a new backup (one taken before a restart, if any, stays in backups/)`
          ).pipe(Effect.as(undefined))
        )
      )

    const backup: Steps["backup"] = (entry) =>
      Effect.gen(function*() {
        const name = entry.name
        const entered = yield* enter(entry, "backup")
        if (entered.backup !== null) {
          yield* crash("backup", "applied")
          yield* record(name, "backup", "ok", `${entered.backup} (taken before wemixvisor restarted)`)
          return entered
        }
        const taken = (yield* earlierBackup(entered)) ??
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

    return { enter, step, preStop, backup }
  })
