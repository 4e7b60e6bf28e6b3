import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schedule, TestClock } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { type DownloadOptions, installBinary, installUpgradeBinary } from "../../src/binaries/Download.js"
import { probeVersion } from "../../src/binaries/VersionProbe.js"
import { makeLayout } from "../../src/domain/Layout.js"
import type { UpgradeName } from "../../src/domain/Upgrade.js"
import { cleanup, sleep, tempDir, waitFor } from "../support/fixtures.js"
import {
  captureLogs,
  makeTar,
  makeTarGz,
  makeZip,
  type Route,
  serve,
  sha256,
  sha512,
  sleepRegistered,
  type TestEntry
} from "./support.js"

const v2 = "v2" as UpgradeName
const BINARY = "#!/bin/sh\necho gwemix v2.0.0\n"
const allowed = { allowDownloadBinaries: true, unsafeSkipChecksum: false }
/** Retries in real time for the live tests; the schedule itself is tested under TestClock below. */
const fast: DownloadOptions = { retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(2))) }

const home = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = tempDir()
    return { dir, layout: makeLayout(dir, "gwemix") }
  }),
  ({ dir }) => Effect.sync(() => cleanup(dir))
)

const server = (routes: Readonly<Record<string, Route>>) =>
  Effect.acquireRelease(
    Effect.promise(() => serve(routes)),
    (s) => Effect.promise(() => s.close())
  )

/** Nothing of the upgrade on disk, and no staging folder left behind. */
const nothingPlaced = (layout: ReturnType<typeof makeLayout>, name: string) => {
  expect(fs.existsSync(layout.targetDir(name as UpgradeName))).toBe(false)
  const left = fs.existsSync(layout.upgrades) ? fs.readdirSync(layout.upgrades) : []
  expect(left).toEqual([])
}

const logs = captureLogs()
const withHttp = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(Effect.provide(NodeHttpClient.layer), Effect.provide(logs.layer))

