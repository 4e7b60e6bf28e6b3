// Scrape cost benchmark (issue #13): what GET /metrics costs a running
// `wemixvisor run` (the built dist/bin.js) supervising a real anvil mining
// 1 block/s (the flags of startAnvil in test/support/fixtures.ts, --block-time 1).
//
//   npm run bench:scrape                     (builds first; ~3 minutes)
//   node scripts/bench-scrape.mjs --quick    (existing dist/, 50 requests, a 30 s window, ~1 minute)
//   node scripts/bench-scrape.mjs --requests 500 --history 1000000 --seconds 300 --interval 5 --keep
//   node scripts/bench-scrape.mjs --bin /tmp/other-build/bin.js     (another build, to compare)
//
// 1. Scrape latency: after a warm-up, N (--requests, default 200, --quick 50)
//    sequential GET /metrics on one supervisor, each on a fresh connection:
//    median, p95 and max ms, and the body size. Baseline: N GET /health on the
//    same supervisor just before (ratio metrics/health). Beside it the CPU the
//    supervisor spent per request during each burst (/proc utime+stime).
// 2. It does not grow with history: the same figures on a second supervisor
//    whose upgrade-history.jsonl holds --history lines (default 100 000; the
//    HistoryRecord shape of src/upgrades/History.ts) and whose plan holds five
//    upgrades far in the future (scheduled with `upgrade schedule --force`);
//    printed as the ratio big-history/plain.
// 3. CPU at a scrape interval: two fresh supervisors side by side for a window
//    (--seconds, default 120, --quick 30), each with its own anvil, one scraped
//    every --interval seconds (default 15, Prometheus' default), one not. CPU %
//    of one core of each (the wemixvisor process only, from /proc), the
//    difference (the scrape cost) and the CPU ms per scrape it implies.
// Every figure is a ratio or a difference against a baseline in the same run;
// nothing here is a pass/fail on timing. Exit status: 0 the run completed,
// 1 the run failed (a supervisor did not start or exited, /metrics did not
// answer 200). Everything lives in one temp folder, removed at the end with
// every process started here, also on failure or Ctrl-C (--keep keeps the folder).
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { flag, intOption, option } from "./lib/args.mjs"
import {
  anvilBin as anvil,
  anvilHome,
  apiUrlOf,
  cpuSeconds,
  fmt,
  jsonLog,
  median,
  percentile,
  requireFiles,
  say as harnessSay,
  sleep,
  waitFor
} from "./lib/harness.mjs"
import { makeSandbox } from "./lib/sandbox.mjs"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
/** The CLI under test: the build (default), or another build to compare with (--bin). */
const bin = option("--bin") !== undefined ? path.resolve(option("--bin")) : path.join(root, "dist/bin.js")

// ---------------------------------------------------------------------------
// Options

if (flag("--help") || flag("-h")) {
  console.log(
    "usage: node scripts/bench-scrape.mjs [--quick] [--requests N] [--history LINES] [--seconds N] [--interval S] [--bin <bin.js>] [--keep]"
  )
  process.exit(0)
}
const quick = flag("--quick")
const requests = intOption("--requests", quick ? 50 : 200, 10, 100_000)
const historyLines = intOption("--history", 100_000, 1, 10_000_000)
const seconds = intOption("--seconds", quick ? 30 : 120, 5, 3600)
const intervalS = intOption("--interval", 15, 1, 600)
const keep = flag("--keep")
const warmupMs = quick ? 5_000 : 10_000
const WARMUP_REQUESTS = 20
const PLANNED_UPGRADES = 5
const deadlineMs = seconds * 1000 + 2 * warmupMs + 240_000 + requests * 4 * 200

requireFiles([
  [bin, "run 'npm run build' first (or 'npm run bench:scrape')"],
  [anvil, "npm install (devDependency @foundry-rs/anvil-linux-amd64)"]
])

// ---------------------------------------------------------------------------
// Helpers

const say = (s) => harnessSay("bench", s)
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(" ")

