import * as fs from "node:fs"
import * as path from "node:path"
import { getContractAddress } from "viem"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { blockNumber, waitFor } from "../support/fixtures.js"
import * as Gov from "../support/governance.js"
import { makeScenario, removeCliCopy, type Scenario, settled, stopAndCheck, waitHeight } from "./upgrade-support.js"

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

const historyOf = (s: Scenario) =>
  fs.readFileSync(path.join(s.root, "upgrade-history.jsonl"), "utf8").trim().split("\n").map((l) =>
    JSON.parse(l) as Record<string, unknown>
  )

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
      const line = historyOf(s).find((h) => h.name === "v2" && h.step === "schedule")
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
