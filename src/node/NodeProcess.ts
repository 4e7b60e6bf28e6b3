import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type { AppConfig } from "../config/Config.js"
import type { SpawnFailed } from "../domain/Errors.js"
import type { NodeExit, NodePidFile, NodeStatus } from "../domain/Node.js"
import type { Events } from "../events/Events.js"
import * as Spawner from "./Spawner.js"
import { make } from "./Supervisor.js"

export { reapOrAdopt, reapStale } from "./PidFile.js"
export { restartPolicy } from "./RestartPolicy.js"

/** One exit of a node process: `expected` when `stop` (or the layer closing) caused it. */
export type NodeExitReport = NodeExit & { readonly pid: number; readonly expected: boolean }

/**
 * The supervised node: one child process running `current/bin/$DAEMON_NAME`
 * in its own process group (ARCHITECTURE §1).
 *
 * - `start` spawns the binary `current` points at *now* (so switching the
 *   link and calling `start` runs the new target) and keeps it alive: a crash
 *   is restarted on the restart policy unless restarts are suspended.
 * - `stop` is graceful (SIGTERM to the group, SIGKILL after
 *   DAEMON_SHUTDOWN_GRACE) and never counts as a crash; it returns once no
 *   process of the group is left.
 * - While restarts are suspended (the orchestrator's verify), an exit leaves
 *   the node `crashed` and is only reported on `exits`; resuming does not
 *   restart it (the orchestrator decides: `start` again, or roll back).
 */
export interface NodeProcessService {
  readonly start: Effect.Effect<void, SpawnFailed>
  readonly stop: Effect.Effect<void>
  readonly status: Effect.Effect<NodeStatus>
  /** The current status, then every change. */
  readonly changes: Stream.Stream<NodeStatus>
  /** Every exit of a node process (crash or stop), as it happens. */
  readonly exits: Stream.Stream<NodeExitReport>
  readonly suspendRestarts: Effect.Effect<void>
  readonly resumeRestarts: Effect.Effect<void>
}

export class NodeProcess extends Context.Tag("wemixvisor/NodeProcess")<NodeProcess, NodeProcessService>() {}

/**
 * The supervisor of `config.layout.currentBinary` run with `args`
 * (src/node/Supervisor.ts). Closing the layer stops the node gracefully.
 *
 * Semantics worth knowing:
 * - `start` returns once the process is spawned (`running`); it does nothing
 *   while the node is already supervised (running or waiting to restart). A
 *   binary that cannot be spawned fails `start` with SpawnFailed and leaves
 *   the node in `error`. `start` resets the restart counters.
 * - Any exit nobody asked for (a clean exit 0 included) is a crash.
 * - Crash restarts follow `restartPolicy` (exponential from
 *   DAEMON_RESTART_DELAY, ×2, jittered upward (×1–1.2), capped at DAEMON_RESTART_MAX_DELAY);
 *   a run of at least DAEMON_RESTART_MAX_DELAY resets the backoff; more than
 *   DAEMON_MAX_RESTARTS restarts within DAEMON_RESTART_WINDOW → `error`
 *   (logged, `node-error`), and the node stays down until `start`.
 * - `stop` leaves `error` as it is (the reason stays visible) and every other
 *   state `stopped`.
 * - node.pid is written at each spawn and removed once the group is gone; call
 *   `reapOrAdopt` (or `reapStale`) under run.lock before the first `start`.
 * - `adoptable` (what `reapOrAdopt` found): the first `start` supervises that
 *   node, left running by a previous wemixvisor, instead of spawning one
 *   (`node-adopted`, not `node-started`); once it is gone it counts as a
 *   crash. It keeps the arguments it was started with until its next start.
 * - The node's stdout/stderr are our own (inherited fds): its output never
 *   passes through wemixvisor, so nothing is buffered, dropped, or broken
 *   when wemixvisor dies.
 */
export const layer = (
  args: ReadonlyArray<string>,
  adoptable: Option.Option<NodePidFile> = Option.none()
): Layer.Layer<NodeProcess, never, AppConfig | Events | Spawner.Spawner> =>
  Layer.scoped(NodeProcess, make(args, adoptable))

/** `layer` with real processes. */
export const layerLive = (
  args: ReadonlyArray<string>,
  adoptable: Option.Option<NodePidFile> = Option.none()
): Layer.Layer<NodeProcess, never, AppConfig | Events> => layer(args, adoptable).pipe(Layer.provide(Spawner.layer))
