// Idle cost benchmark (issue 6 item 3): the built wemixvisor (dist/bin.js)
// `run` supervising a real anvil mining 1 block/s, nothing else happening.
//
//   npm run bench:idle                       (builds first; ~2.5 minutes)
//   node scripts/bench-idle.mjs --quick      (existing dist/, a 20 s window, ~35 s)
//   node scripts/bench-idle.mjs --seconds 300 --profile --keep
//   node scripts/bench-idle.mjs --quick --node-flags "--max-semi-space-size=1"
//   node scripts/bench-idle.mjs --bin /tmp/other-build/bin.js     (another build, to compare)
//
// Two supervisors side by side, in the same window: one learning heights by
// HTTP polling only (DAEMON_POLL_INTERVAL 300 ms, the default), one with
// DAEMON_WS_URL as well (WebSocket newHeads; HTTP polling stays as the
// fallback, one read per 5 s while the subscription delivers). Each has its
// own anvil (the flags of startAnvil in test/support/fixtures.ts, --block-time 1).
// Measured for the wemixvisor process only (not the node), from /proc:
// VmRSS (max and average over the window, sampled every second; RssAnon
// beside it) and utime+stime (CPU % of one core over the window). After a
// warm-up (startup loads code and JITs it), so the figure is the steady cost.
// The baseline, in the same window: an idle `node -e "setInterval(…)"`, so
// the figures read as overhead over the Node runtime itself.
// Targets: max RSS ≤ 80 MB, CPU ≤ 1 % of a core.
//
// --profile writes a CPU profile (--cpu-prof) and a heap snapshot at the end
// of the window for each supervisor into the temp folder (kept).
// Exit status: 0 every target met, 3 a target missed, 1 the run failed.
// Everything lives in one temp folder, removed at the end with every process
// started here, also on failure or Ctrl-C (--keep keeps the folder).
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { flag, intOption, option } from "./lib/args.mjs"
import {
  anvilBin as anvil,
  anvilHome,
  apiUrlOf,
  cpuSeconds,
  fmt,
  jsonLog,
  requireFiles,
  say as harnessSay,
  sleep,
  waitFor
} from "./lib/harness.mjs"
import { makeSandbox } from "./lib/sandbox.mjs"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const argvBin = process.argv.indexOf("--bin")
/** The CLI under test: the build (default), or another build to compare with (--bin). */
const bin = argvBin >= 0 ? path.resolve(process.argv[argvBin + 1]) : path.join(root, "dist/bin.js")

// ---------------------------------------------------------------------------
// Options

if (flag("--help") || flag("-h")) {
  console.log(
    "usage: node scripts/bench-idle.mjs [--quick] [--seconds N] [--profile] [--node-flags \"<flags>\"] [--bin <bin.js>] [--keep]"
  )
  process.exit(0)
}
const quick = flag("--quick")
const seconds = intOption("--seconds", quick ? 20 : 120, 5, 3600)
const profile = flag("--profile")
/** Extra flags for the supervisors' node (e.g. "--max-semi-space-size=1"), to try what a change would do. */
const extraNodeFlags = option("--node-flags")?.split(" ").filter(Boolean) ?? []
const keep = flag("--keep") || profile
const warmupMs = quick ? 5_000 : 10_000
const deadlineMs = seconds * 1000 + warmupMs + 60_000
const TARGET_RSS_MB = 80
const TARGET_CPU_PCT = 1

requireFiles([
  [bin, "run 'npm run build' first (or 'npm run bench:idle')"],
  [anvil, "npm install (devDependency @foundry-rs/anvil-linux-amd64)"]
])

// ---------------------------------------------------------------------------
// Helpers

const say = (s) => harnessSay("bench", s)
/** GET with the home's API token (every route but /health needs it). */
const getJson = (url, home) =>
  new Promise((resolve) => {
    const token = fs.readFileSync(path.join(home, "wemixvisor", "api.token"), "utf8").trim()
    const req = http.get(
      url,
      { agent: false, timeout: 2_000, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (c) => (text += c))
        res.on("end", () => {
          try {
            resolve(JSON.parse(text))
          } catch {
            resolve(undefined)
          }
        })
      }
    )
    req.on("timeout", () => req.destroy())
    req.on("error", () => resolve(undefined))
  })
