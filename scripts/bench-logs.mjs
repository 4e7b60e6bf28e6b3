// Node output benchmark (issue 6 item 4, reworked by issue 12 item 2): the
// node writes to wemixvisor's own stdout and stderr (inherited fds, as
// Cosmovisor does), so its output no longer passes through wemixvisor at all.
// This checks what that promises: as fast as `cat` in the same place, no line
// lost, and a node that goes on writing, unharmed, when wemixvisor is
// SIGKILLed under it (a pipe read by wemixvisor would have killed it with
// SIGPIPE/EPIPE).
//
//   npm run bench:logs                        (builds first; ~1 minute)
//   node scripts/bench-logs.mjs --quick       (existing dist/, 50 MB, 1 round, 50 MB for the kill; ~15 s)
//   node scripts/bench-logs.mjs --mb 200 --rounds 5 --keep
//   node scripts/bench-logs.mjs --bin /tmp/other-build/bin.js        (another build, to compare)
//
// The fake node is a Node script writing log lines of ~150 bytes as fast as
// it can, one write(2) per line (as a Go node's logger does: one unbuffered
// write per record), each line numbered. It runs
// - under wemixvisor: the built CLI (dist/bin.js) `init` + `run` in a temp
//   home, with the fake node as its genesis binary; wemixvisor's stdout is a
//   pipe to a reader process started here (the node inherits it);
// - through cat: the same fake node | cat | the same reader.
// The node starts writing only once the process in the middle is up (a
// handshake through files), so startup is not measured; the CPU time that
// process used while the node wrote is reported beside the throughput.
// Every link is a real pipe (a FIFO opened and unlinked), as in a shell
// pipeline. The fake node runs in a session of its own in both cases, as
// wemixvisor must run it (setsid, for the process-group stop): with the
// kernel's autogroup scheduling a session is a scheduling group of its own,
// and on a busy machine that alone changes a pipeline's throughput by 2× or
// more — it is not what this measures. The reader counts bytes and lines at
// the far end and stamps the first and the last byte; throughput =
// bytes / (last - first). Rounds are interleaved (cat, wemixvisor, cat, …)
// and medians reported.
// Targets: wemixvisor ≥ 0.9× cat, 0 lines lost.
//
// Then kill -9: the node writes --kill-mb of lines under wemixvisor, which is
// SIGKILLed once a quarter has arrived. The node must stay alive, finish at
// about the rate it writes with wemixvisor alive, and every line must arrive
// whole and in order. (A slow reader now paces the node exactly as it would
// without wemixvisor — as under Cosmovisor; wemixvisor neither buffers nor
// drops the node's output any more.)
//
// Exit status: 0 every target met, 3 a target missed, 1 the run failed.
// Everything lives in one temp folder, removed at the end with every process
// started here, also on failure or Ctrl-C (--keep keeps the folder).
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { flag, option } from "./lib/args.mjs"
import { cpuSeconds, exited, fmt, median, requireFiles, say as harnessSay, waitFor } from "./lib/harness.mjs"
import { makeSandbox } from "./lib/sandbox.mjs"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const argvBin = process.argv.indexOf("--bin")
/** The CLI under test: the build (default), or another build to compare with (--bin). */
const bin = argvBin >= 0 ? path.resolve(process.argv[argvBin + 1]) : path.join(root, "dist/bin.js")

// ---------------------------------------------------------------------------
// Options

if (flag("--help") || flag("-h")) {
  console.log(
    "usage: node scripts/bench-logs.mjs [--quick] [--mb N] [--rounds N] [--kill-mb N] [--bin <bin.js>] [--keep]"
  )
  process.exit(0)
}
const quick = flag("--quick")
const intOption = (name, fallback, min, max) => {
  const raw = option(name)
  const n = raw === undefined ? fallback : Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`${name}: expected an integer ${min}-${max}, got ${raw}`)
    process.exit(2)
  }
  return n
}
const mb = intOption("--mb", quick ? 50 : 200, 1, 2000)
const rounds = intOption("--rounds", quick ? 1 : 5, 1, 20)
const killMb = intOption("--kill-mb", quick ? 50 : 200, 1, 2000)
const keep = flag("--keep")
// Bounded: generous for a machine writing 10 MB/s.
const deadlineMs = 60_000 + rounds * 2 * (mb * 1e6 / 10e6) * 1000 + 60_000

