import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Finding, invalid, ok, warning } from "../config/Checks.js"
import type { WemixvisorConfig } from "../config/Config.js"
import { ConfigInvalid } from "../domain/Errors.js"
import { isErrno } from "../platform/Errno.js"
import { dataDirHoldsOurs, defaultMargin, entryBytes, FreeSpace } from "./Backup.js"
import { formatBytes } from "./Errors.js"

/*
 * `config check`'s backup finding (DAEMON_BACKUP=true): whether the backup
 * taken at the next upgrade would fit, by the rule the backup itself applies
 * (Backup.ts: the data dir's size plus the larger of 64 MiB and 5 % must be
 * free where backups go). Free space comes from FreeSpace (statfs), so a
 * test can say a disk is full; the size from walking the data dir.
 */

/** Entries walked at most: a chain's data dir may hold hundreds of thousands; the check stays a few seconds. */
export const MAX_ENTRIES = 200_000

export interface TreeSize {
  readonly bytes: number
  readonly entries: number
  /** False: the walk stopped at the bound, `bytes` is a lower bound. */
  readonly complete: boolean
}

/** lstat, or undefined for an entry gone since it was listed (a running node deletes files as it compacts). */
const lstatIfThere = (file: string): Promise<fs.Stats | undefined> =>
  fs.promises.lstat(file).catch((e: unknown) => (isErrno(e, "ENOENT") ? undefined : Promise.reject(e)))

/** Entries stat'ed at once: a folder of a chain's data dir can hold many thousands of files. */
const BATCH = 32

/**
 * The bytes a copy of `root` needs, counted as Backup.ts counts them; at most
 * `limit` entries are looked at. Fails when one cannot be read (the backup
 * would too, unless `run` runs as a user who can).
 */
export const measureTree = async (root: string, limit = MAX_ENTRIES): Promise<TreeSize> => {
  let bytes = entryBytes(await fs.promises.lstat(root))
  let entries = 1
  const queue = [root]
  for (let i = 0; i < queue.length; i++) {
    const dir = queue[i]!
    const names = await fs.promises.readdir(dir).catch((e: unknown) => isErrno(e, "ENOENT") ? [] : Promise.reject(e))
    for (let at = 0; at < names.length;) {
      if (entries >= limit) return { bytes, entries, complete: false }
      const batch = names.slice(at, at + Math.min(BATCH, limit - entries)).map((n) => path.join(dir, n))
      at += batch.length
      const stats = await Promise.all(batch.map(lstatIfThere))
      stats.forEach((stat, k) => {
        if (stat === undefined) return
        entries++
        bytes += entryBytes(stat)
        if (stat.isDirectory()) queue.push(batch[k]!)
      })
    }
  }
  return { bytes, entries, complete: true }
}

/** The folder statfs can be asked about: `dir`, or its nearest existing parent (backups/ appears at the first backup). */
const existingAncestor = (dir: string): string => {
  let d = dir
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d)
  return d
}

/** The rule, on numbers: does a copy of `size` fit in `available` bytes at `backupsDir`? */
export const roomFinding = (
  o: { readonly dataDir: string; readonly backupsDir: string; readonly size: TreeSize; readonly available: number }
): Finding => {
  const { available, backupsDir, dataDir, size } = o
  const needed = size.bytes + defaultMargin(size.bytes)
  const data = `DAEMON_DATA_DIR=${dataDir} (${size.complete ? "" : "at least "}${formatBytes(size.bytes)})`
  const free = `${formatBytes(available)} free in ${backupsDir}`
  if (available < needed) {
    return {
      level: "error",
      check: "DAEMON_BACKUP",
      message: `DAEMON_BACKUP=true: no room for a backup of ${data}: it needs ${
        formatBytes(needed)
      } with the margin, ${free}; the upgrade would fail at its height`
    }
  }
  return size.complete
    ? ok("DAEMON_BACKUP", `DAEMON_BACKUP=true: room for a backup of ${data}: ${free}`)
    : warning(
      "DAEMON_BACKUP",
      `DAEMON_BACKUP=true: ${data}: stopped counting after ${size.entries} entries; ${free}, not known to be enough`
    )
}

/** The backup findings of a configuration: a warning when backups are off, else where and whether one fits. */
export const backupFindings = (c: WemixvisorConfig): Effect.Effect<ReadonlyArray<Finding>, never, FreeSpace> =>
  Effect.gen(function*() {
    if (!c.backup) {
      return [
        warning(
          "DAEMON_BACKUP",
          "DAEMON_BACKUP=false: no backup before upgrades; a rollback starts the old binary on the data as the new one left it"
        )
      ]
    }
    const bad = (problem: string) =>
      [invalid(new ConfigInvalid({ variable: "DAEMON_DATA_DIR", value: c.dataDir, problem }))] as const
    const stat = yield* Effect.promise(() => fs.promises.stat(c.dataDir).catch(() => undefined))
    if (stat === undefined) {
      return bad(
        "does not exist; the backup before an upgrade would fail (set DAEMON_DATA_DIR to the node's data folder)"
      )
    }
    if (!stat.isDirectory()) return bad("is not a folder; the backup before an upgrade would fail")
    if (dataDirHoldsOurs(c.dataDir, c.layout.root, c.layout.backups)) {
      return bad(
        `contains wemixvisor's own folder (${c.layout.root}); the backup step refuses it: point it at the node's data folder`
      )
    }
    const at = existingAncestor(c.layout.backups)
    const [size, available] = yield* Effect.all([
      Effect.either(Effect.tryPromise(() => measureTree(c.dataDir))),
      Effect.either(Effect.flatMap(FreeSpace, (s) => s.available(at)))
    ], { concurrency: 2 })
    // A warning, not an error: `config check` may run as another user than `run` (which may read it all).
    if (Either.isLeft(size)) {
      const why = size.left.error instanceof Error ? size.left.error.message : String(size.left.error)
      return [warning("DAEMON_BACKUP", `DAEMON_BACKUP=true: the size of DAEMON_DATA_DIR=${c.dataDir} unknown: ${why}`)]
    }
    if (Either.isLeft(available)) {
      return [warning("DAEMON_BACKUP", `DAEMON_BACKUP=true: free space in ${at} unknown: ${available.left.message}`)]
    }
    return [
      roomFinding({ dataDir: c.dataDir, backupsDir: c.layout.backups, size: size.right, available: available.right })
    ]
  })
