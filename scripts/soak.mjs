// Soak (issue 6 item 6): upgrade cycles back to back — 1000 by default —
// with the built wemixvisor (a private copy of dist/) supervising a fast fake
// node, and wemixvisor's own resources sampled as the cycles go by.
//
//   npm run soak                       (builds first; 1000 cycles, ~4-5 minutes)
//   node scripts/soak.mjs --quick      (existing dist/, 50 cycles, ~20 s)
//   npm run soak -- --control          (1000 cycles twice, ~9 minutes: see below)
//   node scripts/soak.mjs --cycles 300 --control --keep
//
// Each cycle: a new upgrade u<i> (its binary written to upgrades/u<i>/bin, the
// plan entry added under upgrade-plan.lock in the ARCHITECTURE §3 shape, at the next
// block) → wemixvisor detects the height, stops the node, switches `current`,
// starts u<i>, verifies it (DAEMON_VERIFY_MIN_UP 50ms, poll 20ms) and marks
// it done → this script checks the node answers as u<i>. The fake node is a
// tiny HTTP JSON-RPC server whose height is time-based (50 blocks/s), so each
// incarnation continues the same "chain".
//
// Sampled every cycles/100 cycles, after a cycle has ended: wemixvisor's RSS
// (VmRSS), its open fds (/proc/<pid>/fd), its child processes (ppid), the
// processes in the node's process group and every process of the home.
// Targets: RSS growth < 5 MB (mean of the first 10 % of samples after
// warm-up vs the last 10 %), fds and child processes flat, exactly one node
// after every cycle, every upgrade done.
//
// upgrade-plan.json keeps every upgrade ever known, so it grows by one entry
// per cycle. The table shows the plan's size next to the cycle time and RSS;
// `--control` runs the same number of cycles again with a plan kept small
// (this script removes the done entries, as an operator editing the plan
// may), so the effect of plan growth is measured, not guessed.
//
// Exit status: 0 every target met, 3 a target missed, 1 the run failed.
// Bounded: stops by itself after cycles × 1.5 s + 1 min at most. Everything
// (temp folders, processes) is removed on any exit; --keep keeps the folders.
import * as fs from "node:fs"
import * as path from "node:path"
import {
  childrenOf,
  cleanupNow,
  cliCopy,
  cpuTicks,
  fdCount,
  freePort,
  groupMembers,
  inspectorSession,
  installExitHandlers,
  keepFolders,
  makeHome,
  mean,
  median,
  parseArgs,
  percentile,
  rpc,
  rssKb,
  say,
  sleep,
  table,
  waitFor,
  withPlanLock,
  writeAtomic
} from "./lib/harness.mjs"

const args = parseArgs()
if (args.flag("--help") || args.flag("-h")) {
  console.log("usage: node scripts/soak.mjs [--quick] [--cycles N] [--control] [--no-gc] [--keep]")
  process.exit(0)
}
const quick = args.flag("--quick")
const cycles = Number(args.option("--cycles") ?? (quick ? 50 : 1000))
if (!Number.isInteger(cycles) || cycles < 20 || cycles > 20_000) {
  console.error(`--cycles: expected 20-20000, got ${args.option("--cycles")}`)
  process.exit(2)
}
const control = args.flag("--control")
/** --no-gc: RSS exactly as the process table shows it, without the forced collections (no inspector). */
const forceGc = !args.flag("--no-gc")
const keep = args.flag("--keep")

const RATE = 50 // blocks/s of the fake node
const CYCLE_TIMEOUT_MS = 15_000
const IDLE_WINDOW_MS = 3000
const sampleEvery = Math.max(1, Math.floor(cycles / 100))
const warmup = Math.max(10, Math.ceil(cycles * 0.05))
const RSS_TARGET_KB = 5 * 1024

installExitHandlers()
if (keep) keepFolders()