requireFiles([[bin, "run 'npm run build' first (or 'npm run bench:logs')"]])

// ---------------------------------------------------------------------------
// Helpers

const say = (s) => harnessSay("bench", s)
const readJson = (file) => {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"))
  } catch {
    return undefined
  }
}
/** kB values of /proc/<pid>/status (VmRSS, VmHWM) in MB, or undefined when the process is gone. */
const memory = (pid) => {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1])
    return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 }
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------
// Processes and cleanup

const { tmpRoot, track, cleanup, abort } = makeSandbox({ prefix: "wemixvisor-bench-logs-", keep, deadlineMs })

/**
 * A real pipe, as a shell makes for `a | b`: a FIFO, both ends opened
 * (blocking, as the processes on them expect), then unlinked.
 */
let fifoSeq = 0
const pipe = () => {
  const fifo = path.join(tmpRoot, `fifo-${++fifoSeq}`)
  execFileSync("mkfifo", ["-m", "600", fifo])
  const probe = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  const write = fs.openSync(fifo, fs.constants.O_WRONLY)
  const read = fs.openSync(fifo, fs.constants.O_RDONLY)
  fs.closeSync(probe)
  fs.unlinkSync(fifo)
  return { read, write }
}

// ---------------------------------------------------------------------------
// The fake node and the reader

/** Line `seq` of the fake node's log, ~150 bytes, geth-like; the reader rebuilds it to check what it got. */
const lineSource = `
const hex = (n) => ((Math.imul(n, 2654435761) >>> 0).toString(16).padStart(8, "0"))
const line = (seq) =>
  "seq=" + seq + " INFO [11-22|01:12:24.855] Imported new chain segment number=" + (1000000 + seq) +
  " hash=0x" + hex(seq) + hex(seq + 1) + "..." + hex(seq + 2) + " blocks=1 txs=" + (seq % 97) + " mgas=1.234 elapsed=1.402ms\\n"
`

const genFile = path.join(tmpRoot, "gen.mjs")
fs.writeFileSync(
  genFile,
  `// The fake node's log: GEN_BYTES of lines, one write(2) each, as fast as it can; then a summary in GEN_OUT.
import * as fs from "node:fs"
${lineSource}
const total = Number(process.env.GEN_BYTES)
const now = () => performance.timeOrigin + performance.now()
// Up and waiting: the bench samples the process in the middle, then says go.
fs.writeFileSync(process.env.GEN_OUT + ".ready", "")
while (!fs.existsSync(process.env.GEN_OUT + ".go")) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5)
const start = now()
let seq = 0, bytes = 0
while (bytes < total) {
  const l = line(seq++)
  bytes += fs.writeSync(1, l)
}
const end = now()
fs.writeFileSync(process.env.GEN_OUT + ".tmp", JSON.stringify({ lines: seq, bytes, start, end }))
fs.renameSync(process.env.GEN_OUT + ".tmp", process.env.GEN_OUT)
// Under wemixvisor the node stays up once done: an exit would be a crash, and restarted.
if (process.env.GEN_STAY === "1") setInterval(() => {}, 1e9)
`
)

const nodeScript = path.join(tmpRoot, "fake-node.sh")
fs.writeFileSync(nodeScript, `#!/bin/sh\nGEN_STAY=1 exec "${process.execPath}" "${genFile}"\n`, { mode: 0o755 })

const readerFile = path.join(tmpRoot, "reader.mjs")
fs.writeFileSync(
  readerFile,
  `// The far end: stdin counted (and with VERIFY, every line checked against what the node wrote).
// Progress on stdout every 100 ms, the result at EOF.
${lineSource}
const verify = process.env.VERIFY === "1"
const now = () => performance.timeOrigin + performance.now()
let bytes = 0, lines = 0, first = 0, last = 0
let bad = 0, outOfOrder = 0, lastSeq = -1, missing = 0, partial = Buffer.alloc(0)
const check = (text) => {
  const m = /^seq=(\\d+) /.exec(text)
  if (m === null || line(Number(m[1])) !== text + "\\n") { bad++; return }
  const seq = Number(m[1])
  if (seq <= lastSeq) outOfOrder++
  else missing += seq - lastSeq - 1
  lastSeq = seq
}
process.stdin.on("data", (b) => {
  const t = now()
  if (first === 0) first = t
  last = t
  bytes += b.length
  if (verify) {
    let data = partial.length ? Buffer.concat([partial, b]) : b
    let from = 0
    for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, from)) {
      lines++
      check(data.toString("latin1", from, i))
      from = i + 1
    }
    partial = Buffer.from(data.subarray(from))
  } else {
    for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) lines++
  }
})
const progress = setInterval(() => process.stdout.write(JSON.stringify({ bytes, lines }) + "\\n"), 100)
process.stdin.on("end", () => {
  clearInterval(progress)
  if (partial.length > 0) bad++
  process.stdout.write(JSON.stringify({ done: true, bytes, lines, first, last, bad, outOfOrder, missing, lastSeq }) + "\\n")
})
`
)

