// Shared by scripts/soak.mjs and scripts/faults.mjs: the built CLI driven as
// an operator drives it — a private copy of dist/, homes in temp folders, fake
// and real (anvil) nodes, the plan written the way the CLI writes it, the
// process table read from /proc — and cleanup of everything on any exit.
// Plain ESM on purpose: scripts run with `node`, without a TypeScript step.
import { spawn, spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { WebSocket } from "ws"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
export const anvilBin = path.join(repoRoot, "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
export const DAEMON_NAME = "gwemix"

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const t0 = Date.now()
/** Progress on stderr; the table and the verdict go to stdout. */
export const say = (tag, s) =>
  process.stderr.write(`[${tag} ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${s}\n`)

/** A figure with `d` decimals; "n/a" when there is none (NaN, undefined). */
export const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "n/a")

/** Exits 1 naming the first of `[file, how to get it]` that is missing: a bench cannot start without it. */
export const requireFiles = (pairs) => {
  for (const [file, hint] of pairs) {
    if (!fs.existsSync(file)) {
      console.error(`bench: ${file} is missing; ${hint}`)
      process.exit(1)
    }
  }
}

/** Polls `check` until it returns something other than undefined/false/null; throws after `timeoutMs`. */
export const waitFor = async (what, check, timeoutMs = 20_000, everyMs = 50) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined && v !== false && v !== null) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** Resolves with how `child` ended, at once if it already has. */
export const exited = (child) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })))

// ---------------------------------------------------------------------------
// Cleanup: every temp folder, mount, process and server this script creates
// is registered here and released on any exit — normal end, an exception,
// Ctrl-C, SIGTERM. Processes are ended by pid, never by name.

const dirs = new Set()
const mounts = new Set()
const children = new Set()
const homes = new Set()
const closers = new Set()
let cleaned = false
let keepDirs = false

/** --keep: processes are still ended on exit, folders are left for inspection. */
export const keepFolders = () => {
  keepDirs = true
}

export const registerDir = (d) => (dirs.add(d), d)
export const registerChild = (c) => (children.add(c), c)
export const registerCloser = (f) => (closers.add(f), f)

export const tempDir = (prefix) => registerDir(fs.mkdtempSync(path.join(os.tmpdir(), prefix)))

/** Kills every process of a home (nodes, wrappers, anvil) by pid. */
export const killHomeProcesses = (home) => {
  for (const p of homeProcesses(home)) {
    try {
      process.kill(p.pid, "SIGKILL")
    } catch {
      // gone already
    }
  }
}

export const cleanupNow = () => {
  if (cleaned) return
  cleaned = true
  for (const f of closers) {
    try {
      f()
    } catch {
      // best effort
    }
  }
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill("SIGKILL")
      } catch {
        // gone
      }
    }
  }
  for (const h of homes) killHomeProcesses(h)
  for (const m of mounts) spawnSync("umount", ["-l", m])
  if (keepDirs) {
    if (dirs.size > 0) process.stderr.write(`kept: ${[...dirs].join(" ")}\n`)
    return
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
}

