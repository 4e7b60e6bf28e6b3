/*
 * The chain-id guard end to end, against the built CLI and a real anvil
 * (chain id 31337): with DAEMON_CHAIN_ID naming another chain, `run` warns at
 * its start and refuses the upgrade at its height, the node untouched; with
 * the right one, the upgrade runs.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { waitFor } from "../support/fixtures.js"
import {
  advancing,
  makeScenario,
  oneNode,
  removeCliCopy,
  type Run,
  type Scenario,
  settled,
  steps,
  stopAndCheck,
  waitHeight
} from "./upgrade-support.js"

const scenarios: Array<Scenario> = []
afterEach(() => {
  for (const s of scenarios) s.dispose()
  scenarios.length = 0
})
afterAll(removeCliCopy)

const scenario = async (chainId: string) => {
  const s = await makeScenario({ env: { DAEMON_CHAIN_ID: chainId } })
  scenarios.push(s)
  return s
}

/** The run's JSON log lines whose message contains `needle`, as level and text. */
const logged = (run: Run, needle: string): Array<{ readonly level: unknown; readonly message: string }> =>
  run
    .logs()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .flatMap((l) => {
      try {
        const j = JSON.parse(l) as Record<string, unknown>
        const message = Array.isArray(j.message) ? j.message.join(" ") : String(j.message)
        return message.includes(needle) ? [{ level: j.logLevel ?? j.level, message }] : []
      } catch {
        return []
      }
    })

const START_WARNING = "every upgrade will be refused until they agree"

describe("DAEMON_CHAIN_ID against a real node", () => {
  it("another chain: a warning at the start, the upgrade refused at its height, the node untouched", async () => {
    const s = await scenario("1112")
    const H = 20
    s.init(s.version("v1"))
    s.place("v2", s.version("v2"))
    s.schedule({ name: "v2", height: H })
    const run = s.start()

    // Said once the node answers, not first at the height.
    const [warning] = await waitFor("the start warning", () => {
      const w = logged(run, START_WARNING)
      return w.length > 0 ? w : undefined
    })
    expect(warning!.message).toBe(
      `DAEMON_CHAIN_ID is 1112 but the node at ${s.env.DAEMON_RPC_URL} reports chain id 31337: every upgrade will be refused until they agree`
    )
    expect(String(warning!.level)).toMatch(/^WARN/)

    // The refusal, as Outcome.failUntouched records it: plan, history, event.
    const reason = "node reports chain id 31337, DAEMON_CHAIN_ID is 1112"
    const u = await waitFor("the upgrade to be refused", () => {
      const cur = s.upgrade("v2")
      if (cur?.status !== "failed") return undefined
      if (!steps(s, "v2").includes("check:failed")) return undefined
      if (!run.events("upgrade-failed").some((e) => (e.annotations as { name?: unknown }).name === "v2")) {
        return undefined
      }
      return cur
    }, 30_000)
    expect(u.reason).toBe(reason)
    expect(steps(s, "v2")).toEqual(["check:failed"])
    expect(s.history().find((h) => h.name === "v2")?.detail).toBe(reason)
    expect(run.events("upgrade-failed").map((e) => (e.annotations as { reason?: unknown }).reason)).toEqual([reason])
    expect(logged(run, `upgrade v2 at height ${H} failed: ${reason}; the node keeps running on the current binary`))
      .toHaveLength(1)
    expect(run.events("upgrade-started")).toEqual([])

    // The node keeps running the old binary, past the height; nothing journaled.
    await waitHeight(s.port, H + 5)
    await advancing(s.port)
    expect(s.current()).toBe("genesis")
    expect(s.versions()).toEqual(["v1"])
    expect(s.journal()).toBeUndefined()
    await oneNode(s)
    // One start warning in the whole run.
    expect(logged(run, START_WARNING)).toHaveLength(1)
    expect(run.alive()).toBe(true)
    await stopAndCheck(run, s)
  }, 60_000)

  it("the node's chain: no warning, the upgrade runs", async () => {
    const s = await scenario("31337")
    const H = 12
    s.init(s.version("v1"))
    s.place("v2", s.version("v2"))
    s.schedule({ name: "v2", height: H })
    const run = s.start()

    const u = await settled(s, "v2", 30_000)
    expect(u.status).toBe("done")
    expect(u.reason).toBeNull()
    expect(s.current()).toBe("upgrades/v2")
    expect(s.versions()).toEqual(["v1", "v2"])
    expect(steps(s, "v2")).not.toContain("check:failed")
    await advancing(s.port)
    await oneNode(s)
    expect(logged(run, START_WARNING)).toEqual([])
    expect(logged(run, "DAEMON_CHAIN_ID")).toEqual([])
    await stopAndCheck(run, s)
  }, 60_000)
})
