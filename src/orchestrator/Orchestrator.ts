import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { FileCorrupt, IoError, UpgradeConflict, UpgradeNotFound } from "../domain/Errors.js"
import type { NodeState } from "../domain/Node.js"
import type { OperatorPause, StatusObject } from "../domain/Status.js"
import type { Upgrade } from "../domain/Upgrade.js"
import type { Origin } from "../upgrades/History.js"
import type { PreparationFailed } from "./Errors.js"

/*
 * The Orchestrator (ARCHITECTURE §1, §6): combines heights and plans, and at the
 * first head ≥ an upgrade's height runs pre-stop → stop → backup → switch →
 * pre-upgrade → start → verify, or rolls back. One upgrade at a time, lowest
 * height first. Every step is journaled before it is taken, so a supervisor
 * killed at any instant replays the upgrade forward on its next start — never
 * applied twice, never two nodes. Ahead of the height, every pending upgrade
 * is prepared in the background, so a download, checksum or binary problem is
 * reported as soon as the upgrade is scheduled.
 *
 * The tag lives here, apart from its implementation (OrchestratorLive.ts and
 * the modules it wires), so what depends on it loads none of them.
 */

export {
  BackupStepFailed,
  JournalFailed,
  PreparationFailed,
  StartFailed,
  SwitchFailed,
  VerifyFailed
} from "./Errors.js"

/** How a `node restart` ended: the node's state, pid and (in `error`: why it did not start) reason afterwards. */
export interface NodeRestarted {
  readonly state: NodeState
  readonly pid: number | null
  readonly reason: string | null
}

export interface OrchestratorService {
  /** ARCHITECTURE §6's status object. */
  readonly status: Effect.Effect<StatusObject>
  /**
   * Why upgrades are paused, or null: a corrupt plan file or journal, or an
   * ended upgrade whose outcome could not be written yet. The node is
   * supervised all the same; `/health` reports this.
   */
  readonly paused: Effect.Effect<string | null>
  /**
   * Set when DAEMON_ON_UPGRADE_FAILURE=halt left the node stopped after a
   * failed upgrade ("halted after failed upgrade <name>: <reason>"). `current`
   * points back at the previous target, so restarting wemixvisor starts the
   * old binary again.
   */
  readonly halted: Effect.Effect<string | null>
  /**
   * Prepares a pending upgrade now (`upgrade prepare` over the API): joins a
   * preparation under way, else runs one. The upgrade as the plan has it
   * afterwards (`ready`), or why it is not ready. How it ended is recorded
   * in the history (step `prepare`, with `origin`'s door and peer); a request
   * refused before any preparation (unknown name, not pending) is not.
   */
  readonly prepare: (
    name: string,
    origin: Origin
  ) => Effect.Effect<Upgrade, PreparationFailed | UpgradeNotFound | UpgradeConflict | FileCorrupt | IoError>
  /**
   * `node restart`: a graceful stop (DAEMON_SHUTDOWN_GRACE) and a start of
   * the binary `current` points at, with the restart counters reset — so it
   * also brings a node back from `error`. Refused (UpgradeConflict, no name)
   * while an upgrade or its recovery has the node: never two actors on it.
   * Allowed while halted after a failed upgrade: `current` points back at
   * the previous binary, and this is how an operator starts it again without
   * restarting wemixvisor; it lifts the halt, as a restart of wemixvisor does.
   * Recorded in the history (step `node-restart`, name `(node)`).
   */
  readonly restartNode: (origin: Origin) => Effect.Effect<NodeRestarted, UpgradeConflict>
  /**
   * `upgrade pause`: no upgrade fires until `resume` (a due one stays
   * pending and fires at once on resume). Persisted in upgrades-paused.json,
   * so it outlives a restart. Pausing again keeps the first pause's time and
   * takes the new reason. Recorded in the history (step `pause`, name `(upgrades)`).
   */
  readonly pause: (reason: string | null, origin: Origin) => Effect.Effect<OperatorPause, IoError>
  /** `upgrade resume`: lifts the operator's pause (never wemixvisor's own); the pause lifted, or null when there was none. */
  readonly resume: (origin: Origin) => Effect.Effect<OperatorPause | null, IoError>
  /** The operator's pause, or null. */
  readonly operatorPause: Effect.Effect<OperatorPause | null>
}

export class Orchestrator extends Context.Tag("wemixvisor/Orchestrator")<Orchestrator, OrchestratorService>() {}
