import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { type BackupSettings, FreeSpace, freeSpaceLive, make } from "../../src/binaries/Backup.js"
import { makeLayout } from "../../src/domain/Layout.js"
import type { UpgradeName } from "../../src/domain/Upgrade.js"
import { cleanup, tempDir } from "../support/fixtures.js"
import { captureLogs } from "./support.js"

const v2 = "v2" as UpgradeName
const quiet = captureLogs().layer
const plenty = Layer.succeed(FreeSpace, FreeSpace.of({ available: () => Effect.succeed(1024 ** 4) }))
const only = (bytes: number) => Layer.succeed(FreeSpace, FreeSpace.of({ available: () => Effect.succeed(bytes) }))

/** A home with a node data dir: nested files, modes, an inner symlink, an empty folder. */
const world = Effect.acquireRelease(
  Effect.sync(() => {
    const home = tempDir()
    const layout = makeLayout(home, "gwemix")
    fs.mkdirSync(layout.root, { recursive: true })
    const data = path.join(home, "data")
    fs.mkdirSync(path.join(data, "geth", "chaindata"), { recursive: true })
    fs.mkdirSync(path.join(data, "empty"))
    fs.writeFileSync(path.join(data, "geth", "chaindata", "000001.ldb"), crypto.randomBytes(64 * 1024))
    fs.writeFileSync(path.join(data, "state.json"), JSON.stringify({ block: 41 }))
    fs.writeFileSync(path.join(data, "nodekey"), "secret", { mode: 0o600 })
    fs.writeFileSync(path.join(data, "run.sh"), "#!/bin/sh\n", { mode: 0o755 })
    fs.symlinkSync("geth/chaindata", path.join(data, "chain"))
    fs.chmodSync(path.join(data, "empty"), 0o700)
    const settings: BackupSettings = { dataDir: data, backupsDir: layout.backups, root: layout.root, keep: 2 }
    return { home, layout, data, settings }
  }),
  ({ home }) => Effect.sync(() => cleanup(home))
)

/** path → [kind, mode, content or link text] for every entry of a tree. */
const snapshot = (root: string): Record<string, readonly [string, number, string]> => {
  const out: Record<string, readonly [string, number, string]> = {}
  const walk = (rel: string) => {
    const full = path.join(root, rel)
    const st = fs.lstatSync(full)
    if (st.isSymbolicLink()) out[rel] = ["link", 0, fs.readlinkSync(full)]
    else if (st.isDirectory()) {
      out[rel] = ["dir", st.mode & 0o7777, ""]
      for (const e of fs.readdirSync(full)) walk(path.join(rel, e))
    } else if (st.isFile()) {
      out[rel] = ["file", st.mode & 0o7777, crypto.createHash("sha256").update(fs.readFileSync(full)).digest("hex")]
    } else out[rel] = ["other", 0, ""]
  }
  walk("")
  return out
}

/** Overwrites bytes of a file in place: same inode, as leveldb or anvil do (dd conv=notrunc). */
const overwriteInPlace = (file: string, bytes: string) => {
  const ino = fs.statSync(file).ino
  const fd = fs.openSync(file, "r+")
  fs.writeSync(fd, bytes, 0)
  fs.closeSync(fd)
  expect(fs.statSync(file).ino).toBe(ino)
}