const phases = control ? ["growing plan", "plan kept small"] : ["growing plan"]
const deadline = Date.now() + 60_000 + phases.length * cycles * 1500
say(
  "soak",
  `${cycles} cycles${control ? " × 2 (growing plan, then plan kept small)" : ""}; expected ~${
    Math.ceil((phases.length * cycles * 0.22) / 60)
  } min at ~0.2 s/cycle, bounded at ${Math.ceil((deadline - Date.now()) / 60_000)} min`
)
cliCopy()

/** Drops the done upgrades from the plan (the control phase): what an operator trimming the file would do. */
const prunePlan = (h) =>
  withPlanLock(h.root, () => {
    const plan = JSON.parse(fs.readFileSync(h.planFile, "utf8"))
    plan.upgrades = plan.upgrades.filter((u) => u.status !== "done")
    writeAtomic(h.planFile, JSON.stringify(plan, null, 2) + "\n")
  })

const soak = async (phase) => {
  const prune = phase === "plan kept small"
  const h = await makeHome({
    node: "fake",
    rate: RATE,
    env: {
      DAEMON_POLL_INTERVAL: "20ms",
      DAEMON_VERIFY_MIN_UP: "50ms",
      DAEMON_VERIFY_TIMEOUT: "5s",
      DAEMON_SHUTDOWN_GRACE: "2s",
      DAEMON_RESTART_DELAY: "100ms"
    }
  })
  h.init(h.version("genesis"))
  const inspectPort = await freePort()
  const run = h.start({}, { keepAll: false, nodeArgs: forceGc ? [`--inspect=127.0.0.1:${inspectPort}`] : [] })
  await waitFor("the genesis node", () => rpc(h.port, "web3_clientVersion"), 15_000)
  const inspector = forceGc ? await inspectorSession(inspectPort) : undefined
  // wemixvisor's CPU while nothing happens but heights and plan polls, with the
  // plan empty now and with every upgrade in it at the end: what plan growth costs at rest.
  const idleCpu = async () => {
    const c0 = cpuTicks(run.pid)
    const t = Date.now()
    await sleep(IDLE_WINDOW_MS)
    return ((cpuTicks(run.pid) - c0) * 10 * 100) / (Date.now() - t) // ticks are 10 ms: percent of one core
  }
  await sleep(500)
  const idleBefore = await idleCpu()
  say("soak", `${phase}: wemixvisor pid ${run.pid}, home ${h.home}`)

  const outcomes = new Map() // name -> {event, time}
  const started = new Map()
  run.onEvent((e) => {
    if (e.event === "upgrade-started") started.set(e.name, e.time)
    if (e.event === "upgrade-completed" || e.event === "upgrade-failed") outcomes.set(e.name, e)
  })

  const samples = []
  const cycleMs = []
  const upgradeMs = []
  const failures = []
  let extraNodes = 0
  let done = 0
  let stoppedEarly

  for (let i = 1; i <= cycles; i++) {
    if (Date.now() > deadline) {
      stoppedEarly = `deadline reached after ${done} cycles`
      break
    }
    if (!run.alive()) {
      stoppedEarly = `wemixvisor exited after ${done} cycles:\n${run.tail()}`
      break
    }
    const name = `u${i}`
    const t = Date.now()
    h.place(name, { text: h.versionText(name) })
    await h.schedule({ name, height: h.fakeHeight() + 1 })
    try {
      await waitFor(`upgrade ${name}`, () => outcomes.get(name), CYCLE_TIMEOUT_MS, 2)
    } catch (e) {
      stoppedEarly = `${e.message}; plan says ${JSON.stringify(h.upgrade(name))}\n${run.tail()}`
      break
    }
    const outcome = outcomes.get(name)
    outcomes.delete(name)
    if (outcome.event !== "upgrade-completed") {
      failures.push(`${name}: ${outcome.reason}`)
      if (failures.length >= 5) {
        stoppedEarly = `5 upgrades failed:\n${failures.join("\n")}\n${run.tail()}`
        break
      }
    } else {
      // The node answers as the new binary (the completed event comes after verify).
      const v = await rpc(h.port, "web3_clientVersion")
      if (v !== `fake/${name}`) failures.push(`${name}: the node answers as ${v}`)
    }
    cycleMs.push(Date.now() - t)
    if (started.has(name)) upgradeMs.push(outcome.time - started.get(name))
    started.delete(name)
    done = i
    if (prune) await prunePlan(h)

    if (i % sampleEvery === 0) {
      const nodePid = h.nodePid()
      const homeProcs = h.nodeProcesses()
      if (homeProcs.length !== 1) extraNodes++
      // RSS as the process table shows it, then after a full GC forced over the
      // inspector (V8 collects lazily: RSS alone swings by tens of MB with the
      // GC schedule), and the live heap then: what a leak would grow.
      const rawRss = rssKb(run.pid)
      if (inspector) await inspector.call("HeapProfiler.collectGarbage")
      const heap = inspector ? await inspector.call("Runtime.getHeapUsage") : { usedSize: NaN }
      samples.push({
        cycle: i,
        rawRss,
        heapMb: heap.usedSize / 1024 / 1024,
        rss: rssKb(run.pid),
        fds: fdCount(run.pid),
        children: childrenOf(run.pid).length,
        group: nodePid ? groupMembers(nodePid.pgid).length : 0,
        homeProcs: homeProcs.length,
        planKb: fs.statSync(h.planFile).size / 1024,
        cycleMs: mean(cycleMs.slice(-sampleEvery)),
        upgradeMs: mean(upgradeMs.slice(-sampleEvery))
      })
    }
    if (i % Math.max(1, Math.floor(cycles / 10)) === 0) {
      const s = samples.at(-1)
      say(
        "soak",
        `${phase}: ${i}/${cycles} cycles, ${mean(cycleMs.slice(-50)).toFixed(0)} ms/cycle, RSS ${
          s ? (s.rss / 1024).toFixed(1) : "?"
        } MB, fds ${s?.fds}, plan ${s?.planKb.toFixed(0)} KiB`
      )
    }
  }

  const planEntries = h.plan().length
  const idleAfter = run.alive() ? await idleCpu() : NaN
  inspector?.close()
  const end = await run.stop()
  const leftover = h.nodeProcesses()
  const historyLines = fs.existsSync(path.join(h.root, "upgrade-history.jsonl"))
    ? fs.readFileSync(path.join(h.root, "upgrade-history.jsonl"), "utf8").split("\n").length - 1
    : 0
  const result = {
    phase,
    h,
    idleBefore,
    idleAfter,
    planEntries,
    samples,
    cycleMs,
    upgradeMs,
    failures,
    extraNodes,
    done,
    stoppedEarly,
    end,
    leftover,
    historyLines
  }
  if (!keep) h.dispose()
  return result
}

