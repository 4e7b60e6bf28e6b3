/*
 * The smoke of the built CLI, end to end and nothing more: `init` a home with
 * a genesis binary, `run` it on a real node (anvil), `upgrade schedule` one
 * upgrade through the CLI, the upgrade is done and the chain goes on under
 * the new binary, SIGTERM stops it all. scripts/node-smoke.mjs runs this file
 * under each tested Node line (the CLI runs under process.execPath, the Node
 * running vitest); upgrade.test.ts has the thorough checks of an upgrade.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import { cli } from "../api/e2e.js"
import {
  advancing,
  blockHash,
  makeScenario,
  oneNode,
  removeCliCopy,
  type Scenario,
  settled,
  steps,
  stopAndCheck,
  waitHeight
} from "./upgrade-support.js"

const scenarios: Array<Scenario> = []
afterEach(() => {
  for (const s of scenarios.splice(0)) s.dispose()
})
afterAll(removeCliCopy)

describe(`smoke on Node ${process.version}`, () => {
  it("init → run on anvil → upgrade schedule → done on the new binary → stop", async () => {
    const s = await makeScenario()
    scenarios.push(s)
    s.init(s.version("v1"))
    const run = s.start()
    // The supervisor runs under the Node running this file.
    expect(fs.realpathSync(`/proc/${run.proc.pid}/exe`)).toBe(fs.realpathSync(process.execPath))

    const [, head] = await advancing(s.port, 20_000)
    const hash1 = await blockHash(s.port, 1)
    expect(hash1).toMatch(/^0x[0-9a-f]{64}$/)
    // ~4 s ahead at 5 blocks/s: the node keeps mining while the CLI starts and checks the head (above it, or exit 2).
    const H = head + 20
    const scheduled = cli(["upgrade", "schedule", "v2", String(H), "--binary", s.version("v2")], s.env)
    expect(scheduled.stderr).toBe("")
    expect(scheduled.stdout).toBe(`✓ Upgrade 'v2' scheduled for block height ${H}\n`)
    expect(scheduled.code).toBe(0)

    const u = await settled(s, "v2", 30_000)
    expect(u.status).toBe("done")
    expect(u.reason).toBeNull()
    expect(steps(s, "v2").at(-1)).toBe("done:ok")
    expect(s.current()).toBe("upgrades/v2")
    expect(s.versions()).toEqual(["v1", "v2"])
    expect(run.events("upgrade-completed")).toHaveLength(1)

    // v2 serves the same chain past H.
    await waitHeight(s.port, H + 2)
    expect(await blockHash(s.port, 1)).toBe(hash1)
    await oneNode(s)
    const started = run.events("node-started").map((e) => (e.annotations as { binary?: string }).binary)
    expect(started).toEqual([
      expect.stringMatching(/\/genesis\/bin\/gwemix$/),
      expect.stringMatching(/\/upgrades\/v2\/bin\/gwemix$/)
    ])
    expect(s.nodePid()?.pid).toBe((run.events("node-started").at(-1)?.annotations as { pid?: number }).pid)
    expect(run.alive()).toBe(true)
    await stopAndCheck(run, s)
  }, 60_000)
})
