// Governance source benchmark (issue #17): what following a registry on chain
// costs the built wemixvisor (dist/bin.js), against what reading the same
// events costs at all.
//
//   npm run bench:governance                      (builds first; 10-20 minutes, most of it anvil_mine)
//   node scripts/bench-governance.mjs --quick     (existing dist/, 20 000 blocks, 60 events: ~3-7 minutes)
//   node scripts/bench-governance.mjs --blocks 200000 --events 600 --follow 600 --rate 10 --keep
//
// One anvil (--no-mining: the script alone decides what is in which block).
// The reference UpgradeRegistry (contracts/UpgradeRegistry.json, as
// `npm run build:contracts` writes it) is deployed, then --events registry
// events (default 300: of every 10, 7 UpgradeScheduled and 3 UpgradeCancelled
// of a name scheduled before) in 30 batches spread over --blocks blocks
// (default 100 000: a batch's transactions in one block, then anvil_mine
// skips to the next batch). Then:
//
// (a) catch-up: `wemixvisor run` (a private copy of dist/; its node is an
//     idle stand-in, the RPC is the anvil) with DAEMON_GOVERNANCE_REGISTRY and
//     DAEMON_GOVERNANCE_FROM_BLOCK=0, confirmations 5. Timed from its log line
//     "governance: reading the registry … from block 0" (the follower's first
//     step; the process start before it is not the follower's) until
//     governance.json's `block` reaches head - confirmations — every event
//     applied through Operations on the way (plan, history, cursor writes).
// (b) the floor: a bare viem getLogs loop in this process over the same blocks,
//     in ranges of the same size (MAX_RANGE, read from src/governance/Follow.ts),
//     decoding the same two events. Best of 3.
//     Target: (a) ≤ 2 × (b).
// (c) steady state: two supervisors side by side on the same anvil, one with
//     the source on (the one from (a)), one without DAEMON_GOVERNANCE_REGISTRY;
//     after a warm-up the script mines --follow blocks (default 300) at --rate
//     blocks/s (default 5) and reads each wemixvisor process's utime+stime
//     from /proc/<pid>/stat: CPU seconds per 100 blocks, on vs off. Reported,
//     not a target.
//
// Exit status: 0 the ratio target met, 3 missed, 1 the run failed. Everything
// lives in one temp folder, removed at the end with every process started
// here, also on failure or Ctrl-C (--keep keeps the folder).
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  encodeDeployData,
  encodeFunctionData,
  http,
  parseAbiItem,
  parseGwei
} from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { flag, intOption } from "./lib/args.mjs"
import {
  anvilBin as anvil,
  cpuSeconds,
  fmt,
  freePort,
  jsonLog,
  requireFiles,
  say as harnessSay,
  sleep,
  waitFor
} from "./lib/harness.mjs"
import { makeSandbox } from "./lib/sandbox.mjs"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const dist = path.join(root, "dist")

// ---------------------------------------------------------------------------
// Options

if (flag("--help") || flag("-h")) {
  console.log(
    "usage: node scripts/bench-governance.mjs [--quick] [--blocks N] [--events N] [--follow N] [--rate N] [--keep]"
  )
  process.exit(0)
}
const quick = flag("--quick")
const keep = flag("--keep")
const BLOCKS = intOption("--blocks", quick ? 20_000 : 100_000, 1_000, 10_000_000)
const EVENTS = intOption("--events", quick ? 60 : 300, 10, 100_000)
const FOLLOW = intOption("--follow", quick ? 100 : 300, 20, 100_000)
const RATE = intOption("--rate", quick ? 10 : 5, 1, 100)
const BATCHES = 30
const CONFIRMATIONS = 5
const TARGET_RATIO = 2
const MINE_CHUNK = 200
const WARMUP_MS = quick ? 3_000 : 8_000
const MAX_RANGE = (() => {
  const m = /export const MAX_RANGE = ([\d_]+)/.exec(
    fs.readFileSync(path.join(root, "src/governance/Follow.ts"), "utf8")
  )
  if (m === null) throw new Error("src/governance/Follow.ts: no MAX_RANGE")
  return Number(m[1].replaceAll("_", ""))
})()

