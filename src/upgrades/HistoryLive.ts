import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import * as zlib from "node:zlib"
import { AppConfig } from "../config/Config.js"
import type { IoError } from "../domain/Errors.js"
import { isErrno } from "../platform/Errno.js"
import { appendLine, fsyncPath, io, ioPromise, mkdirp, oneLine } from "../platform/Files.js"
import { tryLock, unlock } from "../platform/LockFile.js"
import { History, type HistoryEntry, HistoryRecord, type HistoryService } from "./History.js"

/*
 * The live History (History.ts has the line format and the doors).
 *
 * Rotation (WEMIXVISOR_HISTORY_MAX_SIZE, WEMIXVISOR_HISTORY_KEEP): before an
 * append that would take the live file past the bound, the live file is
 * renamed to upgrade-history.0.jsonl (atomic: from then on appends go to a
 * new live file), compressed to a temp file, fsynced, the older
 * upgrade-history.N.jsonl.gz shifted up one (the ones past the keep count
 * deleted), the temp file renamed to upgrade-history.1.jsonl.gz, and only
 * then is upgrade-history.0.jsonl removed. A crash anywhere in between leaves
 * the lines in .0 (or in both .0 and .1.gz, which is recognised), and the
 * next append finishes the job: no line is ever lost.
 *
 * The CLI and the supervisor both append, so every append (and rotation)
 * holds upgrade-history.lock (platform/LockFile.ts: O_EXCL, the holder's pid
 * and start time, a dead holder's lock taken over). Without it, an appender
 * that opened the live file just before another process renamed it away
 * could write its line into a file already compressed and removed. Readers
 * hold it only while they open the files, then read from the open
 * descriptors. A lock held longer than `LOCK_WAIT` (a holder stopped with ^Z)
 * does not cost the line: the append goes ahead without it and without
 * rotating (the one race the lock closes needs a rotation under way in a
 * running process).
 */

export interface RotationOptions {
  /** Rotate before an append would take the live file past this many bytes; 0: never rotate. */
  readonly maxSize: number
  /** Rotated files kept; 0: the rotated lines are dropped. */
  readonly keep: number
}

export const NO_ROTATION: RotationOptions = { maxSize: 0, keep: 0 }

/** How long an append or a read waits for upgrade-history.lock (a rotation of a default-sized file takes well under a second). */
export const LOCK_WAIT = Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(250)))

