// CLI cold start benchmark (issue 6 item 5): the built wemixvisor
// (dist/bin.js) `upgrade list` against a bare `node -e 0`.
//
//   npm run bench:cold                       (builds first; ~30 s)
//   node scripts/bench-cold.mjs --quick      (existing dist/, 7 runs of each)
//   node scripts/bench-cold.mjs --runs 51
//   node scripts/bench-cold.mjs --bin /tmp/other-build/bin.js     (another build, to compare)
//
// Each run is a fresh process, timed from spawn to exit (wall time, what an
// operator waits for): `node -e 0` (the runtime alone), `wemixvisor version`
// (the CLI parser and the Effect runtime, no configuration), and `wemixvisor
// upgrade list` in two homes made with the CLI itself: one with an empty plan,
// one with a few scheduled upgrades. The commands take turns (one run of each
// per round, the order rotating every round), so a busy moment on the machine
// falls on all of them alike; the figures are medians and 90th percentiles
// over the rounds, after one untimed warm-up run of each (page cache).
// Target: `upgrade list` ≤ 3× `node -e 0` (ratio of the medians).
// Exit status: 0 every target met, 3 a target missed, 1 the run failed.
// Everything lives in one temp folder, removed at the end, also on failure or
// Ctrl-C (--keep keeps it).
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { flag, intOption, option } from "./lib/args.mjs"
import { fmt, freePort, requireFiles, say as harnessSay } from "./lib/harness.mjs"
import { makeSandbox } from "./lib/sandbox.mjs"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
/** The CLI under test: the build (default), or another build to compare with (--bin). */
const bin = path.resolve(option("--bin") ?? path.join(root, "dist/bin.js"))

// ---------------------------------------------------------------------------
// Options

if (flag("--help") || flag("-h")) {
  console.log("usage: node scripts/bench-cold.mjs [--quick] [--runs N] [--bin <bin.js>] [--keep]")
  process.exit(0)
}
const quick = flag("--quick")
const runs = intOption("--runs", quick ? 7 : 21, 3, 1000)
const keep = flag("--keep")
const TARGET_RATIO = 3

requireFiles([[bin, "run 'npm run build' first (or 'npm run bench:cold')"]])

// ---------------------------------------------------------------------------
// Helpers

const say = (s) => harnessSay("bench", s)
/** The q-quantile of a sorted array (nearest rank). */
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]

// A run that takes this long is a hang, not a cold start.
const RUN_TIMEOUT_MS = 30_000
const { tmpRoot, cleanup, abort } = makeSandbox({
  prefix: "wemixvisor-bench-cold-",
  keep,
  deadlineMs: (runs + 10) * 4 * RUN_TIMEOUT_MS
})

/** The environment of one home: nothing of the caller's wemixvisor settings leaks in (an API URL would make `list` remote). */
const envOf = (home, rpcPort) => {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith("DAEMON_") || k.startsWith("WEMIXVISOR_")) delete env[k]
  return { ...env, DAEMON_HOME: home, DAEMON_NAME: "node", DAEMON_RPC_URL: `http://127.0.0.1:${rpcPort}` }
}

/** Runs one command to its end; its wall time in ms, from spawn to exit. Throws when it fails. */
const timed = ({ id, args, env, expect }) => {
  const start = process.hrtime.bigint()
  const r = spawnSync(process.execPath, args, {
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: RUN_TIMEOUT_MS
  })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (r.error || r.status !== 0 || (expect && !expect.test(r.stdout))) {
    throw new Error(
      `${id} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}):\n${r.stdout}${r.stderr}`.trimEnd()
    )
  }
  return ms
}

const cli = (env, ...args) => {
  const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: "utf8", timeout: RUN_TIMEOUT_MS })
  if (r.error || r.status !== 0) {
    throw new Error(
      `wemixvisor ${args.join(" ")} failed: ${r.error?.message ?? `exit ${r.status}`}\n${r.stdout}${r.stderr}`
    )
  }
  return r.stdout
}

// ---------------------------------------------------------------------------
// Main

const UPGRADES = ["v1.1.0", "v1.2.0", "v2.0.0", "v2.1.0-hotfix"]

