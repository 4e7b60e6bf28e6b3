/*
 * /metrics of a real `wemixvisor run` supervising anvil, through an upgrade:
 * linted by promtool during and after it, and scraped by a real Prometheus
 * (started here on a free loopback port, its data in a temp folder, stopped
 * by pid) whose query API must show the head following the node and the
 * upgrade it just watched.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { type Home, makeHome, removeCliCopy, stopRun, waitForApi } from "../api/e2e.js"
import { blockNumber, cleanup, freePort, sleep, tempDir, waitFor } from "../support/fixtures.js"
import { attachOutput } from "../support/output.js"
import { haveTools } from "../support/tools.js"

const tools = haveTools(["promtool", "prometheus"], "prometheus")

const homes: Array<Home> = []
const prometheuses: Array<{ readonly proc: ChildProcess; readonly dir: string }> = []
afterEach(async () => {
  for (const p of prometheuses.splice(0)) {
    if (p.proc.exitCode === null && p.proc.signalCode === null) {
      const ended = new Promise((resolve) => p.proc.once("exit", resolve))
      p.proc.kill("SIGTERM")
      const timer = setTimeout(() => p.proc.kill("SIGKILL"), 10_000)
      await ended
      clearTimeout(timer)
    }
    cleanup(p.dir)
  }
  for (const h of homes.splice(0)) await h.dispose()
})
afterAll(() => removeCliCopy())

const scrape = async (h: Home) => {
  const res = await fetch(`${h.api}/metrics`)
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() }
}

/** `promtool check metrics` on an exposition: its exit code and what it said. */
const lint = (text: string) => {
  const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 30_000 })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

/** Places a v2 binary and schedules it `ahead` blocks above the head over REST; the target height. */
const scheduleV2 = async (h: Home, ahead: number) => {
  const bin = path.join(h.root, "upgrades", "v2", "bin", "gwemix")
  fs.mkdirSync(path.dirname(bin), { recursive: true })
  fs.copyFileSync(h.version("v2"), bin)
  fs.chmodSync(bin, 0o755)
  const height = (await blockNumber(h.port))! + ahead
  const res = await fetch(`${h.api}/api/v1/upgrades`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${h.token()}` },
    body: JSON.stringify({ name: "v2", height })
  })
  expect(res.status).toBe(201)
  return height
}

const upgraded = (h: Home) =>
  waitFor(
    "v2 done",
    async () => {
      const res = await fetch(`${h.api}/api/v1/upgrades/status`, { headers: { authorization: `Bearer ${h.token()}` } })
      const s = (await res.json()) as { last: { name: string; status: string } | null }
      return s.last?.name === "v2" && s.last.status === "done"
    },
    60_000
  )

/** A Prometheus of our own scraping `target` every 500 ms; its base URL. */
const startPrometheus = async (target: string) => {
  const dir = tempDir("wemixvisor-prometheus-")
  const port = await freePort()
  fs.writeFileSync(
    path.join(dir, "prometheus.yml"),
    [
      "global:",
      "  scrape_interval: 500ms",
      "  evaluation_interval: 500ms",
      "scrape_configs:",
      "  - job_name: wemixvisor",
      "    scrape_timeout: 500ms",
      "    static_configs:",
      `      - targets: ["${target}"]`,
      ""
    ].join("\n")
  )
  const proc = spawn(
    "prometheus",
    [
      `--config.file=${path.join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn"
    ],
    { stdio: ["ignore", "ignore", "pipe"] }
  )
  let logs = ""
  proc.stderr!.on("data", (c) => (logs += String(c)))
  attachOutput(`prometheus (pid ${proc.pid}), stderr`, () => logs)
  prometheuses.push({ proc, dir })
  const base = `http://127.0.0.1:${port}`
  await waitFor("prometheus ready", () => fetch(`${base}/-/ready`).then((r) => r.ok, () => false), 30_000)
  return base
}

