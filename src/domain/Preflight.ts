import * as Schema from "effect/Schema"
import { Height } from "./Height.js"
import type { OnFailure } from "./Upgrade.js"
import { UpgradeName } from "./Upgrade.js"

/*
 * `upgrade check <name>` (issue #18 item 6, "preflight"): would this pending
 * upgrade go through if its height were reached now? One finding per thing
 * looked at — the binary, its checksum and version, the hooks, the backup's
 * room, the verify timings, the node's RPC and chain id, the pause, the ETA,
 * what happens on failure — and a verdict: go when no finding is a problem.
 * The same result is printed by the CLI (locally, or asked of the running
 * supervisor with --remote), answered by RPC `CheckUpgrade` and by
 * `GET /api/v1/upgrades/:name/check`. Gathered by src/upgrades/Preflight.ts.
 */

/** ok: fine; warning: worth knowing, does not stop the upgrade; problem: the upgrade would not go through. */
export const PreflightLevel = Schema.Literal("ok", "warning", "problem")
export type PreflightLevel = typeof PreflightLevel.Type

export const PreflightFinding = Schema.Struct({
  /** What was looked at: a subject (`binary`, `checksum`, `version`, `eta`, …) or a variable (`DAEMON_PRE_UPGRADE`). */
  check: Schema.String,
  level: PreflightLevel,
  /** One line an operator acts on. */
  message: Schema.String
})
export type PreflightFinding = typeof PreflightFinding.Type

export const PreflightResult = Schema.Struct({
  name: UpgradeName,
  height: Height,
  /** No finding is a problem. */
  go: Schema.Boolean,
  findings: Schema.Array(PreflightFinding),
  /** As the running supervisor estimates it (its status); null when none answers or the pace is unknown. */
  eta: Schema.NullOr(Schema.String),
  eta_seconds: Schema.NullOr(Schema.Number),
  /** What a failure does: `rollback to <target>` or `halt: the node stays stopped`. */
  on_failure: Schema.String
})
export type PreflightResult = typeof PreflightResult.Type

export const finding = (check: string, level: PreflightLevel, message: string): PreflightFinding => ({
  check,
  level,
  message
})

/** What a failure of the upgrade does, in words: back to `from` (what runs before it), or stop the node. */
export const onFailureText = (policy: OnFailure, from: string): string =>
  policy === "rollback" ? `rollback to ${from}` : "halt: the node stays stopped"

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`

/** The result of `findings`: go when none is a problem. */
export const verdictOf = (
  o: Omit<PreflightResult, "go" | "findings"> & { readonly findings: ReadonlyArray<PreflightFinding> }
): PreflightResult => ({ ...o, go: o.findings.every((f) => f.level !== "problem") })

/** `go: v2 at 1500000 would go through now` (with the warnings counted), or `NO GO: 2 problems`. */
export const verdictLine = (r: PreflightResult): string => {
  const problems = r.findings.filter((f) => f.level === "problem").length
  const warnings = r.findings.filter((f) => f.level === "warning").length
  if (r.go) {
    return `go: ${r.name} at ${r.height} would go through now${warnings > 0 ? ` (${count(warnings, "warning")})` : ""}`
  }
  return `NO GO: ${count(problems, "problem")}`
}

const LABEL: Record<PreflightLevel, string> = { ok: "ok      ", warning: "warning ", problem: "problem " }

/** One line per finding, `ok` / `warning` / `problem` first, then the verdict. `safe` escapes text for a terminal. */
export const preflightText = (r: PreflightResult, safe: (text: string) => string = (t) => t): string =>
  [...r.findings.map((f) => `${LABEL[f.level]}${safe(f.message)}`), verdictLine(r)].join("\n")
