/*
 * Text output never passes operator-supplied or node-reported text to the
 * terminal raw (issue #12 item 17): a crafted --info must not fake a table
 * row or send escape sequences.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { etaText, listText, safeText, spanText, statusText } from "../../src/cli/upgrade-format.js"
import { makeHeight } from "../../src/domain/Height.js"
import type { StatusObject } from "../../src/domain/Status.js"
import { idleStatus } from "../api/support.js"
import { pendingUpgrade } from "../support/upgrades.js"
import { makeHome as home, removeHomes, restoreEnv, runCli } from "./support.js"

afterEach(() => {
  restoreEnv()
  removeHomes()
})

describe("safe text output", () => {
  it("control characters, C1 and bidi overrides are shown escaped; ordinary text (Unicode included) is kept", () => {
    expect(safeText("Mont Blanc — 몽블랑")).toBe("Mont Blanc — 몽블랑")
    expect(safeText("a\nv9    1     done")).toBe("a\\nv9    1     done")
    expect(safeText("\u001b[2J\u001b]0;pwned\u0007")).toBe("\\x1b[2J\\x1b]0;pwned\\x07")
    expect(safeText("\r\t\u0000\u007f\u009b")).toBe("\\r\\t\\x00\\x7f\\x9b")
    expect(safeText("evil\u202etxt.exe\u2066")).toBe("evil\\u202etxt.exe\\u2066")
  })

  it.live("upgrade list: an --info with a newline and an escape sequence stays on its row, escaped; --json keeps it exact", () =>
    Effect.gen(function*() {
      const h = home()
      expect((yield* runCli(["init", h.binary("v1")], h.env)).code).toBe(0)
      const info = "ok\nv9    1       done\u001b[31m"
      expect((yield* runCli(["upgrade", "schedule", "v2", "100000000", "--force", "--info", info], h.env)).code).toBe(0)
      const text = yield* runCli(["upgrade", "list"], h.env)
      expect(text.stdout).toBe(
        "NAME  HEIGHT     STATUS     ETA      INFO\nv2    100000000  scheduled  unknown  ok\\nv9    1       done\\x1b[31m\n"
      )
      const json = yield* runCli(["upgrade", "list", "--json"], h.env)
      expect(JSON.parse(json.stdout).upgrades[0].info).toBe(info)
    }))
})

describe("ETA text", () => {
  it("spans as an operator reads them", () => {
    expect([0, 45, 59.6, 60, 12 * 60 + 5, 3600, 3 * 3600 + 12 * 60, 86_400, 2 * 86_400 + 3 * 3600 + 59].map(spanText))
      .toEqual(["0s", "45s", "1m", "1m", "12m", "1h", "3h12m", "1d", "2d3h"])
  })

  it("in <span> (<time> UTC); the date too a day or more away; due; unknown without an estimate", () => {
    expect(etaText({ eta: "2026-12-03T02:14:09Z", eta_seconds: 3 * 3600 + 12 * 60 })).toBe("in 3h12m (02:14 UTC)")
    expect(etaText({ eta: "2026-12-05T02:14:09Z", eta_seconds: 2 * 86_400 + 3600 })).toBe(
      "in 2d1h (2026-12-05 02:14 UTC)"
    )
    expect(etaText({ eta: "2026-12-03T02:14:09Z", eta_seconds: 0 })).toBe("due")
    expect(etaText({ eta: null, eta_seconds: null })).toBe("unknown")
  })

  it("upgrade list: a column for pending upgrades, `-` for ended ones", () => {
    expect(listText({
      upgrades: [
        pendingUpgrade("v1", 10, null, "done"),
        pendingUpgrade("v2", 1500000, 11_520, "ready", null, "2026-12-03T02:14:00Z")
      ]
    })).toBe(
      [
        "NAME  HEIGHT   STATUS  ETA                   INFO",
        "v1    10       done    -",
        "v2    1500000  ready   in 3h12m (02:14 UTC)"
      ].join("\n")
    )
  })
})

describe("upgrade status: the governance source", () => {
  const status: StatusObject = { ...idleStatus, current_height: makeHeight(1300), block_interval_seconds: 1 }
  const registry = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

  it("off: no line; following: its cursor; failing: NOT FOLLOWING with the reason", () => {
    expect(statusText(status)).not.toContain("Governance")
    const following = { registry, confirmations: 5, block: 1295, error: null }
    expect(statusText({ ...status, governance: following })).toMatch(
      new RegExp(`Governance: +registry ${registry}, events applied through block 1295 \\(5 confirmations\\)$`, "m")
    )
    expect(statusText({ ...status, governance: { ...following, block: null, error: "source off: corrupt" } }))
      .toContain(`registry ${registry}, no block read yet (5 confirmations); NOT FOLLOWING: source off: corrupt`)
  })
})
