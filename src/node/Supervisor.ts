import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberHandle from "effect/FiberHandle"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as fs from "node:fs"
import { AppConfig } from "../config/Config.js"
import type { SpawnFailed } from "../domain/Errors.js"
import { describeExit, initialNodeStatus, type NodeExit, type NodePidFile, type NodeStatus } from "../domain/Node.js"
import { Events } from "../events/Events.js"
import { groupAlive, killGroupUntilGone, terminateGroup } from "../platform/ProcessGroup.js"
import type { NodeExitReport, NodeProcessService } from "./NodeProcess.js"
import { removePidFile, writePidFile } from "./PidFile.js"
import { makeBackoff, restartPolicy, stableAfter } from "./RestartPolicy.js"
import { type ChildHandle, Spawner } from "./Spawner.js"

/*
 * The NodeProcess implementation.
 *
 * `start` forks one supervision fiber (held in a FiberHandle); it spawns the
 * node, waits for its exit and restarts it on the restart policy until it
 * gives up (`error`), restarts are suspended, or `stop` interrupts it. Every
 * child lives in its own Scope, and its release is the graceful stop — so
 * interrupting the fiber (stop, or the layer's scope closing) always runs
 * SIGTERM → grace → SIGKILL and then clears the whole group, whatever the
 * fiber was doing. An exit the fiber observed itself is a crash; one brought
 * about by the release is a stop.
 *
 * A node a previous wemixvisor left running (`adoptable`, from node.pid) is
 * taken over by the first `start` instead of a spawn: the same release stops
 * it, and its crash is restarted like any other (with a fresh spawn).
 */