let exitHandlersInstalled = false
export const installExitHandlers = () => {
  if (exitHandlersInstalled) return
  exitHandlersInstalled = true
  process.on("exit", cleanupNow)
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: cleaning up\n`)
      cleanupNow()
      process.exit(130)
    })
  }
  process.on("uncaughtException", (e) => {
    process.stderr.write(`uncaught: ${e?.stack ?? e}\n`)
    cleanupNow()
    process.exit(1)
  })
}

/** Mounts a tmpfs of `size` (e.g. "2m") on `dir`; false when this machine does not allow it. */
export const mountTmpfs = (dir, size) => {
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" })
  if (r.status !== 0) return { ok: false, why: (r.stderr || r.error?.message || `mount exited ${r.status}`).trim() }
  mounts.add(dir)
  return { ok: true }
}

export const unmount = (dir) => {
  spawnSync("umount", [dir])
  mounts.delete(dir)
}

// ---------------------------------------------------------------------------
// Options

export const parseArgs = (argv = process.argv.slice(2)) => ({
  flag: (name) => argv.includes(name),
  option: (name) => {
    const i = argv.indexOf(name)
    return i >= 0 ? argv[i + 1] : undefined
  }
})

// ---------------------------------------------------------------------------
// Network

export const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on("error", reject)
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })

/** A plain HTTP request on a fresh connection; {status, body, json} or undefined when nothing answers. */
export const request = (url, { method = "GET", headers = {}, body, timeoutMs = 3000 } = {}) =>
  new Promise((resolve) => {
    const u = new URL(url)
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent: false, headers },
      (res) => {
        const chunks = []
        res.on("data", (c) => chunks.push(c))
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          let json
          try {
            json = JSON.parse(text)
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode, headers: res.headers, body: text, json })
        })
        res.on("error", () => resolve(undefined))
      }
    )
    req.setTimeout(timeoutMs, () => req.destroy())
    req.on("error", () => resolve(undefined))
    req.end(body)
  })

/** One JSON-RPC call to a node on loopback; the result, or undefined. */
export const rpc = async (port, method, params = [], timeoutMs = 1000) => {
  const r = await request(`http://127.0.0.1:${port}/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    timeoutMs
  })
  return r?.json?.result ?? undefined
}

export const blockNumber = async (port) => {
  const r = await rpc(port, "eth_blockNumber")
  return typeof r === "string" ? Number(BigInt(r)) : undefined
}

/**
 * A loopback TCP proxy in front of `target`: `cut` stops listening and resets
 * every connection (the RPC is refused), `blackhole` accepts connections and
 * never answers, `restore` forwards again. The node behind it is untouched.
 */
export const tcpProxy = async (target) => {
  const port = await freePort()
  const sockets = new Set()
  let mode = "forward"
  let server
  const listen = () =>
    new Promise((resolve, reject) => {
      const s = net.createServer((client) => {
        sockets.add(client)
        client.on("close", () => sockets.delete(client))
        client.on("error", () => client.destroy())
        if (mode === "blackhole") return // hold it open, say nothing
        const upstream = net.connect(target, "127.0.0.1")
        sockets.add(upstream)
        upstream.on("close", () => sockets.delete(upstream))
        upstream.on("error", () => client.destroy())
        client.on("error", () => upstream.destroy())
        client.on("close", () => upstream.destroy())
        upstream.on("close", () => client.destroy())
        client.pipe(upstream).pipe(client)
      })
      s.once("error", reject)
      s.listen(port, "127.0.0.1", () => resolve())
      server = s
    })
  const drop = () => {
    for (const s of sockets) s.destroy()
    sockets.clear()
  }
  const closeServer = () =>
    new Promise((resolve) => {
      if (server === undefined) return resolve()
      const s = server
      server = undefined
      s.close(() => resolve())
    })
  await listen()
  const proxy = {
    port,
    cut: async () => {
      mode = "cut"
      drop()
      await closeServer()
    },
    blackhole: async () => {
      drop()
      mode = "blackhole"
      if (server === undefined) await listen()
    },
    restore: async () => {
      drop()
      mode = "forward"
      if (server === undefined) await listen()
    },
    close: async () => {
      drop()
      await closeServer()
    }
  }
  registerCloser(() => {
    drop()
    server?.close()
  })
  return proxy
}

// ---------------------------------------------------------------------------
// Processes (/proc)

/** {state, ppid, pgid, startTime} of a pid, or undefined when it is gone. */
export const procStat = (pid) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return { state: f[0], ppid: Number(f[1]), pgid: Number(f[2]), startTime: f[19] }
  } catch {
    return undefined
  }
}

export const isAlive = (pid) => {
  const s = procStat(pid)
  return s !== undefined && s.state !== "Z" && s.state !== "X"
}

const allPids = () => fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map(Number)

const cmdline = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "")
  } catch {
    return undefined
  }
}

const nodeMarker = (pid) => {
  try {
    const env = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")
    return env.find((e) => e.startsWith("WEMIXVISOR_NODE="))?.slice("WEMIXVISOR_NODE=".length)
  } catch {
    return undefined
  }
}

