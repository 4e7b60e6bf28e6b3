import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import * as tar from "tar"
import * as yauzl from "yauzl"
import { ArchiveRefused } from "./Errors.js"

/*
 * Release artifacts: a plain binary, a tar (gzip-compressed or not) or a zip.
 * The kind is read from the first bytes, never trusted from the URL.
 *
 * An archive is extracted only after every entry has been checked, and
 * refused as a whole if any entry could land outside the folder: a `..`
 * segment, an absolute path, a symlink whose target leaves the folder, a hard
 * link to something outside it, or an entry that would be written through a
 * symlink the archive itself creates. node-tar only warns on some of these and
 * does not look at symlink targets; yauzl does not know about symlinks at all.
 */

export type ArtifactKind = "binary" | "tar" | "tar.gz" | "zip"

const startsWith = (buf: Buffer, bytes: ReadonlyArray<number>) => bytes.every((b, i) => buf[i] === b)

/** The artifact's kind from its magic bytes; compressions we cannot unpack are refused by name. */
export const detectKind = (file: string, source: string): Effect.Effect<ArtifactKind, ArchiveRefused> =>
  Effect.try({
    try: () => {
      const buf = Buffer.alloc(512)
      const fd = fs.openSync(file, "r")
      let n: number
      try {
        n = fs.readSync(fd, buf, 0, buf.length, 0)
      } finally {
        fs.closeSync(fd)
      }
      return buf.subarray(0, n)
    },
    catch: (cause) => new ArchiveRefused({ source, problem: `cannot read it: ${(cause as Error).message}` })
  }).pipe(
    Effect.flatMap((head): Effect.Effect<ArtifactKind, ArchiveRefused> => {
      if (startsWith(head, [0x1f, 0x8b])) return Effect.succeed("tar.gz")
      if (startsWith(head, [0x50, 0x4b, 0x03, 0x04]) || startsWith(head, [0x50, 0x4b, 0x05, 0x06])) {
        return Effect.succeed("zip")
      }
      if (head.length >= 262 && head.subarray(257, 262).toString("latin1") === "ustar") return Effect.succeed("tar")
      const unsupported: ReadonlyArray<readonly [string, ReadonlyArray<number>]> = [
        ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
        ["bzip2", [0x42, 0x5a, 0x68]],
        ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
        ["7z", [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]]
      ]
      for (const [name, magic] of unsupported) {
        if (startsWith(head, magic)) {
          return Effect.fail(
            new ArchiveRefused({ source, problem: `${name} archives are not supported (use .tar.gz or .zip)` })
          )
        }
      }
      return Effect.succeed("binary")
    })
  )

// ---------------------------------------------------------------------------
// Entry checks, shared by tar and zip.

export interface ArchiveEntry {
  readonly path: string
  readonly type: "file" | "directory" | "symlink" | "hardlink"
  /** Symlink target (relative to the link's folder) or hard-link target (relative to the archive root). */
  readonly linkpath?: string
}

/** An entry kind we do not extract at all (devices, fifos, …), named for the message. */
export interface UnsupportedEntry {
  readonly path: string
  readonly kind: string
}

const isAbsolute = (p: string) => p.startsWith("/") || /^[A-Za-z]:/.test(p)

/** A path relative to the archive root, or why it cannot be one. */
const normalizeEntryPath = (p: string): Either.Either<string, string> => {
  if (p.includes("\0")) return Either.left(`entry ${JSON.stringify(p)} has a NUL byte in its name`)
  if (p.includes("\\")) return Either.left(`entry ${JSON.stringify(p)} has a backslash in its name`)
  if (isAbsolute(p)) return Either.left(`entry ${JSON.stringify(p)} is an absolute path`)
  if (p.split("/").includes("..")) return Either.left(`entry ${JSON.stringify(p)} escapes the folder (..)`)
  return Either.right(path.posix.normalize(p).replace(/\/+$/, "").replace(/^\.$/, ""))
}

/** Whether a normalized relative path stays inside the root. */
const inside = (rel: string) => rel !== ".." && !rel.startsWith("../") && !isAbsolute(rel)