const blockNumber = (port) =>
  new Promise((resolve) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        agent: false,
        timeout: 2_000,
        headers: { "content-type": "application/json" }
      },
      (res) => {
        let text = ""
        res.on("data", (c) => (text += c))
        res.on("end", () => {
          try {
            resolve(Number(BigInt(JSON.parse(text).result)))
          } catch {
            resolve(undefined)
          }
        })
      }
    )
    req.on("timeout", () => req.destroy())
    req.on("error", () => resolve(undefined))
    req.end(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] }))
  })

/** What /proc says about one process right now; undefined once it is gone. */
const sample = (pid) => {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]) / 1024
    const cpuS = cpuSeconds(pid)
    if (cpuS === undefined) return undefined
    return { at: Date.now(), rss: kb("VmRSS"), anon: kb("RssAnon"), hwm: kb("VmHWM"), cpuS }
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------
// Processes and cleanup

const { tmpRoot, track, cleanup, abort } = makeSandbox({
  prefix: "wemixvisor-bench-idle-",
  keep,
  deadlineMs,
  graceMs: 8_000
})

// ---------------------------------------------------------------------------
// A supervisor with its own anvil

const startSupervisor = async (id, { ws }) => {
  const { env, home, port, wrapper } = await anvilHome(tmpRoot, id)
  if (ws) env.DAEMON_WS_URL = `ws://127.0.0.1:${port}`
  execFileSync(process.execPath, [bin, "init", wrapper], { env, stdio: "ignore" })
  const profileDir = path.join(tmpRoot, `${id}-profile`)
  const nodeFlags = [
    ...extraNodeFlags,
    ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, "--heapsnapshot-signal=SIGUSR2"] : [])
  ]
  fs.mkdirSync(profileDir)
  const logFile = path.join(tmpRoot, `${id}.log`)
  const log = fs.openSync(logFile, "w")
  // cwd: where a heap snapshot is written.
  const child = track(
    spawn(process.execPath, [...nodeFlags, bin, "run"], { stdio: ["ignore", "ignore", log], env, cwd: profileDir })
  )
  fs.closeSync(log)
  const logs = () => jsonLog(logFile)
  const ready = (
    l
  ) => (ws ? /head subscription (active|restored)/.test(l.message) : /node RPC reachable/.test(l.message))
  await waitFor(`${id}: wemixvisor to see the node`, () => child.exitCode === null && logs().some(ready), 30_000)
  const apiUrl = apiUrlOf(logs())
  return { id, home, ws, child, port, logs, apiUrl, profileDir }
}

// ---------------------------------------------------------------------------
// Main