// ---------------------------------------------------------------------------

const analyse = (r) => {
  const post = r.samples.filter((s) => s.cycle > warmup)
  const n = Math.max(1, Math.floor(post.length * 0.1))
  const first = post.slice(0, n)
  const last = post.slice(-n)
  const avg = (xs, k) => mean(xs.map((s) => s[k]))
  const max = (xs, k) => Math.max(...xs.map((s) => s[k]))
  const rssGrowth = avg(last, "rss") - avg(first, "rss")
  const fdsFlat = max(last, "fds") <= max(first, "fds") + 1
  const childrenFlat = max(post, "children") <= max(first, "children") && max(last, "group") <= max(first, "group")
  const c = r.cycleMs.slice(warmup)
  const m = Math.max(1, Math.floor(c.length * 0.1))
  const u = r.upgradeMs.slice(warmup)
  const mu = Math.max(1, Math.floor(u.length * 0.1))
  return {
    first,
    last,
    rssGrowth,
    fdsFlat,
    childrenFlat,
    cycleFirst: median(c.slice(0, m)),
    cycleLast: median(c.slice(-m)),
    upgradeFirst: median(u.slice(0, mu)),
    upgradeLast: median(u.slice(-mu)),
    planFirst: avg(first, "planKb"),
    planLast: avg(last, "planKb")
  }
}

