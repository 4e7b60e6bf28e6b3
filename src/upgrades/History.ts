import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { IoError } from "../domain/Errors.js"
import type { Upgrade } from "../domain/Upgrade.js"

/*
 * upgrade-history.jsonl (ARCHITECTURE §3, §6): the append-only audit trail. The
 * orchestrator appends one line when a step starts and one when it ends; the
 * doors append one line per schedule, cancel and prepare they carried out,
 * naming the door (and, for the API, the peer). Lines are never rewritten.
 *
 * The rotation and the lock are in HistoryLive.ts.
 */

/** How a step went. `skipped`: an absent option (no hook, no backup) skipped the step. */
export const HistoryResult = Schema.Literal("started", "ok", "failed", "skipped")
export type HistoryResult = typeof HistoryResult.Type

/** The way an operator's request came in. `governance`: reserved for an on-chain source. */
export const Door = Schema.Literal("cli", "rest", "rpc", "drop-in", "governance")
export type Door = typeof Door.Type

/**
 * Who asked for a schedule, cancel or prepare: the door, and for the API the
 * peer (`ip:port`). Passed explicitly into each operation rather than set in
 * a FiberRef: a forgotten door is then a compile error, not a line that
 * silently names none. The orchestrator's own steps have no origin.
 */
export interface Origin {
  readonly door: Door
  readonly peer?: string
}

/**
 * One line. `step` is one of ARCHITECTURE §7's steps (`pre-stop`, `stop`, `backup`,
 * `switch`, `pre-upgrade`, `start`, `verify`, `done`), a recovery action
 * (`rollback`, `recover`) or an operator's request (`schedule`, `cancel`,
 * `prepare`); it is free text so new steps need no migration. `door` and
 * `peer` are optional: lines written before them still read.
 */
export const HistoryRecord = Schema.Struct({
  time: Schema.String,
  name: Schema.String,
  step: Schema.String.pipe(Schema.nonEmptyString()),
  result: HistoryResult,
  detail: Schema.optional(Schema.String),
  door: Schema.optional(Door),
  peer: Schema.optional(Schema.String)
})
export type HistoryRecord = typeof HistoryRecord.Type

/** What callers pass: the time is stamped by `append` (from the Clock) unless given. */
export type HistoryEntry = Omit<HistoryRecord, "time"> & { readonly time?: string }

/** The entry's door and peer fields for `origin` (none for the orchestrator's own steps). */
export const originFields = (origin: Origin | undefined): Pick<HistoryEntry, "door" | "peer"> =>
  origin === undefined
    ? {}
    : { door: origin.door, ...(origin.peer !== undefined ? { peer: origin.peer } : {}) }

/**
 * A `schedule` line's detail: the height and how it was checked, each
 * platform's download URL, a binary copied in (`--binary`), and the
 * upgrade's own failure policy when it has one (`on failure halt`).
 */
export const scheduleDetail = (u: Upgrade, copiedFrom?: string): string =>
  [
    `height ${u.height}${
      u.force === true ? " (forced)" : u.checked_head !== undefined ? ` (head ${u.checked_head})` : ""
    }`,
    ...Object.entries(u.binaries).map(([platform, url]) => `${platform} ${url}`),
    ...(copiedFrom !== undefined ? [`binary copied from ${copiedFrom}`] : []),
    ...(u.on_failure !== undefined ? [`on failure ${u.on_failure}`] : [])
  ].join("; ")

export interface HistoryService {
  /** Appends one record as one JSON line and fsyncs it, rotating the file first when it is full. */
  readonly append: (entry: HistoryEntry) => Effect.Effect<void, IoError>
  /** Appends several records with one write and one fsync (a batch of the governance source's events). */
  readonly appendAll: (entries: ReadonlyArray<HistoryEntry>) => Effect.Effect<void, IoError>
  /**
   * Every readable record, oldest first: the rotated files from the oldest,
   * then the live file. A line that does not parse (a write torn by a crash)
   * or a rotated file that cannot be decompressed is skipped with a warning
   * naming the file (and line): the trail is for people, and one torn line
   * must not hide the rest.
   */
  readonly read: Effect.Effect<ReadonlyArray<HistoryRecord>, IoError>
}

export class History extends Context.Tag("wemixvisor/History")<History, HistoryService>() {}

/** Which records a reader asks for: one upgrade's (none: every upgrade's), the last `limit` (none: all). */
export interface HistoryQuery {
  readonly name: Option.Option<string>
  readonly limit: Option.Option<number>
}

/** The records a query selects, oldest first, and how many earlier ones matched but were left out by the limit. */
export interface HistoryPage {
  readonly records: ReadonlyArray<HistoryRecord>
  readonly earlier: number
}

/** The last `limit` of the records (oldest first) naming `name`. */
export const selectHistory = (all: ReadonlyArray<HistoryRecord>, q: HistoryQuery): HistoryPage => {
  const name = q.name
  const matching = Option.isSome(name) ? all.filter((r) => r.name === name.value) : all
  const limit = Option.getOrElse(q.limit, () => matching.length)
  const records = matching.slice(Math.max(0, matching.length - limit))
  return { records, earlier: matching.length - records.length }
}

/**
 * The trail as every reader shows it — `upgrade history` from the files,
 * GET /api/v1/history through a running supervisor: every readable record
 * (`read`), then the query's selection.
 */
export const readHistory = (history: HistoryService, q: HistoryQuery): Effect.Effect<HistoryPage, IoError> =>
  Effect.map(history.read, (all) => selectHistory(all, q))
