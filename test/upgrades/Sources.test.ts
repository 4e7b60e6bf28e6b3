/*
 * Binary sources at scheduling time (issue #5): every door — the CLI, RPC,
 * REST (all through Operations) and the drop-in — refuses what could not be
 * downloaded at the height, with nothing written; and the plan transitions of
 * a preparation.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either, Layer, Option, Ref, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { layer as binaryStoreLayer, make as makeBinaryStore } from "../../src/binaries/BinaryStoreLive.js"
import { AppConfig } from "../../src/config/Config.js"
import { type Height, makeHeight } from "../../src/domain/Height.js"
import { schedule } from "../../src/domain/Plan.js"
import { Upgrade, type UpgradeName, UpgradePlan } from "../../src/domain/Upgrade.js"
import { Events, layer as eventsLayer, type WemixvisorEvent } from "../../src/events/Events.js"
import { layer as historyLayer, makeHistory } from "../../src/upgrades/HistoryLive.js"
import { checkSources } from "../../src/upgrades/Operations.js"
import { make as makeOperations } from "../../src/upgrades/OperationsLive.js"
import { PlanStore } from "../../src/upgrades/PlanStore.js"
import { layer as planStoreLayer } from "../../src/upgrades/PlanStoreLive.js"
import { toPrepared, toPreparing } from "../../src/upgrades/Preparation.js"
import { layer as upgradeSourceLayer } from "../../src/upgrades/UpgradeSourceLive.js"
import { writeScript } from "../support/fixtures.js"
import { configLayer, eventually, heightLayer, tempHome, writeAtomically } from "./support.js"

const SHA = "sha256:" + "AB".repeat(32)
const URL = "https://example.org/gwemix-v2"
const allowed = { allowDownloadBinaries: true, unsafeSkipChecksum: false, platform: "linux/amd64" }
const disabled = { ...allowed, allowDownloadBinaries: false }

const refusal = (e: Either.Either<unknown, { readonly field: string; readonly problem: string }>) =>
  Either.isLeft(e) ? `${e.left.field}: ${e.left.problem}` : undefined

describe("checkSources", () => {
  it("no sources: nothing to check", () => {
    expect(checkSources(disabled, "v2", {}, false)).toEqual(Either.right({ binaries: {}, checksums: {} }))
  })

  it("refuses a download that cannot happen here: disabled, no checksum, no binary for this platform", () => {
    expect(refusal(checkSources(disabled, "v2", { binaries: { any: URL }, checksums: { any: SHA } }, false))).toBe(
      `binaries: will not download ${URL}: downloads are disabled; set DAEMON_ALLOW_DOWNLOAD_BINARIES=true`
    )
    expect(refusal(checkSources(allowed, "v2", { binaries: { any: URL } }, false))).toMatch(
      /^checksums: will not download .*: no checksum given .*DAEMON_UNSAFE_SKIP_CHECKSUM=true$/
    )
    expect(
      refusal(
        checkSources(allowed, "v2", { binaries: { "linux/arm64": URL }, checksums: { "linux/arm64": SHA } }, false)
      )
    ).toBe(
      `binaries: upgrade 'v2' has no binary for linux/amd64 or "any" (it has linux/arm64)`
    )
    expect(refusal(checkSources(allowed, "v2", { binaries: { "linux/amd64": "ftp://x/y" } }, false))).toMatch(
      /^binaries\.linux\/amd64: ftp: URLs/
    )
    expect(refusal(checkSources(allowed, "v2", { binaries: { "linux x": URL } }, false))).toMatch(/is not a platform/)
  })

  it("accepts: allowed with a checksum (normalized, also from ?checksum=), skip-checksum when asked, a binary already in place", () => {
    expect(checkSources(allowed, "v2", { binaries: { "linux/amd64": URL }, checksums: { "linux/amd64": SHA } }, false))
      .toEqual(
        Either.right({ binaries: { "linux/amd64": URL }, checksums: { "linux/amd64": SHA.toLowerCase() } })
      )
    expect(checkSources(allowed, "v2", { binaries: { any: `${URL}?checksum=${SHA}` } }, false)).toEqual(
      Either.right({ binaries: { any: URL }, checksums: { any: SHA.toLowerCase() } })
    )
    expect(
      Either.isRight(checkSources({ ...allowed, unsafeSkipChecksum: true }, "v2", { binaries: { any: URL } }, false))
    ).toBe(true)
    // In place (or copied in with --binary): nothing to download, the URL is only kept with the upgrade.
    expect(Either.isRight(checkSources(disabled, "v2", { binaries: { any: URL } }, true))).toBe(true)
  })
})

describe("Operations.schedule with binary sources", () => {
  it.scoped("refused with nothing written when downloads are disabled; accepted once the binary is in place", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const ctx = yield* Layer.build(
        planStoreLayer.pipe(Layer.provideMerge(configLayer(home, "50ms", { DAEMON_ALLOW_DOWNLOAD_BINARIES: "false" })))
      )
      const config = Context.get(ctx, AppConfig)
      const binaries = makeBinaryStore(config.layout)
      const ops = makeOperations({
        store: Context.get(ctx, PlanStore),
        binaries,
        head: Effect.succeed(makeHeight(10)),
        downloads: config,
        history: makeHistory(config.layout.history)
      })
      const cmd = {
        name: "v2" as UpgradeName,
        height: makeHeight(100),
        binaries: { any: URL },
        checksums: { any: SHA },
        force: false
      }
      const err = yield* Effect.flip(ops.schedule(cmd, { door: "cli" }))
      expect(err).toMatchObject({ _tag: "InvalidInput", field: "binaries" })
      expect(err.message).toContain("DAEMON_ALLOW_DOWNLOAD_BINARIES=true")
      expect(fs.existsSync(config.layout.plan)).toBe(false)

      writeScript(config.layout.binary("v2" as UpgradeName), "echo v2\n")
      const u = yield* ops.schedule(cmd, { door: "cli" })
      expect(u).toMatchObject({
        name: "v2",
        status: "scheduled",
        binaries: { any: URL },
        checksums: { any: SHA.toLowerCase() }
      })
    }))
})

describe("the drop-in", () => {
  it.scopedLive("binaries it could not download are refused like the CLI's: .invalid, upgrade-problem, plan unchanged", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const latest = yield* Ref.make<Option.Option<Height>>(Option.some(makeHeight(10)))
      const base = yield* Layer.build(
        Layer.mergeAll(planStoreLayer, binaryStoreLayer, eventsLayer, historyLayer, heightLayer(latest)).pipe(
          Layer.provideMerge(configLayer(home, "50ms", { DAEMON_ALLOW_DOWNLOAD_BINARIES: "false" }))
        )
      )
      const events = yield* Ref.make<ReadonlyArray<WemixvisorEvent>>([])
      yield* Stream.runForEach(yield* Context.get(base, Events).subscribe, (e) => Ref.update(events, (a) => [...a, e]))
        .pipe(Effect.forkScoped)
      yield* Layer.build(upgradeSourceLayer.pipe(Layer.provide(Layer.succeedContext(base))))
      const dropIn = path.join(home, "wemixvisor", "upgrade-info.json")
      // Cosmovisor's form: the checksum in the URL.
      writeAtomically(
        dropIn,
        JSON.stringify({ name: "v2", height: 200, info: { binaries: { "linux/amd64": `${URL}?checksum=${SHA}` } } })
      )
      yield* eventually("upgrade-info.json.invalid", Effect.sync(() => fs.existsSync(`${dropIn}.invalid`)))
      expect(fs.existsSync(path.join(home, "wemixvisor", "upgrade-plan.json"))).toBe(false)
      const problems = (yield* Ref.get(events)).filter((e) => e.type === "upgrade-problem")
      expect(problems).toMatchObject([{
        name: "v2",
        reason: expect.stringMatching(/^binaries: will not download .*DAEMON_ALLOW_DOWNLOAD_BINARIES=true$/)
      }])
    }))
})

describe("preparation in the plan", () => {
  const base = Either.getOrThrow(
    schedule(UpgradePlan.empty, { name: "v2" as UpgradeName, height: makeHeight(100) }, {
      head: undefined,
      force: true,
      now: "t0"
    })
  )
  const u = base.upgrade

  it("scheduled → preparing → ready, or back to scheduled with the reason", () => {
    const preparing = toPreparing(base.plan, u, "t1")
    expect(preparing.upgrades[0]).toMatchObject({ status: "preparing", reason: null, updated_at: "t1" })
    expect(toPrepared(preparing, u, null, "t2").upgrades[0]).toMatchObject({ status: "ready", reason: null })
    expect(toPrepared(preparing, u, "checksum mismatch", "t2").upgrades[0]).toMatchObject({
      status: "scheduled",
      reason: "checksum mismatch"
    })
  })

  it("leaves an upgrade alone that was cancelled, replaced (new created_at) or fired meanwhile", () => {
    const cancelled = new UpgradePlan({ version: 1, upgrades: [new Upgrade({ ...u, status: "cancelled" })] })
    expect(toPrepared(cancelled, u, null, "t2")).toBe(cancelled)
    const replaced = new UpgradePlan({ version: 1, upgrades: [new Upgrade({ ...u, created_at: "t9" })] })
    expect(toPreparing(replaced, u, "t2")).toBe(replaced)
    const upgrading = new UpgradePlan({ version: 1, upgrades: [new Upgrade({ ...u, status: "upgrading" })] })
    expect(toPrepared(upgrading, u, "x", "t2")).toBe(upgrading)
  })
})