/** The first reason the archive must be refused, if any. */
export const checkEntries = (
  entries: ReadonlyArray<ArchiveEntry>,
  unsupported: ReadonlyArray<UnsupportedEntry> = []
): Either.Either<void, string> => {
  const first = unsupported[0]
  if (first !== undefined) {
    return Either.left(`entry ${JSON.stringify(first.path)} is a ${first.kind}, which is not allowed`)
  }
  const symlinks = new Set<string>()
  const normalized: Array<string> = []
  for (const e of entries) {
    const p = normalizeEntryPath(e.path)
    if (Either.isLeft(p)) return Either.left(p.left)
    normalized.push(p.right)
    if (e.type === "symlink" || e.type === "hardlink") {
      const link = e.linkpath ?? ""
      const what = e.type === "symlink" ? "symlink" : "hard link"
      if (link === "") return Either.left(`${what} ${JSON.stringify(e.path)} has no target`)
      if (isAbsolute(link)) {
        return Either.left(`${what} ${JSON.stringify(e.path)} points at the absolute path ${JSON.stringify(link)}`)
      }
      // A symlink resolves from its own folder; a hard link's target is named from the archive root.
      const base = e.type === "symlink" ? path.posix.dirname(p.right) : "."
      const target = path.posix.normalize(path.posix.join(base, link))
      if (!inside(target)) {
        return Either.left(`${what} ${JSON.stringify(e.path)} points outside the folder (${JSON.stringify(link)})`)
      }
      if (e.type === "symlink") symlinks.add(p.right)
    }
  }
  // Writing through a link the archive made (`d -> .` then `d/x -> ..`) can reach places no single path names.
  for (const p of normalized) {
    const parts = p.split("/")
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/")
      if (symlinks.has(parent)) {
        return Either.left(`entry ${JSON.stringify(p)} lies under the symlink ${JSON.stringify(parent)}`)
      }
    }
  }
  return Either.right(undefined)
}

// ---------------------------------------------------------------------------
// tar

const TAR_TYPES: Readonly<Record<string, ArchiveEntry["type"]>> = {
  File: "file",
  OldFile: "file",
  ContiguousFile: "file",
  Directory: "directory",
  SymbolicLink: "symlink",
  Link: "hardlink"
}

const refuse = (source: string) => (cause: unknown) =>
  new ArchiveRefused({ source, problem: cause instanceof Error ? cause.message : String(cause) })

/**
 * A step that writes into the extraction folder, given an AbortSignal. On
 * interruption the signal is aborted and the interruption waits until the step
 * has settled, so nothing is written once it is over (the caller then removes
 * the folder). Effect.tryPromise would stop waiting at once and leave the
 * step writing.
 */
const writing = <A>(step: (signal: AbortSignal) => Promise<A>, onError: (cause: unknown) => ArchiveRefused) =>
  Effect.async<A, ArchiveRefused>((resume) => {
    const controller = new AbortController()
    const settled = step(controller.signal).then(
      (a) => resume(Effect.succeed(a)),
      (e) => resume(Effect.fail(onError(e)))
    )
    return Effect.promise(() => {
      controller.abort()
      return settled
    })
  })

const listTar = (file: string, source: string) =>
  Effect.tryPromise({
    try: async () => {
      const entries: Array<ArchiveEntry> = []
      const unsupported: Array<UnsupportedEntry> = []
      await tar.t({
        file,
        strict: true,
        onReadEntry: (entry) => {
          const type = TAR_TYPES[entry.type]
          if (type === undefined) unsupported.push({ path: entry.path, kind: entry.type })
          else {entries.push(
              entry.linkpath ? { path: entry.path, type, linkpath: entry.linkpath } : { path: entry.path, type }
            )}
        }
      })
      if (entries.length === 0) throw new Error("it is empty or not a tar archive")
      return { entries, unsupported }
    },
    catch: refuse(source)
  })

/**
 * Once aborted, node-tar is told to skip every further entry and the rest of
 * the archive is read through: it has no abort that waits for the entry being
 * written, and 'close' (all writes done) only comes at the end of its input.
 */
const extractTar = (file: string, dir: string, source: string) =>
  writing(
    (signal) =>
      new Promise<void>((resolve, reject) => {
        // strict: every warning (a stripped path, a bad header) fails the extraction instead of being skipped.
        const unpack = new tar.Unpack({
          cwd: dir,
          strict: true,
          preservePaths: false,
          preserveOwner: false,
          unlink: false,
          filter: () => !signal.aborted
        })
        unpack.once("error", reject)
        unpack.once("close", () => resolve())
        const input = fs.createReadStream(file)
        input.once("error", reject)
        input.pipe(unpack)
      }),
    refuse(source)
  )