/** One GET on a fresh connection: {status, bytes, ms}, or undefined when nothing answers. */
const get = (url) =>
  new Promise((resolve) => {
    const start = performance.now()
    const req = http.get(url, { agent: false, timeout: 5_000 }, (res) => {
      let bytes = 0
      res.on("data", (c) => (bytes += c.length))
      res.on("end", () => resolve({ status: res.statusCode, bytes, ms: performance.now() - start }))
      res.on("error", () => resolve(undefined))
    })
    req.on("timeout", () => req.destroy())
    req.on("error", () => resolve(undefined))
  })

// ---------------------------------------------------------------------------
// Processes and cleanup

const { tmpRoot, track, cleanup, abort } = makeSandbox({
  prefix: "wemixvisor-bench-scrape-",
  keep,
  deadlineMs,
  graceMs: 8_000
})

// ---------------------------------------------------------------------------
// A long upgrade history, as the orchestrator writes it: every step of
// ARCHITECTURE §7 started then ended, one upgrade after another.

const STEPS = ["pre-stop", "stop", "backup", "switch", "pre-upgrade", "start", "verify", "done"]
const writeHistory = (file, lines) => {
  const fd = fs.openSync(file, "w")
  let time = Date.parse("2020-01-01T00:00:00Z")
  let chunk = []
  for (let i = 0; i < lines; i++) {
    const upgrade = Math.floor(i / (STEPS.length * 2))
    const step = STEPS[Math.floor(i / 2) % STEPS.length]
    const ended = i % 2 === 1
    time += 250
    const record = {
      time: new Date(time).toISOString(),
      name: `v${upgrade}`,
      step,
      result: ended ? "ok" : "started",
      ...(ended && step === "verify" ? { detail: `node answered at height ${upgrade * 1000 + 1}` } : {})
    }
    chunk.push(JSON.stringify(record))
    if (chunk.length === 10_000) {
      fs.writeSync(fd, chunk.join("\n") + "\n")
      chunk = []
    }
  }
  if (chunk.length > 0) fs.writeSync(fd, chunk.join("\n") + "\n")
  fs.closeSync(fd)
  return fs.statSync(file).size
}

// ---------------------------------------------------------------------------
// A supervisor with its own anvil (HTTP polling, the default 300 ms)

const startSupervisor = async (id, { bigHistory = false } = {}) => {
  const { env, home, port, wrapper } = await anvilHome(tmpRoot, id)
  execFileSync(process.execPath, [bin, "init", wrapper], { env, stdio: "ignore" })
  let historyBytes = 0
  if (bigHistory) {
    for (let i = 1; i <= PLANNED_UPGRADES; i++) {
      // --force: the node is not running yet, so the height cannot be checked against the head.
      execFileSync(
        process.execPath,
        [bin, "upgrade", "schedule", `future-${i}`, String(i * 1_000_000_000), "--force"],
        {
          env,
          stdio: "ignore"
        }
      )
    }
    historyBytes = writeHistory(path.join(home, "wemixvisor", "upgrade-history.jsonl"), historyLines)
  }
  const logFile = path.join(tmpRoot, `${id}.log`)
  const log = fs.openSync(logFile, "w")
  const startedAt = Date.now()
  const child = track(spawn(process.execPath, [bin, "run"], { stdio: ["ignore", "ignore", log], env, cwd: home }))
  fs.closeSync(log)
  const logs = () => jsonLog(logFile)
  await waitFor(
    `${id}: wemixvisor to see the node`,
    () => child.exitCode === null && logs().some((l) => /node RPC reachable/.test(l.message)),
    30_000
  )
  const apiUrl = apiUrlOf(logs())
  if (apiUrl === undefined) throw new Error(`${id}: no "API listening" line in its log`)
  return { id, home, child, port, logs, apiUrl, historyBytes, readyS: (Date.now() - startedAt) / 1000 }
}

const stopSupervisor = async (s) => {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return
  const gone = new Promise((r) => s.child.once("exit", r))
  s.child.kill("SIGTERM") // it stops its node
  await Promise.race([gone, sleep(10_000)])
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL")
}

// ---------------------------------------------------------------------------
// Phase 1 and 2: latency bursts