const results = []
try {
  for (const phase of phases) results.push(await soak(phase))
} catch (e) {
  console.error(`soak failed: ${e?.stack ?? e}`)
  cleanupNow()
  process.exit(1)
}

const avg = (xs, k) => mean(xs.map((s) => s[k]))
/** With forced collections: the live heap, and RSS as sampled before each collection. */
const gcDiagnostics = (r, a) => [
  {
    what: "live heap after GC (mean first 10% → last 10%)",
    value: `${(avg(a.last, "heapMb") - avg(a.first, "heapMb")).toFixed(2)} MB (${avg(a.first, "heapMb").toFixed(1)} → ${
      avg(a.last, "heapMb").toFixed(1)
    })`,
    target: "(diagnostic)",
    ok: true
  },
  {
    what: "RSS before each forced GC (mean first 10% → last 10%)",
    value: `${((avg(a.last, "rawRss") - avg(a.first, "rawRss")) / 1024).toFixed(2)} MB (${
      (avg(a.first, "rawRss") / 1024).toFixed(1)
    } → ${(avg(a.last, "rawRss") / 1024).toFixed(1)}), range ${
      (Math.min(...r.samples.map((s) => s.rawRss)) / 1024).toFixed(0)
    }-${(Math.max(...r.samples.map((s) => s.rawRss)) / 1024).toFixed(0)} MB`,
    target: "(diagnostic)",
    ok: true
  }
]

let allMet = true
for (const r of results) {
  const a = analyse(r)
  console.log(`\n## Soak: ${r.done} upgrade cycles (${r.phase}), fake node at ${RATE} blocks/s, poll 20ms, verify 50ms`)
  console.log(`sampled every ${sampleEvery} cycles; warm-up: the first ${warmup} cycles\n`)
  // The table: every sample would be 100 rows; show ~20 evenly spread plus the last.
  const step = Math.max(1, Math.floor(r.samples.length / 20))
  const shown = r.samples.filter((_, i) => i % step === 0 || i === r.samples.length - 1)
  console.log(
    table(
      [
        ["cycle", "cycle"],
        ...(forceGc ? [["RSS MB", "rawRss"], ["RSS after GC", "rss"], ["heap MB", "heapMb"]] : [["RSS MB", "rss"]]),
        ["fds", "fds"],
        ["children", "children"],
        ["node group", "group"],
        ["home procs", "homeProcs"],
        ["plan KiB", "planKb"],
        ["ms/cycle", "cycleMs"],
        ["upgrade ms", "upgradeMs"]
      ],
      shown.map((s) => ({
        ...s,
        rss: (s.rss / 1024).toFixed(1),
        rawRss: (s.rawRss / 1024).toFixed(1),
        heapMb: s.heapMb.toFixed(1),
        planKb: s.planKb.toFixed(0),
        cycleMs: s.cycleMs.toFixed(0),
        upgradeMs: Number.isNaN(s.upgradeMs) ? "" : s.upgradeMs.toFixed(0)
      }))
    )
  )
  const checks = [
    {
      what: "cycles completed",
      value: `${r.done}/${cycles}${r.stoppedEarly ? ` — stopped: ${r.stoppedEarly.split("\n")[0]}` : ""}`,
      target: `${cycles}`,
      ok: r.done === cycles && r.stoppedEarly === undefined
    },
    { what: "upgrades not done", value: `${r.failures.length}`, target: "0", ok: r.failures.length === 0 },
    {
      what: forceGc
        ? "RSS growth after GC (mean first 10% → last 10%)"
        : "RSS growth, no forced GC (mean first 10% → last 10%)",
      value: `${(a.rssGrowth / 1024).toFixed(2)} MB (${(mean(a.first.map((s) => s.rss)) / 1024).toFixed(1)} → ${
        (mean(a.last.map((s) => s.rss)) / 1024).toFixed(1)
      })`,
      target: "< 5 MB",
      ok: a.rssGrowth < RSS_TARGET_KB
    },
    ...(forceGc ? gcDiagnostics(r, a) : []),
    {
      what: "open fds (max first 10% → max last 10%)",
      value: `${Math.max(...a.first.map((s) => s.fds))} → ${Math.max(...a.last.map((s) => s.fds))}`,
      target: "flat (±1)",
      ok: a.fdsFlat
    },
    {
      what: "child processes / node group (max)",
      value: `${Math.max(...r.samples.map((s) => s.children))} / ${Math.max(...r.samples.map((s) => s.group))}`,
      target: "flat (1 / 1)",
      ok: a.childrenFlat
    },
    { what: "samples with other than one node process", value: `${r.extraNodes}`, target: "0", ok: r.extraNodes === 0 },
    {
      what: "after SIGTERM: exit code, processes left",
      value: `${r.end.code ?? r.end.signal}, ${r.leftover.length}`,
      target: "0, 0",
      ok: r.end.code === 0 && r.leftover.length === 0
    }
  ]
  console.log("")
  console.log(
    table(
      [["check", "what"], ["measured", "value"], ["target", "target"], ["", "verdict"]],
      checks.map((c) => ({ ...c, verdict: c.target === "(diagnostic)" ? "" : c.ok ? "PASS" : "MISS" }))
    )
  )
  if (r.failures.length > 0) console.log(`\nfailed upgrades:\n${r.failures.slice(0, 10).join("\n")}`)
  if (r.stoppedEarly) console.log(`\nstopped early: ${r.stoppedEarly}`)
  console.log(
    `\nplan growth: ${a.planFirst.toFixed(0)} KiB → ${a.planLast.toFixed(0)} KiB; median cycle ${
      a.cycleFirst.toFixed(0)
    } → ${a.cycleLast.toFixed(0)} ms, ` +
      `median upgrade (started → completed) ${a.upgradeFirst.toFixed(0)} → ${a.upgradeLast.toFixed(0)} ms, ` +
      `p95 cycle ${percentile(r.cycleMs.slice(warmup), 95).toFixed(0)} ms; history ${r.historyLines} lines;\n` +
      `idle CPU (poll 20ms, ${IDLE_WINDOW_MS / 1000} s window): ${
        r.idleBefore.toFixed(1)
      } % of a core with an empty plan → ` +
      `${r.idleAfter.toFixed(1)} % with ${r.planEntries} upgrades in the plan`
  )
  r.analysis = a
  allMet &&= checks.every((c) => c.ok)
}

