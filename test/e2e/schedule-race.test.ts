/*
 * Issue #12 item 4: two `upgrade schedule` of one name at once, as two
 * operators (or a script and an operator) would run them. Before the fix the
 * loser removed the folder the winner's binary had just been placed in
 * (2 of 15 rounds here): "✓ scheduled", then "binary missing" at the height.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { cliAsync, fakeBinary, type Home, makeHome, removeCliCopy } from "../api/e2e.js"

const homes: Array<Home> = []
afterEach(async () => {
  for (const h of homes.splice(0)) await h.dispose()
})
afterAll(() => removeCliCopy())

describe("concurrent schedules of one name", () => {
  it("exactly one wins each round and its binary is in place; the loser touches nothing", async () => {
    const h = await makeHome()
    homes.push(h)
    const binary = fakeBinary(h.home, "gwemix-v1")
    for (let round = 1; round <= 15; round++) {
      const name = `race${round}`
      const args = ["upgrade", "schedule", name, String(800000 + round), "--binary", binary, "--force"]
      const [a, b] = await Promise.all([cliAsync(args, h.env), cliAsync(args, h.env)])
      const codes = [a.code, b.code].sort()
      expect(codes, `round ${round}: ${a.stderr} ${b.stderr}`).toEqual([0, 2])
      const loser = a.code === 2 ? a : b
      expect(loser.stderr).toMatch(new RegExp(`upgrade '${name}': already exists`))
      const placed = path.join(h.root, "upgrades", name, "bin", "gwemix")
      expect(fs.existsSync(placed), `round ${round}: the winner's binary`).toBe(true)
      expect(fs.statSync(placed).mode & 0o111).not.toBe(0)
    }
    const plan = JSON.parse(h.planText()!) as { upgrades: Array<{ name: string; status: string }> }
    expect(plan.upgrades.map((u) => u.status)).toEqual(Array(15).fill("scheduled"))
  }, 120_000)
})