/** The files of the trail, named after the live one. */
export const historyFiles = (file: string) => {
  const dir = path.dirname(file)
  const base = path.basename(file, ".jsonl")
  const rotatedName = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.([1-9][0-9]*)\\.jsonl\\.gz$`)
  return {
    dir,
    live: file,
    lock: path.join(dir, `${base}.lock`),
    /** The live file renamed away by a rotation under way (or interrupted). */
    pending: path.join(dir, `${base}.0.jsonl`),
    rotated: (n: number) => path.join(dir, `${base}.${n}.jsonl.gz`),
    /** The indices of the rotated files present, ascending (1 is the newest). */
    rotatedIndices: (): Array<number> =>
      fs
        .readdirSync(dir)
        .flatMap((name) => {
          const m = rotatedName.exec(name)
          return m === null ? [] : [Number(m[1])]
        })
        .sort((a, b) => a - b),
    tmpPrefix: `.${base}.`,
    tmp: path.join(dir, `.${base}.1.jsonl.gz.${process.pid}.tmp`)
  }
}
type Files = ReturnType<typeof historyFiles>

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

const sizeOf = (file: string): number => fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0

class LockBusy extends Data.TaggedError("LockBusy")<{ readonly pid: number }> {}

/**
 * Holds upgrade-history.lock for the scope: true once held; false when
 * another holder kept it past LOCK_WAIT or it cannot be created (logged).
 * Each attempt is uninterruptible and short; the waits between are not.
 */
const holdLock = (files: Files, purpose: string): Effect.Effect<boolean, never, Scope.Scope> =>
  Effect.acquireRelease(
    tryLock(files.lock).pipe(
      Effect.flatMap((r) => (r._tag === "Acquired" ? Effect.void : Effect.fail(new LockBusy({ pid: r.pid }))))
    ),
    () => unlock(files.lock)
  ).pipe(
    Effect.retry({ schedule: LOCK_WAIT, while: (e) => e._tag === "LockBusy" }),
    Effect.as(true),
    Effect.catchAll((e) =>
      Effect.as(
        Effect.logWarning(
          e._tag === "LockBusy"
            ? `${files.lock} is held by ${e.pid > 0 ? `pid ${e.pid}` : "another process"}; ${purpose} without it`
            : `${files.lock} cannot be taken (${oneLine(e.message)}); ${purpose} without it`
        ),
        false
      )
    )
  )

/** The text of a gzip buffer, or why it cannot be read. */
const gunzipText = (buf: Buffer): { readonly text: string } | { readonly problem: string } => {
  try {
    return { text: zlib.gunzipSync(buf).toString("utf8") }
  } catch (e) {
    return { problem: e instanceof Error ? e.message : String(e) }
  }
}

/**
 * Whether the pending file is already upgrade-history.1.jsonl.gz (a crash
 * between that rename and the pending file's removal): same uncompressed
 * size (the gzip trailer's ISIZE, mod 2^32) and the same bytes.
 */
const pendingIsRotated = (files: Files): boolean => {
  const gz = files.rotated(1)
  try {
    const st = fs.statSync(gz, { throwIfNoEntry: false })
    if (st === undefined || st.size < 18) return false
    const pending = fs.readFileSync(files.pending)
    const fd = fs.openSync(gz, "r")
    const trailer = Buffer.alloc(4)
    try {
      fs.readSync(fd, trailer, 0, 4, st.size - 4)
    } finally {
      fs.closeSync(fd)
    }
    if (trailer.readUInt32LE(0) !== pending.length % 2 ** 32) return false
    return zlib.gunzipSync(fs.readFileSync(gz)).equals(pending)
  } catch {
    return false
  }
}

/**
 * Finishes a rotation under way (or one a crash interrupted): the pending
 * file compressed to upgrade-history.1.jsonl.gz, the older ones shifted up,
 * those past `keep` deleted, then the pending file removed. Under the lock.
 */
const finishPending = (files: Files, keep: number): Effect.Effect<void, IoError> =>
  Effect.gen(function*() {
    if (!fs.existsSync(files.pending)) return
    // A temp file left by a rotation that crashed (whoever's it was: we hold the lock).
    yield* io("clean up", files.dir, () => {
      for (const name of fs.readdirSync(files.dir)) {
        if (name.startsWith(files.tmpPrefix) && name.endsWith(".tmp")) fs.rmSync(path.join(files.dir, name))
      }
    })
    if (keep > 0 && !pendingIsRotated(files)) {
      yield* ioPromise(
        "compress",
        files.pending,
        () =>
          pipeline(
            fs.createReadStream(files.pending),
            zlib.createGzip(),
            fs.createWriteStream(files.tmp, { mode: 0o644 })
          )
      ).pipe(Effect.tapError(() => Effect.sync(() => fs.rmSync(files.tmp, { force: true }))))
      yield* io("rotate", files.pending, () => {
        try {
          fsyncPath(files.tmp)
          // With the new one, `keep` files: the oldest past that go; the rest move up one, oldest first.
          const existing = files.rotatedIndices()
          for (const n of existing.slice(keep - 1)) fs.rmSync(files.rotated(n), { force: true })
          for (const n of existing.slice(0, keep - 1).reverse()) fs.renameSync(files.rotated(n), files.rotated(n + 1))
          fs.renameSync(files.tmp, files.rotated(1))
        } catch (e) {
          fs.rmSync(files.tmp, { force: true })
          throw e
        }
        fsyncPath(files.dir)
      })
    } else if (keep === 0) {
      yield* io("rotate", files.pending, () => {
        for (const n of files.rotatedIndices()) fs.rmSync(files.rotated(n), { force: true })
      })
    }
    yield* io("remove", files.pending, () => {
      fs.rmSync(files.pending, { force: true })
      fsyncPath(files.dir)
    })
  })

/** Rotates when `incoming` more bytes would take the live file past the bound. Under the lock. */
const rotateFor = (files: Files, options: RotationOptions, incoming: number): Effect.Effect<void, IoError> =>
  Effect.gen(function*() {
    yield* finishPending(files, options.keep)
    if (options.maxSize <= 0) return
    const size = sizeOf(files.live)
    if (size === 0 || size + incoming <= options.maxSize) return
    yield* io("rotate", files.live, () => {
      fs.renameSync(files.live, files.pending)
      fsyncPath(files.dir)
    })
    yield* finishPending(files, options.keep)
  })

interface Opened {
  readonly file: string
  readonly fd: number
  readonly gzip: boolean
}

/** Opens every file of the trail, oldest first; a file gone meanwhile is skipped. */
const openAll = (files: Files): Effect.Effect<Array<Opened>, IoError> =>
  io("read", files.dir, () => {
    const out: Array<Opened> = []
    const open = (file: string, gzip: boolean) => {
      try {
        out.push({ file, fd: fs.openSync(file, "r"), gzip })
      } catch (e) {
        if (!isErrno(e, "ENOENT")) {
          for (const o of out) fs.closeSync(o.fd)
          throw e
        }
      }
    }
    let indices: Array<number>
    try {
      indices = files.rotatedIndices()
    } catch (e) {
      if (isErrno(e, "ENOENT")) return out
      throw e
    }
    for (const n of indices.reverse()) open(files.rotated(n), true)
    // A pending file already compressed to .1 (a crash before its removal) is read once, from .1.
    if (!(fs.existsSync(files.pending) && pendingIsRotated(files))) open(files.pending, false)
    open(files.live, false)
    return out
  })

const recordsOf = (file: string, text: string) =>
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

export const makeHistory = (file: string, options: RotationOptions = NO_ROTATION): HistoryService => {
  const files = historyFiles(file)
  // One append (or open for reading) at a time from this process; the lock file orders processes.
  const oneAtATime = Effect.unsafeMakeSemaphore(1)

  const toLine = (entry: HistoryEntry) =>
    Effect.map(entry.time !== undefined ? Effect.succeed(entry.time) : Effect.map(DateTime.now, DateTime.formatIso), (
      time
    ) =>
      encodeLine(
        {
          time,
          name: entry.name,
          step: entry.step,
          result: entry.result,
          ...(entry.detail !== undefined ? { detail: entry.detail } : {}),
          ...(entry.door !== undefined ? { door: entry.door } : {}),
          ...(entry.peer !== undefined ? { peer: entry.peer } : {})
        } satisfies HistoryRecord
      ) + "\n")

  const appendAll = (entries: ReadonlyArray<HistoryEntry>) =>
    Effect.gen(function*() {
      if (entries.length === 0) return
      const lines = (yield* Effect.forEach(entries, toLine)).join("")
      yield* mkdirp(files.dir)
      const held = yield* holdLock(files, "appending")
      if (held) {
        yield* rotateFor(files, options, Buffer.byteLength(lines)).pipe(
          Effect.catchAll((e) => Effect.logWarning(`${file} not rotated: ${e.message}; appending to it`))
        )
      }
      // Start on a fresh line after a torn append, so a crash costs one record, not two.
      const prefix = yield* Effect.sync(() => (endsTorn(file) ? "\n" : ""))
      yield* appendLine(file, prefix + lines)
    }).pipe(Effect.scoped, oneAtATime.withPermits(1), Effect.withSpan("History.append"))

  const append = (entry: HistoryEntry) => appendAll([entry])

  // The set of files is taken under the lock (a rotation renames them); their contents are read after.
  const openUnderLock = Effect.gen(function*() {
    if (fs.existsSync(files.dir)) yield* holdLock(files, "reading")
    return yield* openAll(files)
  }).pipe(Effect.scoped, oneAtATime.withPermits(1))

  const readOpened = (opened: ReadonlyArray<Opened>) =>
    Effect.gen(function*() {
      const out: Array<HistoryRecord> = []
      for (const o of opened) {
        const buf = yield* io("read", o.file, () => fs.readFileSync(o.fd))
        if (!o.gzip) {
          out.push(...(yield* recordsOf(o.file, buf.toString("utf8"))))
          continue
        }
        const unzipped = gunzipText(buf)
        if ("text" in unzipped) out.push(...(yield* recordsOf(o.file, unzipped.text)))
        else yield* Effect.logWarning(`${o.file} skipped: ${oneLine(unzipped.problem)}`)
      }
      return out as ReadonlyArray<HistoryRecord>
    })

  const read = Effect.acquireUseRelease(
    openUnderLock,
    readOpened,
    (opened) => Effect.sync(() => opened.forEach((o) => fs.closeSync(o.fd)))
  ).pipe(Effect.withSpan("History.read"))

  return { append, appendAll, read }
}

/** Live: upgrade-history.jsonl under the configured home, rotated as configured. */
export const layer: Layer.Layer<History, never, AppConfig> = Layer.effect(
  History,
  Effect.map(AppConfig, (config) =>
    History.of(
      makeHistory(config.layout.history, { maxSize: config.historyMaxSize, keep: config.historyKeep })
    ))
)