const main = async () => {
  say(
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, Node ${process.version}, load ${
      os.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`
  )
  // A genesis binary that only has to exist; nothing here starts the node.
  const genesis = path.join(tmpRoot, "node-genesis")
  fs.writeFileSync(genesis, "#!/bin/sh\necho v1.0.0\n", { mode: 0o755 })
  // No node listens there: `schedule --force` does not need the chain head.
  const rpcPort = await freePort()
  const homes = {}
  for (const id of ["empty", "planned"]) {
    const home = path.join(tmpRoot, id)
    fs.mkdirSync(home)
    homes[id] = envOf(home, rpcPort)
    cli(homes[id], "init", genesis)
  }
  UPGRADES.forEach((name, i) =>
    cli(homes.planned, "upgrade", "schedule", name, String(1000 * (i + 1)), "--force", "--info", `release ${name}`)
  )
  const listed = cli(homes.planned, "upgrade", "list")
  const missing = UPGRADES.filter((name) => !listed.includes(name))
  if (missing.length > 0) throw new Error(`upgrade list does not show ${missing.join(", ")}:\n${listed}`)

  const subjects = [
    { id: "node -e 0", args: ["-e", "0"], env: homes.empty },
    { id: "wemixvisor version", args: [bin, "version"], env: homes.empty, expect: /^wemixvisor \S+/ },
    {
      id: "wemixvisor upgrade list (empty plan)",
      args: [bin, "upgrade", "list"],
      env: homes.empty,
      expect: /./,
      target: true
    },
    {
      id: `wemixvisor upgrade list (${UPGRADES.length} upgrades)`,
      args: [bin, "upgrade", "list"],
      env: homes.planned,
      expect: new RegExp(UPGRADES.map((n) => n.replaceAll(".", "\\.")).join("[\\s\\S]*")),
      target: true
    }
  ]
  for (const s of subjects) timed(s)
  say(`${runs} rounds of ${subjects.length} commands, interleaved`)
  const times = new Map(subjects.map((s) => [s.id, []]))
  for (let round = 0; round < runs; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const s = subjects[(round + k) % subjects.length]
      times.get(s.id).push(timed(s))
    }
  }

  const figures = subjects.map((s) => {
    const xs = [...times.get(s.id)].sort((a, b) => a - b)
    return { ...s, median: quantile(xs, 0.5), p90: quantile(xs, 0.9), min: xs[0] }
  })
  const base = figures[0]
  const row = (a, b, c, d, e) => `${a.padEnd(40)}${b.padStart(10)}${c.padStart(10)}${d.padStart(10)}${e.padStart(14)}`
  const out = [
    ``,
    `CLI cold start — wall time of one process, ${runs} interleaved runs each`,
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${
      Math.round(os.totalmem() / 2 ** 30)
    } GiB, Linux ${os.release()}, Node ${process.version}, load at the end ${
      os.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`,
    `build: ${bin} (bin.js ${fmt(fs.statSync(bin).size / 1024, 0)} KiB)`,
    ``,
    row("", "median", "p90", "min", "× node -e 0"),
    ...figures.map((f) =>
      row(
        f.id,
        `${fmt(f.median)} ms`,
        `${fmt(f.p90)} ms`,
        `${fmt(f.min)} ms`,
        f === base ? "" : `${fmt(f.median / base.median, 2)}×`
      )
    ),
    ``
  ]
  const checks = figures
    .filter((f) => f.target)
    .map((
      f
    ) => [
      `${f.id} ≤ ${TARGET_RATIO}× node -e 0`,
      f.median / base.median <= TARGET_RATIO,
      `${fmt(f.median / base.median, 2)}× (${fmt(f.median)} ms vs ${fmt(base.median)} ms)`
    ])
  out.push(...checks.map(([what, ok, detail]) => `${ok ? "✓" : "✗"} ${what}: ${detail}`))
  // Other work on the machine slows `node -e 0` as much as wemixvisor in absolute terms, which lowers the ratio.
  const load = os.loadavg()[0]
  if (load > os.cpus().length / 2) {
    out.push(
      `note: load ${
        load.toFixed(2)
      } on ${os.cpus().length} cores; the ratios read low on a busy machine, run again when it is idle`
    )
  }
  console.log(out.join("\n"))
  return checks.every(([, ok]) => ok) ? 0 : 3
}

main().then(
  (code) => cleanup().then(() => process.exit(code)),
  (e) => abort(1, e?.stack ?? String(e))
)