describe("installBinary: plain binaries", () => {
  it.scopedLive("right checksum → placed as upgrades/<name>/bin/$DAEMON_NAME, executable, runnable", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const srv = yield* server({
        "/gwemix": { body: Buffer.from(BINARY) },
        "/gwemix-512": { body: Buffer.from(BINARY) }
      })
      const installed = yield* withHttp(installBinary(allowed, layout, v2, srv.url("/gwemix"), sha256(BINARY)))
      expect(installed).toEqual({
        path: layout.binary(v2),
        url: srv.url("/gwemix"),
        checksum: sha256(BINARY),
        kind: "binary",
        bytes: BINARY.length
      })
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(BINARY)
      expect(fs.statSync(layout.binary(v2)).mode & 0o777).toBe(0o755)
      expect(yield* probeVersion(layout.binary(v2), ["version"])).toBe("gwemix v2.0.0")
      expect(fs.readdirSync(layout.upgrades)).toEqual(["v2"])

      const v3 = "v3" as UpgradeName
      const viaSha512 = yield* withHttp(installBinary(allowed, layout, v3, srv.url("/gwemix-512"), sha512(BINARY)))
      expect(viaSha512.checksum).toBe(sha512(BINARY))
      expect(fs.readFileSync(layout.binary(v3), "utf8")).toBe(BINARY)
    }))

  it.scopedLive("wrong checksum → ChecksumMismatch, nothing placed, temp removed", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const srv = yield* server({ "/gwemix": { body: Buffer.from(BINARY) } })
      const err = yield* Effect.flip(
        withHttp(installBinary(allowed, layout, v2, srv.url("/gwemix"), sha256("something else")))
      )
      expect(err._tag).toBe("ChecksumMismatch")
      expect(err.message).toContain(`expected ${sha256("something else")}, got ${sha256(BINARY)}`)
      expect(err.message).toContain("nothing was installed")
      nothingPlaced(layout, "v2")
    }))

  it.scopedLive("downloads disabled → a clear refusal, nothing fetched", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const srv = yield* server({ "/gwemix": { body: Buffer.from(BINARY) } })
      const policy = { allowDownloadBinaries: false, unsafeSkipChecksum: true }
      const err = yield* Effect.flip(withHttp(installBinary(policy, layout, v2, srv.url("/gwemix"), sha256(BINARY))))
      expect(err._tag).toBe("DownloadRefused")
      expect(err.message).toContain("downloads are disabled; set DAEMON_ALLOW_DOWNLOAD_BINARIES=true")
      expect(srv.hits("/gwemix")).toBe(0)
      nothingPlaced(layout, "v2")
    }))

  it.scopedLive("no checksum → refused unless DAEMON_UNSAFE_SKIP_CHECKSUM", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const srv = yield* server({ "/gwemix": { body: Buffer.from(BINARY) } })
      const err = yield* Effect.flip(withHttp(installBinary(allowed, layout, v2, srv.url("/gwemix"), undefined)))
      expect(err._tag).toBe("DownloadRefused")
      expect(err.message).toContain("no checksum given")
      expect(err.message).toContain("DAEMON_UNSAFE_SKIP_CHECKSUM=true")
      expect(srv.hits("/gwemix")).toBe(0)
      nothingPlaced(layout, "v2")

      const bad = yield* Effect.flip(withHttp(installBinary(allowed, layout, v2, srv.url("/gwemix"), "md5:abc")))
      expect(bad.message).toContain("bad checksum")

      const unsafe = { allowDownloadBinaries: true, unsafeSkipChecksum: true }
      const installed = yield* withHttp(installBinary(unsafe, layout, v2, srv.url("/gwemix"), undefined))
      expect(installed.checksum).toBeNull()
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(BINARY)
    }))

  it.scopedLive("a 404 is not retried; a server failing beyond the retries is reported with the attempts", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const srv = yield* server({ "/busy": { body: Buffer.from(BINARY), failFirst: 100 } })
      const missing = yield* Effect.flip(
        withHttp(installBinary(allowed, layout, v2, srv.url("/missing"), sha256(BINARY), fast))
      )
      expect(missing._tag).toBe("DownloadFailed")
      expect(missing.message).toBe(`download of ${srv.url("/missing")} failed after 1 attempt: HTTP 404`)
      expect(srv.hits("/missing")).toBe(1)

      const busy = yield* Effect.flip(
        withHttp(installBinary(allowed, layout, v2, srv.url("/busy"), sha256(BINARY), fast))
      )
      expect(busy.message).toBe(`download of ${srv.url("/busy")} failed after 3 attempts: HTTP 503`)
      expect(srv.hits("/busy")).toBe(3)
      nothingPlaced(layout, "v2")

      const refused = yield* Effect.flip(
        withHttp(installBinary(allowed, layout, v2, "http://127.0.0.1:1/gwemix", sha256(BINARY), fast))
      )
      expect(refused._tag).toBe("DownloadFailed")
      expect(refused.message).toContain("failed after 3 attempts")
      expect(refused.message).toContain("ECONNREFUSED")
      nothingPlaced(layout, "v2")
    }))

  it.scopedLive("no response within responseTimeout, or a body that stalls beyond idleTimeout → retried, then failed", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const body = Buffer.alloc(4096, 0x42)
      const srv = yield* server({ "/hang": { body, hang: true }, "/stall": { body, stallAfter: 1000 } })
      const opts: DownloadOptions = { ...fast, responseTimeout: "200 millis", idleTimeout: "200 millis" }
      const hang = yield* Effect.flip(
        withHttp(installBinary(allowed, layout, v2, srv.url("/hang"), sha256(body), opts))
      )
      expect(hang.message).toBe(`download of ${srv.url("/hang")} failed after 3 attempts: no response within 200ms`)
      expect(srv.hits("/hang")).toBe(3)
      const stall = yield* Effect.flip(
        withHttp(installBinary(allowed, layout, v2, srv.url("/stall"), sha256(body), opts))
      )
      expect(stall.message).toBe(`download of ${srv.url("/stall")} failed after 3 attempts: stalled: no data for 200ms`)
      nothingPlaced(layout, "v2")
    }))

  it.scopedLive("progress is logged at most every progressBytes (or progressInterval)", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const body = Buffer.alloc(10_000, 0x41)
      const srv = yield* server({ "/big": { body, chunk: 1000 } })
      const own = captureLogs()
      yield* installBinary(allowed, layout, v2, srv.url("/big"), sha256(body), {
        progressBytes: 3000,
        progressInterval: "1 hour"
      }).pipe(
        Effect.provide(NodeHttpClient.layer),
        Effect.provide(own.layer)
      )
      const progress = own.lines.map((l) => l.message).filter((m) => /^downloading 'v2': /.test(m))
      // The server writes 1 000-byte chunks, but a loaded machine may hand several to one read: the rule is
      // "at most every progressBytes", so each line is ≥ 3 000 bytes past the one before, 1 to 3 of them.
      const done = progress.map((m) => {
        const p = /^downloading 'v2': ([\d.]+) KiB of 9\.8 KiB \((\d+)%\)$/.exec(m)
        expect(p, m).not.toBeNull()
        return Number(p![1]) * 1024
      })
      expect(done.length).toBeGreaterThanOrEqual(1)
      expect(done.length).toBeLessThanOrEqual(3)
      // Each line's figure is rounded to 0.1 KiB: a step of 3 000 bytes reads at least 2.8 KiB.
      done.forEach((b, i) => expect(b - (i === 0 ? 0 : done[i - 1]!), progress.join("\n")).toBeGreaterThan(2.8 * 1024))
    }))

  it.scopedLive("file:// URLs are read from disk, with the same checks", () =>
    Effect.gen(function*() {
      const { dir, layout } = yield* home
      const artifact = path.join(dir, "staged", "gwemix")
      fs.mkdirSync(path.dirname(artifact))
      fs.writeFileSync(artifact, BINARY)
      const url = pathToFileURL(artifact).toString()
      const wrong = yield* Effect.flip(withHttp(installBinary(allowed, layout, v2, url, sha256("x"))))
      expect(wrong._tag).toBe("ChecksumMismatch")
      nothingPlaced(layout, "v2")
      yield* withHttp(installBinary(allowed, layout, v2, url, sha256(BINARY)))
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(BINARY)
    }))

  it.scopedLive("a binary already in place: the same bytes are fine, different ones are a conflict", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const other = "#!/bin/sh\necho other\n"
      const srv = yield* server({ "/gwemix": { body: Buffer.from(BINARY) }, "/other": { body: Buffer.from(other) } })
      yield* withHttp(installBinary(allowed, layout, v2, srv.url("/gwemix"), sha256(BINARY)))
      yield* withHttp(installBinary(allowed, layout, v2, srv.url("/gwemix"), sha256(BINARY)))
      const err = yield* Effect.flip(withHttp(installBinary(allowed, layout, v2, srv.url("/other"), sha256(other))))
      expect(err._tag).toBe("UpgradeConflict")
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(BINARY)
      expect(fs.readdirSync(layout.upgrades)).toEqual(["v2"])
    }))
})

