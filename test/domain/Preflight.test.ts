/*
 * `upgrade check`'s result (src/domain/Preflight.ts): the verdict follows the
 * problems only, the lines an operator reads, the failure policy in words,
 * and the one schema the CLI, RPC and REST share.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { etaText, spanText } from "../../src/domain/Eta.js"
import { makeHeight } from "../../src/domain/Height.js"
import {
  finding,
  onFailureText,
  PreflightResult,
  preflightText,
  verdictLine,
  verdictOf
} from "../../src/domain/Preflight.js"
import type { UpgradeName } from "../../src/domain/Upgrade.js"

const base = {
  name: "v2" as UpgradeName,
  height: makeHeight(1500000),
  eta: "2026-12-07T02:14:00Z",
  eta_seconds: 11_520,
  on_failure: "rollback to genesis"
}

describe("preflight verdict", () => {
  it("go when nothing is a problem: warnings are counted, never block", () => {
    const r = verdictOf({ ...base, findings: [finding("binary", "ok", "in place"), finding("x", "warning", "w")] })
    expect(r.go).toBe(true)
    expect(verdictLine(r)).toBe("go: v2 at 1500000 would go through now (1 warning)")
    expect(verdictLine(verdictOf({ ...base, findings: [finding("binary", "ok", "in place")] }))).toBe(
      "go: v2 at 1500000 would go through now"
    )
  })

  it("NO GO with the problems counted", () => {
    const one = verdictOf({
      ...base,
      findings: [finding("binary", "problem", "missing"), finding("x", "warning", "w")]
    })
    expect(one.go).toBe(false)
    expect(verdictLine(one)).toBe("NO GO: 1 problem")
    const two = verdictOf({ ...base, findings: [finding("a", "problem", "p"), finding("b", "problem", "q")] })
    expect(verdictLine(two)).toBe("NO GO: 2 problems")
  })

  it("one line per finding, the level first, then the verdict; text made safe by the caller's escaper", () => {
    const r = verdictOf({
      ...base,
      findings: [
        finding("binary", "ok", "binary in place"),
        finding("DAEMON_PRE_UPGRADE", "problem", "hook\nmissing"),
        finding("DAEMON_BACKUP", "warning", "no backup")
      ]
    })
    expect(preflightText(r, (t) => t.replace(/\n/g, "\\n")).split("\n")).toEqual([
      "ok      binary in place",
      "problem hook\\nmissing",
      "warning no backup",
      "NO GO: 1 problem"
    ])
  })

  it("what a failure does, in words", () => {
    expect(onFailureText("rollback", "genesis")).toBe("rollback to genesis")
    expect(onFailureText("rollback", "v1")).toBe("rollback to v1")
    expect(onFailureText("halt", "v1")).toBe("halt: the node stays stopped")
  })

  it("the wire shape: snake_case keys, heights as numbers, levels ok / warning / problem only", () => {
    const r = verdictOf({ ...base, findings: [finding("eta", "ok", "ETA in 3h12m (02:14 UTC)")] })
    const wire = Schema.encodeSync(PreflightResult)(r)
    expect(wire).toEqual({
      name: "v2",
      height: 1500000,
      go: true,
      findings: [{ check: "eta", level: "ok", message: "ETA in 3h12m (02:14 UTC)" }],
      eta: "2026-12-07T02:14:00Z",
      eta_seconds: 11520,
      on_failure: "rollback to genesis"
    })
    expect(Schema.decodeUnknownSync(PreflightResult)(wire)).toEqual(r)
    expect(() =>
      Schema.decodeUnknownSync(PreflightResult)({ ...wire, findings: [{ check: "x", level: "error", message: "" }] })
    ).toThrow()
  })

  it("the ETA as `upgrade list` says it", () => {
    expect(etaText({ eta: "2026-12-07T02:14:00Z", eta_seconds: 11_520 })).toBe("in 3h12m (02:14 UTC)")
    expect(etaText({ eta: null, eta_seconds: null })).toBe("unknown")
    expect(etaText({ eta: "2026-12-07T02:14:00Z", eta_seconds: 0 })).toBe("due")
    expect(spanText(45)).toBe("45s")
  })
})
