import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { AppConfig } from "../config/Config.js"
import { IoError } from "../domain/Errors.js"
import type { UpgradeName } from "../domain/Upgrade.js"
import { isErrno } from "../platform/Errno.js"
import { ioPromise } from "../platform/Files.js"
import { isAlive } from "../platform/Proc.js"
import { BackupFailed, formatBytes, InsufficientSpace } from "./Errors.js"

/*
 * Data backups (ARCHITECTURE §3, §6; DAEMON_BACKUP): after `stop`, before `switch`,
 * DAEMON_DATA_DIR is copied to backups/<name>-<time>/, and a rollback
 * restores it before the old binary starts again.
 *
 * Copies, never hard links: nodes (anvil, leveldb, pebble) rewrite files in
 * place, so a hard-linked "backup" would change with the live file.
 * copyFile with COPYFILE_FICLONE makes a reflink where the file system can
 * (btrfs, xfs: instant, no space used until a block changes) and a real copy
 * elsewhere. Symlinks stay links, modes and times are kept, sockets and fifos
 * (gwemix.ipc) are skipped — the node recreates them.
 *
 * Nothing is half-done: a backup is built under backups/.tmp-… and renamed
 * into place once complete and fsynced; free space is checked first, so a
 * backup fails cleanly instead of filling the disk the node needs.
 */

// ---------------------------------------------------------------------------
// Free space, injectable so tests can pretend a disk is full.

export interface FreeSpaceService {
  /** Bytes an unprivileged writer can still use on the file system holding `dir`. */
  readonly available: (dir: string) => Effect.Effect<number, IoError>
}

export class FreeSpace extends Context.Tag("wemixvisor/FreeSpace")<FreeSpace, FreeSpaceService>() {}

/** statfs(2): blocks available to non-root × block size. */
export const freeSpaceLive: Layer.Layer<FreeSpace> = Layer.succeed(
  FreeSpace,
  FreeSpace.of({
    available: (dir) =>
      Effect.tryPromise({
        try: async () => {
          const s = await fs.promises.statfs(dir)
          return s.bavail * s.bsize
        },
        catch: (cause) => new IoError({ op: "check free space of", path: dir, cause })
      })
  })
)

// ---------------------------------------------------------------------------

export interface Backup {
  /** Folder name: `<upgrade>-<time>`. */
  readonly id: string
  readonly path: string
  readonly upgrade: string
  /** ISO time the backup was started. */
  readonly createdAt: string
}

export interface BackupSettings {
  readonly dataDir: string
  readonly backupsDir: string
  /** wemixvisor's own folder: must not be inside the data dir (a restore would roll back the plan and journal). */
  readonly root: string
  /** Newest backups kept after a new one (at least 1: the one just made). */
  readonly keep: number
  /** Headroom demanded beyond the copy's size (default: the larger of 64 MiB and 5%). */
  readonly margin?: (bytes: number) => number
}

export interface BackupsService {
  /** Copies the data dir to backups/<upgrade>-<time>/, then rotates. */
  readonly create: (upgrade: UpgradeName) => Effect.Effect<Backup, BackupFailed | InsufficientSpace | IoError>
  /** Backups on disk, newest first. */
  readonly list: Effect.Effect<ReadonlyArray<Backup>, IoError>
  /** Removes all but the newest `keep`; returns the ids removed. */
  readonly rotate: Effect.Effect<ReadonlyArray<string>, IoError>
  /** Replaces the data dir's contents with the backup's (copy to a sibling, then swap by rename). */
  readonly restore: (backup: Backup) => Effect.Effect<void, BackupFailed | InsufficientSpace | IoError>
  /** Finishes or cleans up a restore interrupted by a crash; call before the node starts. */
  readonly recover: Effect.Effect<void, IoError>
}

export class Backups extends Context.Tag("wemixvisor/Backups")<Backups, BackupsService>() {}

export const defaultMargin = (bytes: number): number => Math.max(64 * 1024 * 1024, Math.ceil(bytes * 0.05))

// ---------------------------------------------------------------------------
// Tree walking and copying

interface Node {
  /** Relative to the tree's root ("" is the root). */
  readonly rel: string
  readonly stat: fs.Stats
}

/** Every entry of a tree, parents before children, without following links. */
const walk = (root: string): Effect.Effect<ReadonlyArray<Node>, IoError> =>
  Effect.gen(function*() {
    const out: Array<Node> = []
    const queue: Array<string> = [""]
    for (let i = 0; i < queue.length; i++) {
      const rel = queue[i]!
      const full = path.join(root, rel)
      const stat = yield* ioPromise("read", full, () => fs.promises.lstat(full))
      out.push({ rel, stat })
      if (stat.isDirectory()) {
        const names = yield* ioPromise("list", full, () => fs.promises.readdir(full))
        for (const n of names.sort()) queue.push(path.join(rel, n))
      }
    }
    return out
  })

