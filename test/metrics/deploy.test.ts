/*
 * The shipped monitoring files (deploy/): Prometheus alert rules checked and
 * unit-tested by promtool, the example scrape config checked, and the
 * Grafana dashboard a valid JSON model whose queries name only metrics
 * wemixvisor exports.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { repoRoot } from "../support/fixtures.js"
import { haveTools } from "../support/tools.js"

const deploy = path.join(repoRoot, "deploy")
const promtool = haveTools(["promtool"], "prometheus")

const run = (args: ReadonlyArray<string>) => {
  const r = spawnSync("promtool", args, { cwd: path.join(deploy, "prometheus"), encoding: "utf8", timeout: 60_000 })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

/** The metric families wemixvisor exports (docs/METRICS.md, src/metrics/MetricsLive.ts) and the process metrics. */
const EXPORTED = new Set([
  "wemixvisor_build_info",
  "wemixvisor_node_state",
  "wemixvisor_node_up",
  "wemixvisor_node_restarts_total",
  "wemixvisor_node_version_info",
  "wemixvisor_chain_head",
  "wemixvisor_chain_head_age_seconds",
  "wemixvisor_block_interval_seconds",
  "wemixvisor_upgrade_pending",
  "wemixvisor_upgrade_height",
  "wemixvisor_upgrade_eta_seconds",
  "wemixvisor_upgrades_total",
  "wemixvisor_rollbacks_total",
  "wemixvisor_upgrade_step_duration_seconds",
  "wemixvisor_upgrade_downtime_seconds",
  "wemixvisor_rpc_errors_total",
  "wemixvisor_plan_problem",
  "wemixvisor_upgrades_paused",
  "wemixvisor_governance_block",
  "wemixvisor_governance_up",
  "wemixvisor_notifications_total",
  "process_resident_memory_bytes",
  "process_cpu_seconds_total",
  "up"
])
const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/

/** Metric names a PromQL expression reads: identifiers followed by `{`, `[`, a space or the end, minus functions and keywords. */
const metricNames = (expr: string): Array<string> => {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, "\"\"")
  const withoutLabels = withoutStrings.replace(/\{[^}]*\}/g, "{}").replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g,
    ""
  )
  return [...withoutLabels.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)]
    .map((m) => m[1]!)
    .filter((n) =>
      !["and", "or", "unless", "offset", "bool", "le", "inf", "nan"].includes(n.toLowerCase()) && !/^\d/.test(n)
    )
    .filter((n) => !/^\d+[smhdwy]$/.test(n))
}

const exported = (name: string) =>
  EXPORTED.has(name) || (HISTOGRAM_SUFFIX.test(name) && EXPORTED.has(name.replace(HISTOGRAM_SUFFIX, "")))

describe.skipIf(!promtool)("Prometheus files (promtool)", () => {
  it("alerts.yml passes promtool check rules", () => {
    const r = run(["check", "rules", "alerts.yml"])
    expect(r.out).toMatch(/SUCCESS: 10 rules found/)
    expect(r.code).toBe(0)
  })

  it("every alert fires for the failure it names and none for a healthy supervisor (promtool test rules)", () => {
    const r = run(["test", "rules", "tests/alerts.test.yml"])
    expect(r.out).toMatch(/SUCCESS/)
    expect(r.code).toBe(0)
  })

  it("each alert has a test that expects it to fire", () => {
    const alerts = [...fs.readFileSync(path.join(deploy, "prometheus/alerts.yml"), "utf8").matchAll(/- alert: (\w+)/g)]
      .map((m) => m[1]!)
    const tests = fs.readFileSync(path.join(deploy, "prometheus/tests/alerts.test.yml"), "utf8")
    expect(alerts).toHaveLength(10)
    for (const a of alerts) expect(tests, a).toMatch(new RegExp(`alertname: ${a}\\n\\s+exp_alerts:\\n\\s+- exp_labels`))
  })

  it("the example prometheus.yml passes promtool check config", () => {
    const r = run(["check", "config", "prometheus.yml"])
    expect(r.code, r.out).toBe(0)
  })

  it("the rules read only metrics wemixvisor exports", () => {
    const rules = fs.readFileSync(path.join(deploy, "prometheus/alerts.yml"), "utf8")
    const exprs = [...rules.matchAll(/expr: (?:>\n((?:\s{10}.*\n)+)|(.*))/g)].map((m) => (m[1] ?? m[2]!).trim())
    expect(exprs).toHaveLength(10)
    for (const e of exprs) for (const n of metricNames(e)) expect(exported(n), `${n} in ${e}`).toBe(true)
  })
})

interface Panel {
  readonly id: number
  readonly type: string
  readonly title: string
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number }
  readonly targets?: ReadonlyArray<{ readonly expr: string; readonly refId: string }>
}

describe("Grafana dashboard", () => {
  const model = JSON.parse(fs.readFileSync(path.join(deploy, "grafana/wemixvisor.json"), "utf8")) as {
    readonly uid: string
    readonly title: string
    readonly schemaVersion: number
    readonly panels: ReadonlyArray<Panel>
    readonly templating: { readonly list: ReadonlyArray<{ readonly name: string }> }
  }

  it("is a dashboard JSON model: uid, title, schema version, panels with unique ids inside the 24-column grid", () => {
    expect(model).toMatchObject({ uid: "wemixvisor", title: "wemixvisor" })
    expect(model.schemaVersion).toBeGreaterThanOrEqual(36)
    const ids = model.panels.map((p) => p.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const p of model.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24)
      expect(typeof p.type).toBe("string")
      if (p.type !== "row") expect(p.targets?.length, p.title).toBeGreaterThan(0)
    }
    expect(model.templating.list.map((v) => v.name)).toEqual(["datasource", "job", "instance"])
  })

  it("shows head, head age, node state, restarts, pending upgrades with ETA, and the upgrade and downtime histograms", () => {
    const exprs = model.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr).join("\n")
    for (
      const m of [
        "wemixvisor_chain_head{",
        "wemixvisor_chain_head_age_seconds",
        "wemixvisor_node_state",
        "wemixvisor_node_restarts_total",
        "wemixvisor_upgrade_pending",
        "wemixvisor_upgrade_eta_seconds",
        "wemixvisor_upgrade_step_duration_seconds_",
        "wemixvisor_upgrade_downtime_seconds_bucket"
      ]
    ) {
      expect(exprs).toContain(m)
    }
  })

  it("every panel's query names only metrics wemixvisor exports", () => {
    for (const p of model.panels) {
      for (const t of p.targets ?? []) {
        const names = metricNames(t.expr)
        expect(names.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0)
        for (const n of names) expect(exported(n), `${p.title}: ${n} in ${t.expr}`).toBe(true)
      }
    }
  })

  it("the metric-name reader finds what a query reads and nothing else", () => {
    expect(
      metricNames(
        "sum by (step) (rate(wemixvisor_upgrade_step_duration_seconds_sum{job=\"$job\", step=\"verify\"}[5m])) / up offset 1d"
      )
    ).toEqual([
      "wemixvisor_upgrade_step_duration_seconds_sum",
      "up"
    ])
    expect(metricNames("wemixvisor_chain_head_age_seconds > clamp_min(10 * wemixvisor_block_interval_seconds, 60)"))
      .toEqual([
        "wemixvisor_chain_head_age_seconds",
        "wemixvisor_block_interval_seconds"
      ])
  })
})