/** N sequential GETs of `route`: latencies, body size, status codes, and the supervisor's CPU over the burst. */
const burst = async (s, route, n) => {
  const ms = []
  const statuses = new Map()
  let bytes = 0
  const cpu0 = cpuSeconds(s.child.pid)
  const w0 = performance.now()
  for (let i = 0; i < n; i++) {
    const r = await get(`${s.apiUrl}${route}`)
    if (r === undefined) throw new Error(`${s.id}: GET ${route} got no answer (request ${i + 1} of ${n})`)
    ms.push(r.ms)
    bytes = r.bytes
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
  }
  const wallS = (performance.now() - w0) / 1000
  const cpu1 = cpuSeconds(s.child.pid)
  if (cpu1 === undefined) throw new Error(`${s.id} exited during the ${route} burst`)
  return {
    route,
    median: median(ms),
    p95: percentile(ms, 95),
    max: Math.max(...ms),
    bytes,
    statuses,
    cpuMsPerReq: ((cpu1 - cpu0) * 1000) / n,
    wallS
  }
}

const latency = async (s) => {
  // Warm-up: the routes' code is loaded and JITed before anything is timed.
  await burst(s, "/health", WARMUP_REQUESTS)
  await burst(s, "/metrics", WARMUP_REQUESTS)
  const health = await burst(s, "/health", requests)
  const metrics = await burst(s, "/metrics", requests)
  const bad = [...metrics.statuses.keys()].filter((c) => c !== 200)
  if (bad.length > 0) throw new Error(`${s.id}: GET /metrics answered ${bad.join(", ")}`)
  return { health, metrics }
}

// ---------------------------------------------------------------------------
// Main

