/*
 * The warning rules as pure steps (src/warnings/Rules.ts): what was seen in,
 * what to announce out. The same rules on the Clock: WarningsLive.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { makeHeight } from "../../src/domain/Height.js"
import type { UpgradeStatus } from "../../src/domain/Upgrade.js"
import type { Pace } from "../../src/height/Pace.js"
import * as Rules from "../../src/warnings/Rules.js"
import { pendingUpgrade } from "../support/upgrades.js"

const pace = (p: Partial<Pace> & { readonly now: number }): Pace => ({
  head: Option.some(100),
  movedAt: 0,
  interval: Option.none(),
  ...p
})

describe("node-stalled", () => {
  const none = Option.none<Duration.Duration>()

  it("is announced once the head stood still past max(60 s, 10 block intervals), once per head", () => {
    expect(Rules.stallStep(Option.none(), pace({ now: 60_000 }), none, [])[1]._tag).toBe("Quiet")
    const [state, step] = Rules.stallStep(Option.none(), pace({ now: 61_000 }), none, [])
    expect(step).toMatchObject({
      _tag: "Stalled",
      event: { type: "node-stalled", head: 100, seconds: 61, hint: null }
    })
    expect(state).toEqual(Option.some(100))
    // The same spell: announced already.
    expect(Rules.stallStep(state, pace({ now: 600_000 }), none, [])[1]._tag).toBe("Quiet")
    // With 10 s blocks, 60 s is not a stall; 100 s is.
    const slow = { interval: Option.some(10) }
    expect(Rules.stallStep(Option.none(), pace({ now: 100_000, ...slow }), none, [])[1]._tag).toBe("Quiet")
    expect(Rules.stallStep(Option.none(), pace({ now: 100_001, ...slow }), none, [])[1]._tag).toBe("Stalled")
  })

  it("the configured bound replaces the rule, and a head that moves ends the spell", () => {
    const thirty = Option.some(Duration.seconds(30))
    const slow = { interval: Option.some(10) }
    const [state, step] = Rules.stallStep(Option.none(), pace({ now: 31_000, ...slow }), thirty, [])
    expect(step._tag).toBe("Stalled")
    const [after, moved] = Rules.stallStep(
      state,
      pace({ now: 40_000, head: Option.some(101), movedAt: 40_000 }),
      thirty,
      []
    )
    expect(moved).toEqual({ _tag: "Moving", from: 100, to: 101 })
    expect(after).toEqual(Option.none())
  })

  it("no head yet is no stall (/health says 'no block height' instead)", () => {
    expect(Rules.stallStep(Option.none(), pace({ now: 1e9, head: Option.none() }), none, [])[1]._tag).toBe("Quiet")
  })

  it("a pending upgrade at head + 1 gives the fork hint: schedule it one block earlier", () => {
    const [, step] = Rules.stallStep(Option.none(), pace({ now: 90_000 }), none, [
      { name: "v3", height: 500 },
      { name: "v2", height: 101 }
    ])
    expect(step._tag).toBe("Stalled")
    if (step._tag !== "Stalled") return
    expect(step.event.hint).toContain("upgrade 'v2' waits for block 101")
    expect(step.event.hint).toContain("wemixvisor upgrade schedule v2 100 --force")
    expect(step.event.message).toBe(`the chain head has not moved from 100 for 90s; ${step.event.hint}`)
    expect(Rules.forkHint(100, [{ name: "v3", height: 102 }])).toBeNull()
  })
})

describe("upgrade-soon", () => {
  it("each mark (24 h, 1 h, 10 min) is announced once as the ETA crosses it", () => {
    let state: Rules.SoonState = new Map()
    const step = (eta: number | null, status: UpgradeStatus = "ready", reason: string | null = null) => {
      const [next, out] = Rules.soonStep(state, [pendingUpgrade("v2", 1500000, eta, status, reason)])
      state = next
      return out
    }
    expect(step(null)).toEqual([])
    expect(step(25 * 3600)).toEqual([])
    expect(step(24 * 3600)).toMatchObject([{
      type: "upgrade-soon",
      name: "v2",
      within: "24h",
      ready: true,
      problem: null
    }])
    expect(step(20 * 3600)).toEqual([])
    // The chain slowed: the ETA moved out again; crossing 24 h again is not news.
    expect(step(26 * 3600)).toEqual([])
    expect(step(23 * 3600)).toEqual([])
    const [hour] = step(3599, "scheduled", "checksum mismatch")
    expect(hour).toMatchObject({ within: "1h", ready: false, problem: "checksum mismatch" })
    expect(hour!.message).toBe(`upgrade 'v2' at 1500000 within 1h (${hour!.eta}), NOT READY: checksum mismatch`)
    expect(step(599)).toMatchObject([{ within: "10m", ready: true }])
    expect(step(10)).toEqual([])
  })

  it("an upgrade scheduled inside several marks is announced at the nearest only", () => {
    const [state, out] = Rules.soonStep(new Map(), [pendingUpgrade("v2", 100, 300, "preparing")])
    expect(out).toMatchObject([{ within: "10m", ready: false, problem: "the binary is not prepared yet (preparing)" }])
    expect(Rules.soonStep(state, [pendingUpgrade("v2", 100, 200)])[1]).toEqual([])
  })

  it("while the operator has paused upgrades, the message says it will not fire until resume", () => {
    const [, paused] = Rules.soonStep(new Map(), [pendingUpgrade("v2", 100, 3000, "ready")], true)
    expect(paused).toHaveLength(1)
    expect(paused[0]!.message).toBe(
      `upgrade 'v2' at 100 within 1h (${
        paused[0]!.eta
      }), ready; upgrades PAUSED: it will not fire until \`wemixvisor upgrade resume\``
    )
    const [, running] = Rules.soonStep(new Map(), [pendingUpgrade("v2", 100, 3000, "ready")])
    expect(running[0]!.message).not.toMatch(/PAUSED/)
  })

  it("an upgrade cancelled and scheduled again is a new one; an upgrading one is not announced", () => {
    const [state] = Rules.soonStep(new Map(), [pendingUpgrade("v2", 100, 300)])
    // Gone from the plan: forgotten.
    const [empty] = Rules.soonStep(state, [])
    expect(Rules.soonStep(empty, [pendingUpgrade("v2", 100, 300)])[1]).toHaveLength(1)
    expect(Rules.soonStep(new Map(), [pendingUpgrade("v2", 100, 0, "upgrading")])[1]).toEqual([])
  })

  it("/health: not ready within the hour", () => {
    expect(Rules.notReadySoon([pendingUpgrade("v2", 100, 3601, "scheduled")])).toEqual(Option.none())
    expect(Rules.notReadySoon([pendingUpgrade("v2", 100, 3600)])).toEqual(Option.none())
    expect(
      Option.map(Rules.notReadySoon([pendingUpgrade("v2", 100, 3600, "failed", "checksum mismatch")]), (u) => u.name)
    )
      .toEqual(Option.some("v2"))
    expect(Rules.notReadySoon([pendingUpgrade("v2", 100, null, "scheduled")])).toEqual(Option.none())
  })
})

describe("height-passed-blind", () => {
  const started = { name: "v2", height: makeHeight(105), current_height: makeHeight(110) }

  it("an upgrade fired more than one block late on the first head after failed reads", () => {
    let s = Rules.sawHead(Rules.initialSight, 100, 0)
    s = Rules.readFailed(s, 1_000)
    s = Rules.readFailed(s, 2_000)
    s = Rules.sawHead(s, 110, 31_000)
    expect(Rules.passedBlind(s, started)).toEqual(Option.some({
      type: "height-passed-blind",
      name: "v2",
      height: 105,
      current_height: 110,
      blind_seconds: 30,
      message: "upgrade 'v2' fired at block 110, 5 blocks past its height 105: the node's RPC could not be read for 30s"
    }))
    // The jump is kept while the next head comes in before the check.
    expect(Option.isSome(Rules.passedBlind(Rules.sawHead(s, 111, 32_000), started))).toBe(true)
  })

  it("is not a blind pass: a jump without failed reads, one block late, or a head already past the height", () => {
    const jumped = Rules.sawHead(Rules.sawHead(Rules.initialSight, 100, 0), 110, 5_000)
    expect(Rules.passedBlind(jumped, started)).toEqual(Option.none())
    const blind = Rules.sawHead(Rules.readFailed(Rules.sawHead(Rules.initialSight, 100, 0), 1_000), 106, 9_000)
    expect(Rules.passedBlind(blind, { ...started, current_height: makeHeight(106) })).toEqual(Option.none())
    const late = Rules.sawHead(Rules.readFailed(Rules.sawHead(Rules.initialSight, 107, 0), 1_000), 110, 9_000)
    expect(Rules.passedBlind(late, started)).toEqual(Option.none())
    // Failed reads before the first head (wemixvisor started with the RPC down): nothing to measure from.
    const first = Rules.sawHead(Rules.readFailed(Rules.initialSight, 0), 110, 9_000)
    expect(Rules.passedBlind(first, started)).toEqual(Option.none())
  })
})