if (results.length === 2) {
  const [g, s] = results.map((r) => r.analysis)
  console.log(
    `\n## Plan growth, measured: growing plan vs plan kept small (same ${cycles} cycles)\n` +
      table(
        [["", "k"], ["growing plan", "g"], ["plan kept small", "s"]],
        [
          { k: "plan size, last 10%", g: `${g.planLast.toFixed(0)} KiB`, s: `${s.planLast.toFixed(0)} KiB` },
          { k: "RSS growth", g: `${(g.rssGrowth / 1024).toFixed(2)} MB`, s: `${(s.rssGrowth / 1024).toFixed(2)} MB` },
          {
            k: "median cycle, first → last 10%",
            g: `${g.cycleFirst.toFixed(0)} → ${g.cycleLast.toFixed(0)} ms`,
            s: `${s.cycleFirst.toFixed(0)} → ${s.cycleLast.toFixed(0)} ms`
          },
          {
            k: "idle CPU, empty plan → end",
            g: `${results[0].idleBefore.toFixed(1)} → ${results[0].idleAfter.toFixed(1)} %`,
            s: `${results[1].idleBefore.toFixed(1)} → ${results[1].idleAfter.toFixed(1)} %`
          },
          {
            k: "median upgrade, first → last 10%",
            g: `${g.upgradeFirst.toFixed(0)} → ${g.upgradeLast.toFixed(0)} ms`,
            s: `${s.upgradeFirst.toFixed(0)} → ${s.upgradeLast.toFixed(0)} ms`
          }
        ]
      )
  )
}

console.log(`\nsoak: ${allMet ? "PASS — every target met" : "MISS — a target was missed (see above)"}`)
cleanupNow()
process.exit(allMet ? 0 : 3)