/**
 * Live processes that belong to a home: their command line mentions it (node
 * wrappers, anvil, fake nodes) or they carry wemixvisor's node marker for a
 * binary under it. wemixvisor itself mentions neither.
 */
export const homeProcesses = (home) => {
  const out = []
  for (const pid of allPids()) {
    if (pid === process.pid) continue
    const argv = cmdline(pid)
    if (argv === undefined) continue
    const mentions = argv.some((a) => a.includes(home)) || (nodeMarker(pid) ?? "").startsWith(home)
    if (!mentions || !isAlive(pid)) continue
    out.push({ pid, argv })
  }
  return out
}

export const childrenOf = (ppid) => allPids().filter((pid) => procStat(pid)?.ppid === ppid && isAlive(pid))
export const groupMembers = (pgid) => allPids().filter((pid) => procStat(pid)?.pgid === pgid && isAlive(pid))

/** VmRSS in KiB. */
export const rssKb = (pid) => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

export const fdCount = (pid) => {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return undefined
  }
}

/** CPU time (user + system) of a pid, in clock ticks. */
export const cpuTicks = (pid) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return Number(f[11]) + Number(f[12])
  } catch {
    return undefined
  }
}

let clockTicks
/** Clock ticks per second (getconf CLK_TCK), read once when first needed. */
const ticksPerSecond =
  () => (clockTicks ??= Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100)

/** CPU time (user + system) of a pid, in seconds; undefined once it is gone. */
export const cpuSeconds = (pid) => {
  const ticks = cpuTicks(pid)
  return ticks === undefined ? undefined : ticks / ticksPerSecond()
}

// ---------------------------------------------------------------------------
// Benchmarks: a home whose node is its own real anvil, and the JSON log of its `run`.

/**
 * A home in `root/<id>` (not yet initialised) whose node is its own anvil at
 * 1 block/s (the flags of startAnvil in test/support/fixtures.ts) on a free
 * port, and the env a `run` on it needs (HTTP polling, JSON logs, an API on a
 * free port). The wrapper execs anvil, so the signals reach anvil itself; its
 * data dir names `root`, so a sandbox cleanup finds it.
 */
export const anvilHome = async (root, id) => {
  const home = path.join(root, id)
  const data = path.join(home, "data")
  fs.mkdirSync(data, { recursive: true })
  const port = await freePort()
  const wrapper = path.join(root, `${id}-anvil.sh`)
  fs.writeFileSync(
    wrapper,
    `#!/bin/sh\nexec "${anvilBin}" --host 127.0.0.1 --port ${port} --chain-id 31337 --block-time 1 \\\n` +
      `  --state "${data}/state.json" --state-interval 1 --prune-history --silent\n`,
    { mode: 0o755 }
  )
  const env = {
    ...process.env,
    DAEMON_HOME: home,
    DAEMON_NAME: "anvil",
    DAEMON_RPC_URL: `http://127.0.0.1:${port}`,
    WEMIXVISOR_API_ADDR: "127.0.0.1:0",
    WEMIXVISOR_LOG_FORMAT: "json"
  }
  delete env.DAEMON_WS_URL
  return { home, port, wrapper, env }
}

/** The JSON lines of a `run` log file so far (a line cut mid-write reads as {}). */
export const jsonLog = (file) =>
  fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => {
      try {
        return JSON.parse(l)
      } catch {
        return {}
      }
    })

/** The API address a `run` logged ("API listening on …"), or undefined. */
export const apiUrlOf = (log) => log.map((l) => /API listening on (\S+)/.exec(l.message ?? "")?.[1]).find(Boolean)

// ---------------------------------------------------------------------------
// The CLI: a private copy of dist/ (others rebuild it while this runs, and
// `run` loads code-split chunks lazily).

let cliBin
export const cliCopy = () => {
  if (cliBin !== undefined) return cliBin
  const source = process.env.WEMIXVISOR_DIST ?? path.join(repoRoot, "dist")
  if (!fs.existsSync(path.join(source, "bin.js"))) {
    throw new Error(`${source}/bin.js is missing: run 'npm run build' first`)
  }
  const dir = tempDir("wemixvisor-dist-")
  fs.cpSync(source, dir, { recursive: true })
  cliBin = path.join(dir, "bin.js")
  return cliBin
}