/** Starts the reader on `stdin` (a fd); `result` resolves with its final report, `progress()` is its latest count. */
const startReader = (stdin, env = {}) => {
  const child = track(
    spawn(process.execPath, [readerFile], { stdio: [stdin, "pipe", "inherit"], env: { ...process.env, ...env } })
  )
  let latest = { bytes: 0, lines: 0, at: Date.now() }
  let final
  let text = ""
  child.stdout.on("data", (chunk) => {
    text += chunk
    let i
    while ((i = text.indexOf("\n")) !== -1) {
      const msg = JSON.parse(text.slice(0, i))
      text = text.slice(i + 1)
      if (msg.done) final = msg
      if (msg.bytes !== latest.bytes) latest = { bytes: msg.bytes, lines: msg.lines, at: Date.now() }
    }
  })
  const result = exited(child).then(({ code }) => {
    if (final === undefined) throw new Error(`the reader exited (${code}) without a result`)
    return final
  })
  return { child, result, progress: () => latest }
}

// ---------------------------------------------------------------------------
// One run through cat, one through wemixvisor

let runSeq = 0

/** Waits for the fake node to be up, lets it go, and returns when it started. */
const go = async (genOut, what) => {
  await waitFor(`${what}: the fake node to be up`, () => fs.existsSync(`${genOut}.ready`), 30_000, 10)
  fs.writeFileSync(`${genOut}.go`, "")
}

/** fake node | cat | reader. */
const throughCat = async (bytes) => {
  const genOut = path.join(tmpRoot, `gen-${++runSeq}.json`)
  const a = pipe()
  const b = pipe()
  const reader = startReader(b.read)
  const cat = track(spawn("cat", [], { stdio: [a.read, b.write, "inherit"] }))
  // detached: in a session of its own, as wemixvisor runs the node (see the note on autogroups at the top).
  const gen = track(
    spawn(process.execPath, [genFile], {
      stdio: ["ignore", a.write, "inherit"],
      detached: true,
      env: { ...process.env, GEN_BYTES: String(bytes), GEN_OUT: genOut }
    })
  )
  for (const fd of [a.read, a.write, b.read, b.write]) fs.closeSync(fd)
  // cat's CPU time, sampled until it exits (the last sample is its total, within 20 ms).
  let catCpu = 0
  const sampler = setInterval(() => (catCpu = cpuSeconds(cat.pid) ?? catCpu), 20)
  await go(genOut, "cat")
  const read = await reader.result
  await exited(cat)
  await exited(gen)
  clearInterval(sampler)
  return { gen: readJson(genOut), read, cpu: catCpu }
}

/**
 * wemixvisor run (the fake node as its genesis binary), its stdout — which
 * the node inherits — piped to the reader. With `kill`, wemixvisor is
 * SIGKILLed once a quarter of the bytes reached the reader, and the node must
 * finish without it. The node stays up once done (an exit would be a crash);
 * it is stopped here (through node.pid) once the reader has everything.
 */