/** Bytes the copy of one entry needs: a file's contents, a block for a folder or a link. */
export const entryBytes = (stat: fs.Stats): number => (stat.isFile() ? stat.size : 4096)

/** Bytes a copy needs: file contents plus a block per folder and link. */
const treeSize = (nodes: ReadonlyArray<Node>) => nodes.reduce((sum, n) => sum + entryBytes(n.stat), 0)

const fsync = (file: string) =>
  ioPromise("sync", file, async () => {
    const h = await fs.promises.open(file, "r")
    try {
      await h.sync()
    } finally {
      await h.close()
    }
  })

/**
 * Copies a tree (already walked) to `dst`, which must not exist. Folders
 * first, then files (reflink or copy, four at a time), then links; modes and
 * times last, deepest folders first, so read-only folders do not block the
 * copy. Every file and folder is fsynced.
 */
const copyTree = (src: string, dst: string, nodes: ReadonlyArray<Node>): Effect.Effect<void, IoError> =>
  Effect.gen(function*() {
    const at = (n: Node) => [path.join(src, n.rel), path.join(dst, n.rel)] as const
    const total = treeSize(nodes)
    const progress = { bytes: 0, loggedAt: yield* Clock.currentTimeMillis }
    // A chain's data dir can take a long while to copy: say how far along it is, every half minute at most.
    const advance = (bytes: number) =>
      Effect.gen(function*() {
        progress.bytes += bytes
        const now = yield* Clock.currentTimeMillis
        if (now - progress.loggedAt < 30_000) return
        progress.loggedAt = now
        yield* Effect.logInfo(
          `copying ${src}: ${formatBytes(progress.bytes)} of ${formatBytes(total)} (${
            Math.floor((progress.bytes / Math.max(total, 1)) * 100)
          }%)`
        )
      })
    const dirs = nodes.filter((n) => n.stat.isDirectory())
    for (const n of dirs) {
      const [, to] = at(n)
      yield* ioPromise("create", to, () => fs.promises.mkdir(to, { mode: 0o700 }))
    }
    yield* Effect.forEach(
      nodes.filter((n) => n.stat.isFile()),
      (n) => {
        const [from, to] = at(n)
        return ioPromise("copy", from, async () => {
          await fs.promises.copyFile(from, to, fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL)
          await fs.promises.chmod(to, n.stat.mode & 0o7777)
          await fs.promises.utimes(to, n.stat.atime, n.stat.mtime)
        }).pipe(Effect.zipRight(fsync(to)), Effect.zipRight(advance(n.stat.size)))
      },
      { concurrency: 4, discard: true }
    )
    for (const n of nodes) {
      const [from, to] = at(n)
      if (n.stat.isSymbolicLink()) {
        yield* ioPromise("copy link", from, async () => {
          await fs.promises.symlink(await fs.promises.readlink(from), to)
          await fs.promises.lutimes(to, n.stat.atime, n.stat.mtime)
        })
      } else if (!n.stat.isFile() && !n.stat.isDirectory()) {
        yield* Effect.logDebug(`backup skips ${from}: not a file, folder or link (a socket or fifo the node recreates)`)
      }
    }
    for (const n of [...dirs].reverse()) {
      const [, to] = at(n)
      yield* ioPromise("set mode of", to, async () => {
        await fs.promises.chmod(to, n.stat.mode & 0o7777)
        await fs.promises.utimes(to, n.stat.atime, n.stat.mtime)
      })
      yield* fsync(to)
    }
  })

// ---------------------------------------------------------------------------

const pad = (n: number, w = 2) => String(n).padStart(w, "0")

/** 20260512T101500123Z: sortable, no characters a shell or a file system minds. */
const stamp = (ms: number) => {
  const d = new Date(ms)
  return (
    `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T` +
    `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}${pad(d.getUTCMilliseconds(), 3)}Z`
  )
}

const BACKUP_ID = /^(.+)-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/

const parseId = (backupsDir: string, id: string): Backup | undefined => {
  const m = BACKUP_ID.exec(id)
  if (!m) return undefined
  const iso = `${m[2]}-${m[3]}-${m[4]}T${m[5]}:${m[6]}:${m[7]}.${m[8]}Z`
  return { id, path: path.join(backupsDir, id), upgrade: m[1]!, createdAt: iso }
}

/**
 * The backup at `folder` (backups/<upgrade>-<time>), as a journal records
 * it; a folder whose name does not follow that pattern is still that folder.
 */
