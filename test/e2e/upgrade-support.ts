/*
 * Upgrade scenarios against the built CLI and a real anvil: a home with
 * version wrappers, a plan written the way the CLI writes it (ARCHITECTURE §3 shape,
 * under upgrade-plan.lock, atomically), and the views an operator has of the
 * result — the `current` link, the plan, the history, the journal, the
 * process table, the node's RPC.
 */
import { expect } from "@effect/vitest"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import {
  anvilBin,
  anvilWrapper,
  blockNumber,
  cleanup,
  cliBin,
  freePort,
  rpc,
  tempDir,
  waitFor,
  writeScript
} from "../support/fixtures.js"
import { attachOutput } from "../support/output.js"

// ---------------------------------------------------------------------------
// A private copy of the built CLI. Other people rebuild dist/ while these
// suites run; `run` loads code-split chunks by dynamic import, and a swap of
// dist/ between the entry and a chunk would fail a start for reasons that have
// nothing to do with what is tested.

let privateBin: string | undefined
const privateDirs: Array<string> = []

/** WEMIXVISOR_E2E_DIST runs these suites against another build (e.g. an older one, to see a test fail). */
export const cliCopy = (): string => {
  if (privateBin !== undefined) return privateBin
  const source = process.env.WEMIXVISOR_E2E_DIST ?? path.dirname(cliBin)
  if (!fs.existsSync(path.join(source, path.basename(cliBin)))) {
    throw new Error(`${source}/${path.basename(cliBin)} is missing: run 'npm run build' first`)
  }
  const dir = tempDir("wemixvisor-dist-")
  fs.cpSync(source, dir, { recursive: true })
  privateDirs.push(dir)
  privateBin = path.join(dir, path.basename(cliBin))
  return privateBin
}

export const removeCliCopy = () => {
  for (const d of privateDirs) cleanup(d)
  privateDirs.length = 0
  privateBin = undefined
}

export const baseEnv = (env: Record<string, string>) => ({
  PATH: process.env.PATH ?? "",
  WEMIXVISOR_LOG_FORMAT: "json",
  ...env
})

/** One `wemixvisor run`, with its stderr collected and how it ended. */
export interface Run {
  readonly proc: ChildProcess
  readonly logs: () => string
  /** The log lines (JSON) whose message or event is `needle`. */
  readonly events: (needle: string) => Array<Record<string, unknown>>
  readonly ended: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly alive: () => boolean
}

export const startRun = (env: Record<string, string>): Run => {
  const proc = spawn(process.execPath, [cliCopy(), "run"], { env: baseEnv(env), stdio: ["ignore", "ignore", "pipe"] })
  let logs = ""
  proc.stderr!.on("data", (c) => (logs += String(c)))
  attachOutput(`wemixvisor run (pid ${proc.pid}), stderr`, () => logs)
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on("exit", (code, signal) => resolve({ code, signal }))
  )
  const events = (needle: string) =>
    logs
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .flatMap((l): Array<Record<string, unknown>> => {
        try {
          return [JSON.parse(l) as Record<string, unknown>]
        } catch {
          return []
        }
      })
      .filter((j) => {
        const ann = (j.annotations ?? {}) as Record<string, unknown>
        return ann.event === needle || (Array.isArray(j.message) ? j.message.includes(needle) : j.message === needle)
      })
  return { proc, logs: () => logs, events, ended, alive: () => proc.exitCode === null && proc.signalCode === null }
}

/** SIGTERM and wait (bounded); SIGKILL when it does not go. */
export const stopRun = async (run: Run, timeoutMs = 10_000) => {
  if (!run.alive()) return run.ended
  run.proc.kill("SIGTERM")
  const timer = setTimeout(() => run.proc.kill("SIGKILL"), timeoutMs)
  const end = await run.ended
  clearTimeout(timer)
  return end
}

// ---------------------------------------------------------------------------
// Processes

const cmdline = (pid: string): Array<string> | undefined => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "")
  } catch {
    return undefined
  }
}

const isZombie = (pid: string) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")
  } catch {
    return true
  }
}

/** Live processes whose command line mentions `needle` (a home folder: wrappers, anvil, broken nodes). */
export const processesMentioning = (needle: string): Array<{ readonly pid: number; readonly argv: Array<string> }> => {
  const out: Array<{ pid: number; argv: Array<string> }> = []
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    const argv = cmdline(entry)
    if (argv === undefined || !argv.some((a) => a.includes(needle)) || isZombie(entry)) continue
    out.push({ pid: Number(entry), argv })
  }
  return out
}

// ---------------------------------------------------------------------------
// A home