const throughWemixvisor = async (bytes, { kill = false } = {}) => {
  const n = ++runSeq
  const home = path.join(tmpRoot, `home-${n}`)
  const genOut = path.join(tmpRoot, `gen-${n}.json`)
  const logFile = path.join(tmpRoot, `wemixvisor-${n}.log`)
  fs.mkdirSync(home)
  const env = {
    ...process.env,
    DAEMON_HOME: home,
    DAEMON_NAME: "gwemix",
    // Nothing answers there: the height watcher just keeps retrying (it is not what this measures).
    DAEMON_RPC_URL: `http://127.0.0.1:9/`,
    WEMIXVISOR_API_ADDR: "127.0.0.1:0",
    WEMIXVISOR_LOG_FORMAT: "json",
    GEN_BYTES: String(bytes),
    GEN_OUT: genOut
  }
  execFileSync(process.execPath, [bin, "init", nodeScript], { env, stdio: "ignore" })
  const out = pipe()
  const log = fs.openSync(logFile, "w")
  const reader = startReader(out.read, kill ? { VERIFY: "1" } : {})
  const wv = track(spawn(process.execPath, [bin, "run"], { stdio: ["ignore", out.write, log], env }))
  for (const fd of [out.read, out.write, log]) fs.closeSync(fd)
  await waitFor("wemixvisor to start the node", () => fs.existsSync(`${genOut}.ready`), 30_000, 10)
  const nodePid = await waitFor("node.pid", () => readJson(path.join(home, "wemixvisor", "node.pid")), 30_000, 10)
  const cpu0 = cpuSeconds(wv.pid)
  await go(genOut, "wemixvisor")
  let cpu
  let killedAt
  if (kill) {
    await waitFor("a quarter of the output at the reader", () => reader.progress().bytes >= bytes / 4, deadlineMs, 5)
    cpu = cpuSeconds(wv.pid) - cpu0
    wv.kill("SIGKILL")
    await exited(wv)
    killedAt = reader.progress().bytes
  }
  const gen = await waitFor("the fake node to finish writing", () => readJson(genOut), deadlineMs, 20)
  await waitFor(
    "the reader to catch up",
    () => reader.progress().bytes >= gen.bytes || Date.now() - reader.progress().at > 5_000,
    120_000,
    50
  )
  const nodeAlive = cpuSeconds(nodePid.pid) !== undefined
  if (!kill) cpu = cpuSeconds(wv.pid) - cpu0
  const mem = kill ? undefined : memory(wv.pid)
  if (kill) {
    // The orphan: stopped here, as the next `run` would adopt it; its exit closes the reader's pipe.
    try {
      process.kill(-nodePid.pgid, "SIGTERM")
    } catch {
      // already gone
    }
  } else wv.kill("SIGTERM")
  const read = await reader.result
  const exit = kill ? undefined : await exited(wv)
  const logs = fs
    .readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l))
  return {
    gen,
    read,
    exit,
    mem,
    cpu,
    nodeAlive,
    killedAt,
    errors: logs.filter((l) => l.logLevel === "ERROR" || l.logLevel === "FATAL").map((l) => l.message)
  }
}

const mbps = (read) => read.bytes / 1e6 / ((read.last - read.first) / 1000)
const genMbps = (gen) => gen.bytes / 1e6 / ((gen.end - gen.start) / 1000)

// ---------------------------------------------------------------------------
// Main

