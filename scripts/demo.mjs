// The README's demo: a real local node (anvil) supervised by the built
// wemixvisor and upgraded at a block height, end to end, in well under a minute.
//
//   npm run demo            (builds first)
//   node scripts/demo.mjs   (uses the existing dist/)
//
// Everything lives in a temp folder that is removed at the end (KEEP=1 keeps it).
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const anvil = path.join(root, "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
const cli = path.join(root, "dist/bin.js")
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s)
const say = (s) => console.log(`${bold("demo")} ${s}`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const freePort = () =>
  new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })

const rpc = async (port, method, params = []) => {
  try {
    const res = await fetch(`http://127.0.0.1:${port}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      signal: AbortSignal.timeout(1000)
    })
    return (await res.json()).result
  } catch {
    return undefined
  }
}
const head = async (port) => {
  const r = await rpc(port, "eth_blockNumber")
  return r === undefined ? undefined : Number(BigInt(r))
}
const waitFor = async (what, check, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

const started = Date.now()
const home = fs.mkdtempSync(path.join(os.tmpdir(), "wemixvisor-demo-"))
const data = path.join(home, "data")
fs.mkdirSync(data)
const port = await freePort()
const apiPort = await freePort()

// Two "versions" of the node binary: wrappers that record which version
// started and exec the same real node on the same chain data.
const wrapper = (version) => {
  const file = path.join(home, `gwemix-${version}`)
  fs.writeFileSync(
    file,
    `#!/bin/sh
case "$1" in version) echo "gwemix-demo ${version}"; exit 0 ;; esac
echo "${version}" >> "${data}/versions.log"
exec "${anvil}" --host 127.0.0.1 --port ${port} --chain-id 31337 --block-time 0.5 \\
  --state "${data}/state.json" --state-interval 1 --prune-history --silent
`,
    { mode: 0o755 }
  )
  return file
}
const v1 = wrapper("v1")
const v2 = wrapper("v2")

const env = {
  ...process.env,
  DAEMON_HOME: home,
  DAEMON_NAME: "gwemix",
  DAEMON_RPC_URL: `http://127.0.0.1:${port}`,
  DAEMON_WS_URL: `ws://127.0.0.1:${port}`,
  DAEMON_POLL_INTERVAL: "200ms",
  DAEMON_VERIFY_MIN_UP: "2s",
  DAEMON_SHUTDOWN_GRACE: "5s",
  WEMIXVISOR_API_ADDR: `127.0.0.1:${apiPort}`,
  WEMIXVISOR_LOG_FORMAT: "pretty"
}

let supervisor
// On failure or Ctrl-C: stop wemixvisor (and so its node) gracefully; if it
// is stuck, SIGKILL it and stop the node's process group from node.pid, so no
// anvil outlives the demo.
const finish = async (code) => {
  if (supervisor && supervisor.exitCode === null && supervisor.signalCode === null) {
    const gone = new Promise((r) => supervisor.once("exit", r))
    supervisor.kill("SIGTERM")
    await Promise.race([gone, sleep(8000)])
    if (supervisor.exitCode === null && supervisor.signalCode === null) supervisor.kill("SIGKILL")
    try {
      const { pgid } = JSON.parse(fs.readFileSync(path.join(home, "wemixvisor", "node.pid"), "utf8"))
      process.kill(-pgid, "SIGKILL")
    } catch {
      // no node left
    }
  }
  if (process.env.KEEP) say(`home kept at ${home}`)
  else fs.rmSync(home, { recursive: true, force: true })
  process.exit(code)
}
process.on("SIGINT", () => void finish(130))

try {
  say(`home ${home}; node RPC on 127.0.0.1:${port}`)
  say(`$ wemixvisor init ${v1}`)
  const init = spawn(process.execPath, [cli, "init", v1], { env, stdio: "inherit" })
  const initCode = await new Promise((r) => init.on("exit", r))
  if (initCode !== 0) throw new Error(`init exited ${initCode}`)

  say("$ wemixvisor run   (supervising the v1 node; its logs and wemixvisor's go to stderr)")
  supervisor = spawn(process.execPath, [cli, "run"], { env, stdio: ["ignore", "inherit", "pipe"] })
  const logLines = []
  supervisor.stderr.on("data", (chunk) => {
    for (const line of String(chunk).split("\n")) if (line.trim()) logLines.push(line)
    process.stderr.write(chunk)
  })

  const h0 = await waitFor("the node's RPC", () => head(port))
  say(`node v1 answers; head ${h0}`)
  const target = h0 + 10
  say(`$ wemixvisor upgrade schedule v2 ${target} --binary ${v2}`)
  const cliOut = (args) => {
    const r = spawnSync(process.execPath, [cli, ...args], { env, encoding: "utf8" })
    process.stdout.write(r.stdout)
    if (r.status !== 0) throw new Error(`wemixvisor ${args.join(" ")} exited ${r.status}: ${r.stderr.trim()}`)
  }
  cliOut(["upgrade", "schedule", "v2", String(target), "--binary", v2, "--info", "demo upgrade"])
  say("$ wemixvisor upgrade list")
  cliOut(["upgrade", "list"])

  let last = -1
  await waitFor(
    "the upgrade to complete",
    async () => {
      const h = await head(port)
      if (h !== undefined && h !== last && h % 2 === 0) {
        say(`height ${h}${h >= target ? "" : ` (upgrade at ${target})`}`)
      }
      if (h !== undefined) last = h
      const planFile = path.join(home, "wemixvisor", "upgrade-plan.json")
      const plan = fs.existsSync(planFile) ? JSON.parse(fs.readFileSync(planFile, "utf8")) : { upgrades: [] }
      const u = plan.upgrades.find((x) => x.name === "v2")
      if (u?.status === "failed") throw new Error(`upgrade failed: ${u.reason}`)
      return u?.status === "done"
    },
    45_000
  )
  const link = fs.readlinkSync(path.join(home, "wemixvisor", "current"))
  const versions = fs.readFileSync(path.join(data, "versions.log"), "utf8").trim().split("\n")
  const after = await waitFor("the height to pass the upgrade", async () => {
    const h = await head(port)
    return h !== undefined && h > target + 2 ? h : undefined
  })
  say(
    `✓ upgraded: current -> ${link}; versions started: ${
      versions.join(", ")
    }; height now ${after} (upgrade was at ${target})`
  )
  say("$ wemixvisor upgrade status")
  cliOut(["upgrade", "status"])

  say("$ kill -TERM <wemixvisor>   (stops the node gracefully, exits 0)")
  supervisor.kill("SIGTERM")
  const code = await new Promise((r) => supervisor.on("exit", (c) => r(c)))
  const gone = (await head(port)) === undefined
  say(`wemixvisor exited ${code}; node stopped: ${gone}`)
  if (code !== 0 || !gone) throw new Error("shutdown was not clean")
  say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  finish(0)
} catch (e) {
  console.error(`demo failed: ${e instanceof Error ? e.message : e}`)
  finish(1)
}
