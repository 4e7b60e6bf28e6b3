import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { heightFromBigInt, HeightFromString, makeHeight } from "../../src/domain/Height.js"
import { targetOfLink } from "../../src/domain/Layout.js"
import { cancel, pendingUpgrades, schedule, setStatus } from "../../src/domain/Plan.js"
import { UpgradeName, UpgradePlan } from "../../src/domain/Upgrade.js"

const name = (s: string) => Schema.decodeSync(UpgradeName)(s)
const now = "2026-11-22T00:00:00.000Z"

describe("Height", () => {
  it("is a non-negative safe integer; never rounded", () => {
    expect(makeHeight(0)).toBe(0)
    expect(() => makeHeight(-1)).toThrow()
    expect(() => makeHeight(1.5)).toThrow()
    expect(() => makeHeight(2 ** 53)).toThrow()
    expect(heightFromBigInt(2n ** 53n - 1n)).toBe(Number.MAX_SAFE_INTEGER)
    expect(heightFromBigInt(2n ** 53n)).toBeUndefined()
    expect(heightFromBigInt(-1n)).toBeUndefined()
  })
  it("a height past 2^53 - 1 is told the limit, not that it is not whole (issue #12 item 16)", async () => {
    const { decodeHeightArg } = await import("../../src/upgrades/Operations.js")
    for (const raw of ["9007199254740992", "9007199254740993", "99999999999999999999"]) {
      const r = decodeHeightArg(raw)
      expect(Either.isLeft(r) && r.left.message, raw).toBe(
        `invalid height: a height must be at most ${Number.MAX_SAFE_INTEGER}`
      )
    }
    const frac = Schema.decodeUnknownEither(Schema.Struct({ h: HeightFromString }))({ h: "1.5" })
    expect(Either.isLeft(frac)).toBe(true)
  })
  it("parses from text strictly", () => {
    const p = Schema.decodeEither(HeightFromString)
    expect(p("1500000")).toEqual(Either.right(1500000))
    for (const bad of ["-1", "1e6", "0x10", "1.0", "", " 1", "99999999999999999999"]) {
      expect(Either.isLeft(p(bad))).toBe(true)
    }
  })
})

describe("UpgradeName", () => {
  it("accepts folder-safe names only", () => {
    const ok = Schema.is(UpgradeName)
    for (const good of ["v2", "v2.0.0", "Mont_Blanc-1", "a".repeat(64)]) expect(ok(good)).toBe(true)
    for (const bad of ["", "..", "../x", "a/b", ".hidden", "-x", "a".repeat(65), "v 2", "v2\n"]) {
      expect(ok(bad)).toBe(false)
    }
  })
})

describe("current link", () => {
  it("names genesis or an upgrade", () => {
    expect(targetOfLink("genesis")).toBe("genesis")
    expect(targetOfLink("upgrades/v2")).toBe("v2")
    expect(targetOfLink("/abs/wemixvisor/upgrades/v2/")).toBe("v2")
    expect(targetOfLink("elsewhere")).toBeUndefined()
  })
})

describe("plan rules", () => {
  const h = makeHeight
  const base = (() => {
    const a = schedule(UpgradePlan.empty, { name: name("v2"), height: h(100) }, { head: h(10), force: false, now })
    return Either.getOrThrow(a).plan
  })()

  it("schedules above the head, refuses at or below it unless forced", () => {
    expect(Either.isLeft(schedule(base, { name: name("v3"), height: h(10) }, { head: h(10), force: false, now }))).toBe(
      true
    )
    expect(Either.isRight(schedule(base, { name: name("v3"), height: h(10) }, { head: h(10), force: true, now }))).toBe(
      true
    )
    expect(Either.isRight(schedule(base, { name: name("v3"), height: h(11) }, { head: h(10), force: false, now })))
      .toBe(true)
  })

  it("refuses a known name unless it is cancelled or failed", () => {
    const dup = schedule(base, { name: name("v2"), height: h(200) }, { head: h(10), force: false, now })
    expect(Either.isLeft(dup)).toBe(true)
    const cancelled = setStatus(base, "v2", "cancelled", null, now).plan
    const again = Either.getOrThrow(
      schedule(cancelled, { name: name("v2"), height: h(200) }, { head: h(10), force: false, now })
    )
    expect(again.plan.upgrades).toHaveLength(1)
    expect(again.upgrade.status).toBe("scheduled")
    expect(again.upgrade.height).toBe(200)
  })

  it("lists pending upgrades lowest height first", () => {
    const p =
      Either.getOrThrow(schedule(base, { name: name("v1"), height: h(50) }, { head: h(10), force: false, now })).plan
    expect(pendingUpgrades(p).map((u) => u.name)).toEqual(["v1", "v2"])
  })

  it("cancels by name or the only pending one; refuses unknown, in progress and ended", () => {
    expect(Either.getOrThrow(cancel(base, undefined, now)).upgrade.status).toBe("cancelled")
    expect(Either.getOrThrow(cancel(base, name("v2"), now)).upgrade.status).toBe("cancelled")
    expect(Either.flip(cancel(base, name("nope"), now)).pipe(Either.getOrThrow)._tag).toBe("UpgradeNotFound")
    const upgrading = setStatus(base, "v2", "upgrading", null, now).plan
    expect(Either.flip(cancel(upgrading, name("v2"), now)).pipe(Either.getOrThrow)._tag).toBe("UpgradeConflict")
    const done = setStatus(base, "v2", "done", null, now).plan
    expect(Either.isLeft(cancel(done, name("v2"), now))).toBe(true)
    expect(Either.isLeft(cancel(UpgradePlan.empty, undefined, now))).toBe(true)
  })

  it("setStatus returns the same plan when nothing changes", () => {
    expect(setStatus(base, "v2", "scheduled", null, now).plan).toBe(base)
  })
})