describe("installBinary: retries on the downloadRetry schedule", () => {
  it.effect("a server failing twice then succeeding: retried after 1s, then 2s, and placed", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const srv = yield* server({ "/gwemix": { body: Buffer.from(BINARY), failFirst: 2 } })
      const fiber = yield* Effect.fork(withHttp(installBinary(allowed, layout, v2, srv.url("/gwemix"), sha256(BINARY))))

      yield* Effect.promise(() => waitFor("first attempt", () => srv.hits("/gwemix") === 1))
      yield* sleepRegistered(1000)
      yield* TestClock.adjust("999 millis")
      yield* Effect.promise(() => sleep(100))
      expect(srv.hits("/gwemix")).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* Effect.promise(() => waitFor("second attempt", () => srv.hits("/gwemix") === 2))

      yield* sleepRegistered(2000)
      yield* TestClock.adjust("1999 millis")
      yield* Effect.promise(() => sleep(100))
      expect(srv.hits("/gwemix")).toBe(2)
      yield* TestClock.adjust("1 millis")

      const installed = yield* Fiber.join(fiber)
      expect(srv.hits("/gwemix")).toBe(3)
      expect(installed.path).toBe(layout.binary(v2))
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(BINARY)
    }).pipe(Effect.scoped))
})

const binEntry = (name = "bin/gwemix"): TestEntry => ({ name, content: BINARY, mode: 0o755 })