export interface PlanUpgrade {
  readonly name: string
  readonly height: number
  readonly status: string
  readonly reason: string | null
  readonly created_at: string
  readonly updated_at: string
}

export interface HistoryLine {
  readonly time: string
  readonly name: string
  readonly step: string
  readonly result: string
  readonly detail?: string
}

export interface Scenario {
  readonly home: string
  readonly root: string
  readonly data: string
  /** The port the node serves JSON-RPC on (every version uses it). */
  readonly port: number
  /** The environment of `run`; `DAEMON_RPC_URL` may differ from the node's port (a proxy). */
  readonly env: Record<string, string>
  /** A healthy version: an anvil wrapper on the shared chain. */
  readonly version: (version: string, opts?: { readonly before?: string; readonly extra?: string }) => string
  /** An arbitrary binary (a broken one) that still records its start in versions.log. */
  readonly script: (version: string, body: string) => string
  /** The anvil command line on this scenario's port, for scripts that run anvil themselves. */
  readonly anvil: (
    opts?: {
      readonly state?: string
      readonly blockTime?: number
      readonly mining?: boolean
      readonly stateInterval?: number
    }
  ) => string
  readonly init: (genesisBinary: string) => void
  /** Copies a binary in as upgrades/<name>/bin/gwemix. */
  readonly place: (name: string, binary: string) => void
  /**
   * Adds `scheduled` upgrades to upgrade-plan.json as the CLI does (lock,
   * atomic write), as `upgrade schedule --force` would (`"force": true`), so a
   * running supervisor never takes one for a hand edit when its height is
   * reached before the watcher sees it; `byHand` leaves that proof out.
   */
  readonly schedule: (
    ...upgrades: ReadonlyArray<{ readonly name: string; readonly height: number; readonly byHand?: boolean }>
  ) => void
  readonly plan: () => ReadonlyArray<PlanUpgrade>
  readonly upgrade: (name: string) => PlanUpgrade | undefined
  readonly current: () => string
  /** Versions started, in order (first word of each versions.log line). */
  readonly versions: () => Array<string>
  readonly history: () => Array<HistoryLine>
  readonly journal: () => unknown
  readonly nodePid: () => { readonly pid: number; readonly pgid: number } | undefined
  /** Live node processes of this home (wrappers, anvil, broken nodes). */
  readonly nodeProcesses: () => Array<{ readonly pid: number; readonly argv: Array<string> }>
  readonly start: (env?: Record<string, string>) => Run
  /** Every run started, in order. */
  readonly runs: () => ReadonlyArray<Run>
  /** Kills what the scenario left running (by pid) and removes the home. */
  readonly dispose: () => void
}

export const DAEMON_NAME = "gwemix"

/** Fast upgrade timings for tests (see each test for overrides). */
export const fastEnv: Record<string, string> = {
  // the scenario scripts log every run; the version probe would add runs to versions.log
  DAEMON_VERSION_ARGS: "",
  DAEMON_POLL_INTERVAL: "100ms",
  DAEMON_VERIFY_MIN_UP: "1s",
  DAEMON_VERIFY_TIMEOUT: "5s",
  DAEMON_SHUTDOWN_GRACE: "1500ms",
  DAEMON_RESTART_DELAY: "200ms"
}

