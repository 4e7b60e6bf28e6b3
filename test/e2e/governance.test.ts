import * as fs from "node:fs"
import * as path from "node:path"
import { getContractAddress } from "viem"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { cliAsync } from "../api/e2e.js"
import { blockNumber, rpc, waitFor } from "../support/fixtures.js"
import * as Gov from "../support/governance.js"
import {
  health,
  makeScenario,
  removeCliCopy,
  type Scenario,
  settled,
  stopAndCheck,
  waitHeight
} from "./upgrade-support.js"

/*
 * The governance source on a real node (ARCHITECTURE §10): a registry
 * deployed on anvil, its events applied through Operations (door
 * `governance`) once buried under DAEMON_GOVERNANCE_CONFIRMATIONS blocks.
 */

const scenarios: Array<Scenario> = []
afterEach(() => {
  for (const s of scenarios) s.dispose()
  scenarios.length = 0
})
afterAll(removeCliCopy)

/** The deployer's first contract on a fresh chain: known before the node runs, so `run` can be told it. */
const FIRST_CONTRACT = getContractAddress({ from: Gov.deployer.address, nonce: 0n })

const scenario = async (env: Record<string, string> = {}) => {
  const s = await makeScenario({
    env: { DAEMON_GOVERNANCE_REGISTRY: FIRST_CONTRACT, DAEMON_GOVERNANCE_CONFIRMATIONS: "3", ...env }
  })
  scenarios.push(s)
  return s
}

const historyOf = (s: Scenario) => s.history() as unknown as Array<Record<string, unknown>>

describe("governance: a registry on chain schedules upgrades", () => {
  it(
    "an owner's UpgradeScheduled is applied after its confirmations (door governance) and fires at its height",
    async () => {
      const s = await scenario()
      s.init(s.version("v1"))
      s.place("v2", s.version("v2"))
      const run = s.start()
      await waitHeight(s.port, 2)
      const url = `http://127.0.0.1:${s.port}`
      expect((await Gov.deployRegistry(url, Gov.deployer.address)).toLowerCase()).toBe(FIRST_CONTRACT.toLowerCase())
      const head = Number(await blockNumber(s.port))
      const H = head + 40
      const receipt = await Gov.schedule(url, FIRST_CONTRACT, "v2", H, "from the registry")
      const u = await waitFor("v2 in the plan", () => s.upgrade("v2"), 20_000)
      expect(u.height).toBe(H)
      // Not before its block was buried under 3 more.
      const atMerge = Number(await blockNumber(s.port))
      expect(atMerge).toBeGreaterThanOrEqual(Number(receipt.blockNumber) + 3)
      // The plan is written before the history line: wait for it.
      const line = await waitFor(
        "v2's schedule line",
        () => historyOf(s).find((h) => h.name === "v2" && h.step === "schedule"),
        10_000
      )
      expect(line).toMatchObject({ door: "governance", result: "ok", peer: `tx ${receipt.transactionHash}` })
      expect((await settled(s, "v2", 40_000)).status).toBe("done")
      expect(s.current()).toBe("upgrades/v2")
      const cursor = JSON.parse(fs.readFileSync(path.join(s.root, "governance.json"), "utf8")) as { block: number }
      expect(cursor.block).toBeGreaterThanOrEqual(Number(receipt.blockNumber))
      await stopAndCheck(run, s)
    },
    90_000
  )
})

// ---------------------------------------------------------------------------
// Through a real Governor, reorganisations, a SIGKILL, a wrong address

/** deployGovernance's transactions from a fresh deployer: token (0), delegate, timelock (2), governor (3), 2 grants, renounce, registry (7). */
const GOVERNED_REGISTRY = getContractAddress({ from: Gov.deployer.address, nonce: 7n })
const GOVERNOR = getContractAddress({ from: Gov.deployer.address, nonce: 3n })
const NO_CODE = "0x000000000000000000000000000000000000dEaD"

interface CursorFile {
  readonly registry: string
  readonly block: number
  readonly hash: string | null
}

const cursorOf = (s: Scenario): CursorFile | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(s.root, "governance.json"), "utf8")) as CursorFile
  } catch {
    return undefined
  }
}

