import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { FileCorrupt, IoError } from "../domain/Errors.js"
import { readJsonIfExists, writeJsonAtomic } from "../platform/Files.js"

/*
 * governance.json: how far the governance source has read its registry.
 * `block` is the last block whose events were all applied, with its hash
 * (to notice a reorganisation deeper than the confirmations). Written
 * atomically after each batch of events applied (Follow.ts), and every so
 * many blocks between; a cursor for another registry address is not used.
 */

export const Cursor = Schema.Struct({
  registry: Schema.String,
  block: Schema.Number,
  hash: Schema.NullOr(Schema.String)
})
export type Cursor = typeof Cursor.Type

export const read = (file: string): Effect.Effect<Option.Option<Cursor>, IoError | FileCorrupt> =>
  readJsonIfExists(Cursor, file)

export const write = (file: string, cursor: Cursor): Effect.Effect<void, IoError> => writeJsonAtomic(file, cursor)
