import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type IoError, UpgradeConflict } from "../domain/Errors.js"
import type { Layout } from "../domain/Layout.js"
import type { UpgradeName } from "../domain/Upgrade.js"
import { errnoOf, isErrno } from "../platform/Errno.js"
import { fsyncPath, io } from "../platform/Files.js"
import { isAlive } from "../platform/Proc.js"
import { type ArtifactKind, detectKind, extractArchive, locateBinary } from "./Archive.js"
import { makeHasher, type ParsedChecksum, sameDigest } from "./Checksum.js"
import {
  type ArchiveRefused,
  ChecksumMismatch,
  DownloadFailed,
  type DownloadRefused,
  formatBytes,
  type NoBinaryForPlatform
} from "./Errors.js"
import { checkDownloadAllowed, type DownloadPolicy } from "./Policy.js"
import { type BinarySources, selectSource } from "./Sources.js"

export { checkDownloadAllowed, type DownloadPolicy } from "./Policy.js"

/*
 * Fetching an upgrade binary by URL (ARCHITECTURE §1, §3): only when
 * DAEMON_ALLOW_DOWNLOAD_BINARIES is on, and only with a checksum unless
 * DAEMON_UNSAFE_SKIP_CHECKSUM is on. The artifact streams into a staging
 * folder under upgrades/ (same file system as its destination) while it is
 * hashed; it is verified, unpacked if it is an archive, and only then moved
 * into place with rename(2). On any failure the staging folder is removed and
 * upgrades/<name>/ is exactly as it was.
 */

/** One failed attempt; `retryable` says whether another attempt could fare better. */
export class AttemptFailed extends Data.TaggedError("AttemptFailed")<{
  readonly retryable: boolean
  readonly problem: string
}> {}

/**
 * Retries of a download: 1s, 2s, 4s, 8s apart — five attempts in all, about
 * fifteen seconds of waiting, enough for a restarting mirror or a flaky link.
 */
export const downloadRetry: Schedule.Schedule<unknown, AttemptFailed> = Schedule.exponential("1 second", 2).pipe(
  Schedule.intersect(Schedule.recurs(4))
)

export interface DownloadOptions {
  /** Between failed attempts (only retryable failures are retried). */
  readonly retry?: Schedule.Schedule<unknown, AttemptFailed>
  /** Until the response headers arrive (default 30s). */
  readonly responseTimeout?: Duration.DurationInput
  /** Longest wait for the next chunk of the body (default 60s); a stalled transfer is retried. */
  readonly idleTimeout?: Duration.DurationInput
  /** A progress line after at least this many bytes… (default 16 MiB) */
  readonly progressBytes?: number
  /** …or after this long, whichever comes first (default 10s). */
  readonly progressInterval?: Duration.DurationInput
}

/** What was installed. */
export interface Installed {
  /** `upgrades/<name>/bin/$DAEMON_NAME`. */
  readonly path: string
  readonly url: string
  /** The verified checksum; null when it was skipped (DAEMON_UNSAFE_SKIP_CHECKSUM). */
  readonly checksum: string | null
  readonly kind: ArtifactKind
  readonly bytes: number
}

export type InstallError =
  | DownloadRefused
  | DownloadFailed
  | ChecksumMismatch
  | ArchiveRefused
  | UpgradeConflict
  | IoError

// ---------------------------------------------------------------------------
// Staging

const STAGING = /^\.download-.+-(\d+)-[0-9a-f]{8}$/

/** Staging folders of downloads whose process is gone (killed mid-download). */
const removeStaleStaging = (upgrades: string) =>
  Effect.sync(() => {
    let names: Array<string>
    try {
      names = fs.readdirSync(upgrades)
    } catch {
      return
    }
    for (const n of names) {
      const m = STAGING.exec(n)
      if (m && !isAlive(Number(m[1]))) fs.rmSync(path.join(upgrades, n), { recursive: true, force: true })
    }
  })

