import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { make as makeBinaryStore } from "../../src/binaries/BinaryStoreLive.js"
import { make as makePreparer } from "../../src/binaries/PreparerLive.js"
import { loadConfig } from "../../src/config/Config.js"
import type { UpgradeName } from "../../src/domain/Upgrade.js"
import { cleanup, tempDir, writeScript } from "../support/fixtures.js"
import { captureLogs, serve, sha256 } from "./support.js"

/*
 * The live Preparer on a real home: validate → (download, verify, place) →
 * validate → probe. Real scripts and a local HTTP server.
 */

const v2 = "v2" as UpgradeName
const V2 = `#!/bin/sh\ncase "$1" in version) echo "gwemix v2.0.0"; exit 0 ;; esac\nexec sleep 60\n`
const logs = captureLogs()

const setup = (env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const home = yield* Effect.acquireRelease(
      Effect.sync(() => tempDir("wemixvisor-prepare-")),
      (d) => Effect.sync(() => cleanup(d))
    )
    const config = yield* loadConfig({
      env: {
        DAEMON_HOME: home,
        DAEMON_NAME: "gwemix",
        DAEMON_ALLOW_DOWNLOAD_BINARIES: "true",
        WEMIXVISOR_LOG_FORMAT: "json",
        ...env
      }
    }).pipe(Effect.orDie)
    const binaries = makeBinaryStore(config.layout)
    const preparer = yield* makePreparer(config, binaries, {
      download: { retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(1))) },
      probeTimeout: "2 seconds"
    }).pipe(Effect.provide(NodeHttpClient.layer))
    return { config, preparer, bin: config.layout.binary(v2) }
  }).pipe(Effect.provide(logs.layer))

const server = (body: string) =>
  Effect.acquireRelease(
    Effect.promise(() => serve({ "/gwemix": { body: Buffer.from(body) } })),
    (s) => Effect.promise(() => s.close())
  )

describe("Preparer (live)", () => {
  it.scopedLive("not in place: downloaded, verified, placed, probed; in place: nothing downloaded", () =>
    Effect.gen(function*() {
      const { preparer, bin } = yield* setup()
      const srv = yield* server(V2)
      const upgrade = { name: v2, binaries: { any: srv.url("/gwemix") }, checksums: { any: sha256(V2) } }
      const first = yield* preparer.prepare(upgrade)
      expect(first).toMatchObject({
        path: bin,
        version: "gwemix v2.0.0",
        installed: { url: srv.url("/gwemix"), checksum: sha256(V2), kind: "binary" }
      })
      expect(fs.readFileSync(bin, "utf8")).toBe(V2)
      const again = yield* preparer.prepare(upgrade)
      expect(again).toEqual({ path: bin, version: "gwemix v2.0.0", installed: null })
      expect(srv.hits("/gwemix")).toBe(1)
      expect(yield* preparer.version(v2)).toBe("gwemix v2.0.0")
    }).pipe(Effect.provide(logs.layer)))

  it.scopedLive("missing with nothing to fetch it from: BinaryInvalid naming where it belongs", () =>
    Effect.gen(function*() {
      const { preparer, bin } = yield* setup()
      const e = yield* Effect.flip(preparer.prepare({ name: v2, binaries: {}, checksums: {} }))
      expect(e).toMatchObject({ _tag: "BinaryInvalid", path: bin, problem: "does not exist" })
    }))

  it.scopedLive("the probe: advisory when it runs and fails; fatal when the binary cannot run here; off when DAEMON_VERSION_ARGS is empty", () =>
    Effect.gen(function*() {
      const { preparer, bin } = yield* setup()
      writeScript(bin, "#!/bin/sh\necho 'flag provided but not defined: version' >&2\nexit 2\n")
      expect(yield* preparer.prepare({ name: v2, binaries: {}, checksums: {} })).toEqual({
        path: bin,
        version: null,
        installed: null
      })
      expect(logs.lines.some((l) => l.message.includes("the version stays unknown"))).toBe(true)

      // Not a program for this machine: the kernel refuses it and the shell fallback says 126/127.
      fs.writeFileSync(bin, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0xde, 0xad, 0xbe, 0xef]), { mode: 0o755 })
      const e = yield* Effect.flip(preparer.prepare({ name: v2, binaries: {}, checksums: {} }))
      expect(e).toMatchObject({ _tag: "VersionProbeFailed", cannotRun: true })

      const off = yield* setup({ DAEMON_VERSION_ARGS: "" })
      fs.mkdirSync(path.dirname(off.bin), { recursive: true })
      fs.copyFileSync(bin, off.bin)
      fs.chmodSync(off.bin, 0o755)
      expect(yield* off.preparer.prepare({ name: v2, binaries: {}, checksums: {} })).toEqual({
        path: off.bin,
        version: null,
        installed: null
      })
    }).pipe(Effect.provide(logs.layer)))

  it.scopedLive("a refused download (downloads disabled) is DownloadRefused; nothing placed", () =>
    Effect.gen(function*() {
      const { preparer, bin } = yield* setup({ DAEMON_ALLOW_DOWNLOAD_BINARIES: "false" })
      const e = yield* Effect.flip(
        preparer.prepare({ name: v2, binaries: { any: "http://127.0.0.1:9/x" }, checksums: { any: sha256("x") } })
      )
      expect(e._tag).toBe("DownloadRefused")
      expect(fs.existsSync(bin)).toBe(false)
    }))
})
