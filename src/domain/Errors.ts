import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

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
 * wemixvisor's one error set. Each error says what was wrong in operator
 * words (`message`) and what kind of failure it is (`kind`); the CLI's exit
 * code (src/cli/exit.ts) and the API's HTTP status (src/api/Rest.ts) follow
 * from the kind, never from a tag. The errors
 * that cross the wire (RPC answers, the API's refusals) are Schema.TaggedErrors,
 * served as they are; the rest stay inside (Data.TaggedError) and carry their
 * causes.
 */

/**
 * What kind of failure, for whoever asked: `input` (a bad argument, field,
 * file or setting), `conflict` (contradicts the plan or the home), `missing`
 * (names nothing), `unauthorized`, `forbidden`, `too-large`, `unsupported`
 * (the API's door), `unavailable` (the node or the plan, right now) and
 * `operational` (disk, network, process: something failed that the request
 * did not cause).
 */
export const ErrorKind = Schema.Literal(
  "input",
  "conflict",
  "missing",
  "unauthorized",
  "forbidden",
  "too-large",
  "unsupported",
  "unavailable",
  "operational"
)
export type ErrorKind = typeof ErrorKind.Type

const isErrorKind = Schema.is(ErrorKind)

/** Any error that says its kind: wemixvisor's own. */
export interface Classified {
  readonly kind: ErrorKind
}

export const isClassified = (u: unknown): u is Error & Classified =>
  u instanceof Error && Predicate.hasProperty(u, "kind") && isErrorKind(u.kind)

/** The kind of any failure: a wemixvisor error's own, anything else `operational`. */
export const kindOf = (u: unknown): ErrorKind => (isClassified(u) ? u.kind : "operational")

// ---------------------------------------------------------------------------
// On the wire: RPC answers (UpgradeRpcs) and the API's refusals, with the
// identifiers and fields clients decode.

/** Bad input on a command or request: an argument, a field (name, height, checksums.linux/amd64, …), a file given by the operator. */
export class InvalidInput extends Schema.TaggedError<InvalidInput>("wemixvisor/InvalidInput")("InvalidInput", {
  field: Schema.String,
  problem: Schema.String
}) {
  get kind(): ErrorKind {
    return "input"
  }
  override get message() {
    return `invalid ${this.field}: ${this.problem}`
  }
}

/** A request that contradicts the plan or the chain (name taken, height at or below the head, cancelling one in progress, …). */
export class UpgradeConflict
  extends Schema.TaggedError<UpgradeConflict>("wemixvisor/UpgradeConflict")("UpgradeConflict", {
    name: Schema.String,
    problem: Schema.String
  })
{
  get kind(): ErrorKind {
    return "conflict"
  }
  override get message() {
    // No name: the conflict is about the plan as a whole (several pending, none named).
    return this.name === "" ? this.problem : `upgrade '${this.name}': ${this.problem}`
  }
}

/** An upgrade name not in the plan. */
export class UpgradeNotFound
  extends Schema.TaggedError<UpgradeNotFound>("wemixvisor/UpgradeNotFound")("UpgradeNotFound", {
    name: Schema.String
  })
{
  get kind(): ErrorKind {
    return "missing"
  }
  override get message() {
    // No name: `cancel` without one, and nothing pending.
    return this.name === "" ? "no upgrade is pending; there is nothing to cancel" : `no upgrade named '${this.name}'`
  }
}

/**
 * The node's JSON-RPC did not answer (schedule with `force` to skip the head
 * check). Made from the cause (`{ url, cause }`), which stays with the error
 * on this side as its `cause`; the wire carries the cause's first line as
 * `reason`.
 */
export class NodeUnreachable
  extends Schema.TaggedError<NodeUnreachable>("wemixvisor/NodeUnreachable")("NodeUnreachable", {
    url: Schema.String,
    reason: Schema.String
  })
{
  constructor(
    props: { readonly url: string; readonly cause: unknown } | { readonly url: string; readonly reason: string },
    options?: Schema.MakeOptions
  ) {
    super("cause" in props ? { url: props.url, reason: describeCause(props.cause) } : props, options)
    // Not a field: like an Error's own `cause`, not enumerable and not encoded.
    if ("cause" in props) {
      Object.defineProperty(this, "cause", { value: props.cause, writable: true, configurable: true })
    }
  }
  get kind(): ErrorKind {
    return "unavailable"
  }
  override get message() {
    return `node RPC ${this.url} unreachable: ${this.reason}`
  }
}

/** The plan could not be read or written right now (corrupt file, lock held too long, I/O error). */
export class PlanUnavailable
  extends Schema.TaggedError<PlanUnavailable>("wemixvisor/PlanUnavailable")("PlanUnavailable", {
    reason: Schema.String
  })
{
  get kind(): ErrorKind {
    return "unavailable"
  }
  override get message() {
    return `the upgrade plan is unavailable: ${this.reason}`
  }
}

/** `PrepareUpgrade`: the binary could not be made ready (download, checksum, archive, it cannot run here). */
export class PrepareFailed extends Schema.TaggedError<PrepareFailed>("wemixvisor/PrepareFailed")("PrepareFailed", {
  name: Schema.String,
  reason: Schema.String
}) {
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    return `upgrade '${this.name}' is not ready: ${this.reason}`
  }
}