requireFiles([
  [path.join(dist, "bin.js"), "run 'npm run build' first (or 'npm run bench:governance')"],
  [anvil, "npm install (devDependency @foundry-rs/anvil-linux-amd64)"],
  [path.join(root, "contracts/UpgradeRegistry.json"), "run 'npm run build:contracts'"]
])
const registryArtifact = JSON.parse(fs.readFileSync(path.join(root, "contracts/UpgradeRegistry.json"), "utf8"))

const say = (s) => harnessSay("bench", s)

// ---------------------------------------------------------------------------
// Processes and cleanup

const { tmpRoot, track, cleanup, abort } = makeSandbox({
  prefix: "wemixvisor-bench-governance-",
  keep,
  deadlineMs: 45 * 60_000,
  graceMs: 8_000
})
// A private copy of dist/: others may rebuild it while this runs, and `run` loads its chunks lazily.
const bin = path.join(tmpRoot, "dist", "bin.js")
fs.cpSync(dist, path.join(tmpRoot, "dist"), { recursive: true })

// ---------------------------------------------------------------------------
// The chain

/** anvil's first dev account: deploys the registry, owns it, sends every event. */
const owner = privateKeyToAccount("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")

const startAnvil = async () => {
  const port = await freePort()
  // --no-mining: blocks exist only when the script mines them. The state file names tmpRoot (the sandbox's sweep).
  const child = track(
    spawn(anvil, [
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--chain-id",
      "31337",
      "--no-mining",
      // No state per block kept: anvil_mine of thousands of blocks is slow enough without it.
      "--prune-history",
      "--silent",
      "--state",
      path.join(tmpRoot, "anvil-state.json")
    ], { stdio: "ignore" })
  )
  const url = `http://127.0.0.1:${port}`
  const chain = defineChain({
    id: 31337,
    name: "anvil",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [url] } }
  })
  const transport = http(url, { retryCount: 0, timeout: 60_000 })
  const pub = createPublicClient({ chain, transport })
  const wallet = createWalletClient({ chain, transport, account: owner })
  const test = createTestClient({ chain, mode: "anvil", transport })
  await waitFor("anvil to answer", () => pub.getChainId().then(() => true, () => false), 20_000, 100)
  return { child, url, pub, wallet, test }
}

/** Signs and sends one transaction with fixed fees (no estimate: the pool is not mined until we say). */
const sendRaw = async (c, nonce, tx) => {
  const signed = await c.wallet.signTransaction({
    ...tx,
    nonce,
    gas: 2_000_000n,
    maxFeePerGas: parseGwei("20"),
    maxPriorityFeePerGas: parseGwei("1"),
    chainId: 31337
  })
  return c.pub.sendRawTransaction({ serializedTransaction: signed })
}

const head = async (c) => Number(await c.pub.getBlockNumber({ cacheTime: 0 }))

/** anvil_mine `n` empty blocks, a few hundred per call: one call's time grows faster than its count. */
const mineEmpty = async (c, n) => {
  for (let left = n; left > 0; left -= MINE_CHUNK) await c.test.mine({ blocks: Math.min(MINE_CHUNK, left) })
}

