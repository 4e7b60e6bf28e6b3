import * as Data from "effect/Data"

/** A lock holder's pid; negative while the holder has not written it yet. */
const holderText = (pid: number) => (pid > 0 ? `pid ${pid}` : "a process that is still writing its pid")

/** One line about a thrown value: an Error's first line, a socket event's type, or the value. */
const describeCause = (c: unknown): string => {
  if (c instanceof Error) return c.message.split("\n")[0] ?? c.name
  if (typeof c === "object" && c !== null) {
    if ("message" in c && typeof c.message === "string") return c.message
    if ("type" in c && typeof c.type === "string") return `socket ${c.type}`
  }
  return String(c)
}

/*
 * Tagged errors. Each says what was wrong in operator words (`message`); the CLI
 * maps tags to exit codes in one place (src/cli/exit.ts): bad input → 2,
 * operational failure → 1.
 */

/** A configuration value (env, config.toml or flag) that cannot be used. */
export class ConfigInvalid extends Data.TaggedError("ConfigInvalid")<{
  readonly variable: string
  readonly value: string
  readonly problem: string
}> {
  override get message() {
    return `invalid ${this.variable}=${JSON.stringify(this.value)}: ${this.problem}`
  }
}

/** Bad input on a command or request (argument, field, file given by the operator). */
export class InvalidInput extends Data.TaggedError("InvalidInput")<{
  readonly field: string
  readonly problem: string
}> {
  override get message() {
    return `invalid ${this.field}: ${this.problem}`
  }
}

/** `init` on a home that already has a layout. */
export class HomeExists extends Data.TaggedError("HomeExists")<{ readonly path: string }> {
  override get message() {
    return `${this.path} already exists; use --force to re-create it (current is never moved)`
  }
}

/** A binary that is missing, not a file, or not executable. */
export class BinaryInvalid extends Data.TaggedError("BinaryInvalid")<{
  readonly path: string
  readonly problem: string
}> {
  override get message() {
    return `binary ${this.path}: ${this.problem}`
  }
}

/** run.lock held by a live process: one supervisor per home, ever. */
export class HomeLocked extends Data.TaggedError("HomeLocked")<{
  readonly path: string
  readonly pid: number
}> {
  override get message() {
    return `another wemixvisor (${holderText(this.pid)}) is already running on this home (${this.path})`
  }
}

/** The plan write lock could not be had in time. */
export class PlanLocked extends Data.TaggedError("PlanLocked")<{
  readonly path: string
  readonly pid: number
}> {
  override get message() {
    return `the plan is being written by ${holderText(this.pid)} (${this.path}); try again`
  }
}

/** A file wemixvisor owns that does not validate. Never silently replaced. */
export class FileCorrupt extends Data.TaggedError("FileCorrupt")<{
  readonly path: string
  readonly problem: string
}> {
  override get message() {
    return `${this.path} is corrupt: ${this.problem}`
  }
}

/** A file-system operation failed (permissions, disk full, …). */
export class IoError extends Data.TaggedError("IoError")<{
  readonly op: string
  readonly path: string
  readonly cause: unknown
}> {
  override get message() {
    const c = this.cause
    return `${this.op} ${this.path}: ${c instanceof Error ? c.message : String(c)}`
  }
}

/** The node's JSON-RPC did not answer. */
export class NodeUnreachable extends Data.TaggedError("NodeUnreachable")<{
  readonly url: string
  readonly cause: unknown
}> {
  override get message() {
    return `node RPC ${this.url} unreachable: ${describeCause(this.cause)}`
  }
}

/** The node binary could not be spawned at all. */
export class SpawnFailed extends Data.TaggedError("SpawnFailed")<{
  readonly path: string
  readonly cause: unknown
}> {
  override get message() {
    const c = this.cause
    return `could not start ${this.path}: ${c instanceof Error ? c.message : String(c)}`
  }
}

/** An upgrade name not in the plan. */
export class UpgradeNotFound extends Data.TaggedError("UpgradeNotFound")<{ readonly name: string }> {
  override get message() {
    return `no upgrade named '${this.name}'`
  }
}

/** A request that contradicts the plan (duplicate name, cancelling one in progress, …). */
export class UpgradeConflict extends Data.TaggedError("UpgradeConflict")<{
  readonly name: string
  readonly problem: string
}> {
  override get message() {
    return `upgrade '${this.name}': ${this.problem}`
  }
}