/** A fresh staging folder under upgrades/, removed when the scope closes (it is empty by then on success). */
const stagingDir = (layout: Layout, name: UpgradeName) =>
  Effect.acquireRelease(
    io("create staging folder in", layout.upgrades, () => {
      fs.mkdirSync(layout.upgrades, { recursive: true })
      const dir = path.join(
        layout.upgrades,
        `.download-${name}-${process.pid}-${crypto.randomBytes(4).toString("hex")}`
      )
      fs.mkdirSync(dir)
      return dir
    }),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

// ---------------------------------------------------------------------------
// Fetching

interface Fetched {
  readonly bytes: number
  readonly digest: string
}

/** The body of a URL as a stream, or a failed attempt. file:// reads a local file. */
const openBody = (
  url: URL,
  responseTimeout: Duration.DurationInput
): Effect.Effect<
  { readonly body: Stream.Stream<Uint8Array, AttemptFailed>; readonly size: number | undefined },
  AttemptFailed,
  HttpClient.HttpClient | Scope.Scope
> => {
  if (url.protocol === "file:") {
    return Effect.try({
      try: () => {
        const file = fileURLToPath(url)
        const size = fs.statSync(file).size
        // Opened when the stream is run, so an attempt that fails earlier leaves no descriptor behind.
        const body = Stream.suspend(() =>
          Stream.fromAsyncIterable(
            fs.createReadStream(file) as AsyncIterable<Buffer>,
            (e) => new AttemptFailed({ retryable: false, problem: (e as Error).message })
          )
        )
        return { body, size }
      },
      catch: (e) => new AttemptFailed({ retryable: false, problem: (e as Error).message })
    })
  }
  return Effect.gen(function*() {
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.followRedirects(10), HttpClient.withScope)
    const response = yield* client.get(url).pipe(
      Effect.timeoutFail({
        duration: responseTimeout,
        onTimeout: () =>
          new AttemptFailed({
            retryable: true,
            problem: `no response within ${Duration.format(Duration.decode(responseTimeout))}`
          })
      }),
      Effect.catchTag(
        "RequestError",
        (e) => Effect.fail(new AttemptFailed({ retryable: e.reason === "Transport", problem: describeHttpError(e) }))
      ),
      Effect.catchTag(
        "ResponseError",
        (e) => Effect.fail(new AttemptFailed({ retryable: true, problem: describeHttpError(e) }))
      )
    )
    if (response.status < 200 || response.status > 299) {
      // 5xx, 408 and 429 may clear up; 404 or 403 will not.
      const retryable = response.status >= 500 || response.status === 408 || response.status === 429
      return yield* new AttemptFailed({ retryable, problem: `HTTP ${response.status}` })
    }
    const length = Number(response.headers["content-length"])
    return {
      body: Stream.mapError(
        response.stream,
        (e) => new AttemptFailed({ retryable: true, problem: describeHttpError(e) })
      ),
      size: Number.isFinite(length) && length >= 0 ? length : undefined
    }
  })
}

const describeHttpError = (e: { readonly message: string; readonly cause?: unknown }): string => {
  const c = e.cause
  if (c instanceof Error) {
    const code = errnoOf(c)
    return code ? `${c.message} (${code})` : c.message
  }
  return e.message
}

/** A failed write of the artifact: the disk, not the link, so not retried. */
const cannotWrite = (file: string) => (e: PlatformError) =>
  new AttemptFailed({
    retryable: false,
    problem: `cannot write ${file}: ${
      e._tag === "SystemError" && e.cause instanceof Error ? e.cause.message : e.message
    }`
  })

/** One attempt: the whole body into `file` (truncated first), hashed on the way. */
const fetchOnce = (
  url: URL,
  file: string,
  algorithm: ParsedChecksum["algorithm"],
  label: string,
  opts: Required<Omit<DownloadOptions, "retry">>
): Effect.Effect<Fetched, AttemptFailed, HttpClient.HttpClient> =>
  Effect.scoped(
    Effect.gen(function*() {
      const { body, size } = yield* openBody(url, opts.responseTimeout)
      const artifact = yield* FileSystem.FileSystem.pipe(
        Effect.flatMap((files) => files.open(file, { flag: "w", mode: 0o600 })),
        Effect.mapError(cannotWrite(file))
      )
      const hash = makeHasher(algorithm)
      const progressMs = Duration.toMillis(Duration.decode(opts.progressInterval))
      const start = yield* Clock.currentTimeMillis
      const state = { bytes: 0, loggedBytes: 0, loggedAt: start }
      const total = size === undefined ? "" : ` of ${formatBytes(size)}`
      yield* Effect.logInfo(
        `downloading ${label} from ${url.href}${size === undefined ? "" : ` (${formatBytes(size)})`}`
      )
      const progress = (chunk: Uint8Array) =>
        Effect.gen(function*() {
          hash.update(chunk)
          state.bytes += chunk.byteLength
          const now = yield* Clock.currentTimeMillis
          if (state.bytes - state.loggedBytes >= opts.progressBytes || now - state.loggedAt >= progressMs) {
            const pct = size ? ` (${Math.floor((state.bytes / size) * 100)}%)` : ""
            yield* Effect.logInfo(`downloading ${label}: ${formatBytes(state.bytes)}${total}${pct}`)
            state.loggedBytes = state.bytes
            state.loggedAt = now
          }
        })
      yield* body.pipe(
        Stream.timeoutFailCause(
          () =>
            Cause.fail(
              new AttemptFailed({
                retryable: true,
                problem: `stalled: no data for ${Duration.format(Duration.decode(opts.idleTimeout))}`
              })
            ),
          opts.idleTimeout
        ),
        Stream.tap(progress),
        Stream.run(Sink.forEach((chunk: Uint8Array) => Effect.mapError(artifact.writeAll(chunk), cannotWrite(file))))
      )
      if (size !== undefined && state.bytes !== size) {
        return yield* new AttemptFailed({
          retryable: true,
          problem: `connection closed after ${state.bytes} of ${size} bytes`
        })
      }
      yield* Effect.mapError(artifact.sync, cannotWrite(file))
      return { bytes: state.bytes, digest: hash.digest("hex") }
    })
  ).pipe(Effect.provide(NodeFileSystem.layer))

