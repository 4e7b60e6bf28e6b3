import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Pace from "../../src/height/Pace.js"

const T0 = Date.parse("2026-12-02T00:00:00Z")

/** Heads `from`..`to`, one every `everyMs`, the first at T0. */
const heads = (from: number, to: number, everyMs: number) => {
  let window: ReadonlyArray<Pace.HeadSample> = []
  for (let h = from; h <= to; h++) window = Pace.addHead(window, { height: h, at: T0 + (h - from) * everyMs })
  return window
}

const paceOf = (window: ReadonlyArray<Pace.HeadSample>, now: number): Pace.Pace => ({
  now,
  head: Option.fromNullable(window[window.length - 1]?.height),
  movedAt: window[window.length - 1]?.at ?? T0,
  interval: Pace.blockInterval(window)
})

describe("the block interval", () => {
  it("is a moving average over the last 32 heads", () => {
    // 40 heads 2 s apart, then 32 heads 1 s apart: only the last 32 count.
    let window = heads(1, 40, 2000)
    const last = window[window.length - 1]!
    for (let i = 1; i <= 32; i++) window = Pace.addHead(window, { height: 40 + i, at: last.at + i * 1000 })
    expect(window).toHaveLength(Pace.INTERVAL_WINDOW)
    expect(Option.getOrThrow(Pace.blockInterval(window))).toBeCloseTo(1, 9)
  })

  it("counts a jump of several blocks between two reads as that many blocks", () => {
    const window = [{ height: 100, at: T0 }, { height: 105, at: T0 + 5000 }, { height: 110, at: T0 + 10_000 }]
    expect(Pace.blockInterval(window)).toEqual(Option.some(1))
  })

  it("is unknown until two heads were seen", () => {
    expect(Pace.blockInterval([])).toEqual(Option.none())
    expect(Pace.blockInterval([{ height: 1, at: T0 }])).toEqual(Option.none())
  })
})

describe("ETA", () => {
  it("is the blocks to go times the interval, less the time since the head moved; an ISO time in whole seconds", () => {
    const window = heads(1000, 1010, 1500)
    const now = window[window.length - 1]!.at + 1500
    const eta = Pace.etaOf(paceOf(window, now), 1110)
    expect(eta.eta_seconds).toBe(149) // 100 × 1.5 s − 1.5 s = 148.5 s, rounded
    expect(eta.eta).toBe(new Date(now + 149_000).toISOString().replace(/\.\d{3}Z$/, "Z"))
    expect(eta.eta).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  })

  it("is 0 once the height is due, and unknown without a measured interval", () => {
    const window = heads(1000, 1010, 1000)
    const now = window[window.length - 1]!.at
    expect(Pace.etaOf(paceOf(window, now), 1005).eta_seconds).toBe(0)
    expect(Pace.etaOf(paceOf(window.slice(-1), now), 2000)).toEqual(Pace.UNKNOWN_ETA)
  })
})

describe("a stall", () => {
  it("is max(60 s, 10 block intervals) without a move, unless configured", () => {
    const fast = heads(1, 10, 1000)
    const slow = heads(1, 10, 30_000)
    const at = (w: ReadonlyArray<Pace.HeadSample>, ms: number) => paceOf(w, w[w.length - 1]!.at + ms)
    expect(Duration.toMillis(Pace.stallAfter(at(fast, 0), Option.none()))).toBe(60_000)
    expect(Duration.toMillis(Pace.stallAfter(at(slow, 0), Option.none()))).toBe(300_000)
    expect(Pace.isStalled(at(fast, 60_000), Option.none())).toBe(false)
    expect(Pace.isStalled(at(fast, 60_001), Option.none())).toBe(true)
    expect(Pace.isStalled(at(slow, 200_000), Option.none())).toBe(false)
    expect(Pace.isStalled(at(slow, 300_001), Option.none())).toBe(true)
    expect(Pace.isStalled(at(fast, 20_001), Option.some(Duration.seconds(20)))).toBe(true)
  })

  it("needs a head: before the first one there is nothing to stall", () => {
    expect(Pace.isStalled(paceOf([], T0 + 3_600_000), Option.none())).toBe(false)
  })
})