export const backupAt = (folder: string, upgrade: string): Backup =>
  parseId(path.dirname(folder), path.basename(folder)) ??
    { id: path.basename(folder), path: folder, upgrade, createdAt: "" }

/** Whether `inner` is `outer` or lies inside it. */
const contains = (outer: string, inner: string) => {
  const rel = path.relative(outer, inner)
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel))
}

const realOrSelf = (p: string) => {
  try {
    return fs.realpathSync(p)
  } catch {
    return path.resolve(p)
  }
}

/** Whether the data dir holds wemixvisor's own folder or the backups: a backup would copy itself, a restore roll back the plan. */
export const dataDirHoldsOurs = (dataDir: string, root: string, backupsDir: string): boolean => {
  const data = realOrSelf(dataDir)
  return contains(data, realOrSelf(root)) || contains(data, realOrSelf(backupsDir))
}

const TEMP = /^\.tmp-.+-(\d+)$/

const removeTree = (p: string) => ioPromise("remove", p, () => fs.promises.rm(p, { recursive: true, force: true }))

const fsyncDir = (dir: string) => fsync(dir)

export const make = (settings: BackupSettings): Effect.Effect<BackupsService, never, FreeSpace> =>
  Effect.gen(function*() {
    const freeSpace = yield* FreeSpace
    const { dataDir, backupsDir } = settings
    const margin = settings.margin ?? defaultMargin
    const keep = Math.max(1, settings.keep)

    const checkSpace = (dir: string, bytes: number) =>
      Effect.gen(function*() {
        const available = yield* freeSpace.available(dir)
        const needed = bytes + margin(bytes)
        if (available < needed) return yield* new InsufficientSpace({ path: dir, needed, available })
        yield* Effect.logDebug(`copy of ${formatBytes(bytes)} into ${dir}: ${formatBytes(available)} free`)
      })

    const list: BackupsService["list"] = ioPromise("list", backupsDir, async () => {
      try {
        return await fs.promises.readdir(backupsDir)
      } catch (e) {
        if (isErrno(e, "ENOENT")) return []
        throw e
      }
    }).pipe(
      Effect.map((names) =>
        names
          .map((n) => parseId(backupsDir, n))
          .filter((b): b is Backup => b !== undefined)
          .sort((
            a,
            b
          ) => (a.createdAt === b.createdAt ? b.id.localeCompare(a.id) : b.createdAt.localeCompare(a.createdAt)))
      )
    )

    const rotate: BackupsService["rotate"] = Effect.gen(function*() {
      const old = (yield* list).slice(keep)
      for (const b of old) {
        yield* removeTree(b.path)
        yield* Effect.logInfo(`removed old backup ${b.path} (DAEMON_BACKUP_KEEP=${settings.keep})`)
      }
      return old.map((b) => b.id)
    })

    /** Temp folders of backups whose process died mid-copy. */
    const removeStaleTemps = Effect.gen(function*() {
      const names = yield* ioPromise("list", backupsDir, () => fs.promises.readdir(backupsDir))
      for (const n of names) {
        const m = TEMP.exec(n)
        if (m && !isAlive(Number(m[1]))) yield* removeTree(path.join(backupsDir, n))
      }
    })

    const checkLayout = Effect.suspend(() => {
      if (dataDirHoldsOurs(dataDir, settings.root, backupsDir)) {
        return Effect.fail(
          new BackupFailed({
            path: dataDir,
            problem:
              `DAEMON_DATA_DIR contains wemixvisor's own folder (${settings.root}); point it at the node's data folder`
          })
        )
      }
      return Effect.void
    })

    const create: BackupsService["create"] = (upgrade) =>
      Effect.gen(function*() {
        yield* checkLayout
        const dataStat = yield* Effect.tryPromise({
          try: () => fs.promises.stat(dataDir),
          catch: () =>
            new BackupFailed({
              path: dataDir,
              problem: "the data dir does not exist (set DAEMON_DATA_DIR to the node's data folder)"
            })
        })
        if (!dataStat.isDirectory()) {
          return yield* new BackupFailed({ path: dataDir, problem: "DAEMON_DATA_DIR is not a folder" })
        }
        yield* ioPromise("create", backupsDir, () => fs.promises.mkdir(backupsDir, { recursive: true }))
        yield* removeStaleTemps
        const nodes = yield* walk(dataDir)
        const bytes = treeSize(nodes)
        yield* checkSpace(backupsDir, bytes)

        let ms = yield* Clock.currentTimeMillis
        while (fs.existsSync(path.join(backupsDir, `${upgrade}-${stamp(ms)}`))) ms++
        const id = `${upgrade}-${stamp(ms)}`
        const temp = path.join(backupsDir, `.tmp-${id}-${process.pid}`)
        const final = path.join(backupsDir, id)
        yield* Effect.logInfo(`backing up ${dataDir} (${formatBytes(bytes)}) to ${final}`)
        yield* copyTree(dataDir, temp, nodes).pipe(
          Effect.onError(() => removeTree(temp).pipe(Effect.ignore)),
          Effect.mapError((e) =>
            isErrno(e.cause, "ENOSPC")
              ? new BackupFailed({
                path: dataDir,
                problem: `the disk filled up while copying to ${backupsDir}; the partial copy was removed`
              })
              : e
          )
        )
        yield* ioPromise("rename", temp, () => fs.promises.rename(temp, final))
        yield* fsyncDir(backupsDir)
        yield* rotate
        return parseId(backupsDir, id)!
      }).pipe(Effect.withSpan("Backups.create", { attributes: { upgrade } }))

    const parent = path.dirname(dataDir)
    const base = path.basename(dataDir)
    const sibling = (kind: "restoring" | "restored" | "replaced") =>
      path.join(parent, `${base}.${kind}-${process.pid}-${crypto.randomBytes(4).toString("hex")}`)
    const siblings = (kind: "restoring" | "restored" | "replaced") =>
      ioPromise("list", parent, () => fs.promises.readdir(parent)).pipe(
        Effect.map((names) => names.filter((n) => n.startsWith(`${base}.${kind}-`)).map((n) => path.join(parent, n)))
      )

    /*
     * A restore renames the data dir away and a complete copy (`.restored-…`)
     * in; a crash between those two renames is the only moment the data dir
     * is absent, and `recover` puts the complete copy in place. Partial copies
     * (`.restoring-…`) and replaced data (`.replaced-…`, once the data dir is
     * back) are removed.
     */
    const recover: BackupsService["recover"] = Effect.gen(function*() {
      const present = fs.existsSync(dataDir)
      const restored = yield* siblings("restored")
      const replaced = yield* siblings("replaced")
      if (!present) {
        const back = restored[0] ?? replaced[0]
        if (back !== undefined) {
          yield* ioPromise("rename", back, () => fs.promises.rename(back, dataDir))
          yield* fsyncDir(parent)
          yield* Effect.logWarning(`recovered ${dataDir} from ${back} after an interrupted restore`)
        }
      }
      for (
        const p of [
          ...(yield* siblings("restoring")),
          ...(yield* siblings("restored")),
          ...(yield* siblings("replaced"))
        ]
      ) {
        yield* removeTree(p)
      }
    })

    const restore: BackupsService["restore"] = (backup) =>
      Effect.gen(function*() {
        yield* recover
        const st = yield* Effect.tryPromise({
          try: () => fs.promises.stat(backup.path),
          catch: () => new BackupFailed({ path: backup.path, problem: "the backup is gone" })
        })
        if (!st.isDirectory()) {
          return yield* new BackupFailed({ path: backup.path, problem: "the backup is not a folder" })
        }
        const nodes = yield* walk(backup.path)
        // The old data stays until the swap, so the copy needs its own room.
        yield* checkSpace(parent, treeSize(nodes))
        yield* Effect.logInfo(`restoring ${dataDir} from ${backup.path}`)
        const restoring = sibling("restoring")
        yield* copyTree(backup.path, restoring, nodes).pipe(
          Effect.onError(() => removeTree(restoring).pipe(Effect.ignore))
        )
        const restored = sibling("restored")
        yield* ioPromise("rename", restoring, () => fs.promises.rename(restoring, restored))
        yield* fsyncDir(parent)
        const replaced = sibling("replaced")
        if (fs.existsSync(dataDir)) yield* ioPromise("rename", dataDir, () => fs.promises.rename(dataDir, replaced))
        yield* ioPromise("rename", restored, () => fs.promises.rename(restored, dataDir))
        yield* fsyncDir(parent)
        yield* removeTree(replaced)
        yield* Effect.logInfo(`restored ${dataDir} from ${backup.path}`)
      }).pipe(Effect.withSpan("Backups.restore", { attributes: { backup: backup.path } }))

    return Backups.of({ create, list, rotate, restore, recover })
  })

/** Live: from the configuration (DAEMON_DATA_DIR, DAEMON_BACKUP_KEEP) and the layout's backups/ folder. */
export const layer: Layer.Layer<Backups, never, AppConfig | FreeSpace> = Layer.effect(
  Backups,
  Effect.flatMap(
    AppConfig,
    (c) => make({ dataDir: c.dataDir, backupsDir: c.layout.backups, root: c.layout.root, keep: c.backupKeep })
  )
)
