import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Duration from "effect/Duration"
import { groupMembers } from "./Proc.js"

/*
 * Process-group primitives. The node runs in its own group (spawned detached,
 * so setsid made it the leader), which lets one kill(-pgid) reach every
 * process it started — wrappers, `sleep &` helpers, forked workers.
 */

/** kill(-pgid, signal). A group that is already gone (ESRCH) is fine; anything else is logged. */
export const signalGroup = (pgid: number, signal: NodeJS.Signals): Effect.Effect<void> =>
  Effect.suspend(() => {
    try {
      process.kill(-pgid, signal)
      return Effect.void
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ESRCH") return Effect.void
      return Effect.logWarning(`could not send ${signal} to process group ${pgid}: ${(e as Error).message}`)
    }
  })

/** True while any member of the group is alive (zombies waiting for a reaper do not count). */
export const groupAlive = (pgid: number): Effect.Effect<boolean> => Effect.sync(() => groupMembers(pgid).length > 0)

/** How often a group is checked while we wait for it to be gone. */
export const groupPoll = Schedule.spaced("20 millis")

/**
 * Waits until the group is gone, sending SIGKILL to whatever is left each time
 * round. SIGKILL cannot be ignored, so this ends as soon as the kernel has
 * torn the processes down. The first check and kill happen without sleeping,
 * so a group that dies at once costs no clock time.
 */
export const killGroupUntilGone = (check: Effect.Effect<boolean>, kill: Effect.Effect<void>): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (!(yield* check)) return true
    yield* kill
    return !(yield* check)
  }).pipe(
    Effect.repeat({ schedule: groupPoll, until: (gone) => gone }),
    Effect.asVoid
  )

/**
 * Stops a group we did not spawn (a node left by a previous wemixvisor):
 * SIGTERM, up to `grace` for it to go, then SIGKILL until it is gone.
 */
export const terminateGroup = (pgid: number, grace: Duration.DurationInput): Effect.Effect<void> =>
  Effect.gen(function* () {
    yield* signalGroup(pgid, "SIGTERM")
    const gone = yield* groupAlive(pgid).pipe(
      Effect.repeat({ schedule: groupPoll, until: (alive) => !alive }),
      Effect.timeoutOption(grace)
    )
    if (Option.isNone(gone)) {
      yield* Effect.logWarning(`process group ${pgid} did not exit after SIGTERM; sending SIGKILL`)
      yield* killGroupUntilGone(groupAlive(pgid), signalGroup(pgid, "SIGKILL"))
    }
  })
