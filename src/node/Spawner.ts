import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as childProcess from "node:child_process"
import type { Writable } from "node:stream"
import { SpawnFailed } from "../domain/Errors.js"
import type { NodeExit } from "../domain/Node.js"
import { defaultForwardOptions, type DropCounter, forward, forwardFd, type ForwardOptions, type Forwarder } from "./LogPassthrough.js"
import { closePipe, closeQuietly, openPipes, type PipeEnds } from "./Pipes.js"
import { groupAlive, signalGroup } from "../platform/ProcessGroup.js"

/*
 * The one place that touches child_process. NodeProcess's timing rules
 * (grace, backoff, restart window) are written against this interface so
 * tests can drive them with a fake and TestClock (src/node/TestSpawner.ts).
 *
 * Not @effect/platform's Command: it never escalates SIGTERM to SIGKILL and
 * only kills the group when the leader exited non-zero (STYLE.md).
 */

/**
 * A spawned process, leader of its own process group. Its output counters
 * (DropCounter): lines of its output dropped because our stdout/stderr did
 * not keep up (src/node/LogPassthrough.ts).
 */
export interface ChildHandle extends DropCounter {
  readonly pid: number
  readonly pgid: number
  /** Waits for the leader's exit (other group members may outlive it). */
  readonly exit: Effect.Effect<NodeExit>
  /** kill(-pgid, signal); a group that is already gone is not an error. */
  readonly signalGroup: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** True while any process of the group is alive. */
  readonly groupAlive: Effect.Effect<boolean>
  /**
   * Call once the group is gone: waits until the node's output pipes are
   * closed and everything read from them was forwarded, then lets them go.
   * Bounded: a process that left the group but still holds a pipe (setsid)
   * cannot hold this up; its pipe is closed under it.
   */
  readonly closeOutput: Effect.Effect<void>
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

/** Where the node's stdout and stderr go, and how much may wait for a slow reader there. */
export interface NodeOutput {
  readonly stdout: Writable
  readonly stderr: Writable
  readonly forward?: ForwardOptions
  /** How long closing the layer waits for the destinations to take what they still hold (default 2 s). */
  readonly flushTimeout?: Duration.DurationInput
}

/** How long `closeOutput` waits for pipes still held open by a process outside the group. */
const outputCloseTimeout = Duration.seconds(1)

/**
 * detached: setsid(), so the child leads a new group and session and a
 * Ctrl-C on the supervisor's terminal does not reach the node behind our
 * back. stdout/stderr are pipes read by us at once and forwarded to
 * `output` (src/node/LogPassthrough.ts): a slow reader of our output never
 * blocks the node; what it cannot take in time is dropped in whole lines.
 */
const spawnWith = (output: NodeOutput) => (file: string, args: ReadonlyArray<string>): Effect.Effect<ChildHandle, SpawnFailed> =>
  Effect.flatMap(openPipes(2), (pipes) => spawnOn(output, pipes, file, args))

const spawnOn = (
  output: NodeOutput,
  pipes: ReadonlyArray<PipeEnds> | undefined,
  file: string,
  args: ReadonlyArray<string>
): Effect.Effect<ChildHandle, SpawnFailed> =>
  Effect.async<ChildHandle, SpawnFailed>((resume) => {
    let child: childProcess.ChildProcess
    try {
      child = childProcess.spawn(file, [...args], {
        detached: true,
        stdio: pipes === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", pipes[0]!.write, pipes[1]!.write],
        env: { ...process.env, [NODE_MARKER]: file }
      })
    } catch (cause) {
      pipes?.forEach(closePipe)
      resume(Effect.fail(new SpawnFailed({ path: file, cause })))
      return
    }
    // The child has its own copies now; ours would keep the pipes from ever reaching EOF.
    pipes?.forEach((p) => closeQuietly(p.write))
    // Forwarding starts once the child runs; until then the read ends are plain descriptors (or Node's streams).
    let forwarders: readonly [Forwarder, Forwarder] | undefined
    const dropReadEnds = () => {
      if (forwarders !== undefined) forwarders.forEach((f) => f.close())
      else if (pipes !== undefined) pipes.forEach((p) => closeQuietly(p.read))
      else {
        child.stdout?.destroy()
        child.stderr?.destroy()
      }
    }
    // Registered before anything can happen, so an exit is never missed.
    const exit = Deferred.unsafeMake<NodeExit>(FiberId.none)
    child.once("exit", (code, signal) => {
      Deferred.unsafeDone(exit, Exit.succeed({ code, signal }))
    })
    const onError = (cause: Error) => {
      dropReadEnds()
      resume(Effect.fail(new SpawnFailed({ path: file, cause })))
    }
    child.once("error", onError)
    child.once("spawn", () => {
      child.off("error", onError)
      // Later 'error' events (a failed kill) must not crash the process; signals are checked by the caller.
      child.on("error", () => {})
      const pid = child.pid!
      const options = output.forward ?? defaultForwardOptions
      const waiting = new Set<() => void>()
      const onDrop = () => {
        for (const wake of waiting) wake()
      }
      forwarders =
        pipes === undefined
          ? [forward(child.stdout!, output.stdout, options, onDrop), forward(child.stderr!, output.stderr, options, onDrop)]
          : [forwardFd(pipes[0]!.read, output.stdout, options, onDrop), forwardFd(pipes[1]!.read, output.stderr, options, onDrop)]
      const [stdout, stderr] = forwarders
      const total = () => stdout.dropped() + stderr.dropped()
      const closed = Promise.all([stdout.done, stderr.done])
      resume(
        Effect.succeed({
          pid,
          pgid: pid,
          exit: Deferred.await(exit),
          signalGroup: (signal) => signalGroup(pid, signal),
          groupAlive: groupAlive(pid),
          droppedLines: Effect.sync(() => ({ stdout: stdout.dropped(), stderr: stderr.dropped() })),
          awaitDropped: (seen) =>
            Effect.async<void>((wake) => {
              if (total() > seen) return wake(Effect.void)
              const check = () => {
                if (total() <= seen) return
                waiting.delete(check)
                wake(Effect.void)
              }
              waiting.add(check)
              return Effect.sync(() => waiting.delete(check))
            }),
          // Runs inside a release: the wait must be interruptible for the timeout to cut it short.
          closeOutput: Effect.interruptible(Effect.promise(() => closed)).pipe(
            Effect.timeoutOption(outputCloseTimeout),
            Effect.zipRight(
              Effect.sync(() => {
                stdout.close()
                stderr.close()
              })
            )
          )
        })
      )
    })
    // Interrupted before 'spawn' answered: make sure nothing is left behind.
    return Effect.sync(() => {
      dropReadEnds()
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL")
        } catch {
          // already gone
        }
      }
    })
  })