// ---------------------------------------------------------------------------
// zip

interface ZipItem {
  readonly entry: yauzl.Entry
  readonly type: ArchiveEntry["type"]
  readonly mode: number
  readonly linkpath?: string
}

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000

/** yauzl's own refusals, in our words. */
const zipProblem = (e: Error): string => {
  const abs = /^absolute path: (.*)$/.exec(e.message)
  if (abs) return `entry ${JSON.stringify(abs[1])} is an absolute path`
  const rel = /^invalid relative path: (.*)$/.exec(e.message)
  if (rel) return `entry ${JSON.stringify(rel[1])} escapes the folder (..)`
  return e.message
}

const openZip = (file: string) =>
  new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(
      file,
      { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true, strictFileNames: false },
      (err, zip) => (err ? reject(err) : resolve(zip))
    )
  )

const readStream = (zip: yauzl.ZipFile, entry: yauzl.Entry) =>
  new Promise<NodeJS.ReadableStream>((resolve, reject) =>
    zip.openReadStream(entry, (err, stream) => (err ? reject(err) : resolve(stream)))
  )

const readSmall = async (zip: yauzl.ZipFile, entry: yauzl.Entry, max: number): Promise<string> => {
  if (entry.uncompressedSize > max) {
    throw new Error(`symlink ${JSON.stringify(entry.fileName)} has an implausibly long target`)
  }
  const chunks: Array<Buffer> = []
  for await (const chunk of await readStream(zip, entry)) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks).toString("utf8")
}

/** Every entry of the central directory, symlink targets read. */
const listZip = async (zip: yauzl.ZipFile) => {
  const raw = await new Promise<Array<yauzl.Entry>>((resolve, reject) => {
    const out: Array<yauzl.Entry> = []
    zip.on("entry", (entry: yauzl.Entry) => {
      out.push(entry)
      zip.readEntry()
    })
    zip.once("end", () => resolve(out))
    zip.once("error", reject)
    zip.readEntry()
  })
  const items: Array<ZipItem> = []
  const unsupported: Array<UnsupportedEntry> = []
  for (const entry of raw) {
    if (entry.isEncrypted()) throw new Error(`entry ${JSON.stringify(entry.fileName)} is encrypted`)
    // Unix modes live in the high half of the external attributes when the zip was made on Unix.
    const unix = entry.versionMadeBy >> 8 === 3 ? (entry.externalFileAttributes >>> 16) & 0xffff : 0
    const fmt = unix & S_IFMT
    const mode = unix & 0o7777
    if (entry.fileName.endsWith("/") || fmt === S_IFDIR) {
      items.push({ entry, type: "directory", mode: mode || 0o755 })
    } else if (fmt === S_IFLNK) {
      items.push({ entry, type: "symlink", mode, linkpath: await readSmall(zip, entry, 4096) })
    } else if (fmt === 0 || fmt === S_IFREG) {
      items.push({ entry, type: "file", mode: mode || 0o644 })
    } else {
      unsupported.push({ path: entry.fileName, kind: `special file (mode ${fmt.toString(8)})` })
    }
  }
  return { items, unsupported }
}

/** One file entry; on abort both streams are destroyed and it returns only once the output is closed. */
const writeZipFile = async (zip: yauzl.ZipFile, item: ZipItem, dest: string, signal: AbortSignal) => {
  await fs.promises.mkdir(path.dirname(dest), { recursive: true })
  signal.throwIfAborted()
  const input = await readStream(zip, item.entry)
  // wx: never overwrite — a second entry with the same name is refused, and an existing symlink is not followed.
  const output = fs.createWriteStream(dest, { flags: "wx", mode: item.mode & 0o777 })
  const closed = new Promise<void>((resolve) => output.once("close", () => resolve()))
  try {
    await pipeline(input, output, { signal })
  } finally {
    await closed
  }
  await fs.promises.chmod(dest, item.mode & 0o777)
}

/** One entry of a checked zip: a folder or a file (links come after every file). */
const writeZipEntry = async (zip: yauzl.ZipFile, item: ZipItem, dir: string, signal: AbortSignal) => {
  const dest = path.join(dir, item.entry.fileName)
  if (item.type === "directory") await fs.promises.mkdir(dest, { recursive: true, mode: item.mode & 0o777 })
  else if (item.type === "file") await writeZipFile(zip, item, dest, signal)
}

