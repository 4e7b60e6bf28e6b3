import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as childProcess from "node:child_process"
import type { Readable } from "node:stream"
import { SpawnFailed } from "../domain/Errors.js"
import { isErrno } from "./Errno.js"
import { groupMembers } from "./Proc.js"

/*
 * Process-group primitives. The node and every helper (hooks, version probes)
 * run in a group of their own (spawned detached, so setsid made them the
 * leader), which lets one kill(-pgid) reach every process they started —
 * wrappers, `sleep &` helpers, forked workers.
 *
 * Not @effect/platform's Command: it never escalates SIGTERM to SIGKILL and
 * only kills the group when the leader exited non-zero.
 */

/** kill(-pgid, signal). A group that is already gone (ESRCH) is fine; anything else is logged. */
export const signalGroup = (pgid: number, signal: NodeJS.Signals): Effect.Effect<void> =>
  Effect.suspend(() => {
    try {
      process.kill(-pgid, signal)
      return Effect.void
    } catch (e) {
      if (isErrno(e, "ESRCH")) return Effect.void
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
  Effect.gen(function*() {
    if (!(yield* check)) return true
    yield* kill
    return !(yield* check)
  }).pipe(
    Effect.repeat({ schedule: groupPoll, until: (gone) => gone }),
    Effect.asVoid
  )

/**
 * Stops a group whose leader we cannot wait for (a node left by a previous
 * wemixvisor, a helper's leftovers):
 * SIGTERM, up to `grace` for it to go, then SIGKILL until it is gone.
 */
export const terminateGroup = (pgid: number, grace: Duration.DurationInput): Effect.Effect<void> =>
  Effect.gen(function*() {
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

/** How a process ended: an exit code, or the signal that killed it. */
export interface ProcessExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface GroupLeaderOptions {
  /** Added to (and overriding) this process's environment. */
  readonly env?: Readonly<Record<string, string>>
  /**
   * "inherit": the child writes to our own fds 1 and 2 and does not depend
   * on us to read them (it outlives us, SIGKILL included). "pipe": we read
   * its output (`stdout`/`stderr`), for short-lived helpers only.
   */
  readonly output: "inherit" | "pipe"
}

/** A spawned process that leads a new process group (its pgid is its pid). */
export interface GroupLeader {
  readonly pid: number
  /** Waits for the leader's exit (other members of its group may outlive it). */
  readonly exit: Effect.Effect<ProcessExit>
  /** Waits until its output pipes are closed (at once with inherited output). */
  readonly closed: Effect.Effect<void>
  /** Its output, with `output: "pipe"`; null otherwise. */
  readonly stdout: Readable | null
  readonly stderr: Readable | null
}

/**
 * The one detached spawn: `file args` started with setsid() (detached), so
 * it leads a new session and process group — a Ctrl-C on our terminal does
 * not reach it, and one kill(-pgid) reaches everything it starts. Fails when
 * the file cannot be executed (ENOENT, EACCES, …); interrupted before the
 * spawn answered, whatever started is SIGKILLed.
 */
export const spawnGroupLeader = (
  file: string,
  args: ReadonlyArray<string>,
  options: GroupLeaderOptions
): Effect.Effect<GroupLeader, SpawnFailed> =>
  Effect.async<GroupLeader, SpawnFailed>((resume) => {
    let child: childProcess.ChildProcess
    try {
      child = childProcess.spawn(file, [...args], {
        detached: true,
        stdio: ["ignore", options.output, options.output],
        env: { ...process.env, ...options.env }
      })
    } catch (cause) {
      resume(Effect.fail(new SpawnFailed({ path: file, cause })))
      return
    }
    // Registered before anything can happen, so neither event is missed.
    const exited = Deferred.unsafeMake<ProcessExit>(FiberId.none)
    const closed = Deferred.unsafeMake<void>(FiberId.none)
    child.once("exit", (code, signal) => Deferred.unsafeDone(exited, Exit.succeed({ code, signal })))
    child.once("close", () => Deferred.unsafeDone(closed, Exit.void))
    const onError = (cause: Error) => resume(Effect.fail(new SpawnFailed({ path: file, cause })))
    child.once("error", onError)
    child.once("spawn", () => {
      child.off("error", onError)
      // A later 'error' (a failed kill) must not crash the process; signals are checked by the caller.
      child.on("error", () => {})
      resume(
        Effect.succeed({
          pid: child.pid!,
          exit: Deferred.await(exited),
          closed: Deferred.await(closed),
          stdout: child.stdout,
          stderr: child.stderr
        })
      )
    })
    return Effect.sync(() => {
      child.stdout?.destroy()
      child.stderr?.destroy()
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL")
        } catch {
          // already gone
        }
      }
    })
  })
