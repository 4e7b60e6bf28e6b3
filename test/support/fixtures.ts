/*
 * Shared test fixtures: temp homes, free loopback ports, fake-node scripts and
 * wrapper scripts around a real anvil (from npm; see startAnvil below).
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
export const anvilBin = path.join(repoRoot, "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
export const cliBin = path.join(repoRoot, "dist/bin.js")

/** A fresh temp folder, removed by `cleanup`. */
export const tempDir = (prefix = "wemixvisor-test-"): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

export const cleanup = (dir: string) => fs.rmSync(dir, { recursive: true, force: true })

/** A loopback port free right now (the OS picks it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on("error", reject)
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address() as net.AddressInfo
      srv.close(() => resolve(addr.port))
    })
  })

/** Writes an executable script. */
export const writeScript = (file: string, body: string): string => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, body.startsWith("#!") ? body : `#!/bin/sh\n${body}`, { mode: 0o755 })
  return file
}

/**
 * A node "version": a wrapper that records which version started (one line in
 * `<dir>/versions.log`) and execs anvil on `port` with its chain in
 * `<dir>/state.json` — shared by every version, as a real upgrade shares the
 * data dir. `extra` adds anvil flags (e.g. --no-mining). Like gwemix, it
 * answers `version` (wemixvisor's version probe, DAEMON_VERSION_ARGS) by
 * printing its version, without starting a node or logging a start.
 */
export const anvilWrapper = (opts: {
  readonly file: string
  readonly version: string
  readonly port: number
  readonly dataDir: string
  readonly blockTime?: number
  readonly extra?: string
  /** Shell run before exec (to make a broken binary). */
  readonly before?: string
}): string =>
  writeScript(
    opts.file,
    `#!/bin/sh
case "$1" in version|--version) echo "gwemix ${opts.version}"; exit 0 ;; esac
echo "${opts.version} $$ $*" >> "${opts.dataDir}/versions.log"
${opts.before ?? ""}
exec "${anvilBin}" --host 127.0.0.1 --port ${opts.port} --chain-id 31337 --block-time ${opts.blockTime ?? 0.2} \\
  --state "${opts.dataDir}/state.json" --state-interval 1 --prune-history --silent ${opts.extra ?? ""}
`
  )

/** JSON-RPC call against a node; undefined when it does not answer. */
export const rpc = async (port: number, method: string, params: Array<unknown> = []): Promise<unknown> => {
  try {
    const res = await fetch(`http://127.0.0.1:${port}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      signal: AbortSignal.timeout(2000)
    })
    const body = (await res.json()) as { result?: unknown }
    return body.result
  } catch {
    return undefined
  }
}

export const blockNumber = async (port: number): Promise<number | undefined> => {
  const r = await rpc(port, "eth_blockNumber")
  return typeof r === "string" ? Number(BigInt(r)) : undefined
}

/** Polls `check` every `everyMs` until it returns a value that is not undefined/false, or throws after `timeoutMs`. */
export const waitFor = async <A>(
  what: string,
  check: () => A | undefined | false | Promise<A | undefined | false>,
  timeoutMs = 20_000,
  everyMs = 50
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Pids of live processes whose command line contains `needle`. */
export const pgrep = (needle: string): Array<number> => {
  const out = spawnSync("pgrep", ["-f", needle], { encoding: "utf8" })
  return out.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number)
    .filter((pid) => pid !== process.pid)
}

export const isAlive = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
    return state !== "Z" && state !== "X"
  } catch {
    return false
  }
}

/** Whether a node answers eth_blockNumber on `port`, over a connection closed right after (no pooled socket left behind). */
const answers = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        agent: false,
        timeout: 1000,
        headers: { "content-type": "application/json" }
      },
      (res) => {
        let body = ""
        res.on("data", (chunk: Buffer) => (body += chunk.toString()))
        res.on("end", () => resolve(res.statusCode === 200 && body.includes("\"result\"")))
        res.on("error", () => resolve(false))
      }
    )
    req.on("timeout", () => req.destroy())
    req.on("error", () => resolve(false))
    req.end(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] }))
  })

/** An anvil started by a test, on loopback (--prune-history: without it anvil spills old states to ~/.foundry). */
export interface Anvil {
  readonly port: number
  readonly pid: number
  readonly dataDir: string
  /** SIGTERM (anvil saves its state), SIGKILL after 5 s; resolves once it has exited. */
  readonly stop: () => Promise<void>
}

/**
 * Starts anvil on `port` with its chain in `<dataDir>/state.json` and resolves
 * once it answers eth_blockNumber. Starting again with the same port and
 * dataDir continues the same chain (a node restart). Always `stop` it (e.g. in
 * a finalizer).
 */
export const startAnvil = async (opts: {
  readonly port: number
  readonly dataDir: string
  /** Seconds per block; omitted = 0.2. */
  readonly blockTime?: number
  /** Extra flags, e.g. ["--no-mining"] (then blockTime is not passed). */
  readonly extra?: ReadonlyArray<string>
}): Promise<Anvil> => {
  const mining = opts.extra?.includes("--no-mining") ? [] : ["--block-time", String(opts.blockTime ?? 0.2)]
  const child = spawn(
    anvilBin,
    [
      "--host",
      "127.0.0.1",
      "--port",
      String(opts.port),
      "--chain-id",
      "31337",
      ...mining,
      "--state",
      path.join(opts.dataDir, "state.json"),
      "--state-interval",
      "1",
      "--prune-history",
      "--silent",
      ...(opts.extra ?? [])
    ],
    { stdio: "ignore" }
  )
  let spawnError: Error | undefined
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve())
    child.once("error", (e) => {
      spawnError = e
      resolve()
    })
  })
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || spawnError !== undefined) return
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000)
    await exited
    clearTimeout(timer)
  }
  try {
    await waitFor(
      `anvil on port ${opts.port}`,
      async () => {
        if (spawnError !== undefined) throw spawnError
        if (child.exitCode !== null) throw new Error(`anvil exited with code ${child.exitCode}`)
        return answers(opts.port)
      },
      10_000,
      25
    )
  } catch (e) {
    await stop()
    throw e
  }
  return { port: opts.port, pid: child.pid!, dataDir: opts.dataDir, stop }
}
