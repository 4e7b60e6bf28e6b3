import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { AppConfig } from "../config/Config.js"
import type { IoError } from "../domain/Errors.js"
import { appendLine, mkdirp, oneLine, readTextIfExists } from "../platform/Files.js"

/*
 * upgrade-history.jsonl (ARCHITECTURE §3, §6): the append-only audit trail. The
 * orchestrator appends one line when a step starts and one when it ends;
 * nothing ever rewrites the file.
 */

/** How a step went. `skipped`: an absent option (no hook, no backup) skipped the step. */
export const HistoryResult = Schema.Literal("started", "ok", "failed", "skipped")
export type HistoryResult = typeof HistoryResult.Type

/**
 * One line. `step` is one of ARCHITECTURE §7's steps (`pre-stop`, `stop`, `backup`,
 * `switch`, `pre-upgrade`, `start`, `verify`, `done`) or a recovery action
 * (`rollback`, `recover`); it is free text so new steps need no migration.
 */
export const HistoryRecord = Schema.Struct({
  time: Schema.String,
  name: Schema.String,
  step: Schema.String.pipe(Schema.nonEmptyString()),
  result: HistoryResult,
  detail: Schema.optional(Schema.String)
})
export type HistoryRecord = typeof HistoryRecord.Type

/** What callers pass: the time is stamped by `append` (from the Clock) unless given. */
export type HistoryEntry = Omit<HistoryRecord, "time"> & { readonly time?: string }

export interface HistoryService {
  /** Appends one record as one JSON line and fsyncs it. */
  readonly append: (entry: HistoryEntry) => Effect.Effect<void, IoError>
  /**
   * Every readable record, oldest first. A line that does not parse (a write
   * torn by a crash) is skipped with a warning naming the file and line: the
   * trail is for people, and one torn line must not hide the rest.
   */
  readonly read: Effect.Effect<ReadonlyArray<HistoryRecord>, IoError>
}

export class History extends Context.Tag("wemixvisor/History")<History, HistoryService>() {}

const encodeLine = (record: HistoryRecord): string => JSON.stringify(Schema.encodeSync(HistoryRecord)(record))

const decodeLine = Schema.decodeUnknownEither(Schema.parseJson(HistoryRecord), { onExcessProperty: "ignore" })

/** True when the file exists and its last byte is not a newline: the previous append was torn. */
const endsTorn = (file: string): boolean => {
  let fd: number
  try {
    fd = fs.openSync(file, "r")
  } catch {
    return false
  }
  try {
    const size = fs.fstatSync(fd).size
    if (size === 0) return false
    const last = Buffer.alloc(1)
    fs.readSync(fd, last, 0, 1, size - 1)
    return last[0] !== 0x0a
  } finally {
    fs.closeSync(fd)
  }
}

export const makeHistory = (file: string): HistoryService => ({
  append: (entry) =>
    Effect.gen(function*() {
      const time = entry.time ?? DateTime.formatIso(yield* DateTime.now)
      const record: HistoryRecord = {
        time,
        name: entry.name,
        step: entry.step,
        result: entry.result,
        ...(entry.detail !== undefined ? { detail: entry.detail } : {})
      }
      yield* mkdirp(path.dirname(file))
      // Start on a fresh line after a torn append, so a crash costs one record, not two.
      const prefix = yield* Effect.sync(() => (endsTorn(file) ? "\n" : ""))
      yield* appendLine(file, prefix + encodeLine(record))
    }).pipe(Effect.withSpan("History.append")),
  read: readTextIfExists(file).pipe(
    Effect.flatMap(
      Option.match({
        onNone: () => Effect.succeed<ReadonlyArray<HistoryRecord>>([]),
        onSome: (text) =>
          Effect.gen(function*() {
            const out: Array<HistoryRecord> = []
            const lines = text.split("\n")
            for (let i = 0; i < lines.length; i++) {
              const line = lines[i]!
              if (line.trim() === "") continue
              const decoded = decodeLine(line)
              if (decoded._tag === "Right") out.push(decoded.right)
              else yield* Effect.logWarning(`${file} line ${i + 1} skipped: ${oneLine(decoded.left.message)}`)
            }
            return out
          })
      })
    ),
    Effect.withSpan("History.read")
  )
})

/** Live: upgrade-history.jsonl under the configured home. */
export const layer: Layer.Layer<History, never, AppConfig> = Layer.effect(
  History,
  Effect.map(AppConfig, (config) => History.of(makeHistory(config.layout.history)))
)
