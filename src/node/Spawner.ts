import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { SpawnFailed } from "../domain/Errors.js"
import type { NodeExit, NodePidFile } from "../domain/Node.js"
import { processStartTime } from "../platform/Proc.js"
import { groupAlive, signalGroup, spawnGroupLeader } from "../platform/ProcessGroup.js"

/*
 * The one place the node's processes are made or found. NodeProcess's timing
 * rules (grace, backoff, restart window) are written against this interface
 * so tests can drive them with a fake and TestClock (src/node/TestSpawner.ts).
 */

/** A node process, leader of its own process group: one we spawned, or one we adopted. */
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
  /**
   * The node a previous wemixvisor left running, as node.pid names it: a
   * handle while that pid still is that process (same start time), None
   * once it is gone.
   */
  readonly adopt: (record: NodePidFile) => Effect.Effect<Option.Option<ChildHandle>>
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
 * How often an adopted node is checked for life. It is not our child: its
 * exit cannot be waited for, only seen (pid gone, or the pid reused).
 */
export const adoptedPoll = Schedule.spaced("100 millis")

/**
 * The node writes straight to our own stdout and stderr (inherited fds, as
 * Cosmovisor does): its output never passes through us, so a wemixvisor that
 * is SIGKILLed (OOM) leaves no broken pipe behind to kill the node with
 * SIGPIPE, and there is nothing for us to buffer or drop.
 */
const spawn = (file: string, args: ReadonlyArray<string>): Effect.Effect<ChildHandle, SpawnFailed> =>
  Effect.map(spawnGroupLeader(file, args, { output: "inherit", env: { [NODE_MARKER]: file } }), (leader) => ({
    pid: leader.pid,
    pgid: leader.pid,
    exit: leader.exit,
    signalGroup: (signal) => signalGroup(leader.pid, signal),
    groupAlive: groupAlive(leader.pid)
  }))

/** True while `pid` is still the process node.pid recorded. */
const isRecorded = (record: NodePidFile) => Effect.sync(() => processStartTime(record.pid) === record.start_time)

const adopt = (record: NodePidFile): Effect.Effect<Option.Option<ChildHandle>> =>
  Effect.map(isRecorded(record), (alive) =>
    alive
      ? Option.some<ChildHandle>({
        pid: record.pid,
        pgid: record.pgid,
        // Its exit status went to its real parent (init, once we died): only the exit itself is known.
        exit: isRecorded(record).pipe(
          Effect.repeat({ schedule: adoptedPoll, until: (still) => !still }),
          Effect.as<NodeExit>({ code: null, signal: null })
        ),
        signalGroup: (signal) => signalGroup(record.pgid, signal),
        groupAlive: groupAlive(record.pgid)
      })
      : Option.none())

/** Live: real processes; the node's output goes to our stdout and stderr directly. */
export const layer: Layer.Layer<Spawner> = Layer.succeed(Spawner, Spawner.of({ spawn, adopt }))
