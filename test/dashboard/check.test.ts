/*
 * The dashboard's "Check" of a pending upgrade (src/dashboard/model.ts): the
 * route it asks, and the one line it shows for the API's answer — the
 * verdict as `upgrade check` ends, each problem, the warnings counted and
 * what a failure does; a refusal verbatim. The answer is the server's
 * schema (domain/Preflight.ts) as it goes on the wire.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import { checkPath, checkSummary, type WirePreflight } from "../../src/dashboard/model.js"
import { makeHeight } from "../../src/domain/Height.js"
import { finding, PreflightResult, verdictLine, verdictOf } from "../../src/domain/Preflight.js"
import type { UpgradeName } from "../../src/domain/Upgrade.js"

const result = (findings: ReadonlyArray<ReturnType<typeof finding>>) =>
  verdictOf({
    name: "v2" as UpgradeName,
    height: makeHeight(1_500_000),
    findings,
    eta: null,
    eta_seconds: null,
    on_failure: "rollback to genesis"
  })

describe("dashboard: upgrade check", () => {
  it("asks GET /api/v1/upgrades/:name/check, the name encoded", () => {
    expect(checkPath("v2.0.0")).toBe("/api/v1/upgrades/v2.0.0/check")
    expect(checkPath("a b")).toBe("/api/v1/upgrades/a%20b/check")
  })

  it("go: the CLI's verdict line, the warnings counted, the failure policy", () => {
    const r = result([finding("binary", "ok", "in place"), finding("DAEMON_BACKUP", "warning", "no backup")])
    const wire: WirePreflight = Schema.encodeSync(PreflightResult)(r)
    const s = checkSummary(200, wire, "unused")
    expect(s).toEqual({
      ok: true,
      text: "go: v2 at 1500000 would go through now (1 warning; on failure: rollback to genesis)"
    })
    expect(s.text.startsWith(verdictLine(r).replace(/ \(1 warning\)$/, ""))).toBe(true)
  })

  it("NO GO: the count as the CLI says it, then each problem", () => {
    const r = result([
      finding("binary", "problem", "binary /h/upgrades/v2/bin/gwemix does not exist"),
      finding("DAEMON_PRE_UPGRADE", "problem", "hook not executable")
    ])
    expect(checkSummary(200, Schema.encodeSync(PreflightResult)(r), "unused")).toEqual({
      ok: false,
      text:
        "NO GO: 2 problems — binary /h/upgrades/v2/bin/gwemix does not exist · hook not executable (on failure: rollback to genesis)"
    })
  })

  it("a refusal (404, 409, 401) or a body that is not a check: the answer verbatim", () => {
    expect(
      checkSummary(404, { error: "not found", details: "no upgrade named 'x'" }, "not found: no upgrade named 'x'")
    )
      .toEqual({ ok: false, text: "not found: no upgrade named 'x'" })
    expect(checkSummary(200, { upgrades: [] }, "HTTP 200")).toEqual({ ok: false, text: "HTTP 200" })
  })
})
