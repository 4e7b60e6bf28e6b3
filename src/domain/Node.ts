import * as Schema from "effect/Schema"

/** ARCHITECTURE §1: Stopped → Starting → Running → Stopping → Stopped, plus Crashed and Error. */
export const NodeState = Schema.Literal("stopped", "starting", "running", "stopping", "crashed", "error")
export type NodeState = typeof NodeState.Type

/** How a node process ended: an exit code, or the signal that killed it (neither for an adopted node). */
export interface NodeExit {
  readonly code: number | null
  readonly signal: string | null
}

export const describeExit = (exit: NodeExit): string =>
  exit.signal !== null
    ? `killed by ${exit.signal}`
    : exit.code !== null
    ? `exited with code ${exit.code}`
    // An adopted node is not our child: its exit status went to its real parent.
    : "exited (exit status unknown: an adopted node is not our child)"

/** What NodeProcess publishes: the state machine plus what an operator asks about it. */
export interface NodeStatus {
  readonly state: NodeState
  readonly pid: number | null
  /** Crash restarts within the current restart window. */
  readonly restarts: number
  readonly lastExit: NodeExit | null
  /** Why the node is in `error` (or why the last start failed). */
  readonly reason: string | null
}

export const initialNodeStatus: NodeStatus = {
  state: "stopped",
  pid: null,
  restarts: 0,
  lastExit: null,
  reason: null
}

/** node.pid (ARCHITECTURE §3): a node is identified by pid *and* start time, never by command line. */
export const NodePidFile = Schema.Struct({
  pid: Schema.Number.pipe(Schema.int(), Schema.positive()),
  pgid: Schema.Number.pipe(Schema.int(), Schema.positive()),
  start_time: Schema.String
})
export type NodePidFile = typeof NodePidFile.Type