describe("installBinary: archives", () => {
  it.scopedLive(".tar.gz with bin/gwemix and other files → the whole tree placed", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const tgz = makeTarGz([
        { name: "bin/", type: "dir" },
        binEntry(),
        { name: "lib/", type: "dir" },
        { name: "lib/libfoo.so", content: "lib" },
        { name: "bin/gwemix-link", type: "symlink", linkname: "gwemix" },
        { name: "lib/hard", type: "hardlink", linkname: "lib/libfoo.so" }
      ])
      const srv = yield* server({ "/gwemix.tar.gz": { body: tgz } })
      const installed = yield* withHttp(installBinary(allowed, layout, v2, srv.url("/gwemix.tar.gz"), sha256(tgz)))
      expect(installed.kind).toBe("tar.gz")
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(BINARY)
      expect(fs.statSync(layout.binary(v2)).mode & 0o777).toBe(0o755)
      expect(fs.readFileSync(path.join(layout.targetDir(v2), "lib", "libfoo.so"), "utf8")).toBe("lib")
      expect(fs.readlinkSync(path.join(layout.targetDir(v2), "bin", "gwemix-link"))).toBe("gwemix")
      expect(fs.readdirSync(layout.upgrades)).toEqual(["v2"])
      expect(yield* probeVersion(layout.binary(v2), ["version"])).toBe("gwemix v2.0.0")
    }))

  it.scopedLive("an archive with $DAEMON_NAME at the top (no extension on the URL) → moved to bin/, made executable", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const tgz = makeTarGz([{ name: "gwemix", content: BINARY, mode: 0o644 }, { name: "README", content: "notes" }])
      const srv = yield* server({ "/download": { body: tgz } })
      const installed = yield* withHttp(installBinary(allowed, layout, v2, srv.url("/download"), sha256(tgz)))
      expect(installed.kind).toBe("tar.gz")
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(BINARY)
      expect(fs.statSync(layout.binary(v2)).mode & 0o777).toBe(0o755)
      expect(fs.existsSync(path.join(layout.targetDir(v2), "README"))).toBe(true)
      expect(fs.existsSync(path.join(layout.targetDir(v2), "gwemix"))).toBe(false)
    }))

  it.scopedLive("the kind comes from the bytes: a plain binary named .tar.gz is a binary; an uncompressed tar is a tar", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const tar = makeTar([binEntry()])
      const srv = yield* server({ "/gwemix.tar.gz": { body: Buffer.from(BINARY) }, "/plain.bin": { body: tar } })
      const a = yield* withHttp(installBinary(allowed, layout, v2, srv.url("/gwemix.tar.gz"), sha256(BINARY)))
      expect(a.kind).toBe("binary")
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(BINARY)
      const v3 = "v3" as UpgradeName
      const b = yield* withHttp(installBinary(allowed, layout, v3, srv.url("/plain.bin"), sha256(tar)))
      expect(b.kind).toBe("tar")
      expect(fs.readFileSync(layout.binary(v3), "utf8")).toBe(BINARY)
    }))

  it.scopedLive(".zip with bin/gwemix (modes and an inner symlink kept) → placed", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const zip = makeZip([
        { name: "bin/", type: "dir" },
        binEntry(),
        { name: "bin/gwemix-link", type: "symlink", linkname: "gwemix" },
        { name: "share/doc.txt", content: "doc" }
      ])
      const srv = yield* server({ "/gwemix.zip": { body: zip } })
      const installed = yield* withHttp(installBinary(allowed, layout, v2, srv.url("/gwemix.zip"), sha256(zip)))
      expect(installed.kind).toBe("zip")
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(BINARY)
      expect(fs.readlinkSync(path.join(layout.targetDir(v2), "bin", "gwemix-link"))).toBe("gwemix")
      expect(fs.readFileSync(path.join(layout.targetDir(v2), "share", "doc.txt"), "utf8")).toBe("doc")
      expect(yield* probeVersion(layout.binary(v2), ["version"])).toBe("gwemix v2.0.0")
    }))

  it.scopedLive("a .zip made by the zip tool (deflated) → placed", () =>
    Effect.gen(function*() {
      if (spawnSync("zip", ["-v"]).status !== 0) {
        console.log("skipped: no `zip` command on this machine (the hand-made zips above still run)")
        return
      }
      const { dir, layout } = yield* home
      const src = path.join(dir, "src")
      fs.mkdirSync(path.join(src, "bin"), { recursive: true })
      fs.writeFileSync(path.join(src, "bin", "gwemix"), BINARY.repeat(50), { mode: 0o755 })
      const out = spawnSync("zip", ["-q", "-r", "-y", path.join(dir, "a.zip"), "bin"], { cwd: src })
      expect(out.status).toBe(0)
      const zip = fs.readFileSync(path.join(dir, "a.zip"))
      const srv = yield* server({ "/a.zip": { body: zip } })
      yield* withHttp(installBinary(allowed, layout, v2, srv.url("/a.zip"), sha256(zip)))
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(BINARY.repeat(50))
    }))

  const evil: ReadonlyArray<readonly [string, ReadonlyArray<TestEntry>, RegExp]> = [
    ["a ../ entry", [binEntry(), { name: "../evil", content: "pwned" }], /entry "\.\.\/evil" escapes the folder/],
    ["a nested ../ entry", [binEntry(), { name: "bin/../../evil", content: "pwned" }], /escapes the folder/],
    ["an absolute path", [binEntry(), { name: "/tmp/wemixvisor-evil-abs", content: "pwned" }], /is an absolute path/],
    [
      "a symlink pointing out",
      [binEntry(), { name: "bin/out", type: "symlink", linkname: "../../../../etc" }],
      /symlink "bin\/out" points outside/
    ],
    [
      "a symlink to an absolute path",
      [binEntry(), { name: "passwd", type: "symlink", linkname: "/etc/passwd" }],
      /points at the absolute path/
    ],
    ["a file written through its own symlink", [{ name: "d", type: "symlink", linkname: "." }, {
      name: "d/l",
      type: "symlink",
      linkname: ".."
    }, binEntry()], /lies under the symlink "d"/],
    ["a fifo", [binEntry(), { name: "pipe", type: "fifo" }], /not allowed/]
  ]

  for (const [what, entries, message] of evil) {
    it.scopedLive(`.tar.gz with ${what} → refused as a whole, nothing placed`, () =>
      Effect.gen(function*() {
        const { dir, layout } = yield* home
        const tgz = makeTarGz(entries)
        const srv = yield* server({ "/a.tar.gz": { body: tgz } })
        const err = yield* Effect.flip(withHttp(installBinary(allowed, layout, v2, srv.url("/a.tar.gz"), sha256(tgz))))
        expect(err._tag).toBe("ArchiveRefused")
        expect(err.message).toMatch(message)
        expect(err.message).toContain("nothing was installed")
        nothingPlaced(layout, "v2")
        expect(fs.existsSync(path.join(layout.root, "evil"))).toBe(false)
        expect(fs.existsSync(path.join(dir, "evil"))).toBe(false)
        expect(fs.existsSync("/tmp/wemixvisor-evil-abs")).toBe(false)
      }))
    it.scopedLive(`.zip with ${what} → refused as a whole, nothing placed`, () =>
      Effect.gen(function*() {
        const { dir, layout } = yield* home
        const zip = makeZip(entries)
        const srv = yield* server({ "/a.zip": { body: zip } })
        const err = yield* Effect.flip(withHttp(installBinary(allowed, layout, v2, srv.url("/a.zip"), sha256(zip))))
        expect(err._tag).toBe("ArchiveRefused")
        expect(err.message).toMatch(what === "a fifo" ? /special file.*not allowed/ : message)
        nothingPlaced(layout, "v2")
        expect(fs.existsSync(path.join(layout.root, "evil"))).toBe(false)
        expect(fs.existsSync(path.join(dir, "evil"))).toBe(false)
        expect(fs.existsSync("/tmp/wemixvisor-evil-abs")).toBe(false)
      }))
  }

  it.scopedLive(".tar.gz with a hard link to a file outside → refused", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const tgz = makeTarGz([binEntry(), { name: "h", type: "hardlink", linkname: "../../etc/passwd" }])
      const srv = yield* server({ "/a.tar.gz": { body: tgz } })
      const err = yield* Effect.flip(withHttp(installBinary(allowed, layout, v2, srv.url("/a.tar.gz"), sha256(tgz))))
      expect(err.message).toMatch(/hard link "h" points outside the folder/)
      nothingPlaced(layout, "v2")
    }))

  it.scopedLive("an archive without the binary, a binary link pointing nowhere, or an xz file → refused", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const noBinary = makeTarGz([{ name: "bin/other", content: BINARY }])
      const dangling = makeZip([{ name: "bin/gwemix", type: "symlink", linkname: "missing" }])
      const xz = Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(64)])
      const srv = yield* server({
        "/a.tgz": { body: noBinary },
        "/b.zip": { body: dangling },
        "/c.tar.xz": { body: xz }
      })
      const a = yield* Effect.flip(withHttp(installBinary(allowed, layout, v2, srv.url("/a.tgz"), sha256(noBinary))))
      expect(a.message).toContain("it holds neither bin/gwemix nor gwemix")
      const b = yield* Effect.flip(withHttp(installBinary(allowed, layout, v2, srv.url("/b.zip"), sha256(dangling))))
      expect(b._tag).toBe("ArchiveRefused")
      const c = yield* Effect.flip(withHttp(installBinary(allowed, layout, v2, srv.url("/c.tar.xz"), sha256(xz))))
      expect(c.message).toContain("xz archives are not supported")
      nothingPlaced(layout, "v2")
    }))

  it.scopedLive("an archive into an upgrade folder that already holds other files: merged, nothing overwritten", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      fs.mkdirSync(path.join(layout.targetDir(v2), "bin"), { recursive: true })
      fs.writeFileSync(path.join(layout.targetDir(v2), "notes.txt"), "operator's")
      const tgz = makeTarGz([binEntry(), { name: "lib/x.so", content: "x" }])
      const clash = makeTarGz([binEntry(), { name: "notes.txt", content: "archive's" }])
      const srv = yield* server({ "/a.tgz": { body: tgz }, "/clash.tgz": { body: clash } })
      const err = yield* Effect.flip(withHttp(installBinary(allowed, layout, v2, srv.url("/clash.tgz"), sha256(clash))))
      expect(err._tag).toBe("IoError")
      expect(err.message).toContain("notes.txt already exists")
      expect(fs.existsSync(layout.binary(v2))).toBe(false)
      yield* withHttp(installBinary(allowed, layout, v2, srv.url("/a.tgz"), sha256(tgz)))
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(BINARY)
      expect(fs.readFileSync(path.join(layout.targetDir(v2), "notes.txt"), "utf8")).toBe("operator's")
      expect(fs.readFileSync(path.join(layout.targetDir(v2), "lib", "x.so"), "utf8")).toBe("x")
      expect(fs.readdirSync(layout.upgrades)).toEqual(["v2"])
    }))
})