const main = async () => {
  say(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, Node ${process.version}, load ${load()}`)

  // Phases 1 and 2: a plain home and one with a long history and a plan.
  say(`writing ${historyLines} history lines and ${PLANNED_UPGRADES} planned upgrades into the second home`)
  // One after the other: writing the history blocks this process, which would inflate the other's start-up time.
  const big = await startSupervisor("history", { bigHistory: true })
  const plain = await startSupervisor("plain")
  say(
    `supervisors up (plain ${fmt(plain.readyS)} s, big history ${fmt(big.readyS)} s); warming up ${warmupMs / 1000} s`
  )
  await sleep(warmupMs)
  say(`latency: ${requests} × /health then ${requests} × /metrics on each, one after the other`)
  const lat = { plain: await latency(plain), history: await latency(big) }
  const errorsOf = (s) =>
    s.logs().filter((l) => l.logLevel === "ERROR" || l.logLevel === "FATAL").map((l) => `${s.id}: ${l.message}`)
  const errors = [...errorsOf(plain), ...errorsOf(big)]
  await Promise.all([stopSupervisor(plain), stopSupervisor(big)])

  // Phase 3: CPU over a window, scraped every interval vs not scraped.
  const [scraped, quiet] = await Promise.all([startSupervisor("scraped"), startSupervisor("quiet")])
  say(`CPU: warming up ${warmupMs / 1000} s, then ${seconds} s with one supervisor scraped every ${intervalS} s`)
  await sleep(warmupMs)
  const subjects = [scraped, quiet]
  const first = subjects.map((s) => ({ at: Date.now(), cpu: cpuSeconds(s.child.pid) }))
  const end = Date.now() + seconds * 1000
  let scrapes = 0
  let nextScrape = Date.now()
  let lastSay = Date.now()
  while (Date.now() < end) {
    if (Date.now() >= nextScrape) {
      const r = await get(`${scraped.apiUrl}/metrics`)
      if (r?.status !== 200) throw new Error(`scraped: GET /metrics answered ${r?.status ?? "nothing"}`)
      scrapes++
      nextScrape += intervalS * 1000
    }
    await sleep(Math.max(0, Math.min(1000, end - Date.now(), nextScrape - Date.now())))
    for (const s of subjects) {
      if (s.child.exitCode !== null || s.child.signalCode !== null) {
        throw new Error(`${s.id} (pid ${s.child.pid}) exited during the window`)
      }
    }
    if (Date.now() - lastSay > 30_000) {
      lastSay = Date.now()
      say(`  ${Math.round((end - Date.now()) / 1000)} s to go`)
    }
  }
  const last = subjects.map((s) => ({ at: Date.now(), cpu: cpuSeconds(s.child.pid) }))
  const cpuPct = subjects.map((_, i) => ((last[i].cpu - first[i].cpu) / ((last[i].at - first[i].at) / 1000)) * 100)
  const windowS = (last[0].at - first[0].at) / 1000
  errors.push(...errorsOf(scraped), ...errorsOf(quiet))

  // ---------------------------------------------------------------------------
  // Report

  const row = (a, b, c, d, e, f) =>
    `${a.padEnd(30)}${b.padStart(11)}${c.padStart(11)}${d.padStart(11)}${e.padStart(12)}${f.padStart(15)}`
  const line = (label, b) =>
    row(
      label,
      `${fmt(b.median, 2)} ms`,
      `${fmt(b.p95, 2)} ms`,
      `${fmt(b.max, 2)} ms`,
      `${b.bytes} B`,
      `${fmt(b.cpuMsPerReq, 2)} ms`
    )
  const ratio = (a, b) => `${fmt(a / b, 2)}×`
  const healthCodes = (b) => [...b.statuses].map(([c, n]) => `${c}×${n}`).join(" ")
  const scrapeCost = cpuPct[0] - cpuPct[1]
  const out = [
    ``,
    `Scrape cost — wemixvisor run supervising anvil at 1 block/s (HTTP polling 300 ms), ${requests} sequential requests each`,
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${
      Math.round(os.totalmem() / 2 ** 30)
    } GiB, Linux ${os.release()}, Node ${process.version}, load at the end ${load()}`,
    ``,
    row("", "median", "p95", "max", "body", "CPU / request"),
    line("plain: GET /health", lat.plain.health),
    line("plain: GET /metrics", lat.plain.metrics),
    line("big history: GET /health", lat.history.health),
    line("big history: GET /metrics", lat.history.metrics),
    ``,
    `metrics/health (plain): median ${ratio(lat.plain.metrics.median, lat.plain.health.median)}, p95 ${
      ratio(lat.plain.metrics.p95, lat.plain.health.p95)
    }, CPU per request ${ratio(lat.plain.metrics.cpuMsPerReq, lat.plain.health.cpuMsPerReq)}`,
    `big history/plain, GET /metrics: median ${ratio(lat.history.metrics.median, lat.plain.metrics.median)}, p95 ${
      ratio(lat.history.metrics.p95, lat.plain.metrics.p95)
    }, max ${ratio(lat.history.metrics.max, lat.plain.metrics.max)}, body ${
      ratio(lat.history.metrics.bytes, lat.plain.metrics.bytes)
    }, CPU per request ${ratio(lat.history.metrics.cpuMsPerReq, lat.plain.metrics.cpuMsPerReq)}`,
    `big history: ${historyLines} lines (${
      fmt(big.historyBytes / 2 ** 20)
    } MiB) in upgrade-history.jsonl, ${PLANNED_UPGRADES} upgrades planned; up and seeing the node in ${
      fmt(big.readyS)
    } s (plain ${fmt(plain.readyS)} s)`,
    `/health status codes: plain ${healthCodes(lat.plain.health)}, big history ${healthCodes(lat.history.health)}`,
    `(CPU / request: the supervisor's utime+stime over the burst divided by the requests; includes its 300 ms polling over the burst's ${
      fmt(lat.plain.metrics.wallS, 2)
    } s)`,
    ``,
    `CPU over ${fmt(windowS, 0)} s after a ${warmupMs / 1000} s warm-up, % of one core:`,
    `  scraped every ${intervalS} s (${scrapes} scrapes): ${fmt(cpuPct[0], 2)} %`,
    `  not scraped:                ${fmt(cpuPct[1], 2)} %`,
    `  difference (the scrape cost): ${fmt(scrapeCost, 2)} % of a core, i.e. ~${
      fmt((scrapeCost / 100) * windowS * 1000 / scrapes, 1)
    } ms CPU per scrape (noisy: the difference of two processes; the burst's ${
      fmt(lat.plain.metrics.cpuMsPerReq, 2)
    } ms per /metrics is the steadier estimate, i.e. ${
      fmt((lat.plain.metrics.cpuMsPerReq / (intervalS * 1000)) * 100, 3)
    } % of a core at ${intervalS} s)`,
    ``
  ]
  if (errors.length > 0) out.push(`wemixvisor logged errors: ${errors.join(" | ")}`)
  console.log(out.join("\n"))
  return 0
}

main().then(
  (code) => cleanup().then(() => process.exit(code)),
  (e) => abort(1, e?.stack ?? String(e))
)