const main = async () => {
  say(
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, Node ${process.version}, load ${
      os.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`
  )
  const baseline = track(spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", tmpRoot], { stdio: "ignore" }))
  const supervisors = await Promise.all([startSupervisor("poll", { ws: false }), startSupervisor("ws", { ws: true })])
  const subjects = [...supervisors.map((s) => ({ id: s.id, pid: s.child.pid })), { id: "baseline", pid: baseline.pid }]
  say(`supervisors up; warming up ${warmupMs / 1000} s, then measuring ${seconds} s`)
  await sleep(warmupMs)

  const startHeights = await Promise.all(supervisors.map((s) => blockNumber(s.port)))
  const series = new Map(subjects.map((s) => [s.id, [sample(s.pid)]]))
  const end = Date.now() + seconds * 1000
  let lastSay = Date.now()
  while (Date.now() < end) {
    await sleep(Math.min(1000, end - Date.now()))
    for (const s of subjects) {
      const x = sample(s.pid)
      if (x === undefined) throw new Error(`${s.id} (pid ${s.pid}) exited during the window`)
      series.get(s.id).push(x)
    }
    if (Date.now() - lastSay > 30_000) {
      lastSay = Date.now()
      say(`  ${Math.round((end - Date.now()) / 1000)} s to go`)
    }
  }
  const endHeights = await Promise.all(supervisors.map((s) => blockNumber(s.port)))
  const statuses = await Promise.all(
    supervisors.map((s) => (s.apiUrl ? getJson(`${s.apiUrl}/api/v1/upgrades/status`, s.home) : undefined))
  )

  if (profile) {
    for (const s of supervisors) s.child.kill("SIGUSR2")
    await waitFor(
      "the heap snapshots",
      () => supervisors.every((s) => fs.readdirSync(s.profileDir).some((f) => f.endsWith(".heapsnapshot"))),
      60_000,
      200
    )
    say(`heap snapshots written; CPU profiles follow when the supervisors exit: ${tmpRoot}/<poll|ws>-profile/`)
  }

  const figures = subjects.map((s) => {
    const xs = series.get(s.id)
    const first = xs[0]
    const last = xs[xs.length - 1]
    const windowS = (last.at - first.at) / 1000
    return {
      id: s.id,
      rssMax: Math.max(...xs.map((x) => x.rss)),
      rssAvg: xs.reduce((n, x) => n + x.rss, 0) / xs.length,
      anonMax: Math.max(...xs.map((x) => x.anon)),
      hwm: last.hwm,
      cpuPct: ((last.cpuS - first.cpuS) / windowS) * 100,
      windowS
    }
  })
  const base = figures.find((f) => f.id === "baseline")

  const row = (a, b, c, d, e, f) =>
    `${a.padEnd(34)}${b.padStart(10)}${c.padStart(10)}${d.padStart(13)}${e.padStart(12)}${f.padStart(14)}`
  const out = [
    ``,
    `Idle cost — wemixvisor run supervising anvil at 1 block/s, ${seconds} s window after a ${
      warmupMs / 1000
    } s warm-up`,
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${
      Math.round(os.totalmem() / 2 ** 30)
    } GiB, Linux ${os.release()}, Node ${process.version}, load at the end ${
      os.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`,
    ``,
    row("", "RSS max", "RSS avg", "RssAnon max", "CPU % core", "peak (VmHWM)"),
    ...figures.map((f) =>
      row(
        f.id === "poll"
          ? "wemixvisor, polling (300 ms)"
          : f.id === "ws"
          ? "wemixvisor, WebSocket + polling"
          : `baseline: idle node -e setInterval`,
        `${fmt(f.rssMax)} MB`,
        `${fmt(f.rssAvg)} MB`,
        `${fmt(f.anonMax)} MB`,
        `${fmt(f.cpuPct, 2)} %`,
        `${fmt(f.hwm)} MB`
      )
    ),
    ``,
    ...supervisors.map((s, i) => {
      const f = figures.find((x) => x.id === s.id)
      const mined = endHeights[i] - startHeights[i]
      const seen = statuses[i]?.current_height
      return (
        `${s.id}: overhead over the baseline ${fmt(f.rssMax - base.rssMax)} MB RSS, ${
          fmt(f.cpuPct - base.cpuPct, 2)
        } % CPU; ` +
        `${mined} blocks mined in the window; wemixvisor's current_height at the end ${seen ?? "n/a"} (node ${
          endHeights[i]
        })`
      )
    }),
    ``
  ]
  const checks = []
  for (const f of figures.filter((x) => x.id !== "baseline")) {
    checks.push([`${f.id}: max RSS ≤ ${TARGET_RSS_MB} MB`, f.rssMax <= TARGET_RSS_MB, `${fmt(f.rssMax)} MB`])
    checks.push([`${f.id}: CPU ≤ ${TARGET_CPU_PCT} % of a core`, f.cpuPct <= TARGET_CPU_PCT, `${fmt(f.cpuPct, 2)} %`])
  }
  supervisors.forEach((s, i) => {
    const seen = statuses[i]?.current_height
    checks.push([
      `${s.id}: wemixvisor follows the chain`,
      typeof seen === "number" && seen >= endHeights[i] - 2,
      `${seen} vs ${endHeights[i]}`
    ])
  })
  out.push(...checks.map(([what, ok, detail]) => `${ok ? "✓" : "✗"} ${what}: ${detail}`))
  const errors = supervisors.flatMap((s) =>
    s.logs().filter((l) => l.logLevel === "ERROR" || l.logLevel === "FATAL").map((l) => `${s.id}: ${l.message}`)
  )
  if (errors.length > 0) out.push(`wemixvisor logged errors: ${errors.join(" | ")}`)
  console.log(out.join("\n"))
  return checks.every(([, ok]) => ok) ? 0 : 3
}

main().then(
  (code) => cleanup().then(() => process.exit(code)),
  (e) => abort(1, e?.stack ?? String(e))
)