export const make = (
  args: ReadonlyArray<string>,
  adoptable: Option.Option<NodePidFile> = Option.none()
): Effect.Effect<NodeProcessService, never, Scope.Scope | AppConfig | Events | Spawner> =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const events = yield* Events
    const spawner = yield* Spawner
    const { layout } = config
    // Read where used, not here: `config` follows a reload (config/Reload.ts), and so do the grace and the restart policy.
    const grace = () => config.shutdownGrace

    const status = yield* SubscriptionRef.make<NodeStatus>(initialNodeStatus)
    const exits = yield* Effect.acquireRelease(PubSub.unbounded<NodeExitReport>(), PubSub.shutdown)
    const suspended = yield* Ref.make(false)
    /** Times (clock ms) of the crash restarts still inside the window. */
    const restartTimes = yield* Ref.make<ReadonlyArray<number>>([])
    /** The backoff, and the delays it was built from: a reload that changes them starts a new one. */
    const policyOf = () => `${Duration.toMillis(config.restartDelay)}/${Duration.toMillis(config.restartMaxDelay)}`
    let backoffPolicy = policyOf()
    let backoff = yield* makeBackoff(restartPolicy(config))
    const currentBackoff = Effect.gen(function*() {
      if (policyOf() !== backoffPolicy) {
        backoffPolicy = policyOf()
        backoff = yield* makeBackoff(restartPolicy(config))
      }
      return backoff
    })
    const lock = yield* Effect.makeSemaphore(1)
    /** Taken by the first `start`: afterwards every node is one we spawn. */
    const toAdopt = yield* Ref.make(adoptable)
    const supervision = yield* FiberHandle.make<void, never>()
    // The supervision fiber runs with the layer's context, not the caller of `start`.
    const runSupervision = yield* FiberHandle.runtime(supervision)<never>()

    const setStatus = (f: (s: NodeStatus) => NodeStatus) => SubscriptionRef.update(status, f)

    /** Which binary `current` points at right now, for the log (we still exec the link path). */
    const binaryName = Effect.sync(() => {
      try {
        return fs.realpathSync(layout.currentBinary)
      } catch {
        return layout.currentBinary
      }
    })

    const onExit = (pid: number, exit: NodeExit, expected: boolean) =>
      Effect.gen(function*() {
        yield* setStatus((s) => ({ ...s, state: expected ? s.state : "crashed", pid: null, lastExit: exit }))
        yield* PubSub.publish(exits, { ...exit, pid, expected })
        yield* events.publish({ type: "node-exited", pid, code: exit.code, signal: exit.signal, expected })
      })

    /** SIGTERM the group; SIGKILL it if the leader is still there after the grace period. */
    const terminate = (child: ChildHandle) =>
      Effect.gen(function*() {
        yield* child.signalGroup("SIGTERM")
        // Runs inside a release (uninterruptible): the wait must be interruptible or the timeout could never cut it short.
        const exited = yield* Effect.interruptible(child.exit).pipe(Effect.timeoutOption(grace()))
        if (Option.isSome(exited)) return exited.value
        yield* Effect.logWarning(
          `node (pid ${child.pid}) still running ${
            Duration.format(grace())
          } after SIGTERM (DAEMON_SHUTDOWN_GRACE); sending SIGKILL`
        )
        yield* child.signalGroup("SIGKILL")
        return yield* child.exit
      })

    /** The release of every child: stop it if it is still running, then make sure nothing of its group survives. */
    const release = (child: ChildHandle, observed: Ref.Ref<boolean>) =>
      Effect.gen(function*() {
        const exitedByItself = yield* Ref.get(observed)
        if (!exitedByItself) {
          yield* setStatus((s) => ({ ...s, state: "stopping" }))
          yield* onExit(child.pid, yield* terminate(child), true)
        }
        // Grandchildren (`sleep &`, forked workers) outlive a leader that exited on its own, and may
        // still be dying (or ignoring SIGTERM) after a stop.
        if (yield* child.groupAlive) {
          if (exitedByItself) {
            yield* Effect.logWarning(`processes of the node's group ${child.pgid} outlived it; killing them`)
          }
          yield* killGroupUntilGone(child.groupAlive, child.signalGroup("SIGKILL"))
        }
        yield* removePidFile(layout.nodePid)
      })

    /** The recorded node, when it is still that process; otherwise its leftovers are cleared and node.pid goes. */
    const adopt = (record: NodePidFile) =>
      Effect.gen(function*() {
        const found = yield* spawner.adopt(record)
        if (Option.isNone(found)) {
          yield* Effect.logWarning(`the node (pid ${record.pid}) of a previous wemixvisor is gone; starting a new one`)
          if (record.pgid === record.pid && (yield* groupAlive(record.pgid))) {
            yield* terminateGroup(record.pgid, grace())
          }
          yield* removePidFile(layout.nodePid)
        }
        return found
      })

    /** A node process to supervise: the adoptable one while it lives, else a new one (recorded in node.pid). */
    const acquire = (adoptable: Option.Option<NodePidFile>) =>
      Effect.gen(function*() {
        const adopted = Option.isSome(adoptable) ? yield* adopt(adoptable.value) : Option.none<ChildHandle>()
        if (Option.isSome(adopted)) return { child: adopted.value, adopted: true }
        // The path through `current`, resolved by exec at this instant: switch the link, start, and the new target runs.
        const child = yield* Effect.tap(
          spawner.spawn(layout.currentBinary, args),
          (c) => writePidFile(layout.nodePid, c.pid, c.pgid)
        )
        return { child, adopted: false }
      })

    /** One node process from spawn to exit. Fails only when it cannot be spawned. */
    const runChild = (onRunning: Effect.Effect<void>, adoptable: Option.Option<NodePidFile>) =>
      Effect.scoped(
        Effect.gen(function*() {
          yield* setStatus((s) => ({ ...s, state: "starting", pid: null }))
          const observed = yield* Ref.make(false)
          const binary = yield* binaryName
          const { adopted, child } = yield* Effect.acquireRelease(
            acquire(adoptable),
            ({ child }) => release(child, observed)
          )
          const startedAt = yield* Clock.currentTimeMillis
          yield* setStatus((s) => ({ ...s, state: "running", pid: child.pid, reason: null }))
          yield* events.publish({ type: adopted ? "node-adopted" : "node-started", pid: child.pid, binary })
          yield* onRunning
          // Observing the exit and recording it as a crash happen together, or not at all (then the release records a stop).
          const exit = yield* Effect.uninterruptibleMask((restore) =>
            Effect.tap(
              restore(child.exit),
              (exit) => Effect.zipRight(Ref.set(observed, true), onExit(child.pid, exit, false))
            )
          )
          return { exit, upMs: (yield* Clock.currentTimeMillis) - startedAt }
        })
      )

    const enterError = (reason: string) =>
      Effect.gen(function*() {
        yield* setStatus((s) => ({ ...s, state: "error", pid: null, reason }))
        yield* Effect.logError(`node supervision gave up: ${reason}`)
        yield* events.publish({ type: "node-error", reason })
      })

    /** After a crash: wait and go again (true), or leave the node down (false). */
    const planRestart = (upMs: number, last: string) =>
      Effect.gen(function*() {
        if (yield* Ref.get(suspended)) {
          yield* Effect.logWarning(`node ${last}; restarts are suspended, leaving it down`)
          return false
        }
        const backoff = yield* currentBackoff
        if (upMs >= Duration.toMillis(stableAfter(config))) yield* backoff.reset
        const now = yield* Clock.currentTimeMillis
        const recent = (yield* Ref.get(restartTimes)).filter((t) => t > now - Duration.toMillis(config.restartWindow))
        if (recent.length >= config.maxRestarts) {
          yield* Ref.set(restartTimes, recent)
          yield* enterError(
            `node ${last} after ${recent.length} restarts within ${Duration.format(config.restartWindow)} ` +
              `(DAEMON_MAX_RESTARTS=${config.maxRestarts}); it stays down until it is started again`
          )
          return false
        }
        const restarts = [...recent, now]
        yield* Ref.set(restartTimes, restarts)
        const delay = yield* backoff.next
        yield* setStatus((s) => ({ ...s, restarts: restarts.length }))
        yield* events.publish({
          type: "node-restarting",
          restarts: restarts.length,
          delay_ms: Duration.toMillis(delay)
        })
        yield* Effect.sleep(delay)
        if (yield* Ref.get(suspended)) {
          yield* Effect.logWarning("restarts were suspended while waiting; leaving the node down")
          return false
        }
        return true
      })

    const supervise = (first: Deferred.Deferred<void, SpawnFailed>) =>
      Effect.gen(function*() {
        let onRunning: Effect.Effect<void> = Deferred.succeed(first, undefined)
        let isFirst = true
        let adoptable = yield* Ref.getAndSet(toAdopt, Option.none())
        for (;;) {
          const run = yield* Effect.either(runChild(onRunning, adoptable))
          adoptable = Option.none()
          let last: string
          let upMs = 0
          if (Either.isLeft(run)) {
            if (isFirst) {
              // `start` reports this to its caller; nothing will bring the node up by itself.
              yield* enterError(run.left.message)
              yield* Deferred.fail(first, run.left)
              return
            }
            // Spawn failure while restarting (binary gone, not executable) counts as a crash.
            last = `could not be restarted (${run.left.message})`
            yield* setStatus((s) => ({ ...s, state: "crashed", pid: null, reason: run.left.message }))
          } else {
            last = describeExit(run.right.exit)
            upMs = run.right.upMs
          }
          isFirst = false
          onRunning = Effect.void
          if (!(yield* planRestart(upMs, last))) return
        }
      }).pipe(
        // Interrupted before the first spawn answered (the layer is closing): do not leave `start` waiting.
        Effect.ensuring(Deferred.interrupt(first))
      )

    const start = lock.withPermits(1)(
      Effect.gen(function*() {
        // Already supervised (running, or waiting to restart): nothing to do.
        if (Option.isSome(FiberHandle.unsafeGet(supervision))) return
        yield* Ref.set(restartTimes, [])
        yield* (yield* currentBackoff).reset
        yield* setStatus((s) => ({ ...s, restarts: 0, reason: null }))
        const first = yield* Deferred.make<void, SpawnFailed>()
        // Interruptible whatever the flags of the fiber that built the layer: `stop` interrupts it.
        runSupervision(Effect.interruptible(supervise(first)))
        yield* Deferred.await(first)
      })
    ).pipe(Effect.withSpan("NodeProcess.start"))

    const stop = lock.withPermits(1)(
      Effect.gen(function*() {
        yield* FiberHandle.clear(supervision)
        // `error` stays until the next start, so the reason is not lost.
        yield* setStatus((s) => (s.state === "error" ? s : { ...s, state: "stopped", pid: null }))
      })
    ).pipe(Effect.withSpan("NodeProcess.stop"))

    // Closing the layer stops the node gracefully (runs before the FiberHandle's own interrupt).
    yield* Effect.addFinalizer(() => stop)

    return {
      start,
      stop,
      status: SubscriptionRef.get(status),
      changes: status.changes,
      exits: Stream.fromPubSub(exits),
      suspendRestarts: Ref.set(suspended, true),
      resumeRestarts: Ref.set(suspended, false)
    } satisfies NodeProcessService
  })