/** Waits for governance.json to satisfy `ok` (by default: to exist, i.e. the follower has taken its first step). */
const waitCursor = (s: Scenario, what: string, ok: (c: CursorFile) => boolean = () => true, timeoutMs = 20_000) =>
  waitFor(`governance.json: ${what} (now ${JSON.stringify(cursorOf(s))})`, () => {
    const c = cursorOf(s)
    return c !== undefined && ok(c) ? c : undefined
  }, timeoutMs)

/** The chain head the supervisor has seen last (its /metrics gauge wemixvisor_chain_head). */
const seenHead = async (s: Scenario): Promise<number | undefined> => {
  try {
    const res = await fetch(`http://${s.env.WEMIXVISOR_API_ADDR}/metrics`, { signal: AbortSignal.timeout(2000) })
    const m = /^wemixvisor_chain_head(?:\{[^}]*\})? (\d+)/m.exec(await res.text())
    return m === null ? undefined : Number(m[1])
  } catch {
    return undefined
  }
}

const governanceLines = (s: Scenario, name: string, step: string): Array<Record<string, unknown>> =>
  s.history().filter((h) => h.name === name && h.step === step) as unknown as Array<Record<string, unknown>>

/** The plan is written before the history: waits for `name`'s `step` line. */
const waitLine = (s: Scenario, name: string, step: string) =>
  waitFor(`the history's ${step} line of ${name}`, () => governanceLines(s, name, step)[0], 10_000)

/** Waiting for its height (the orchestrator may be preparing its binary already). */
const PENDING = ["scheduled", "preparing", "ready"]

const urlOf = (s: Scenario) => `http://127.0.0.1:${s.port}`

const head = async (s: Scenario) => Number(await Gov.blockNumber(urlOf(s)))

/** `votingPeriod` in blocks; the tests mine to its end, so a long one costs no time, only a short one races the chain. */
const deployGoverned = async (s: Scenario, votingPeriod = 20) => {
  const gov = await Gov.deployGovernance(urlOf(s), { votingDelay: 1, votingPeriod, timelockDelay: 2 })
  expect(gov.registry.toLowerCase()).toBe(GOVERNED_REGISTRY.toLowerCase())
  return gov
}

