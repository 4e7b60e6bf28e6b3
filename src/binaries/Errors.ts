import * as Data from "effect/Data"
import type { ErrorKind } from "../domain/Errors.js"

/*
 * Why preparing an upgrade's binary, or backing up the data, did not work.
 * Each message is one line an operator can act on; none of these leaves
 * anything half-placed behind (see Download.ts, Archive.ts, Backup.ts).
 */

/** A download wemixvisor will not attempt: disabled by configuration, or no checksum to verify it with. */
export class DownloadRefused extends Data.TaggedError("DownloadRefused")<{
  readonly url: string
  readonly problem: string
}> {
  get kind(): ErrorKind {
    return "input"
  }
  override get message() {
    return `will not download ${this.url}: ${this.problem}`
  }
}

/** The transfer itself failed (HTTP status, connection, stall), after the retries it was allowed. */
export class DownloadFailed extends Data.TaggedError("DownloadFailed")<{
  readonly url: string
  readonly attempts: number
  readonly problem: string
}> {
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    const tries = this.attempts === 1 ? "1 attempt" : `${this.attempts} attempts`
    return `download of ${this.url} failed after ${tries}: ${this.problem}`
  }
}

/** The artifact arrived but is not the one the checksum names. Nothing was placed. */
export class ChecksumMismatch extends Data.TaggedError("ChecksumMismatch")<{
  readonly url: string
  readonly algorithm: string
  readonly expected: string
  readonly actual: string
}> {
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    return `checksum mismatch for ${this.url}: expected ${this.algorithm}:${this.expected}, got ${this.algorithm}:${this.actual}; nothing was installed`
  }
}

/** An archive refused as a whole (an entry escaping the folder, no binary inside, unreadable). Nothing was placed. */
export class ArchiveRefused extends Data.TaggedError("ArchiveRefused")<{
  readonly source: string
  readonly problem: string
}> {
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    return `archive ${this.source} refused: ${this.problem}; nothing was installed`
  }
}

/** The upgrade names no binary this machine can run. */
export class NoBinaryForPlatform extends Data.TaggedError("NoBinaryForPlatform")<{
  readonly name: string
  readonly platform: string
  readonly available: ReadonlyArray<string>
}> {
  get kind(): ErrorKind {
    return "input"
  }
  override get message() {
    const has = this.available.length === 0 ? "it has no binaries" : `it has ${this.available.join(", ")}`
    return `upgrade '${this.name}' has no binary for ${this.platform} or "any" (${has})`
  }
}

/** `<binary> $DAEMON_VERSION_ARGS` did not print a version. */
export class VersionProbeFailed extends Data.TaggedError("VersionProbeFailed")<{
  readonly path: string
  readonly problem: string
  /**
   * The binary cannot run on this machine at all: it could not be spawned, or
   * the shell the kernel fell back to said so (exit 126 "cannot execute", 127
   * "not found" — a binary for another architecture ends up there). A probe
   * that ran and merely failed is not this: many nodes have no version command.
   */
  readonly cannotRun?: boolean
}> {
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    return `version probe of ${this.path} failed: ${this.problem}`
  }
}

/** The data dir could not be backed up (or restored). */
export class BackupFailed extends Data.TaggedError("BackupFailed")<{
  readonly path: string
  readonly problem: string
}> {
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    return `backup of ${this.path} failed: ${this.problem}`
  }
}

/** Not enough free space for a copy; refused before anything was written. */
export class InsufficientSpace extends Data.TaggedError("InsufficientSpace")<{
  /** The folder the copy would have gone to. */
  readonly path: string
  readonly needed: number
  readonly available: number
}> {
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    return `not enough free space in ${this.path}: need ${formatBytes(this.needed)}, ${
      formatBytes(this.available)
    } available; nothing was copied`
  }
}

/** Bytes for a human: 1.5 GiB, 12.0 MiB, 512 B. */
export const formatBytes = (n: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`
}
