// Dashboard first paint (issue #15): the built wemixvisor (dist/bin.js) `run`
// supervising a real anvil, its page at GET / opened in Debian's Chromium
// (headless, playwright-core) over loopback, again and again in fresh tabs.
//
//   npm run bench:dashboard                     (builds first; ~30 s)
//   node scripts/bench-dashboard.mjs --loads 50 --keep
//
// Per load: first-contentful-paint and the load event from the page's own
// Performance entries (navigation start = 0); the page's weight from dist/dashboard.
// Baseline, in the same browser and run: a static HTML page of the same size
// served by a bare node:http server on another loopback port, so the ratio
// reads as the page's cost over what Chromium needs to paint anything.
// Target: first paint under 200 ms (median). Exit status: 0 met, 3 missed,
// 1 the run failed. Everything lives in one temp folder, removed at the end
// with every process started here (--keep keeps it).
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { flag, intOption } from "./lib/args.mjs"
import {
  anvilHome,
  apiUrlOf,
  fmt,
  jsonLog,
  median,
  percentile,
  requireFiles,
  say as harnessSay,
  waitFor
} from "./lib/harness.mjs"
import { makeSandbox } from "./lib/sandbox.mjs"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const bin = path.join(root, "dist/bin.js")
const chromiumPath = process.env.WEMIXVISOR_CHROMIUM ?? "/usr/bin/chromium"

if (flag("--help") || flag("-h")) {
  console.log("usage: node scripts/bench-dashboard.mjs [--loads N] [--keep]")
  process.exit(0)
}
const loads = intOption("--loads", 30, 3, 1000)
const keep = flag("--keep")
const TARGET_FCP_MS = 200

requireFiles([
  [bin, "run 'npm run build' first (or 'npm run bench:dashboard')"],
  [path.join(root, "dist/dashboard/index.html"), "run 'npm run build' first"],
  [chromiumPath, "apt-get install -y chromium (or set WEMIXVISOR_CHROMIUM)"]
])

const say = (s) => harnessSay("bench", s)
const { tmpRoot, track, cleanup, abort } = makeSandbox({
  prefix: "wemixvisor-bench-dashboard-",
  keep,
  deadlineMs: 120_000 + loads * 2_000
})

/** A bare server with one static page of `bytes` bytes: what painting anything costs. */
const baselineServer = (bytes) =>
  new Promise((resolve) => {
    const body = `<!doctype html><html><head><title>baseline</title></head><body><h1>baseline</h1><p>${
      "x".repeat(Math.max(0, bytes - 90))
    }</p></body></html>`
    const server = http.createServer((_req, res) => {
      res.setHeader("content-type", "text/html; charset=utf-8")
      res.end(body)
    })
    server.listen(0, "127.0.0.1", () => resolve(server))
  })

/** One load in a fresh context: its first paint and load times. */
const measure = async (browser, url) => {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(url, { waitUntil: "load" })
  // The paint entry is queued right after the frame; wait for it rather than guess.
  await page.waitForFunction(() => performance.getEntriesByName("first-contentful-paint").length > 0)
  const t = await page.evaluate(() => ({
    fcp: performance.getEntriesByName("first-contentful-paint")[0].startTime,
    load: performance.getEntriesByType("navigation")[0].loadEventEnd
  }))
  await context.close()
  return t
}

const main = async () => {
  const { chromium } = await import("playwright-core")
  const { env, wrapper } = await anvilHome(tmpRoot, "dash")
  execFileSync(process.execPath, [bin, "init", wrapper], { env, stdio: "ignore" })
  const logFile = path.join(tmpRoot, "dash.log")
  const log = fs.openSync(logFile, "w")
  const child = track(spawn(process.execPath, [bin, "run"], { stdio: ["ignore", "ignore", log], env }))
  fs.closeSync(log)
  await waitFor("the API", () => child.exitCode === null && apiUrlOf(jsonLog(logFile)) !== undefined, 30_000)
  const apiUrl = apiUrlOf(jsonLog(logFile))
  const pageBytes = ["index.html", "app.js", "app.css"]
    .map((f) => fs.statSync(path.join(root, "dist/dashboard", f)).size)
    .reduce((a, b) => a + b, 0)
  const base = await baselineServer(pageBytes)
  const baseUrl = `http://127.0.0.1:${base.address().port}/`
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true })
  try {
    say(`warming up, then ${loads} loads of each page, interleaved`)
    await measure(browser, `${apiUrl}/`)
    await measure(browser, baseUrl)
    const dash = []
    const baseline = []
    for (let i = 0; i < loads; i++) {
      dash.push(await measure(browser, `${apiUrl}/`))
      baseline.push(await measure(browser, baseUrl))
    }
    const row = (name, xs) =>
      `${name.padEnd(34)}${fmt(median(xs.map((x) => x.fcp))).padStart(10)}${
        fmt(percentile(xs.map((x) => x.fcp), 95)).padStart(10)
      }${fmt(median(xs.map((x) => x.load))).padStart(12)}`
    const fcp = median(dash.map((x) => x.fcp))
    const ratio = fcp / median(baseline.map((x) => x.fcp))
    console.log(
      [
        "",
        `Dashboard first paint — GET / of wemixvisor run over loopback, headless Chromium, ${loads} loads each (fresh context per load)`,
        `page weight: ${pageBytes} bytes (index.html + app.js + app.css); ms from navigation start:`,
        "",
        `${"page".padEnd(34)}${"FCP med".padStart(10)}${"FCP p95".padStart(10)}${"load med".padStart(12)}`,
        row("wemixvisor dashboard (/)", dash),
        row("baseline: static page, same size", baseline),
        "",
        `dashboard ÷ baseline, first paint median: ${fmt(ratio, 2)}×`,
        `${fcp < TARGET_FCP_MS ? "✓" : "✗"} first paint under ${TARGET_FCP_MS} ms: ${fmt(fcp)} ms`
      ].join("\n")
    )
    return fcp < TARGET_FCP_MS ? 0 : 3
  } finally {
    await browser.close()
    base.close()
  }
}

main().then(
  async (code) => {
    await cleanup()
    process.exit(code)
  },
  (e) => abort(1, e?.stack ?? String(e))
)