describe("installUpgradeBinary: the platform's URL", () => {
  it.scopedLive("picks linux/arm64 on arm64, falls back to any, refuses when neither is there", () =>
    Effect.gen(function*() {
      const { layout } = yield* home
      const arm = "#!/bin/sh\necho arm\n"
      const srv = yield* server({ "/amd64": { body: Buffer.from(BINARY) }, "/arm64": { body: Buffer.from(arm) } })
      const upgrade = {
        name: v2,
        binaries: { "linux/amd64": srv.url("/amd64"), "linux/arm64": srv.url("/arm64") },
        checksums: { "linux/amd64": sha256(BINARY), "linux/arm64": sha256(arm) }
      }
      yield* withHttp(installUpgradeBinary(allowed, layout, upgrade, "linux/arm64"))
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toBe(arm)
      expect(srv.hits("/amd64")).toBe(0)

      const err = yield* Effect.flip(
        withHttp(installUpgradeBinary(allowed, layout, { ...upgrade, name: "v3" as UpgradeName }, "darwin/arm64"))
      )
      expect(err._tag).toBe("NoBinaryForPlatform")
      expect(err.message).toBe(`upgrade 'v3' has no binary for darwin/arm64 or "any" (it has linux/amd64, linux/arm64)`)

      const any = {
        name: "v4" as UpgradeName,
        binaries: { any: srv.url("/amd64") },
        checksums: { any: sha256(BINARY) }
      }
      yield* withHttp(installUpgradeBinary(allowed, layout, any, "linux/riscv64"))
      expect(fs.readFileSync(layout.binary("v4" as UpgradeName), "utf8")).toBe(BINARY)
    }))
})