describe("governance: through a Governor and its timelock", () => {
  it(
    "an upgrade voted through (propose, vote for, queue, execute) is merged after its confirmations and fires at its height",
    async () => {
      const s = await scenario({ DAEMON_GOVERNANCE_REGISTRY: GOVERNED_REGISTRY })
      s.init(s.version("v1"))
      s.place("v2", s.version("v2"))
      const run = s.start()
      await waitCursor(s, "the follower's first step")
      const gov = await deployGoverned(s)
      const H = (await head(s)) + 150
      const info = "voted through the governor"
      const p = await Gov.proposeSchedule(gov, "v2", H, info)
      await Gov.vote(gov, p.id, "for")
      const receipt = await Gov.passAndExecute(gov, p.id, p.description)
      expect(await Gov.proposalState(gov, p.id)).toBe("Executed")
      expect(Gov.registryEvents(receipt.logs, gov.registry)).toEqual([
        { event: "UpgradeScheduled", name: "v2", height: BigInt(H), info }
      ])
      expect(Number(receipt.blockNumber)).toBeLessThan(H - 40)

      const u = await waitFor("v2 in the plan", () => s.upgrade("v2"), 20_000)
      expect(u.height).toBe(H)
      expect(PENDING).toContain(u.status)
      expect(await head(s)).toBeGreaterThanOrEqual(Number(receipt.blockNumber) + 3)
      await waitLine(s, "v2", "schedule")
      const lines = governanceLines(s, "v2", "schedule")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatchObject({ door: "governance", result: "ok", peer: `tx ${receipt.transactionHash}` })

      // Nothing more from anyone: the chain reaches H (mined closer to save time) and the supervisor switches.
      expect(await head(s)).toBeLessThan(H - 20)
      await Gov.mineTo(urlOf(s), BigInt(H - 20))
      expect((await settled(s, "v2", 30_000)).status).toBe("done")
      expect(s.current()).toBe("upgrades/v2")
      expect(s.versions()).toEqual(["v1", "v2"])
      await stopAndCheck(run, s)
    },
    60_000
  )

  it("voting progress is visible before it passes: upgrade proposals, the status, the proposal-* events", async () => {
    const s = await scenario({ DAEMON_GOVERNANCE_REGISTRY: GOVERNED_REGISTRY, DAEMON_GOVERNANCE_GOVERNOR: GOVERNOR })
    s.init(s.version("v1"))
    s.place("v2", s.version("v2"))
    const run = s.start()
    await waitCursor(s, "the follower's first step")
    // The proposal must stay active while the CLI reads it three times (a loaded machine: seconds each):
    // 200 blocks of voting, 40 s of the chain's own pace; passAndExecute mines the rest at once.
    const gov = await deployGoverned(s, 200)
    expect(gov.governor.toLowerCase()).toBe(GOVERNOR.toLowerCase())
    const H = (await head(s)) + 400
    const p = await Gov.proposeSchedule(gov, "v2", H, "seen coming")
    await Gov.vote(gov, p.id, "for")

    interface Listed {
      readonly id: string
      readonly state: string
      readonly actions: ReadonlyArray<unknown>
      readonly votes: { readonly for: string }
      readonly quorum: string | null
    }
    const listed = async (): Promise<Listed | undefined> => {
      const r = await cliAsync(["upgrade", "proposals", "--json"], s.env)
      if (r.code !== 0) return undefined
      return (JSON.parse(r.stdout) as { proposals: ReadonlyArray<Listed> }).proposals.find((x) => x.id === String(p.id))
    }
    // Active, with the vote counted and the quorum known, while nothing is scheduled yet.
    const active = await waitFor(
      "the proposal active with its vote in `upgrade proposals`",
      async () => {
        const x = await listed()
        return x?.state === "active" && x.votes.for === String(Gov.tokenSupply) ? x : undefined
      },
      20_000
    )
    expect(active.actions).toEqual([{ kind: "schedule", name: "v2", height: H, info: "seen coming" }])
    expect(active.quorum).toBe(String(Gov.tokenSupply * 4n / 100n))
    expect(s.upgrade("v2")).toBeUndefined()
    const status = JSON.parse((await cliAsync(["upgrade", "status", "--json"], s.env)).stdout) as {
      proposals: ReadonlyArray<{ id: string; state: string }>
    }
    expect(status.proposals.map((x) => [x.id, x.state])).toEqual([[String(p.id), "active"]])
    const text = await cliAsync(["upgrade", "proposals"], s.env)
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(`schedule v2 at ${H}`)

    await Gov.passAndExecute(gov, p.id, p.description)
    await waitFor("executed in `upgrade proposals`", async () => (await listed())?.state === "executed", 20_000)
    await waitFor("v2 in the plan", () => s.upgrade("v2"), 20_000)
    const kinds = ["proposal-created", "proposal-vote", "proposal-succeeded", "proposal-executed"]
    await waitFor("the proposal's events", () => kinds.every((k) => run.events(k).length > 0), 10_000)
    // A final proposal leaves the status (it is history now; `upgrade proposals` still lists it).
    const after = JSON.parse((await cliAsync(["upgrade", "status", "--json"], s.env)).stdout) as {
      proposals: ReadonlyArray<unknown>
    }
    expect(after.proposals).toEqual([])
    await stopAndCheck(run, s)
  }, 60_000)

  it("a defeated proposal (voted against) schedules nothing; the cursor moves past its end", async () => {
    const s = await scenario({ DAEMON_GOVERNANCE_REGISTRY: GOVERNED_REGISTRY })
    s.init(s.version("v1"))
    s.place("v2", s.version("v2"))
    const run = s.start()
    await waitCursor(s, "the follower's first step")
    const gov = await deployGoverned(s)
    const H = (await head(s)) + 500
    const p = await Gov.proposeSchedule(gov, "v2", H, "voted down")
    await Gov.vote(gov, p.id, "against")
    await Gov.mineToEnd(gov, p.id)
    expect(await Gov.proposalState(gov, p.id)).toBe("Defeated")
    await expect(Gov.passAndExecute(gov, p.id, p.description)).rejects.toThrow(/Defeated/)
    const end = await head(s)
    // Its end, buried under the confirmations (3), and a few blocks more.
    await waitCursor(s, `past block ${end + 3}`, (c) => c.block >= end + 3)
    expect(s.upgrade("v2")).toBeUndefined()
    expect(s.history().filter((h) => h.name === "v2")).toEqual([])
    expect(await Gov.registryHistory(urlOf(s), gov.registry)).toEqual([])
    expect(run.logs()).not.toContain("UpgradeScheduled")
    await stopAndCheck(run, s)
  }, 60_000)

  it(
    "a second proposal's UpgradeCancelled cancels the governance-scheduled upgrade before its height; the node is never switched",
    async () => {
      const s = await scenario({ DAEMON_GOVERNANCE_REGISTRY: GOVERNED_REGISTRY })
      s.init(s.version("v1"))
      s.place("v2", s.version("v2"))
      const run = s.start()
      await waitCursor(s, "the follower's first step")
      const gov = await deployGoverned(s)
      const H = (await head(s)) + 250
      const p = await Gov.proposeSchedule(gov, "v2", H, "to be cancelled")
      await Gov.vote(gov, p.id, "for")
      const scheduled = await Gov.passAndExecute(gov, p.id, p.description)
      await waitFor("v2 scheduled", () => PENDING.includes(s.upgrade("v2")?.status ?? ""), 20_000)
      await waitLine(s, "v2", "schedule")

      const c = await Gov.proposeCancel(gov, "v2")
      await Gov.vote(gov, c.id, "for")
      const cancelled = await Gov.passAndExecute(gov, c.id, c.description)
      expect(Gov.registryEvents(cancelled.logs, gov.registry)).toEqual([{ event: "UpgradeCancelled", name: "v2" }])
      expect(Number(cancelled.blockNumber)).toBeLessThan(H - 20)
      const u = await waitFor("v2 cancelled", () => s.upgrade("v2")?.status === "cancelled" && s.upgrade("v2"), 20_000)
      expect(u.height).toBe(H)
      expect(await head(s)).toBeLessThan(H)
      await waitLine(s, "v2", "cancel")
      expect(governanceLines(s, "v2", "schedule")).toMatchObject([
        { door: "governance", result: "ok", peer: `tx ${scheduled.transactionHash}` }
      ])
      expect(governanceLines(s, "v2", "cancel")).toMatchObject([
        { door: "governance", result: "ok", peer: `tx ${cancelled.transactionHash}` }
      ])

      // Past H, seen by the supervisor (its cursor follows its heads): still the genesis binary, started once.
      await Gov.mineTo(urlOf(s), BigInt(H + 10))
      await waitCursor(s, `past block ${H + 3}`, (x) => x.block >= H + 3)
      await waitFor(`the supervisor to see ${H + 10}`, async () => ((await seenHead(s)) ?? 0) >= H + 10)
      expect(s.upgrade("v2")?.status).toBe("cancelled")
      expect(s.current()).toBe("genesis")
      expect(s.versions()).toEqual(["v1"])
      expect(s.history().filter((h) => h.name === "v2").map((h) => h.step)).toEqual(["schedule", "cancel"])
      await stopAndCheck(run, s)
    },
    60_000
  )
})