const baseEnv = (env) => ({ PATH: process.env.PATH ?? "", WEMIXVISOR_LOG_FORMAT: "json", ...env })

/** Runs one CLI command to completion: {code, signal, stdout, stderr}. */
export const cli = (args, env, { timeoutMs = 30_000, input } = {}) => {
  const r = spawnSync(process.execPath, [cliCopy(), ...args], {
    env: baseEnv(env),
    encoding: "utf8",
    timeout: timeoutMs,
    ...(input !== undefined ? { input } : {})
  })
  return { code: r.status, signal: r.signal, stdout: r.stdout ?? "", stderr: r.stderr ?? "" }
}

/**
 * One `wemixvisor run`. Its JSON log (stderr) is parsed line by line; only
 * event lines and errors are kept (a soak of thousands of upgrades must not
 * grow this script's memory without bound), plus the last lines for context.
 */
export const startRun = (env, { keepAll = true, nodeArgs = [] } = {}) => {
  const proc = registerChild(
    spawn(process.execPath, [...nodeArgs, cliCopy(), "run"], { env: baseEnv(env), stdio: ["ignore", "ignore", "pipe"] })
  )
  const events = []
  const tail = []
  const all = []
  const listeners = new Set()
  let partial = ""
  proc.stderr.setEncoding("utf8")
  proc.stderr.on("data", (chunk) => {
    partial += chunk
    const lines = partial.split("\n")
    partial = lines.pop()
    for (const line of lines) {
      if (keepAll) all.push(line)
      tail.push(line)
      if (tail.length > 200) tail.shift()
      if (!line.startsWith("{")) continue
      let j
      try {
        j = JSON.parse(line)
      } catch {
        continue
      }
      const ann = j.annotations ?? {}
      if (typeof ann.event === "string") {
        const e = { ...ann, time: Date.parse(j.timestamp) || Date.now(), at: Date.now() }
        if (keepAll) events.push(e)
        for (const l of listeners) l(e)
      }
    }
  })
  const ended = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })))
  const alive = () => proc.exitCode === null && proc.signalCode === null
  return {
    proc,
    pid: proc.pid,
    alive,
    ended,
    logs: () => (keepAll ? all.join("\n") : tail.join("\n")),
    tail: (n = 40) => tail.slice(-n).join("\n"),
    events: (type) => events.filter((e) => e.event === type),
    /** Calls `f` with every event from now on; returns the unsubscribe. */
    onEvent: (f) => {
      listeners.add(f)
      return () => listeners.delete(f)
    },
    /** Resolves with the first event (from now on, or already seen) satisfying `pred`. */
    waitEvent: (what, pred, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const seen = events.find(pred)
        if (seen) return resolve(seen)
        const timer = setTimeout(() => {
          listeners.delete(l)
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
        }, timeoutMs)
        const l = (e) => {
          if (!pred(e)) return
          clearTimeout(timer)
          listeners.delete(l)
          resolve(e)
        }
        listeners.add(l)
      }),
    /** SIGTERM and wait (bounded); SIGKILL when it does not go. */
    stop: async (timeoutMs = 15_000) => {
      if (!alive()) return ended
      proc.kill("SIGTERM")
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs)
      const end = await ended
      clearTimeout(timer)
      return end
    }
  }
}

/** How a run ended, or a rejection after `ms`. */
export const endedWithin = async (run, ms, what) => {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([run.ended, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * A DevTools-protocol session with a process started with --inspect on
 * `port`: lets a measurement force a full garbage collection
 * (HeapProfiler.collectGarbage) and read the live heap (Runtime.getHeapUsage)
 * without instrumenting the program.
 */
export const inspectorSession = async (port) => {
  const list = await waitFor(
    "the inspector",
    async () => (await request(`http://127.0.0.1:${port}/json/list`))?.json?.[0],
    10_000
  )
  const ws = new WebSocket(list.webSocketDebuggerUrl)
  await new Promise((resolve, reject) => {
    ws.once("open", resolve)
    ws.once("error", reject)
  })
  let next = 0
  const pending = new Map()
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data))
    const p = pending.get(msg.id)
    if (p === undefined) return
    pending.delete(msg.id)
    if (msg.error) p.reject(new Error(msg.error.message))
    else p.resolve(msg.result)
  })
  const close = () => ws.close()
  registerCloser(close)
  return {
    call: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = ++next
        pending.set(id, { resolve, reject })
        ws.send(JSON.stringify({ id, method, params }))
      }),
    close
  }
}