/**
 * Real processes via node:child_process, their output forwarded to `output`.
 * A destination that fails (EPIPE: the reader went away) must not crash the
 * supervisor: the caller keeps an 'error' listener on it, and from then on
 * the node's output is dropped (and counted).
 */
export const layerWith = (output: NodeOutput): Layer.Layer<Spawner> =>
  Layer.scoped(
    Spawner,
    Effect.as(
      // The program exits right after (process.exit drops what a pipe has not taken): the node's last lines first.
      Effect.addFinalizer(() => flush(output)),
      Spawner.of({ spawn: spawnWith(output) })
    )
  )

/** Waits, bounded, until the destinations hold nothing more (a stalled reader cannot hold up the exit). */
const flush = (output: NodeOutput): Effect.Effect<void> =>
  Effect.sync(() => output.stdout.writableLength + output.stderr.writableLength === 0).pipe(
    Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (empty) => empty }),
    // Runs inside a release: interruptible, or the timeout could not cut it short.
    Effect.interruptible,
    Effect.timeoutOption(output.flushTimeout ?? "2 seconds"),
    Effect.asVoid
  )

/** A failed write to our stdout/stderr: the stream is destroyed, and the forwarders drop from then on. */
const ignoreOutputError = () => {}

/** Live: real processes, their output forwarded to our stdout and stderr. */
export const layer: Layer.Layer<Spawner> = Layer.suspend(() => {
  // One listener for the life of the program (not one per node, which would pile up over restarts).
  for (const stream of [process.stdout, process.stderr]) {
    if (!stream.listeners("error").includes(ignoreOutputError)) stream.on("error", ignoreOutputError)
  }
  return layerWith({ stdout: process.stdout, stderr: process.stderr })
})