export const makeScenario = async (
  opts: { readonly rpcPort?: number; readonly env?: Record<string, string> } = {}
): Promise<Scenario> => {
  const home = tempDir("wemixvisor-upgrade-")
  const root = path.join(home, "wemixvisor")
  const data = path.join(home, "data")
  fs.mkdirSync(data)
  const port = await freePort()
  const apiPort = await freePort()
  const env: Record<string, string> = {
    DAEMON_HOME: home,
    DAEMON_NAME,
    DAEMON_RPC_URL: `http://127.0.0.1:${opts.rpcPort ?? port}`,
    // `run` may serve the API (issue #4): never on a port another test uses.
    WEMIXVISOR_API_ADDR: `127.0.0.1:${apiPort}`,
    ...fastEnv,
    ...opts.env
  }
  const runs: Array<Run> = []
  const bins = path.join(home, "bins")

  const anvil: Scenario["anvil"] = (o = {}) =>
    [
      `"${anvilBin}" --host 127.0.0.1 --port ${port} --chain-id 31337`,
      o.mining === false ? "--no-mining" : `--block-time ${o.blockTime ?? 0.2}`,
      `--state "${o.state ?? path.join(data, "state.json")}" --state-interval ${
        o.stateInterval ?? 1
      } --prune-history --silent`
    ].join(" ")

  const readJson = <A>(file: string): A | undefined => {
    try {
      return JSON.parse(fs.readFileSync(file, "utf8")) as A
    } catch {
      return undefined
    }
  }

  const planFile = path.join(root, "upgrade-plan.json")
  const plan = () => readJson<{ upgrades: Array<PlanUpgrade> }>(planFile)?.upgrades ?? []

  const withPlanLock = (f: () => void) => {
    const lock = path.join(root, "upgrade-plan.lock")
    const deadline = Date.now() + 10_000
    for (;;) {
      try {
        fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, time: new Date().toISOString() }) + "\n", {
          flag: "wx"
        })
        break
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST" || Date.now() > deadline) throw e
        spawnSync("sleep", ["0.02"])
      }
    }
    try {
      f()
    } finally {
      fs.rmSync(lock, { force: true })
    }
  }

  const scenario: Scenario = {
    home,
    root,
    data,
    port,
    env,
    version: (version, o = {}) =>
      anvilWrapper({
        file: path.join(bins, `gwemix-${version}`),
        version,
        port,
        dataDir: data,
        ...(o.before !== undefined ? { before: o.before } : {}),
        ...(o.extra !== undefined ? { extra: o.extra } : {})
      }),
    script: (version, body) =>
      writeScript(
        path.join(bins, `gwemix-${version}`),
        `#!/bin/sh\necho "${version} $$ $*" >> "${data}/versions.log"\n${body}\n`
      ),
    anvil,
    init: (genesisBinary) => {
      const r = spawnSync(process.execPath, [cliCopy(), "init", genesisBinary], {
        env: baseEnv(env),
        encoding: "utf8",
        timeout: 30_000
      })
      if (r.status !== 0) throw new Error(`init exited ${r.status}: ${r.stderr}`)
    },
    place: (name, binary) => {
      const dest = path.join(root, "upgrades", name, "bin", DAEMON_NAME)
      fs.mkdirSync(path.dirname(dest), { recursive: true })
      fs.copyFileSync(binary, dest)
      fs.chmodSync(dest, 0o755)
    },
    schedule: (...upgrades) =>
      withPlanLock(() => {
        const now = new Date().toISOString()
        const existing = plan()
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
              updated_at: now,
              ...(u.byHand === true ? {} : { force: true })
            }))
          ]
        }
        const tmp = `${planFile}.test.tmp`
        const fd = fs.openSync(tmp, "w")
        fs.writeFileSync(fd, JSON.stringify(next, null, 2) + "\n")
        fs.fsyncSync(fd)
        fs.closeSync(fd)
        fs.renameSync(tmp, planFile)
      }),
    plan,
    upgrade: (name) => plan().find((u) => u.name === name),
    current: () => fs.readlinkSync(path.join(root, "current")),
    versions: () => {
      try {
        return fs
          .readFileSync(path.join(data, "versions.log"), "utf8")
          .split("\n")
          .filter((l) => l.trim() !== "")
          .map((l) => l.split(" ")[0]!)
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
          .flatMap((l): Array<HistoryLine> => {
            try {
              return [JSON.parse(l) as HistoryLine]
            } catch {
              return [] // a line torn by a SIGKILL
            }
          })
      } catch {
        return []
      }
    },
    journal: () => readJson(path.join(root, "journal.json")),
    nodePid: () => readJson<{ pid: number; pgid: number }>(path.join(root, "node.pid")),
    nodeProcesses: () => processesMentioning(home),
    start: (extra = {}) => {
      const r = startRun({ ...env, ...extra })
      runs.push(r)
      return r
    },
    runs: () => runs,
    dispose: () => {
      for (const r of runs) if (r.alive()) r.proc.kill("SIGKILL")
      for (const p of processesMentioning(home)) {
        try {
          process.kill(p.pid, "SIGKILL")
        } catch {
          // gone
        }
      }
      cleanup(home)
    }
  }
  return scenario
}

// ---------------------------------------------------------------------------
// Chain checks

/** Resolves once the node's head is at least `h`; returns the head. */
export const waitHeight = (port: number, h: number, timeoutMs = 20_000) =>
  waitFor(
    `height ${h} on port ${port}`,
    async () => {
      const b = await blockNumber(port)
      return b !== undefined && b >= h ? b : undefined
    },
    timeoutMs,
    20
  )

/** The node answers and its head moves: two reads, the second higher. */
export const advancing = async (port: number, timeoutMs = 10_000): Promise<readonly [number, number]> => {
  const first = await waitFor("the node's RPC", () => blockNumber(port), timeoutMs)
  const second = await waitHeight(port, first + 1, timeoutMs)
  return [first, second]
}

