import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import { IoError } from "../domain/Errors.js"
import { isErrno } from "./Errno.js"
import { processStartTime } from "./Proc.js"

/*
 * An O_EXCL lock file holding {pid, start_time, time}. A lock whose holder is
 * dead — or whose pid now belongs to a different process (start time differs)
 * — is stale and taken over. Used for run.lock (one supervisor per home) and
 * upgrade-plan.lock (one plan writer at a time).
 */

const LockContent = Schema.Struct({
  pid: Schema.Number,
  start_time: Schema.optional(Schema.String),
  time: Schema.optional(Schema.String)
})
const LockJson = Schema.parseJson(LockContent)

/** A lock whose holder has not written its pid yet. */
export const UNKNOWN_HOLDER = -1

/** How long an unreadable lock file is presumed to be mid-write rather than abandoned. */
const HALF_WRITTEN_GRACE_MS = 5_000

const isFresh = (file: string): boolean => {
  try {
    return Date.now() - fs.statSync(file).mtimeMs < HALF_WRITTEN_GRACE_MS
  } catch {
    return false
  }
}

/** The live process holding `file` (UNKNOWN_HOLDER while it is being written), if any. */
export const lockHolder = (file: string): number | undefined => {
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch {
    return undefined
  }
  const decoded = Schema.decodeUnknownOption(LockJson)(text)
  if (Option.isNone(decoded)) {
    // Unreadable: either a holder between its create and its write (a live
    // lock, held for a moment) or one that died right there (stale). Only age
    // tells them apart.
    return isFresh(file) ? UNKNOWN_HOLDER : undefined
  }
  const holder = decoded.value
  const start = processStartTime(holder.pid)
  if (start === undefined) return undefined
  if (holder.start_time !== undefined && holder.start_time !== start) return undefined
  return holder.pid
}

/** Outcome of one attempt: acquired, or held by a live pid. */
export type TryLock = { readonly _tag: "Acquired" } | { readonly _tag: "Held"; readonly pid: number }

export const tryLock = (file: string): Effect.Effect<TryLock, IoError> =>
  Effect.try({
    try: (): TryLock => {
      const me = JSON.stringify({
        pid: process.pid,
        start_time: processStartTime(process.pid),
        time: new Date().toISOString()
      })
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644)
          try {
            fs.writeSync(fd, me + "\n")
            fs.fsyncSync(fd)
          } finally {
            fs.closeSync(fd)
          }
          return { _tag: "Acquired" }
        } catch (e) {
          if (!isErrno(e, "EEXIST")) throw e
          const pid = lockHolder(file)
          if (pid !== undefined) return { _tag: "Held", pid }
          // Stale: remove it, then race for it again with O_EXCL.
          fs.rmSync(file, { force: true })
        }
      }
      return { _tag: "Held", pid: lockHolder(file) ?? UNKNOWN_HOLDER }
    },
    catch: (cause) => new IoError({ op: "lock", path: file, cause })
  })

/** Removes the lock if it is still ours. */
export const unlock = (file: string): Effect.Effect<void> =>
  Effect.sync(() => {
    try {
      const text = fs.readFileSync(file, "utf8")
      if (JSON.parse(text).pid === process.pid) fs.rmSync(file, { force: true })
    } catch {
      // already gone
    }
  })

/** Holds the lock for the life of the scope, or fails with `onHeld(pid)`. */
export const acquireLock = <E>(
  file: string,
  onHeld: (pid: number) => E
): Effect.Effect<void, E | IoError, Scope.Scope> =>
  Effect.acquireRelease(
    tryLock(file).pipe(Effect.flatMap((r) => (r._tag === "Acquired" ? Effect.void : Effect.fail(onHeld(r.pid))))),
    () => unlock(file)
  )