/** Fetches with retries; the last failure names how many attempts there were. */
const fetchWithRetry = (
  url: string,
  file: string,
  algorithm: ParsedChecksum["algorithm"],
  label: string,
  options: DownloadOptions
): Effect.Effect<Fetched, DownloadFailed, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const opts = {
      responseTimeout: options.responseTimeout ?? "30 seconds",
      idleTimeout: options.idleTimeout ?? "60 seconds",
      progressBytes: options.progressBytes ?? 16 * 1024 * 1024,
      progressInterval: options.progressInterval ?? "10 seconds"
    }
    // Checked by checkDownloadAllowed before this runs.
    const parsed = new URL(url)
    const attempts = yield* Ref.make(0)
    return yield* Ref.updateAndGet(attempts, (n) => n + 1).pipe(
      Effect.flatMap((n) =>
        fetchOnce(parsed, file, algorithm, label, opts).pipe(
          Effect.tapError((e) =>
            e.retryable
              ? Effect.logWarning(`download attempt ${n} for ${label} failed: ${e.problem}`)
              : Effect.logWarning(`download for ${label} failed: ${e.problem} (not retried)`)
          )
        )
      ),
      Effect.retry({ schedule: options.retry ?? downloadRetry, while: (e) => e.retryable }),
      Effect.catchTag("AttemptFailed", (e) =>
        Effect.flatMap(Ref.get(attempts), (n) =>
          Effect.fail(new DownloadFailed({ url, attempts: n, problem: e.problem }))))
    )
  })

// ---------------------------------------------------------------------------
// Placing

/** Same bytes? (sha256 of both files) */
const sameFile = (a: string, b: string) => {
  const h = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex")
  return h(a) === h(b)
}

/** Every regular file and folder of a tree, fsynced (folders after their contents). */
const fsyncTree = (p: string) => {
  const st = fs.lstatSync(p)
  if (st.isDirectory()) {
    for (const e of fs.readdirSync(p)) fsyncTree(path.join(p, e))
    fsyncPath(p)
  } else if (st.isFile()) fsyncPath(p)
}

/** Entries of `from` that also exist in `to` as something other than two folders (would be overwritten). */
const collisions = (from: string, to: string, rel = ""): Array<string> => {
  const out: Array<string> = []
  for (const e of fs.readdirSync(path.join(from, rel))) {
    const r = path.join(rel, e)
    let dst: fs.Stats
    try {
      dst = fs.lstatSync(path.join(to, r))
    } catch {
      continue
    }
    if (dst.isDirectory() && fs.lstatSync(path.join(from, r)).isDirectory()) out.push(...collisions(from, to, r))
    else out.push(r)
  }
  return out
}

/** Moves every entry of `from` into `to` by rename, folder by folder; `last` (a relative path) goes last. */
const mergeInto = (from: string, to: string, last: string) => {
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(from, rel))) {
      const r = path.join(rel, e)
      if (r === last) continue
      const dst = path.join(to, r)
      if (fs.existsSync(dst)) walk(r)
      else fs.renameSync(path.join(from, r), dst)
    }
  }
  walk("")
  fs.mkdirSync(path.dirname(path.join(to, last)), { recursive: true })
  fs.renameSync(path.join(from, last), path.join(to, last))
}

/**
 * Moves a staged tree (holding bin/$DAEMON_NAME) to upgrades/<name>/. When
 * that folder does not exist (or is empty) the whole tree goes with one
 * rename; otherwise entry by entry with the binary last, so its presence
 * always means the rest is there. Never overwrites: a different binary
 * already in place is a conflict, the same one is fine.
 */
