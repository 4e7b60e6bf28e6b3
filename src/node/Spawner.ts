import { Context, Deferred, Effect, Exit, FiberId, Layer } from "effect"
import * as childProcess from "node:child_process"
import { SpawnFailed } from "../domain/Errors.js"
import type { NodeExit } from "../domain/Node.js"
import { groupAlive, signalGroup } from "./ProcessGroup.js"

/*
 * The one place that touches child_process. NodeProcess's timing rules
 * (grace, backoff, restart window) are written against this interface so
 * tests can drive them with a fake and TestClock (src/node/TestSpawner.ts).
 *
 * Not @effect/platform's Command: it never escalates SIGTERM to SIGKILL and
 * only kills the group when the leader exited non-zero (STYLE.md).
 */

/** A spawned process, leader of its own process group. */
export interface ChildHandle {
  readonly pid: number
  readonly pgid: number
  /** Waits for the leader's exit (other group members may outlive it). */
  readonly exit: Effect.Effect<NodeExit>
  /** kill(-pgid, signal); a group that is already gone is not an error. */
  readonly signalGroup: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** True while any process of the group is alive. */
  readonly groupAlive: Effect.Effect<boolean>
}

export interface SpawnerService {
  /** Starts `file` with `args` in a new process group; fails when it cannot be executed (ENOENT, EACCES, …). */
  readonly spawn: (file: string, args: ReadonlyArray<string>) => Effect.Effect<ChildHandle, SpawnFailed>
}

export class Spawner extends Context.Tag("wemixvisor/Spawner")<Spawner, SpawnerService>() {}

/**
 * Every node is started with NODE_MARKER=<the binary path it was started as>
 * (current/bin/$DAEMON_NAME, so one value per home). The variable is inherited
 * through a wrapper's exec and by the node's children, and it is there from
 * the first instruction: a supervisor SIGKILLed between the spawn and the
 * node.pid write leaves a node that the next run still finds (reapStale).
 */
export const NODE_MARKER = "WEMIXVISOR_NODE"

/**
 * detached: setsid(), so the child leads a new group and session and a
 * Ctrl-C on the supervisor's terminal does not reach the node behind our
 * back. stdout/stderr are inherited: the node's output goes straight to
 * wherever ours goes, never through a buffer of ours.
 */
const spawnLive = (file: string, args: ReadonlyArray<string>): Effect.Effect<ChildHandle, SpawnFailed> =>
  Effect.async<ChildHandle, SpawnFailed>((resume) => {
    let child: childProcess.ChildProcess
    try {
      child = childProcess.spawn(file, [...args], {
        detached: true,
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, [NODE_MARKER]: file }
      })
    } catch (cause) {
      resume(Effect.fail(new SpawnFailed({ path: file, cause })))
      return
    }
    // Registered before anything can happen, so an exit is never missed.
    const exit = Deferred.unsafeMake<NodeExit>(FiberId.none)
    child.once("exit", (code, signal) => {
      Deferred.unsafeDone(exit, Exit.succeed({ code, signal }))
    })
    const onError = (cause: Error) => resume(Effect.fail(new SpawnFailed({ path: file, cause })))
    child.once("error", onError)
    child.once("spawn", () => {
      child.off("error", onError)
      // Later 'error' events (a failed kill) must not crash the process; signals are checked by the caller.
      child.on("error", () => {})
      const pid = child.pid!
      resume(
        Effect.succeed({
          pid,
          pgid: pid,
          exit: Deferred.await(exit),
          signalGroup: (signal) => signalGroup(pid, signal),
          groupAlive: groupAlive(pid)
        })
      )
    })
    // Interrupted before 'spawn' answered: make sure nothing is left behind.
    return Effect.sync(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL")
        } catch {
          // already gone
        }
      }
    })
  })

/** Live: real processes via node:child_process. */
export const layer: Layer.Layer<Spawner> = Layer.succeed(Spawner, Spawner.of({ spawn: spawnLive }))
