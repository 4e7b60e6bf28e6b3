import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { FileCorrupt, IoError } from "../domain/Errors.js"
import { isErrno } from "./Errno.js"

/*
 * File primitives every service shares. Writes are atomic: temp file in the
 * same folder, fsync, rename, fsync the folder — a crash leaves the old file or
 * the new one, never half of either. Reads validate with a Schema and report a
 * corrupt file with its path instead of replacing it.
 */

/** A synchronous file operation; a throw becomes an IoError naming what was done to which path. */
export const io = <A>(op: string, file: string, f: () => A): Effect.Effect<A, IoError> =>
  Effect.try({ try: f, catch: (cause) => new IoError({ op, path: file, cause }) })

/** `io` for a promise-returning operation (fs.promises). */
export const ioPromise = <A>(op: string, file: string, f: () => Promise<A>): Effect.Effect<A, IoError> =>
  Effect.tryPromise({ try: f, catch: (cause) => new IoError({ op, path: file, cause }) })

/** fsync a file or a folder by path (a folder's fsync makes a rename in it durable). */
export const fsyncPath = (p: string) => {
  const fd = fs.openSync(p, "r")
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Replaces `file` atomically: `fill` writes a temp file beside it, which is
 * fsynced and renamed over `file`, then the folder is fsynced. On any failure
 * the temp file is removed and `file` is untouched.
 */
export const replaceAtomically = (
  file: string,
  fill: (tmp: string) => void,
  op = "write"
): Effect.Effect<void, IoError> =>
  io(op, file, () => {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`)
    try {
      fill(tmp)
      fsyncPath(tmp)
      fs.renameSync(tmp, file)
    } catch (e) {
      fs.rmSync(tmp, { force: true })
      throw e
    }
    fsyncPath(path.dirname(file))
  })

export const writeFileAtomic = (file: string, data: string | Uint8Array): Effect.Effect<void, IoError> =>
  replaceAtomically(file, (tmp) => fs.writeFileSync(tmp, data, { mode: 0o644 }))

export const writeJsonAtomic = (file: string, value: unknown): Effect.Effect<void, IoError> =>
  writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n")

/** Appends one line and fsyncs it (audit trails). */
export const appendLine = (file: string, line: string): Effect.Effect<void, IoError> =>
  io("append to", file, () => {
    const fd = fs.openSync(file, "a", 0o644)
    try {
      fs.writeSync(fd, line.endsWith("\n") ? line : line + "\n")
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
  })

/** Reads a file as text; none when it does not exist. */
export const readTextIfExists = (file: string): Effect.Effect<Option.Option<string>, IoError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(Option.some(fs.readFileSync(file, "utf8")))
    } catch (e) {
      if (isErrno(e, "ENOENT")) return Effect.succeed(Option.none())
      return Effect.fail(new IoError({ op: "read", path: file, cause: e }))
    }
  })

/**
 * What a `Schema.parseJson(schema)` decode found wrong, in one line: `not JSON
 * (…)` when the text does not parse, else the schema's own issue as `format`
 * words it (the same issue a decode of the parsed value would report).
 */
export const jsonProblem = (
  error: ParseResult.ParseError,
  format: (error: ParseResult.ParseError) => string
): string => {
  const { issue } = error
  // parseJson(schema) composes text → unknown (the "Encoded" side) with the schema (the "Type" side).
  if (issue._tag === "Transformation" && issue.kind === "Encoded") {
    const parse = ParseResult.ArrayFormatter.formatIssueSync(issue)[0]
    return `not JSON (${parse === undefined ? "unreadable" : parse.message})`
  }
  return format(issue._tag === "Transformation" && issue.kind === "Type" ? ParseResult.parseError(issue.issue) : error)
}

/** Parses JSON text against a Schema; a mismatch names the file and the field. */
export const decodeJson = <A, I>(
  schema: Schema.Schema<A, I>,
  file: string,
  text: string
): Effect.Effect<A, FileCorrupt> =>
  Schema.decodeUnknown(Schema.parseJson(schema), { errors: "first", onExcessProperty: "ignore" })(text).pipe(
    Effect.mapError((e) => new FileCorrupt({ path: file, problem: jsonProblem(e, (inner) => oneLine(inner.message)) }))
  )

/** A JSON file validated by a Schema; none when absent. */
export const readJsonIfExists = <A, I>(
  schema: Schema.Schema<A, I>,
  file: string
): Effect.Effect<Option.Option<A>, IoError | FileCorrupt> =>
  readTextIfExists(file).pipe(
    Effect.flatMap(
      Option.match({
        onNone: () => Effect.succeed(Option.none<A>()),
        onSome: (text) => decodeJson(schema, file, text).pipe(Effect.map(Option.some))
      })
    )
  )

export const removeIfExists = (file: string): Effect.Effect<void, IoError> =>
  io("remove", file, () => fs.rmSync(file, { force: true }))

export const mkdirp = (dir: string): Effect.Effect<void, IoError> =>
  io("create", dir, () => void fs.mkdirSync(dir, { recursive: true }))

/** Schema errors span lines; an operator's log line should not. */
export const oneLine = (s: string): string =>
  s
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .join(" ")
