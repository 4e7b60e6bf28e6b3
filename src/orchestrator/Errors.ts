import * as Data from "effect/Data"
import type { BackupFailed, InsufficientSpace } from "../binaries/Errors.js"
import type { IoError, SpawnFailed } from "../domain/Errors.js"
import type { Target } from "../domain/Target.js"
import type { JournalStep } from "../upgrades/Journal.js"

/*
 * Why an upgrade failed after the node was touched. Each one is recovered by
 * tag into a rollback (or a halt), never retried on its own.
 */

export class SwitchFailed
  extends Data.TaggedError("SwitchFailed")<{ readonly target: Target; readonly cause: IoError }>
{
  override get message() {
    return `could not switch current to ${this.target}: ${this.cause.message}`
  }
}

export class StartFailed extends Data.TaggedError("StartFailed")<{ readonly cause: SpawnFailed }> {
  override get message() {
    return `the new binary did not start: ${this.cause.message}`
  }
}

export class VerifyFailed extends Data.TaggedError("VerifyFailed")<{ readonly reason: string }> {
  override get message() {
    return `verify failed: ${this.reason}`
  }
}

/**
 * The data backup could not be taken (not enough space, an I/O error). Nothing
 * was switched; DAEMON_ON_UPGRADE_FAILURE decides as for any failed upgrade
 * (rollback: the old binary is started again; halt: the node stays stopped).
 */
export class BackupStepFailed extends Data.TaggedError("BackupStepFailed")<{
  readonly cause: BackupFailed | InsufficientSpace | IoError
}> {
  override get message() {
    return `data backup failed: ${this.cause.message}`
  }
}

/** `upgrade prepare` through a running supervisor could not make the binary ready. */
export class PreparationFailed extends Data.TaggedError("PreparationFailed")<{
  readonly name: string
  readonly reason: string
  /** The request itself cannot work here (downloads disabled, no checksum, no binary for this platform). */
  readonly badInput: boolean
}> {
  override get message() {
    return `upgrade '${this.name}' is not ready: ${this.reason}`
  }
}

export class JournalFailed
  extends Data.TaggedError("JournalFailed")<{ readonly step: JournalStep; readonly cause: IoError }>
{
  override get message() {
    return `could not journal step ${this.step}: ${this.cause.message}`
  }
}
