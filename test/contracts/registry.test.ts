/*
 * The reference upgrade registry (contracts/UpgradeRegistry.sol): its
 * committed artifact is what the pinned solc builds (`npm run
 * build:contracts`), and on a real anvil (timer mining, as wemixvisor's tests
 * run it) its owner schedules and cancels, a stranger cannot, and an
 * OpenZeppelin Governor owning it through a timelock schedules an upgrade by
 * a passed proposal and not by a defeated one (test/support/governance.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Anvil, cleanup, freePort, repoRoot, startAnvil, tempDir } from "../support/fixtures.js"
import {
  cancel,
  deployer,
  deployGovernance,
  deployRegistry,
  type Governance,
  passAndExecute,
  proposalState,
  proposeCancel,
  proposeSchedule,
  registryEvents,
  registryHistory,
  revert,
  schedule,
  snapshot,
  stranger,
  vote
} from "../support/governance.js"

interface Compiled {
  readonly abi: unknown
  readonly bytecode: string
}
// scripts/ is plain JavaScript (no declarations): a non-literal specifier keeps tsc from asking for its types.
const buildScript = "../../scripts/build-contracts.mjs"
const { compileRegistry } = (await import(buildScript)) as { compileRegistry: () => Compiled }

it("the committed contracts/UpgradeRegistry.json is what the pinned solc builds (npm run build:contracts)", () => {
  const committed = JSON.parse(fs.readFileSync(path.join(repoRoot, "contracts/UpgradeRegistry.json"), "utf8"))
  const built = compileRegistry()
  expect(built.bytecode).toMatch(/^0x[0-9a-f]+$/)
  expect(committed.bytecode).toBe(built.bytecode)
  expect(committed.abi).toEqual(built.abi)
})

describe("on anvil", () => {
  let dir: string
  let node: Anvil
  let url: string
  beforeAll(async () => {
    dir = tempDir("wemixvisor-contracts-")
    node = await startAnvil({ port: await freePort(), dataDir: dir, blockTime: 0.2 })
    url = `http://127.0.0.1:${node.port}`
  })
  afterAll(async () => {
    await node?.stop()
    if (dir !== undefined) cleanup(dir)
  })

  it("the owner schedules and cancels; anyone else's schedule reverts", async () => {
    const registry = await deployRegistry(url, deployer.address)
    const scheduled = await schedule(url, registry, "v2", 1234n, "{\"binaries\":{}}")
    expect(registryEvents(scheduled.logs, registry)).toEqual([
      { event: "UpgradeScheduled", name: "v2", height: 1234n, info: "{\"binaries\":{}}" }
    ])
    await expect(schedule(url, registry, "evil", 1n, "", stranger)).rejects.toThrow(/OwnableUnauthorizedAccount/)
    await expect(cancel(url, registry, "v2", stranger)).rejects.toThrow(/OwnableUnauthorizedAccount/)
    const cancelled = await cancel(url, registry, "v2")
    expect(registryEvents(cancelled.logs, registry)).toEqual([{ event: "UpgradeCancelled", name: "v2" }])
    expect(await registryHistory(url, registry)).toEqual([
      { event: "UpgradeScheduled", name: "v2", height: 1234n, info: "{\"binaries\":{}}" },
      { event: "UpgradeCancelled", name: "v2" }
    ])
  })

  it("a Governor owning it through a timelock schedules by a passed proposal, not by a defeated one", async () => {
    const gov: Governance = await deployGovernance(url, { votingDelay: 1, votingPeriod: 10, timelockDelay: 60 })
    // the registry answers only to the timelock
    await expect(schedule(url, gov.registry, "v2", 1n, "")).rejects.toThrow(/OwnableUnauthorizedAccount/)

    const info = "{\"binaries\":{\"linux/amd64\":\"https://example.invalid/v2.tar.gz\"}}"
    const passed = await proposeSchedule(gov, "v2", 5000n, info)
    expect(await proposalState(gov, passed.id)).toBe("Pending")
    await vote(gov, passed.id, "for")
    const executed = await passAndExecute(gov, passed.id, passed.description)
    expect(await proposalState(gov, passed.id)).toBe("Executed")
    expect(registryEvents(executed.logs, gov.registry)).toEqual([
      { event: "UpgradeScheduled", name: "v2", height: 5000n, info }
    ])

    // voted against: Defeated, cannot be executed, the registry emits nothing
    const snap = await snapshot(url)
    const defeated = await proposeSchedule(gov, "v3", 9000n, "")
    await vote(gov, defeated.id, "against")
    await expect(passAndExecute(gov, defeated.id, defeated.description)).rejects.toThrow(/Defeated/)
    expect(await proposalState(gov, defeated.id)).toBe("Defeated")
    expect(await registryHistory(url, gov.registry)).toEqual([
      { event: "UpgradeScheduled", name: "v2", height: 5000n, info }
    ])
    await revert(url, snap)

    // and a passed cancel
    const cancelling = await proposeCancel(gov, "v2")
    await vote(gov, cancelling.id, "for")
    const cancelled = await passAndExecute(gov, cancelling.id, cancelling.description)
    expect(registryEvents(cancelled.logs, gov.registry)).toEqual([{ event: "UpgradeCancelled", name: "v2" }])
  })
})