/** Deploys the registry and writes EVENTS events in BATCHES blocks spread over BLOCKS blocks. */
const buildChain = async (c) => {
  let nonce = 0
  const deployHash = await sendRaw(c, nonce++, {
    data: encodeDeployData({ abi: registryArtifact.abi, bytecode: registryArtifact.bytecode, args: [owner.address] })
  })
  await c.test.mine({ blocks: 1 })
  const deployed = await c.pub.getTransactionReceipt({ hash: deployHash })
  if (deployed.status !== "success" || !deployed.contractAddress) throw new Error("the registry's deploy failed")
  const registry = deployed.contractAddress
  // A second registry that never emits: the same blocks to read, nothing to apply.
  const emptyHash = await sendRaw(c, nonce++, {
    data: encodeDeployData({ abi: registryArtifact.abi, bytecode: registryArtifact.bytecode, args: [owner.address] })
  })
  await c.test.mine({ blocks: 1 })
  const empty = (await c.pub.getTransactionReceipt({ hash: emptyHash })).contractAddress
  const perBatch = Math.ceil(EVENTS / BATCHES)
  const gap = Math.floor(BLOCKS / BATCHES)
  const pending = []
  let written = 0
  let scheduled = 0
  let cancelled = 0
  for (let b = 0; b < BATCHES && written < EVENTS; b++) {
    const hashes = []
    for (let i = 0; i < perBatch && written < EVENTS; i++, written++) {
      // Of every 10: 7 schedules, 3 cancels of a name still pending.
      const cancel = written % 10 >= 7 && pending.length > 0
      const data = cancel
        ? encodeFunctionData({ abi: registryArtifact.abi, functionName: "cancel", args: [pending.shift()] })
        : encodeFunctionData({
          abi: registryArtifact.abi,
          functionName: "schedule",
          args: [`bench-${written}`, BigInt(50_000_000 + written), `bench event ${written}`]
        })
      if (cancel) cancelled++
      else {
        pending.push(`bench-${written}`)
        scheduled++
      }
      hashes.push(await sendRaw(c, nonce++, { to: registry, data }))
    }
    await c.test.mine({ blocks: 1 })
    for (const hash of hashes) {
      const r = await c.pub.getTransactionReceipt({ hash })
      if (r.status !== "success") throw new Error(`registry transaction ${hash} reverted`)
    }
    await mineEmpty(c, gap - 1)
    if (b % 10 === 9) say(`  batch ${b + 1}/${BATCHES}: head ${await head(c)}`)
  }
  // Up to BLOCKS, whatever the batches used.
  const left = BLOCKS - (await head(c))
  if (left > 0) await mineEmpty(c, left)
  return { registry, empty, scheduled, cancelled, written }
}

// ---------------------------------------------------------------------------
// (b) the floor: getLogs in MAX_RANGE ranges, nothing else

const UPGRADE_SCHEDULED = parseAbiItem("event UpgradeScheduled(string name, uint64 height, string info)")
const UPGRADE_CANCELLED = parseAbiItem("event UpgradeCancelled(string name)")

const bareLoop = async (c, registry, to) => {
  const client = createPublicClient({ transport: http(c.url, { retryCount: 0, timeout: 60_000 }) })
  const t0 = performance.now()
  let n = 0
  for (let a = 0; a <= to; a += MAX_RANGE) {
    const logs = await client.getLogs({
      address: registry,
      events: [UPGRADE_SCHEDULED, UPGRADE_CANCELLED],
      fromBlock: BigInt(a),
      toBlock: BigInt(Math.min(to, a + MAX_RANGE - 1)),
      strict: true
    })
    n += logs.length
  }
  return { ms: performance.now() - t0, events: n }
}

// ---------------------------------------------------------------------------
// A supervisor: its node an idle stand-in, its RPC the anvil

let homes = 0
const startSupervisor = async (id, c, extraEnv) => {
  const home = path.join(tmpRoot, `home-${++homes}-${id}`)
  fs.mkdirSync(home, { recursive: true })
  // The node's command line names tmpRoot, so the sandbox's sweep finds it whatever happens.
  const node = path.join(tmpRoot, `${id}-node.sh`)
  fs.writeFileSync(
    node,
    `#!/bin/sh\ncase "$1" in version|--version) echo "gwemix v1.0.0"; exit 0 ;; esac\n` +
      `exec "${process.execPath}" -e "setInterval(() => {}, 1 << 30)" "${tmpRoot}"\n`,
    { mode: 0o755 }
  )
  const env = {
    PATH: process.env.PATH ?? "",
    DAEMON_HOME: home,
    DAEMON_NAME: "gwemix",
    DAEMON_RPC_URL: c.url,
    WEMIXVISOR_API_ADDR: "127.0.0.1:0",
    WEMIXVISOR_LOG_FORMAT: "json",
    ...extraEnv
  }
  execFileSync(process.execPath, [bin, "init", node], { env, stdio: "ignore" })
  const logFile = path.join(tmpRoot, `${id}.log`)
  const log = fs.openSync(logFile, "w")
  const started = Date.now()
  const child = track(spawn(process.execPath, [bin, "run"], { stdio: ["ignore", "ignore", log], env }))
  fs.closeSync(log)
  const logs = () => jsonLog(logFile)
  await waitFor(`${id}: wemixvisor to see the node`, () => {
    if (child.exitCode !== null) throw new Error(`${id}: wemixvisor exited (${child.exitCode}): see ${logFile}`)
    return logs().some((l) => /node RPC reachable/.test(l.message ?? ""))
  }, 30_000)
  const root = path.join(home, "wemixvisor")
  const cursor = () => {
    try {
      return JSON.parse(fs.readFileSync(path.join(root, "governance.json"), "utf8"))
    } catch {
      return undefined
    }
  }
  return { id, child, root, logs, logFile, cursor, started }
}