const main = async () => {
  const bytes = mb * 1e6
  say(
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, Node ${process.version}, load ${
      os.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`
  )
  say(`fast reader: ${mb} MB of log lines, ${rounds} round(s), cat and wemixvisor interleaved`)
  const cat = []
  const wv = []
  for (let r = 0; r < rounds; r++) {
    const c = await throughCat(bytes)
    cat.push(c)
    say(
      `  cat         ${fmt(mbps(c.read))} MB/s, ${c.read.lines} of ${c.gen.lines} lines, cat used ${
        fmt(c.cpu * 1000, 0)
      } ms CPU`
    )
    const w = await throughWemixvisor(bytes)
    wv.push(w)
    say(
      `  wemixvisor  ${fmt(mbps(w.read))} MB/s, ${w.read.lines} of ${w.gen.lines} lines, used ${
        fmt(w.cpu * 1000, 0)
      } ms CPU, RSS ${fmt(w.mem?.rss)} MB`
    )
  }

  say(`kill -9 of wemixvisor while the node writes ${killMb} MB of log lines`)
  const killed = await throughWemixvisor(killMb * 1e6, { kill: true })
  say(
    `  node ${killed.nodeAlive ? "alive" : "DEAD"} after the kill (at ${
      fmt(killed.killedAt / 1e6)
    } MB); wrote ${killed.gen.lines} lines at ` +
      `${fmt(genMbps(killed.gen))} MB/s; reader got ${killed.read.lines}`
  )

  // ---- Figures
  const catRates = cat.map((c) => mbps(c.read))
  const wvRates = wv.map((w) => mbps(w.read))
  const ratio = median(wvRates) / median(catRates)
  const cpuPer100 = (runs) => median(runs.map((r) => (r.cpu * 1000) / (r.read.bytes / 1e8)))
  const lost = wv.reduce((n, w) => n + (w.gen.lines - w.read.lines), 0)
  const lostCat = cat.reduce((n, c) => n + (c.gen.lines - c.read.lines), 0)
  const fastGen = median(wv.map((w) => genMbps(w.gen)))
  const killedGen = genMbps(killed.gen)
  // Lines missing at the reader: gaps in the numbering, and whatever came after the last line received.
  const missing = killed.read.missing + (killed.gen.lines - 1 - killed.read.lastSeq)
  const checks = [
    [`throughput ≥ 0.9× cat`, ratio >= 0.9, `${fmt(ratio, 2)}×`],
    [`0 lines lost with a fast reader`, lost === 0 && lostCat === 0, `${lost} lost`],
    [
      `the node outlives a SIGKILLed wemixvisor`,
      killed.nodeAlive,
      `${killed.nodeAlive ? "alive" : "dead"} once it had written everything`
    ],
    [
      `every line across the kill, whole and in order`,
      missing === 0 && killed.read.lines === killed.gen.lines && killed.read.bad === 0 && killed.read.outOfOrder === 0,
      `${killed.read.lines} of ${killed.gen.lines} received, ${missing} missing, ${killed.read.bad} partial/garbled, ${killed.read.outOfOrder} out of order`
    ],
    [
      `the node's pace unchanged by the kill`,
      killedGen >= 0.5 * fastGen,
      `${fmt(killedGen)} MB/s vs ${fmt(fastGen)} MB/s with wemixvisor alive`
    ]
  ]
  const line = (a, b, c, d) => `${a.padEnd(22)}${b.padEnd(34)}${c.padEnd(20)}${d}`
  const out = [
    ``,
    `Node output — ${mb} MB of ~150-byte log lines, one write(2) per line, ${rounds} round(s) interleaved`,
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${
      Math.round(os.totalmem() / 2 ** 30)
    } GiB, Linux ${os.release()}, Node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`,
    ``,
    line("", "MB/s at the reader: median (runs)", "CPU ms per 100 MB", "lines lost"),
    line(
      "through cat",
      `${fmt(median(catRates))} (${catRates.map((x) => fmt(x)).join(" ")})`,
      fmt(cpuPer100(cat), 0),
      String(lostCat)
    ),
    line(
      "under wemixvisor",
      `${fmt(median(wvRates))} (${wvRates.map((x) => fmt(x)).join(" ")})`,
      fmt(cpuPer100(wv), 0),
      String(lost)
    ),
    line("ratio", `${fmt(ratio, 2)}× (target ≥ 0.9×)`, "", ""),
    `(CPU: the process in the middle only — cat, or the whole wemixvisor, which the output no longer crosses — while the node wrote; RSS of wemixvisor at the end ${
      fmt(median(wv.map((w) => w.mem?.rss)))
    } MB)`,
    ``,
    `kill -9 of wemixvisor, ${killMb} MB written, killed at ${fmt(killed.killedAt / 1e6)} MB:`,
    `  node ${killed.nodeAlive ? "alive" : "dead"} afterwards; wrote at ${fmt(killedGen)} MB/s (${
      fmt(fastGen)
    } MB/s with wemixvisor alive)`,
    `  lines: ${killed.gen.lines} written, ${killed.read.lines} received, ${missing} missing; ${killed.read.bad} partial or garbled, ${killed.read.outOfOrder} out of order`,
    ``,
    ...checks.map(([what, ok, detail]) => `${ok ? "✓" : "✗"} ${what}: ${detail}`)
  ]
  for (const w of [...wv, killed]) {
    if (w.errors.length > 0) out.push(`wemixvisor logged errors: ${w.errors.join(" | ")}`)
  }
  console.log(out.join("\n"))
  return checks.every(([, ok]) => ok) ? 0 : 3
}

main().then(
  (code) => cleanup().then(() => process.exit(code)),
  (e) => abort(1, e?.stack ?? String(e))
)