export const blockHash = async (port: number, n: number): Promise<string | undefined> => {
  const b = (await rpc(port, "eth_getBlockByNumber", [`0x${n.toString(16)}`, false])) as
    | { hash?: string }
    | null
    | undefined
  return b?.hash ?? undefined
}

/** anvil's first prefunded dev account (mnemonic "test test … junk"). */
export const devAccount = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

export const balance = async (port: number, address: string): Promise<bigint | undefined> => {
  const r = await rpc(port, "eth_getBalance", [address, "latest"])
  return typeof r === "string" ? BigInt(r) : undefined
}

/** GET /health on the scenario's API address: the status code and the body as text, or undefined when nothing answers. */
export const health = async (s: Scenario): Promise<{ readonly status: number; readonly body: string } | undefined> => {
  try {
    const res = await fetch(`http://${s.env.WEMIXVISOR_API_ADDR}/health`, { signal: AbortSignal.timeout(2000) })
    return { status: res.status, body: await res.text() }
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------
// A loopback TCP proxy, to take the node's RPC away from wemixvisor (and give
// it back) without touching the node.

export interface Proxy {
  readonly port: number
  readonly open: () => Promise<void>
  /** Stops listening and resets every connection. */
  readonly close: () => Promise<void>
}

export const tcpProxy = async (target: number): Promise<Proxy> => {
  const port = await freePort()
  const sockets = new Set<net.Socket>()
  let server: net.Server | undefined
  const open = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer((client) => {
        const upstream = net.connect(target, "127.0.0.1")
        for (const sock of [client, upstream]) {
          sockets.add(sock)
          sock.on("close", () => sockets.delete(sock))
          sock.on("error", () => {
            client.destroy()
            upstream.destroy()
          })
        }
        client.pipe(upstream).pipe(client)
      })
      s.once("error", reject)
      s.listen(port, "127.0.0.1", () => resolve())
      server = s
    })
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      sockets.clear()
      if (server === undefined) return resolve()
      server.close(() => resolve())
      server = undefined
    })
  await open()
  return { port, open, close }
}

// ---------------------------------------------------------------------------
// What an operator checks after an upgrade

/**
 * Waits for the end of upgrade `name`, in the order the orchestrator ends one
 * (its `close()`): a final status (`done` or `failed`) in the plan, then the
 * history's last line (`done:ok` / `upgrade:failed`), the event
 * (`upgrade-completed` / `upgrade-failed`) on a run's stderr, and last the
 * journal's removal. The plan alone is not the end: it is written first, so a
 * test that settles on it reads the history and the events too early under load.
 */
export const settled = async (s: Scenario, name: string, timeoutMs = 20_000): Promise<PlanUpgrade> => {
  let missing = "a final status in the plan"
  const ended = (): PlanUpgrade | undefined => {
    const u = s.upgrade(name)
    if (u === undefined || (u.status !== "done" && u.status !== "failed")) return undefined
    const [line, event] = u.status === "done" ? ["done:ok", "upgrade-completed"] : ["upgrade:failed", "upgrade-failed"]
    missing = `its history line ${line}`
    if (!steps(s, name).includes(line)) return undefined
    missing = `its ${event} event`
    const named = (e: Record<string, unknown>) => (e.annotations as { name?: unknown } | undefined)?.name === name
    if (!s.runs().some((r) => r.events(event).some(named))) return undefined
    missing = "its journal's removal"
    if ((s.journal() as { name?: unknown } | undefined)?.name === name) return undefined
    return u
  }
  try {
    return await waitFor(`upgrade ${name} to end`, ended, timeoutMs)
  } catch (e) {
    throw new Error(`${(e as Error).message}: no ${missing} yet (plan: ${JSON.stringify(s.upgrade(name))})`)
  }
}

/** Exactly one node: one process of the home, the one node.pid names, and it serves the port. */
export const oneNode = async (s: Scenario) => {
  const procs = s.nodeProcesses()
  expect(procs.map((p) => p.argv.join(" "))).toHaveLength(1)
  expect(s.nodePid()?.pid).toBe(procs[0]!.pid)
  expect(await blockNumber(s.port)).toBeDefined()
}

/** SIGTERM: exit 0, no node left. */
export const stopAndCheck = async (run: Run, s: Scenario) => {
  run.proc.kill("SIGTERM")
  expect((await run.ended).code).toBe(0)
  expect(s.nodeProcesses()).toEqual([])
  expect(await blockNumber(s.port)).toBeUndefined()
}

export const steps = (s: Scenario, name: string) =>
  s.history().filter((h) => h.name === name).map((h) => `${h.step}:${h.result}`)