describe("Backups.create", () => {
  it.scopedLive("copies the data dir's content (not links): new inodes, symlinks kept as links, modes kept, sockets skipped", () =>
    Effect.gen(function*() {
      const { data, layout, settings } = yield* world
      // The node's IPC socket: cannot be copied, and the node recreates it.
      const ipc = net.createServer().listen(path.join(data, "gwemix.ipc"))
      yield* Effect.addFinalizer(() => Effect.sync(() => ipc.close()))
      yield* Effect.promise(() => new Promise((r) => ipc.once("listening", r)))
      const before = snapshot(data)

      const backups = yield* make(settings).pipe(Effect.provide(plenty))
      const backup = yield* backups.create(v2).pipe(Effect.provide(quiet))
      expect(backup.path).toBe(path.join(layout.backups, backup.id))
      expect(backup.id).toMatch(/^v2-\d{8}T\d{9}Z$/)
      expect(backup.upgrade).toBe("v2")
      expect(fs.readdirSync(layout.backups)).toEqual([backup.id])

      const { "gwemix.ipc": socket, ...expected } = before
      expect(socket?.[0]).toBe("other")
      expect(snapshot(backup.path)).toEqual(expected)
      for (const f of ["state.json", "nodekey", "geth/chaindata/000001.ldb"]) {
        expect(fs.statSync(path.join(backup.path, f)).ino).not.toBe(fs.statSync(path.join(data, f)).ino)
      }
      expect(fs.lstatSync(path.join(backup.path, "chain")).isSymbolicLink()).toBe(true)

      // The node rewrites a file in place after the backup: the backup does not change.
      const saved = fs.readFileSync(path.join(backup.path, "state.json"), "utf8")
      overwriteInPlace(path.join(data, "state.json"), "{\"block\":99}")
      expect(fs.readFileSync(path.join(backup.path, "state.json"), "utf8")).toBe(saved)
    }))

  it.effect("rotation keeps the newest DAEMON_BACKUP_KEEP backups (of any upgrade)", () =>
    Effect.gen(function*() {
      const { layout, settings } = yield* world
      const backups = yield* make(settings).pipe(Effect.provide(plenty))
      const made: Array<string> = []
      for (const name of ["v2", "v3", "v4"]) {
        yield* TestClock.adjust("1 hour")
        made.push((yield* backups.create(name as UpgradeName)).id)
      }
      expect(made).toEqual(["v2-19700101T010000000Z", "v3-19700101T020000000Z", "v4-19700101T030000000Z"])
      expect(fs.readdirSync(layout.backups).sort()).toEqual(made.slice(1))
      expect((yield* backups.list).map((b) => b.id)).toEqual([made[2], made[1]])
      expect((yield* backups.list)[0]!.createdAt).toBe("1970-01-01T03:00:00.000Z")

      // Two backups in the same millisecond get distinct names.
      const keepAll = yield* make({ ...settings, keep: 10 }).pipe(Effect.provide(plenty))
      const a = yield* keepAll.create(v2)
      const b = yield* keepAll.create(v2)
      expect(a.id).not.toBe(b.id)

      // Keeping zero would delete the backup a rollback needs: at least one stays.
      const none = yield* make({ ...settings, keep: 0 }).pipe(Effect.provide(plenty))
      const last = yield* none.create(v2)
      expect(fs.readdirSync(layout.backups)).toEqual([last.id])
    }).pipe(Effect.scoped, Effect.provide(quiet)))

  it.scopedLive("not enough free space (injected) → InsufficientSpace before anything is copied", () =>
    Effect.gen(function*() {
      const { layout, settings } = yield* world
      const backups = yield* make(settings).pipe(Effect.provide(only(10 * 1024 * 1024)))
      const e = yield* Effect.flip(backups.create(v2))
      expect(e._tag).toBe("InsufficientSpace")
      expect(e.message).toMatch(
        /^not enough free space in .*backups: need 64\.\d MiB, 10\.0 MiB available; nothing was copied$/
      )
      expect(fs.readdirSync(layout.backups)).toEqual([])

      // The margin is the caller's: with none, the same space is enough.
      const tight = yield* make({ ...settings, margin: () => 0 }).pipe(Effect.provide(only(10 * 1024 * 1024)))
      yield* tight.create(v2)
      expect(fs.readdirSync(layout.backups)).toHaveLength(1)
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("refuses a missing data dir, and one that holds wemixvisor's own folder", () =>
    Effect.gen(function*() {
      const { home, layout, settings } = yield* world
      const missing = yield* make({ ...settings, dataDir: path.join(home, "nope") }).pipe(Effect.provide(plenty))
      expect((yield* Effect.flip(missing.create(v2))).message).toContain("the data dir does not exist")
      const whole = yield* make({ ...settings, dataDir: home }).pipe(Effect.provide(plenty))
      const e = yield* Effect.flip(whole.create(v2))
      expect(e._tag).toBe("BackupFailed")
      expect(e.message).toContain("contains wemixvisor's own folder")
      expect(fs.existsSync(layout.backups)).toBe(false)
    }).pipe(Effect.provide(quiet)))
})

describe("Backups on a real small file system (tmpfs)", () => {
  /** A 1 MiB tmpfs, or the reason there is none. */
  const tmpfs = Effect.acquireRelease(
    Effect.sync(() => {
      const dir = tempDir("wemixvisor-tmpfs-")
      if (process.getuid?.() !== 0) return { dir, skip: "not running as root (mount needs it)" }
      const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], { encoding: "utf8" })
      return r.status === 0
        ? { dir, skip: undefined }
        : { dir, skip: `mount -t tmpfs failed: ${(r.stderr || r.error?.message || "").trim()}` }
    }),
    ({ dir, skip }) =>
      Effect.sync(() => {
        if (skip === undefined) spawnSync("umount", [dir])
        cleanup(dir)
      })
  )

  it.scopedLive("insufficient space is found by statfs and refused; a copy that fits is made; a disk filling mid-copy is cleaned up", () =>
    Effect.gen(function*() {
      const fsys = yield* tmpfs
      if (fsys.skip !== undefined) {
        console.log(`skipped the tmpfs backup test: ${fsys.skip}`)
        return
      }
      const { data, settings } = yield* world
      const onTmpfs = { ...settings, backupsDir: fsys.dir }
      const free = yield* Effect.provide(FreeSpace, freeSpaceLive).pipe(Effect.flatMap((f) => f.available(fsys.dir)))
      expect(free).toBeLessThanOrEqual(1024 * 1024)

      // 2 MiB of data cannot go onto a 1 MiB disk: refused up front, nothing written.
      fs.writeFileSync(path.join(data, "big.ldb"), crypto.randomBytes(2 * 1024 * 1024))
      const live = yield* make({ ...onTmpfs, margin: () => 0 }).pipe(Effect.provide(freeSpaceLive))
      const e = yield* Effect.flip(live.create(v2))
      expect(e._tag).toBe("InsufficientSpace")
      expect(fs.readdirSync(fsys.dir)).toEqual([])

      // Had the check been fooled, the copy hits ENOSPC: it fails cleanly and leaves nothing.
      const fooled = yield* make({ ...onTmpfs, margin: () => 0 }).pipe(Effect.provide(plenty))
      const full = yield* Effect.flip(fooled.create(v2))
      expect(full.message).toContain("the disk filled up while copying")
      expect(fs.readdirSync(fsys.dir)).toEqual([])

      // Without the big file the data fits (with no margin) and is copied.
      fs.rmSync(path.join(data, "big.ldb"))
      const ok = yield* live.create(v2)
      expect(fs.readFileSync(path.join(ok.path, "state.json"), "utf8")).toBe(
        fs.readFileSync(path.join(data, "state.json"), "utf8")
      )
    }).pipe(Effect.provide(quiet)))
})

describe("Backups.restore", () => {
  it.scopedLive("brings the original bytes back: in-place rewrites undone, new files gone, deleted files back", () =>
    Effect.gen(function*() {
      const { home, data, settings } = yield* world
      const before = snapshot(data)
      const backups = yield* make(settings).pipe(Effect.provide(plenty))
      const backup = yield* backups.create(v2)

      // What a failing new binary does to the data.
      overwriteInPlace(path.join(data, "geth", "chaindata", "000001.ldb"), "CORRUPTED")
      overwriteInPlace(path.join(data, "state.json"), "{\"block\":99}")
      fs.writeFileSync(path.join(data, "geth", "chaindata", "000002.ldb"), "new")
      fs.rmSync(path.join(data, "nodekey"))
      fs.chmodSync(path.join(data, "run.sh"), 0o644)
      expect(snapshot(data)).not.toEqual(before)

      yield* backups.restore(backup)
      expect(snapshot(data)).toEqual(before)
      // Only the data dir and the home's other folders: no .restoring/.restored/.replaced left.
      expect(fs.readdirSync(home).sort()).toEqual(["data", "wemixvisor"])
      // The backup itself is untouched and can be restored again.
      expect(snapshot(backup.path)).toEqual(before)
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("recover: a crash between the two renames is repaired (the complete copy goes in); partial copies are removed", () =>
    Effect.gen(function*() {
      const { home, data, settings } = yield* world
      const before = snapshot(data)
      const backups = yield* make(settings).pipe(Effect.provide(plenty))
      // Crashed state: data renamed away to .replaced, the complete copy still .restored, a stale partial copy.
      fs.renameSync(data, `${data}.replaced-1-aaaaaaaa`)
      fs.cpSync(`${data}.replaced-1-aaaaaaaa`, `${data}.restored-1-bbbbbbbb`, {
        recursive: true,
        verbatimSymlinks: true
      })
      fs.writeFileSync(path.join(`${data}.restored-1-bbbbbbbb`, "marker"), "from the backup")
      fs.mkdirSync(`${data}.restoring-1-cccccccc`)
      yield* backups.recover
      expect(fs.readFileSync(path.join(data, "marker"), "utf8")).toBe("from the backup")
      fs.rmSync(path.join(data, "marker"))
      expect(snapshot(data)).toEqual(before)
      expect(fs.readdirSync(home).sort()).toEqual(["data", "wemixvisor"])

      // Nothing to do when nothing was interrupted.
      yield* backups.recover
      expect(snapshot(data)).toEqual(before)
    }).pipe(Effect.provide(quiet)))

  it.scopedLive("a restore refuses a backup that is gone and leaves the data dir alone", () =>
    Effect.gen(function*() {
      const { data, settings } = yield* world
      const before = snapshot(data)
      const backups = yield* make(settings).pipe(Effect.provide(plenty))
      const e = yield* Effect.flip(
        backups.restore({
          id: "v9-20260101T000000000Z",
          path: path.join(settings.backupsDir, "v9-20260101T000000000Z"),
          upgrade: "v9",
          createdAt: ""
        })
      )
      expect(e.message).toContain("the backup is gone")
      expect(snapshot(data)).toEqual(before)
    }).pipe(Effect.provide(quiet)))
})