describe("governance: what the registry's log does not settle", () => {
  it("an UpgradeScheduled reorganised away before its confirmations never counts", async () => {
    // The node mines only a block per transaction and when told to: the revert comes at a known head.
    const s = await scenario({ DAEMON_GOVERNANCE_CONFIRMATIONS: "20" })
    s.init(s.script("v1", `exec ${s.anvil({ mining: false })}`))
    s.place("v2", s.version("v2"))
    const run = s.start()
    const url = urlOf(s)
    await waitFor("the node's RPC", () => blockNumber(s.port))
    expect(await rpc(s.port, "evm_setAutomine", [true])).toBeDefined()
    await waitCursor(s, "the follower's first step")
    expect((await Gov.deployRegistry(url, Gov.deployer.address)).toLowerCase()).toBe(FIRST_CONTRACT.toLowerCase())
    await Gov.mine(url, 25)
    const before = await head(s)
    await waitCursor(s, `past block ${before - 20}`, (c) => c.block >= before - 20)

    const snap = await Gov.snapshot(url)
    const receipt = await Gov.schedule(url, FIRST_CONTRACT, "v2", before + 500, "reorganised away")
    const block = Number(receipt.blockNumber)
    await Gov.mine(url, 10)
    const top = await head(s)
    expect(top).toBe(block + 10)
    // The supervisor saw the event's block 10 deep — not yet 20.
    await waitFor(`the supervisor to see ${top}`, async () => (await seenHead(s)) === top)
    expect(cursorOf(s)!.block).toBeLessThan(block)
    await Gov.revert(url, snap)
    expect(await head(s)).toBe(before)
    expect(await Gov.registryHistory(url, FIRST_CONTRACT)).toEqual([])
    await waitFor("height-reorg", () => run.events("height-reorg").length > 0)

    // Well past where the event's confirmations would have ended.
    await Gov.mine(url, 50)
    const end = await head(s)
    await waitCursor(s, `past block ${end - 20}`, (c) => c.block >= end - 20)
    expect(end - 20).toBeGreaterThan(block + 20)
    expect(s.upgrade("v2")).toBeUndefined()
    expect(s.history().filter((h) => h.name === "v2")).toEqual([])
    // Shallower than the confirmations: no deep-reorganisation alarm.
    expect(run.logs()).not.toContain("is no longer the one read")
    expect(run.alive()).toBe(true)
    await stopAndCheck(run, s)
  }, 60_000)

  it(
    "SIGKILL between an applied event and its cursor write: the next run applies it no second time and it fires at its height",
    async () => {
      const s = await scenario()
      s.init(s.version("v1"))
      s.place("v2", s.version("v2"))
      const url = urlOf(s)
      const first = s.start({ WEMIXVISOR_TEST_CRASH_AT: "governance:applied" })
      await waitCursor(s, "the follower's first step")
      expect((await Gov.deployRegistry(url, Gov.deployer.address)).toLowerCase()).toBe(FIRST_CONTRACT.toLowerCase())
      const H = (await head(s)) + 1300
      const receipt = await Gov.schedule(url, FIRST_CONTRACT, "v2", H, "across a SIGKILL")
      const block = Number(receipt.blockNumber)
      expect((await first.ended).signal).toBe("SIGKILL")
      // Applied to the plan, not to the cursor.
      expect(s.upgrade("v2")?.height).toBe(H)
      expect(PENDING).toContain(s.upgrade("v2")?.status)
      expect(governanceLines(s, "v2", "schedule")).toHaveLength(1)
      const atKill = cursorOf(s)!
      expect(atKill.block).toBeLessThan(block)
      // The node outlives its supervisor.
      expect(await blockNumber(s.port)).toBeDefined()
      expect(s.nodeProcesses()).toHaveLength(1)

      await Gov.mine(url, 1000)
      expect(await head(s)).toBeLessThan(H - 100)
      const second = s.start()
      await waitFor("node-adopted", () => second.events("node-adopted").length > 0)
      await waitCursor(s, `past block ${block}`, (c) => c.block >= block)
      expect(s.plan().filter((u) => u.name === "v2")).toHaveLength(1)
      const lines = governanceLines(s, "v2", "schedule")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatchObject({ door: "governance", result: "ok", peer: `tx ${receipt.transactionHash}` })

      await Gov.mineTo(url, BigInt(H - 20))
      expect((await settled(s, "v2", 30_000)).status).toBe("done")
      expect(s.current()).toBe("upgrades/v2")
      expect(s.plan().filter((u) => u.name === "v2")).toHaveLength(1)
      expect(governanceLines(s, "v2", "schedule")).toHaveLength(1)
      expect(second.logs()).not.toMatch(/refused/)
      await stopAndCheck(second, s)
    },
    60_000
  )

  it("a registry address with no code: run says so at the start and goes on supervising", async () => {
    const s = await scenario({ DAEMON_GOVERNANCE_REGISTRY: NO_CODE })
    s.init(s.version("v1"))
    const run = s.start()
    const line = await waitFor(
      "the no-code error",
      () => run.logs().split("\n").find((l) => l.includes("has no contract code"))
    )
    expect(line).toMatch(/"(logLevel|level)":"ERROR"/i)
    expect(line).toContain("DAEMON_GOVERNANCE_REGISTRY")
    const c = await waitCursor(s, "the follower's first step")
    await waitCursor(s, `past block ${c.block + 5}`, (x) => x.block >= c.block + 5)
    const h = await waitFor("/health 200", async () => (await health(s))?.status === 200 && (await health(s)))
    expect(h.status).toBe(200)
    expect(run.alive()).toBe(true)
    expect(s.plan()).toEqual([])
    await stopAndCheck(run, s)
  }, 60_000)
})
