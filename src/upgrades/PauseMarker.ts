import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { FileCorrupt, IoError } from "../domain/Errors.js"
import type { Layout } from "../domain/Layout.js"
import { OperatorPause } from "../domain/Status.js"
import { readJsonIfExists, removeIfExists, writeJsonAtomic } from "../platform/Files.js"
import type { Origin } from "./History.js"

/*
 * upgrades-paused.json: the operator's pause of upgrades (`upgrade pause`),
 * absent when upgrades are not paused. A file rather than memory, so a
 * restart of wemixvisor (or a crash) never un-pauses silently: only
 * `upgrade resume` removes it. Written atomically; a file that cannot be
 * read counts as a pause (see `read`).
 */

const MarkerFile = Schema.Struct({
  since: Schema.String,
  by: Schema.String,
  reason: Schema.optional(Schema.NullOr(Schema.String))
})

/** Who paused, as the marker and the status say it: the door, with the API peer. */
export const byOf = (origin: Origin): string =>
  origin.peer === undefined ? origin.door : `${origin.door} ${origin.peer}`

/**
 * The pause the file records; none when there is none. A corrupt file is a
 * pause too (its problem as the reason): it was written by a pause, and
 * guessing it away would fire upgrades the operator held back.
 */
export const read = (layout: Layout): Effect.Effect<Option.Option<OperatorPause>, IoError> =>
  readJsonIfExists(MarkerFile, layout.pauseMarker).pipe(
    Effect.map(Option.map((m): OperatorPause => ({ since: m.since, by: m.by, reason: m.reason ?? null }))),
    Effect.catchTag("FileCorrupt", (e: FileCorrupt) =>
      Effect.succeed(Option.some<OperatorPause>({
        since: "unknown",
        by: "unknown",
        reason: `${e.message}; remove it with \`wemixvisor upgrade resume\``
      })))
  )

export const write = (layout: Layout, pause: OperatorPause): Effect.Effect<void, IoError> =>
  writeJsonAtomic(layout.pauseMarker, pause)

export const remove = (layout: Layout): Effect.Effect<void, IoError> => removeIfExists(layout.pauseMarker)

/** The marker's words for a log line or a status text: `paused by cli since … (reason)`. */
export const describe = (p: OperatorPause): string =>
  `upgrades paused by the operator (${p.by}, since ${p.since})${p.reason !== null ? `: ${p.reason}` : ""}`