// ---------------------------------------------------------------------------
// Node binaries

/**
 * A fast fake node: a tiny HTTP JSON-RPC server whose height is time-based
 * (`rate` blocks/s since `epoch` ms), so every incarnation continues the same
 * "chain". Answers eth_blockNumber and web3_clientVersion (`fake/<version>`).
 * CommonJS, no dependencies: it starts in ~40 ms. Exits 0 at once on SIGTERM.
 */
export const writeFakeNode = (file) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(
    file,
    `"use strict"
const http = require("http")
const [port, epoch, rate, version] = process.argv.slice(2)
const height = () => Math.max(0, Math.floor(((Date.now() - Number(epoch)) * Number(rate)) / 1000))
const one = (m) =>
  m && m.method === "eth_blockNumber" ? { jsonrpc: "2.0", id: m.id, result: "0x" + height().toString(16) }
  : m && m.method === "web3_clientVersion" ? { jsonrpc: "2.0", id: m.id, result: "fake/" + version }
  : { jsonrpc: "2.0", id: m ? m.id : null, error: { code: -32601, message: "method not found" } }
const server = http.createServer((req, res) => {
  let body = ""
  req.on("data", (c) => (body += c))
  req.on("end", () => {
    let msg
    try { msg = JSON.parse(body) } catch { res.writeHead(400); return res.end() }
    res.writeHead(200, { "content-type": "application/json" })
    res.end(JSON.stringify(Array.isArray(msg) ? msg.map(one) : one(msg)))
  })
})
server.keepAliveTimeout = 1000
server.listen(Number(port), "127.0.0.1")
server.on("error", (e) => { console.error("fake node: " + e.message); process.exit(1) })
const stop = () => process.exit(0)
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
`
  )
  return file
}

/** Writes an executable script. */
export const writeScript = (file, body) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, body.startsWith("#!") ? body : `#!/bin/sh\n${body}`, { mode: 0o755 })
  return file
}

// ---------------------------------------------------------------------------
// A home: DAEMON_HOME in a temp folder (or a given folder), with the views an
// operator has of it.

export const fastEnv = {
  DAEMON_POLL_INTERVAL: "100ms",
  DAEMON_VERIFY_MIN_UP: "500ms",
  DAEMON_VERIFY_TIMEOUT: "5s",
  DAEMON_SHUTDOWN_GRACE: "1500ms",
  DAEMON_RESTART_DELAY: "200ms"
}

const readJson = (file) => {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"))
  } catch {
    return undefined
  }
}

/** Takes upgrade-plan.lock as PlanStore does (O_EXCL, pid + start time), runs `f`, releases it. */
export const withPlanLock = async (root, f) => {
  const lock = path.join(root, "upgrade-plan.lock")
  const me =
    JSON.stringify({ pid: process.pid, start_time: procStat(process.pid)?.startTime, time: new Date().toISOString() }) +
    "\n"
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      fs.writeFileSync(lock, me, { flag: "wx" })
      break
    } catch (e) {
      if (e.code !== "EEXIST" || Date.now() > deadline) throw e
      await sleep(5)
    }
  }
  try {
    return f()
  } finally {
    fs.rmSync(lock, { force: true })
  }
}

/** Atomic write (temp file, fsync, rename), as wemixvisor writes its files. */
export const writeAtomic = (file, text) => {
  const tmp = `${file}.${process.pid}.tmp`
  const fd = fs.openSync(tmp, "w")
  fs.writeFileSync(fd, text)
  fs.fsyncSync(fd)
  fs.closeSync(fd)
  fs.renameSync(tmp, file)
}