// ---------------------------------------------------------------------------
// Main

const main = async () => {
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${
    Math.round(os.totalmem() / 2 ** 30)
  } GiB, Linux ${os.release()}, Node ${process.version}`
  say(`machine: ${machine}`)
  const c = await startAnvil()
  say(`building the chain: ${EVENTS} events in ${BATCHES} blocks over ${BLOCKS} blocks`)
  const t0 = Date.now()
  const built = await buildChain(c)
  const top = await head(c)
  const safe = top - CONFIRMATIONS
  say(`chain built in ${((Date.now() - t0) / 1000).toFixed(1)} s: registry ${built.registry}, head ${top}`)

  // (b) first, alone; best of 3 (the first one warms anvil's caches as much as wemixvisor's run will find them).
  const bare = []
  for (let i = 0; i < 3; i++) bare.push(await bareLoop(c, built.registry, safe))
  if (bare.some((b) => b.events !== built.written)) {
    throw new Error(`the bare loop read ${bare.map((b) => b.events).join("/")} events, ${built.written} were written`)
  }
  const bareMs = Math.min(...bare.map((b) => b.ms))
  say(`bare getLogs loop: ${bare.map((b) => b.ms.toFixed(0)).join(", ")} ms`)

  // (a) the follower's catch-up.
  const catchUp = async (id, registry) => {
    const s = await startSupervisor(id, c, {
      DAEMON_GOVERNANCE_REGISTRY: registry,
      DAEMON_GOVERNANCE_FROM_BLOCK: "0",
      DAEMON_GOVERNANCE_CONFIRMATIONS: String(CONFIRMATIONS)
    })
    const reached = await waitFor(
      "governance.json to reach head - confirmations",
      () => {
        if (s.child.exitCode !== null) throw new Error(`${id}: wemixvisor exited: see ${s.logFile}`)
        const cur = s.cursor()
        return cur !== undefined && cur.block >= safe ? Date.now() : undefined
      },
      300_000,
      5
    )
    const first = s.logs().find((l) => /governance: reading the registry .* from block 0/.test(l.message ?? ""))
    if (first === undefined) throw new Error(`${id}: no 'governance: reading the registry' line`)
    return { s, ms: reached - Date.parse(first.timestamp), fromSpawnMs: reached - s.started }
  }
  const a = await catchUp("on", built.registry)
  const on = a.s
  const catchUpMs = a.ms
  const fromSpawnMs = a.fromSpawnMs
  const history = fs.readFileSync(path.join(on.root, "upgrade-history.jsonl"), "utf8").split("\n")
    .filter((l) => l.includes("\"governance\"")).length
  const ratio = catchUpMs / bareMs
  say(
    `catch-up: ${catchUpMs} ms from the first step (${fromSpawnMs} ms from the spawn); ${history} governance history lines`
  )

  // (a') the same blocks from a registry that never emitted: the reading alone, against the bare loop on it.
  const emptyBare = []
  for (let i = 0; i < 3; i++) emptyBare.push(await bareLoop(c, built.empty, safe))
  const emptyBareMs = Math.min(...emptyBare.map((b) => b.ms))
  const e = await catchUp("empty", built.empty)
  e.s.child.kill("SIGTERM")
  await waitFor(
    "the 'empty' supervisor to stop",
    () => e.s.child.exitCode !== null || e.s.child.signalCode !== null,
    20_000
  )
  const emptyRatio = e.ms / emptyBareMs
  say(`empty registry: catch-up ${e.ms} ms, bare loop ${emptyBareMs.toFixed(0)} ms`)

  // (c) steady state, on and off side by side.
  const off = await startSupervisor("off", c, {})
  say(`both supervisors up; warming up ${WARMUP_MS / 1000} s (mining at ${RATE} blocks/s)`)
  const every = 1000 / RATE
  const mineFor = async (n) => {
    let next = performance.now()
    for (let i = 0; i < n; i++) {
      await c.test.mine({ blocks: 1 })
      next += every
      await sleep(Math.max(0, next - performance.now()))
    }
  }
  await mineFor(Math.round((WARMUP_MS / 1000) * RATE))
  const cpu0 = [cpuSeconds(on.child.pid), cpuSeconds(off.child.pid)]
  const h0 = await head(c)
  const w0 = performance.now()
  await mineFor(FOLLOW)
  const cpu1 = [cpuSeconds(on.child.pid), cpuSeconds(off.child.pid)]
  const h1 = await head(c)
  const windowS = (performance.now() - w0) / 1000
  if (cpu0.concat(cpu1).some((x) => x === undefined)) throw new Error("a supervisor exited during the window")
  const mined = h1 - h0
  const per100 = (i) => ((cpu1[i] - cpu0[i]) / mined) * 100
  await sleep(1_500)
  const followed = on.cursor()?.block
  const errors = [on, off].flatMap((s) =>
    s.logs().filter((l) => l.logLevel === "ERROR" || l.logLevel === "FATAL").map((l) => `${s.id}: ${l.message}`)
  )

  const out = [
    ``,
    `Governance source — registry with ${built.written} events (${built.scheduled} scheduled, ${built.cancelled} cancelled) over ${
      top + 1
    } blocks, confirmations ${CONFIRMATIONS}, ranges of ${MAX_RANGE} blocks (${
      Math.ceil((safe + 1) / MAX_RANGE)
    } getLogs)`,
    `machine: ${machine}, load at the end ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`,
    ``,
    `(a) wemixvisor catch-up, blocks 0..${safe}, every event applied:  ${fmt(catchUpMs / 1000, 2)} s` +
    `  (${fmt(fromSpawnMs / 1000, 2)} s from the process's spawn)`,
    `(b) bare viem getLogs loop, same blocks and ranges (best of 3): ${fmt(bareMs / 1000, 2)} s`,
    `    ratio (a)/(b): ${fmt(ratio, 2)}×`,
    `(a') the same blocks of a registry that never emitted (reading only): ${fmt(e.ms / 1000, 2)} s, bare loop ${
      fmt(emptyBareMs / 1000, 2)
    } s, ratio ${fmt(emptyRatio, 2)}×`,
    ``,
    `(c) following at ${RATE} blocks/s, ${mined} blocks in ${fmt(windowS, 1)} s:`,
    `    source on:  ${fmt(per100(0), 3)} CPU s per 100 blocks (${fmt(cpu1[0] - cpu0[0], 2)} s)`,
    `    source off: ${fmt(per100(1), 3)} CPU s per 100 blocks (${fmt(cpu1[1] - cpu0[1], 2)} s)`,
    `    the source's own cost: ${fmt(per100(0) - per100(1), 3)} CPU s per 100 blocks`,
    ``
  ]
  const checks = [
    [`catch-up ≤ ${TARGET_RATIO}× the bare getLogs loop`, ratio <= TARGET_RATIO, `${fmt(ratio, 2)}×`],
    [`every event applied (${built.written} governance history lines)`, history === built.written, `${history}`],
    [
      `the source keeps following (cursor ≥ head - confirmations)`,
      followed >= h1 - CONFIRMATIONS,
      `${followed} vs ${h1}`
    ]
  ]
  out.push(...checks.map(([what, ok, detail]) => `${ok ? "✓" : "✗"} ${what}: ${detail}`))
  if (errors.length > 0) out.push(`wemixvisor logged errors: ${errors.join(" | ")}`)
  console.log(out.join("\n"))
  return ratio <= TARGET_RATIO ? 0 : 3
}

main().then(
  (code) => cleanup().then(() => process.exit(code)),
  (e) => abort(1, e?.stack ?? String(e))
)
