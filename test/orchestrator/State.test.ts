import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import { FileCorrupt } from "../../src/domain/Errors.js"
import { schedule, setStatus } from "../../src/domain/Plan.js"
import { UpgradePlan } from "../../src/domain/Upgrade.js"
import * as State from "../../src/orchestrator/State.js"
import { h, name } from "./fakes.js"

/* The orchestrator's state transitions and views, pure. */

const planOf = (...ups: ReadonlyArray<readonly [string, number]>) =>
  ups.reduce((plan, [n, height]) => {
    const r = schedule(plan, { name: name(n), height: h(height) }, {
      head: undefined,
      force: true,
      now: "2026-01-01T00:00:00.000Z"
    })
    return Either.getOrThrow(r).plan
  }, UpgradePlan.empty)

const seen = (plan: UpgradePlan, height: number) =>
  State.heightSeen(h(height))(State.planSeen({ _tag: "Valid", plan })(State.initial))

describe("State", () => {
  it("nextDue: the lowest pending upgrade not fired, once the head reached it", () => {
    const plan = planOf(["v2", 100], ["v3", 200])
    expect(State.nextDue(seen(plan, 99))).toEqual(Option.none())
    expect(Option.map(State.nextDue(seen(plan, 250)), (u) => u.name)).toEqual(Option.some("v2"))
    const fired = State.fire("v2", "2026-01-01T00:00:00.000Z")(seen(plan, 250))
    expect(Option.map(State.nextDue(fired), (u) => u.name)).toEqual(Option.some("v3"))
    expect(Option.map(State.nextDue(State.unfire("v2")(fired)), (u) => u.name)).toEqual(Option.some("v2"))
  })

  it("a corrupt or missing snapshot fires from the last valid plan (and status keeps showing it)", () => {
    const plan = planOf(["v2", 100])
    const s = State.planSeen({
      _tag: "Corrupt",
      error: new FileCorrupt({ path: "/h/wemixvisor/upgrade-plan.json", problem: "not JSON" })
    })(seen(plan, 100))
    expect(Option.map(State.nextDue(s), (u) => u.name)).toEqual(Option.some("v2"))
    expect(State.pending(s).map((u) => u.name)).toEqual(["v2"])
    expect(State.planProblem(s)).toMatch(
      /upgrade-plan\.json is corrupt: not JSON; upgrades go on from the last valid plan/
    )
    const gone = State.planSeen({ _tag: "Missing" })(seen(plan, 100))
    expect(Option.map(State.nextDue(gone), (u) => u.name)).toEqual(Option.some("v2"))
  })

  it("a corrupt snapshot with no valid plan before it fires nothing", () => {
    const s = State.heightSeen(h(100))(
      State.planSeen({
        _tag: "Corrupt",
        error: new FileCorrupt({ path: "/h/wemixvisor/upgrade-plan.json", problem: "not JSON" })
      })(State.initial)
    )
    expect(State.nextDue(s)).toEqual(Option.none())
    expect(State.planProblem(s)).toMatch(/paused until it is fixed/)
  })

  it("pauseByPlan returns the reason it replaces; paused prefers the journal's", () => {
    const [before, s] = State.pauseByPlan("upgrades paused: corrupt")(State.initial)
    expect(before).toBeNull()
    expect(State.paused(s)).toBe("upgrades paused: corrupt")
    expect(State.paused(State.pauseByJournal("journal corrupt")(s))).toBe("journal corrupt")
    expect(State.paused(State.resumeByJournal(State.pauseByJournal("journal corrupt", true)(s)))).toBe(
      "upgrades paused: corrupt"
    )
  })

  it("last: this run's outcome, else the latest ended upgrade of the plan", () => {
    const plan = setStatus(planOf(["v2", 100]), "v2", "failed", "boom", "2026-01-02T00:00:00.000Z").plan
    expect(State.last(seen(plan, 1))).toEqual({ name: "v2", status: "failed", reason: "boom" })
    expect(State.last(State.closed({ name: name("v2"), status: "done", reason: null })(seen(plan, 1)))).toEqual({
      name: "v2",
      status: "done",
      reason: null
    })
  })
})