/**
 * Every binary here answers `<binary> version` (DAEMON_VERSION_ARGS' default)
 * as a real node does — prints a version and exits — instead of starting a
 * node: wemixvisor probes binaries ahead of an upgrade and for `status`, and a
 * wrapper that ignored its arguments would start a second node on the port.
 */
const answersVersion = (version) => `if [ "$1" = "version" ]; then echo "gwemix ${version}"; exit 0; fi\n`

/**
 * A home. `node` chooses the binaries: "fake" (writeFakeNode; `rate` blocks/s)
 * or "anvil" (wrappers that record their version in data/versions.log and exec
 * anvil on the shared chain, (anvil, the real test node: test/support/fixtures.ts).
 */
export const makeHome = async (
  { node = "fake", rate = 50, blockTime = 0.2, env = {}, home: givenHome, dataDir, rpcPort } = {}
) => {
  const home = givenHome ?? tempDir("wemixvisor-fault-")
  homes.add(home)
  const root = path.join(home, "wemixvisor")
  const data = dataDir ?? path.join(home, "data")
  fs.mkdirSync(data, { recursive: true })
  const bins = path.join(home, "bins")
  const port = await freePort()
  const apiPort = await freePort()
  const epoch = Date.now()
  const fakeJs = node === "fake" ? writeFakeNode(path.join(bins, "fake-node.cjs")) : undefined
  const runs = []
  const planFile = path.join(root, "upgrade-plan.json")
  const h = {
    home,
    root,
    data,
    port,
    apiPort,
    api: `http://127.0.0.1:${apiPort}`,
    planFile,
    env: {
      DAEMON_HOME: home,
      DAEMON_NAME,
      DAEMON_RPC_URL: `http://127.0.0.1:${rpcPort ?? port}`,
      WEMIXVISOR_API_ADDR: `127.0.0.1:${apiPort}`,
      ...fastEnv,
      ...env
    },
    /** The chain head the fake node reports right now (time-based). */
    fakeHeight: () => Math.floor(((Date.now() - epoch) * rate) / 1000),
    /** The text of a healthy binary of `version`. */
    versionText: (version) =>
      node === "fake"
        ? `#!/bin/sh\n${
          answersVersion(version)
        }exec "${process.execPath}" "${fakeJs}" ${port} ${epoch} ${rate} ${version} "${data}"\n`
        : `#!/bin/sh
${answersVersion(version)}echo "${version} $$" >> "${data}/versions.log"
exec "${anvilBin}" --host 127.0.0.1 --port ${port} --chain-id 31337 --block-time ${blockTime} \\
  --state "${data}/state.json" --state-interval 1 --prune-history --silent
`,
    /** A healthy binary of `version` in bins/. */
    version: (version) => writeScript(path.join(bins, `gwemix-${version}`), h.versionText(version)),
    /** Any binary (a broken one) that still records its start in versions.log. */
    script: (version, body) =>
      writeScript(
        path.join(bins, `gwemix-${version}`),
        `#!/bin/sh\n${answersVersion(version)}echo "${version} $$ ${home}" >> "${data}/versions.log"\n${body}\n`
      ),
    init: (genesisBinary) => {
      const r = cli(["init", genesisBinary], h.env)
      if (r.code !== 0) throw new Error(`init exited ${r.code}: ${r.stderr}`)
    },
    /** Puts a binary at upgrades/<name>/bin/gwemix (a file path, or `{text}`). */
    place: (name, binary) => {
      const dest = path.join(root, "upgrades", name, "bin", DAEMON_NAME)
      fs.mkdirSync(path.dirname(dest), { recursive: true })
      if (typeof binary === "string") fs.copyFileSync(binary, dest)
      else fs.writeFileSync(dest, binary.text)
      fs.chmodSync(dest, 0o755)
    },
    /** Adds `scheduled` upgrades as the CLI does: ARCHITECTURE §3 shape, under upgrade-plan.lock, atomically. */
    schedule: (...upgrades) =>
      withPlanLock(root, () => {
        const now = new Date().toISOString()
        const existing = readJson(planFile)?.upgrades ?? []
        const next = {
          version: 1,
          upgrades: [
            ...existing,
            ...upgrades.map((u) => ({
              name: u.name,
              height: u.height,
              status: "scheduled",
              info: "",
              binaries: {},
              checksums: {},
              reason: null,
              created_at: now,
              updated_at: now
            }))
          ]
        }
        writeAtomic(planFile, JSON.stringify(next, null, 2) + "\n")
      }),
    plan: () => readJson(planFile)?.upgrades ?? [],
    upgrade: (name) => h.plan().find((u) => u.name === name),
    current: () => fs.readlinkSync(path.join(root, "current")),
    versions: () => {
      try {
        return fs
          .readFileSync(path.join(data, "versions.log"), "utf8")
          .split("\n")
          .filter((l) => l.trim() !== "")
          .map((l) => l.split(" ")[0])
      } catch {
        return []
      }
    },
    history: () => {
      try {
        return fs
          .readFileSync(path.join(root, "upgrade-history.jsonl"), "utf8")
          .split("\n")
          .filter((l) => l.trim() !== "")
          .flatMap((l) => {
            try {
              return [JSON.parse(l)]
            } catch {
              return [] // a line torn by a SIGKILL
            }
          })
      } catch {
        return []
      }
    },
    journal: () => readJson(path.join(root, "journal.json")),
    nodePid: () => readJson(path.join(root, "node.pid")),
    nodeProcesses: () => homeProcesses(home),
    health: async () => request(`${h.api}/health`, { timeoutMs: 2000 }),
    /** Starts `run` with extra env; opts: keepAll (log kept whole), nodeArgs (node flags before the CLI). */
    start: (extra = {}, opts = {}) => {
      const r = startRun({ ...h.env, ...extra }, opts)
      runs.push(r)
      return r
    },
    /** Kills what the home left running (by pid) and removes it. */
    dispose: () => {
      for (const r of runs) if (r.alive()) r.proc.kill("SIGKILL")
      killHomeProcesses(home)
      homes.delete(home)
      if (givenHome === undefined) {
        fs.rmSync(home, { recursive: true, force: true })
        dirs.delete(home)
      }
    }
  }
  return h
}