const writeZipLink = async (item: ZipItem, dir: string) => {
  const dest = path.join(dir, item.entry.fileName)
  await fs.promises.mkdir(path.dirname(dest), { recursive: true })
  await fs.promises.symlink(item.linkpath!, dest)
}

/** Entry by entry, each its own interruptible step, so an interruption stops between entries or inside a file. */
const extractZip = (file: string, dir: string, source: string) => {
  const refused = (e: unknown) => new ArchiveRefused({ source, problem: zipProblem(e as Error) })
  return Effect.acquireUseRelease(
    Effect.tryPromise({ try: () => openZip(file), catch: refused }),
    (zip) =>
      Effect.gen(function*() {
        const { items, unsupported } = yield* Effect.tryPromise({ try: () => listZip(zip), catch: refused })
        if (items.length === 0) return yield* refused(new Error("it has no entries"))
        yield* Effect.mapError(
          checkEntries(
            items.map((i) => (i.linkpath !== undefined
              ? { path: i.entry.fileName, type: i.type, linkpath: i.linkpath }
              : { path: i.entry.fileName, type: i.type })
            ),
            unsupported
          ),
          (problem) => new ArchiveRefused({ source, problem })
        )
        yield* Effect.forEach(items, (item) => writing((signal) => writeZipEntry(zip, item, dir, signal), refused), {
          discard: true
        })
        // Links last, so no file is ever written through one.
        yield* Effect.forEach(
          items.filter((i) => i.type === "symlink"),
          (item) => writing(() => writeZipLink(item, dir), refused),
          { discard: true }
        )
      }),
    (zip) => Effect.sync(() => zip.close())
  )
}

// ---------------------------------------------------------------------------

/**
 * Extracts an archive into `dir` (an empty folder), after checking every
 * entry. On refusal `dir` may hold a partial tree; the caller discards it.
 * Interruptible: once an interruption is over nothing more is written to `dir`.
 */
export const extractArchive = (
  kind: Exclude<ArtifactKind, "binary">,
  file: string,
  dir: string,
  source: string
): Effect.Effect<void, ArchiveRefused> =>
  kind === "zip"
    ? extractZip(file, dir, source)
    : Effect.gen(function*() {
      const { entries, unsupported } = yield* listTar(file, source)
      yield* Effect.mapError(checkEntries(entries, unsupported), (problem) => new ArchiveRefused({ source, problem }))
      yield* extractTar(file, dir, source)
    })

/**
 * Finds `bin/$DAEMON_NAME` (or `$DAEMON_NAME` at the top, then moved to
 * `bin/`) in an extracted tree, checks it is a regular file inside the tree
 * and makes it executable. Returns its path.
 */
export const locateBinary = (dir: string, daemonName: string, source: string): Effect.Effect<string, ArchiveRefused> =>
  Effect.try({
    try: () => {
      const inBin = path.join(dir, "bin", daemonName)
      const atTop = path.join(dir, daemonName)
      const exists = (p: string) => {
        try {
          fs.lstatSync(p)
          return true
        } catch {
          return false
        }
      }
      let binary: string
      if (exists(inBin)) binary = inBin
      else if (exists(atTop)) {
        const binDir = path.join(dir, "bin")
        if (exists(binDir) && !fs.lstatSync(binDir).isDirectory()) {
          throw new Error(`it has ${daemonName} at the top but bin is not a folder`)
        }
        fs.mkdirSync(binDir, { recursive: true })
        fs.renameSync(atTop, inBin)
        binary = inBin
      } else {
        throw new Error(`it holds neither bin/${daemonName} nor ${daemonName}`)
      }
      // A link to the real file is fine as long as it stays in the tree.
      const real = fs.realpathSync(binary)
      const root = fs.realpathSync(dir)
      if (real !== root && !real.startsWith(root + path.sep)) {
        throw new Error(`bin/${daemonName} points outside the archive`)
      }
      if (!fs.statSync(real).isFile()) throw new Error(`bin/${daemonName} is not a regular file`)
      fs.chmodSync(real, 0o755)
      return binary
    },
    catch: refuse(source)
  })