const placeTree = (tree: string, layout: Layout, name: UpgradeName): Effect.Effect<void, UpgradeConflict | IoError> =>
  Effect.gen(function*() {
    const dest = layout.targetDir(name)
    const binRel = path.join("bin", layout.daemonName)
    const existing = layout.binary(name)
    if (fs.existsSync(existing)) {
      if (yield* io("compare", existing, () => sameFile(existing, path.join(tree, binRel)))) return
      return yield* new UpgradeConflict({
        name,
        problem: `a different binary is already at ${existing}; remove it first or choose another name`
      })
    }
    yield* io("install", dest, () => {
      fsyncTree(tree)
      let empty = false
      try {
        empty = fs.readdirSync(dest).length === 0
      } catch (e) {
        if (!isErrno(e, "ENOENT")) throw e
        empty = true
      }
      if (empty) {
        // rename(2) onto a missing or empty folder: all of the tree appears at once.
        fs.renameSync(tree, dest)
      } else {
        const clash = collisions(tree, dest)
        if (clash.length > 0) throw new Error(`${path.join(dest, clash[0]!)} already exists`)
        mergeInto(tree, dest, binRel)
        fsyncPath(path.dirname(existing))
        fsyncPath(dest)
      }
      fsyncPath(layout.upgrades)
    })
  })

/**
 * Downloads `url` for upgrade `name`, verifies it against `checksum`, unpacks
 * it when it is an archive, and installs `upgrades/<name>/bin/$DAEMON_NAME`
 * (mode 755) atomically. Always downloads: a caller that finds the binary
 * already in place skips this. Nothing is left behind on failure.
 */
export const installBinary = (
  policy: DownloadPolicy,
  layout: Layout,
  name: UpgradeName,
  url: string,
  checksum: string | undefined,
  options: DownloadOptions = {}
): Effect.Effect<Installed, InstallError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const expected = yield* checkDownloadAllowed(policy, url, checksum)
    if (expected === undefined) {
      yield* Effect.logWarning(`downloading ${url} for '${name}' WITHOUT a checksum (DAEMON_UNSAFE_SKIP_CHECKSUM=true)`)
    }
    yield* removeStaleStaging(layout.upgrades)
    return yield* Effect.scoped(
      Effect.gen(function*() {
        const staging = yield* stagingDir(layout, name)
        const artifact = path.join(staging, "artifact")
        const fetched = yield* fetchWithRetry(url, artifact, expected?.algorithm ?? "sha256", `'${name}'`, options)
        if (expected !== undefined && !sameDigest(fetched.digest, expected.hex)) {
          return yield* new ChecksumMismatch({
            url,
            algorithm: expected.algorithm,
            expected: expected.hex,
            actual: fetched.digest
          })
        }
        yield* Effect.logInfo(
          `downloaded '${name}' (${formatBytes(fetched.bytes)}), ${
            expected ? `${expected.algorithm} verified` : "checksum NOT verified"
          }`
        )
        const kind = yield* detectKind(artifact, url)
        const tree = path.join(staging, "tree")
        yield* io("create", tree, () => fs.mkdirSync(tree))
        if (kind === "binary") {
          yield* io("stage", tree, () => {
            fs.mkdirSync(path.join(tree, "bin"))
            fs.renameSync(artifact, path.join(tree, "bin", layout.daemonName))
            fs.chmodSync(path.join(tree, "bin", layout.daemonName), 0o755)
          })
        } else {
          yield* extractArchive(kind, artifact, tree, url)
          yield* locateBinary(tree, layout.daemonName, url)
        }
        yield* placeTree(tree, layout, name)
        const installed: Installed = {
          path: layout.binary(name),
          url,
          checksum: expected ? `${expected.algorithm}:${expected.hex}` : null,
          kind,
          bytes: fetched.bytes
        }
        yield* Effect.logInfo(`installed ${installed.path} (${kind})`)
        return installed
      })
    )
  }).pipe(Effect.withSpan("Download.installBinary", { attributes: { name, url } }))

/**
 * The binary of an upgrade for this platform (or `any`), installed by
 * `installBinary`.
 */
export const installUpgradeBinary = (
  policy: DownloadPolicy,
  layout: Layout,
  upgrade: { readonly name: UpgradeName } & BinarySources,
  platform?: string,
  options: DownloadOptions = {}
): Effect.Effect<Installed, InstallError | NoBinaryForPlatform, HttpClient.HttpClient> =>
  Effect.flatMap(
    selectSource(upgrade.name, upgrade, platform),
    (source) => installBinary(policy, layout, upgrade.name, source.url, source.checksum, options)
  )