/**
 * Every file under `dir` (recursively) with a hash of its content — what
 * "writes nothing else" is checked against. Symlinks by their target.
 */
export const snapshotFiles = (dir, { ignore = [] } = {}) => {
  const out = new Map()
  const walk = (d) => {
    let entries
    try {
      entries = fs.readdirSync(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const p = path.join(d, e.name)
      const rel = path.relative(dir, p)
      if (ignore.some((i) => (typeof i === "string" ? rel === i : i.test(rel)))) continue
      if (e.isSymbolicLink()) out.set(rel, `-> ${fs.readlinkSync(p)}`)
      else if (e.isDirectory()) {
        out.set(rel + "/", "dir")
        walk(p)
      } else {
        try {
          out.set(rel, crypto.createHash("sha1").update(fs.readFileSync(p)).digest("hex"))
        } catch {
          out.set(rel, "unreadable")
        }
      }
    }
  }
  walk(dir)
  return out
}

/** The differences between two snapshots, as text ("" when none). */
export const diffSnapshots = (before, after) => {
  const out = []
  for (const [k, v] of before) {
    if (!after.has(k)) out.push(`- ${k}`)
    else if (after.get(k) !== v) out.push(`~ ${k}`)
  }
  for (const k of after.keys()) if (!before.has(k)) out.push(`+ ${k}`)
  return out.join(", ")
}

// ---------------------------------------------------------------------------
// Output

/** A plain text table: `columns` are [header, key] pairs. */
export const table = (columns, rows) => {
  const cells = rows.map((r) => columns.map(([, k]) => String(r[k] ?? "")))
  const widths = columns.map(([hdr], i) => Math.max(hdr.length, ...cells.map((c) => c[i].length)))
  const line = (vals) => vals.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd()
  return [line(columns.map(([hdr]) => hdr)), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n")
}

export const median = (xs) => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
export const mean = (xs) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length)
export const percentile = (xs, p) => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
