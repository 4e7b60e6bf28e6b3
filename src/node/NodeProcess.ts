import { Context, type Effect, type Stream } from "effect"
import type { SpawnFailed } from "../domain/Errors.js"
import type { NodeExit, NodeStatus } from "../domain/Node.js"

/**
 * The supervised node: one child process running `current/bin/$DAEMON_NAME`
 * in its own process group (DESIGN §1).
 *
 * - `start` spawns the binary `current` points at *now* (so switching the
 *   link and calling `start` runs the new target) and keeps it alive: a crash
 *   is restarted on the restart policy unless restarts are suspended.
 * - `stop` is graceful (SIGTERM to the group, SIGKILL after
 *   DAEMON_SHUTDOWN_GRACE) and never counts as a crash; it returns once no
 *   process of the group is left.
 * - While restarts are suspended (the orchestrator's verify), an exit leaves
 *   the node `crashed` and is only reported on `exits`.
 */
export interface NodeProcessService {
  readonly start: Effect.Effect<void, SpawnFailed>
  readonly stop: Effect.Effect<void>
  readonly status: Effect.Effect<NodeStatus>
  /** The current status, then every change. */
  readonly changes: Stream.Stream<NodeStatus>
  /** Every exit of a node process (crash or stop), as it happens. */
  readonly exits: Stream.Stream<NodeExit & { readonly pid: number; readonly expected: boolean }>
  readonly suspendRestarts: Effect.Effect<void>
  readonly resumeRestarts: Effect.Effect<void>
}

export class NodeProcess extends Context.Tag("wemixvisor/NodeProcess")<NodeProcess, NodeProcessService>() {}