/** One instant query through Prometheus' HTTP API: each series' labels and value. */
const query = async (base: string, promql: string) => {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`)
  const body = (await res.json()) as {
    status: string
    data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> }
  }
  expect(body.status).toBe("success")
  return body.data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }))
}

const single = async (base: string, promql: string) => {
  const r = await query(base, promql)
  return r.length === 1 ? r[0]!.value : undefined
}

describe.skipIf(!tools)("/metrics of a running supervisor", () => {
  it(
    "served without a token; promtool finds nothing in it before, during and after a real upgrade on anvil",
    async () => {
      const h = await makeHome()
      homes.push(h)
      const run = h.run()
      await waitForApi(h.api)
      await waitFor(
        "a head in /metrics",
        async () => sample((await scrape(h)).text, "wemixvisor_chain_head") !== undefined,
        30_000
      )

      const before = await scrape(h)
      expect(before.status).toBe(200)
      expect(before.type).toMatch(/^text\/plain; version=0\.0\.4/)
      expect(lint(before.text)).toEqual({ code: 0, out: "" })
      expect(sample(before.text, "wemixvisor_node_up")).toBe(1)
      expect(sample(before.text, "wemixvisor_node_state{state=\"running\"}")).toBe(1)
      expect(sample(before.text, "process_resident_memory_bytes")).toBeGreaterThan(10 * 2 ** 20)

      const height = await scheduleV2(h, 15)
      // Scrape all along the upgrade; keep those taken while it was under way.
      const during: Array<string> = []
      let done = false
      const scraping = (async () => {
        while (!done) {
          const s = await scrape(h).catch(() => undefined)
          if (s !== undefined && /wemixvisor_upgrade_pending\{name="v2",status="upgrading"\} 1/.test(s.text)) {
            during.push(s.text)
          }
          await sleep(100)
        }
      })()
      await upgraded(h)
      done = true
      await scraping
      expect(during.length).toBeGreaterThan(0)
      for (const text of during) expect(lint(text)).toEqual({ code: 0, out: "" })

      const after = (await scrape(h)).text
      expect(lint(after)).toEqual({ code: 0, out: "" })
      expect(sample(after, "wemixvisor_upgrades_total{result=\"done\"}")).toBe(1)
      expect(sample(after, "wemixvisor_upgrades_total{result=\"failed\"}")).toBe(0)
      expect(sample(after, "wemixvisor_rollbacks_total")).toBe(0)
      // no hooks and no backup configured: those steps are skipped
      for (const step of ["stop", "switch", "start", "verify", "done"]) {
        expect(sample(after, `wemixvisor_upgrade_step_duration_seconds_count{step="${step}"}`), step).toBe(1)
      }
      expect(after).not.toMatch(/step="(pre-stop|backup|pre-upgrade)"/)
      // verify waits DAEMON_VERIFY_MIN_UP (1 s) at least
      expect(sample(after, "wemixvisor_upgrade_step_duration_seconds_sum{step=\"verify\"}")).toBeGreaterThanOrEqual(1)
      expect(sample(after, "wemixvisor_upgrade_downtime_seconds_count")).toBe(1)
      const downtime = sample(after, "wemixvisor_upgrade_downtime_seconds_sum")!
      expect(downtime).toBeGreaterThan(0)
      expect(downtime).toBeLessThan(15)
      expect(sample(after, "wemixvisor_node_version_info{target=\"v2\",version=\"gwemix v2\"}")).toBe(1)
      expect(after).not.toMatch(/wemixvisor_upgrade_pending\{/)
      expect(sample(after, "wemixvisor_chain_head")).toBeGreaterThanOrEqual(height)
      expect(sample(after, "wemixvisor_block_interval_seconds")).toBeGreaterThan(0.05)
      expect(sample(after, "wemixvisor_block_interval_seconds")).toBeLessThan(2)
      // The old node's stop showed as failed reads, now over.
      expect(sample(after, "wemixvisor_rpc_errors_total{kind=\"connection\"}")).toBeGreaterThan(0)
      expect(sample(after, "wemixvisor_node_up")).toBe(1)
      expect(await stopRun(run)).toBe(0)
    },
    120_000
  )

  it(
    "a real Prometheus scrapes it: wemixvisor_chain_head follows the node, and the upgrade it watched is counted",
    async () => {
      const h = await makeHome()
      homes.push(h)
      const run = h.run()
      await waitForApi(h.api)
      const prom = await startPrometheus(`127.0.0.1:${h.apiPort}`)
      await waitFor("the first scrape", async () => (await single(prom, "up{job=\"wemixvisor\"}")) === 1, 30_000)
      expect(await single(prom, "wemixvisor_upgrades_total{result=\"done\"}")).toBe(0)

      // The head Prometheus stores follows the node's own, and moves with it.
      const first = await waitFor("a chain head in Prometheus", () => single(prom, "wemixvisor_chain_head"), 30_000)
      const node = (await blockNumber(h.port))!
      // blocks every 200 ms, scrapes every 500 ms, polls every 100 ms: a few blocks behind at most
      expect(node - first).toBeGreaterThanOrEqual(0)
      expect(node - first).toBeLessThan(20)
      await waitFor(
        "the head moving in Prometheus",
        async () => ((await single(prom, "wemixvisor_chain_head")) ?? 0) > node,
        20_000
      )

      await scheduleV2(h, 15)
      await upgraded(h)
      await waitFor(
        "the upgrade counted in Prometheus",
        async () => (await single(prom, "wemixvisor_upgrades_total{result=\"done\"}")) === 1,
        20_000
      )
      expect(await single(prom, "wemixvisor_upgrades_total{result=\"failed\"}")).toBe(0)
      expect(await query(prom, "wemixvisor_node_version_info{target=\"v2\"}")).toHaveLength(1)
      expect(await single(prom, "wemixvisor_upgrade_downtime_seconds_count")).toBe(1)
      // The new node's head, too, is followed.
      const later = (await blockNumber(h.port))!
      await waitFor(
        "the head past the new node's",
        async () => ((await single(prom, "wemixvisor_chain_head")) ?? 0) >= later,
        20_000
      )
      expect(await stopRun(run)).toBe(0)
    },
    120_000
  )
})