/** Missing or wrong `Authorization: Bearer <WEMIXVISOR_API_TOKEN>`. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>("wemixvisor/Unauthorized")("Unauthorized", {
  reason: Schema.String
}) {
  get kind(): ErrorKind {
    return "unauthorized"
  }
  override get message() {
    return `unauthorized: ${this.reason}`
  }
}

/** The API refused the request before reading it: a Host or Origin it does not serve. */
export class Forbidden extends Schema.TaggedError<Forbidden>("wemixvisor/Forbidden")("Forbidden", {
  reason: Schema.String
}) {
  get kind(): ErrorKind {
    return "forbidden"
  }
  override get message() {
    return `forbidden: ${this.reason}`
  }
}

/** A request body over the API's limit, refused unread. */
export class BodyTooLarge extends Schema.TaggedError<BodyTooLarge>("wemixvisor/BodyTooLarge")("BodyTooLarge", {
  limit: Schema.Number
}) {
  get kind(): ErrorKind {
    return "too-large"
  }
  override get message() {
    return `the limit is ${this.limit} bytes`
  }
}

/** A request body of a media type the route does not take (a form's, or none). */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>("wemixvisor/UnsupportedMediaType")(
  "UnsupportedMediaType",
  { reason: Schema.String }
) {
  get kind(): ErrorKind {
    return "unsupported"
  }
  override get message() {
    return this.reason
  }
}

// ---------------------------------------------------------------------------
// Inside: what the services fail with; the API answers them as the wire
// errors above (src/api/Handlers.ts), the CLI by their kind.

/** A configuration value (env, config.toml or flag) that cannot be used. */
export class ConfigInvalid extends Data.TaggedError("ConfigInvalid")<{
  readonly variable: string
  /** The value as given; absent when there is none to show (an unknown key in a config file). */
  readonly value?: string
  /** Where the value came from: `env`, `flag`, a config file (`config.toml`, …) or `default`; absent where nothing says. */
  readonly source?: string
  readonly problem: string
}> {
  get kind(): ErrorKind {
    return "input"
  }
  override get message() {
    const value = this.value === undefined ? "" : `=${JSON.stringify(this.value)}`
    const source = this.source === undefined ? "" : ` (${this.source})`
    return `invalid ${this.variable}${value}${source}: ${this.problem}`
  }
}

/** `init` on a home that already has a layout. */
export class HomeExists extends Data.TaggedError("HomeExists")<{ readonly path: string }> {
  get kind(): ErrorKind {
    return "conflict"
  }
  override get message() {
    return `${this.path} already exists; use --force to re-create it (a working current is never moved)`
  }
}

/** A binary that is missing, not a file, or not executable. */
export class BinaryInvalid extends Data.TaggedError("BinaryInvalid")<{
  readonly path: string
  readonly problem: string
}> {
  get kind(): ErrorKind {
    return "input"
  }
  override get message() {
    return `binary ${this.path}: ${this.problem}`
  }
}

/** run.lock held by a live process: one supervisor per home, ever. */
export class HomeLocked extends Data.TaggedError("HomeLocked")<{
  readonly path: string
  readonly pid: number
}> {
  get kind(): ErrorKind {
    return "conflict"
  }
  override get message() {
    return `another wemixvisor (${holderText(this.pid)}) is already running on this home (${this.path})`
  }
}

/** The plan write lock could not be had in time. */
export class PlanLocked extends Data.TaggedError("PlanLocked")<{
  readonly path: string
  readonly pid: number
}> {
  get kind(): ErrorKind {
    return "unavailable"
  }
  override get message() {
    return `the plan is being written by ${holderText(this.pid)} (${this.path}); try again`
  }
}

/** A file wemixvisor owns that does not validate. Never silently replaced. */
export class FileCorrupt extends Data.TaggedError("FileCorrupt")<{
  readonly path: string
  readonly problem: string
}> {
  get kind(): ErrorKind {
    return "operational"
  }
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
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    const c = this.cause
    return `${this.op} ${this.path}: ${c instanceof Error ? c.message : String(c)}`
  }
}

/** The node binary could not be spawned at all. */
export class SpawnFailed extends Data.TaggedError("SpawnFailed")<{
  readonly path: string
  readonly cause: unknown
}> {
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    const c = this.cause
    return `could not start ${this.path}: ${c instanceof Error ? c.message : String(c)}`
  }
}

/** A notification did not reach its channel (one attempt); `reason` is already free of the channel's secrets. */
export class NotifyFailed extends Data.TaggedError("NotifyFailed")<{
  readonly channel: string
  readonly reason: string
}> {
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    return `notification to ${this.channel} failed: ${this.reason}`
  }
}

/** No token to put in the URL: none set, and no api.token yet (exit 2). */
export class NoApiToken extends Data.TaggedError("NoApiToken")<{ readonly file: string; readonly exists: boolean }> {
  get kind(): ErrorKind {
    return "missing"
  }
  override get message() {
    return this.exists
      ? `no API token: WEMIXVISOR_API_TOKEN is not set and ${this.file} cannot be read or is empty`
      : `no API token: WEMIXVISOR_API_TOKEN is not set and ${this.file} does not exist yet; \`wemixvisor run\` creates it at its first start`
  }
}
