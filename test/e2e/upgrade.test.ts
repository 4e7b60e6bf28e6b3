/*
 * Issue #3 end to end: upgrades fire by themselves at the right block, against
 * the built CLI and a real node (anvil; versions are wrapper scripts on one
 * shared chain). Sequential: every test runs real processes on 2 cores.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { blockNumber, rpc, sleep, waitFor } from "../support/fixtures.js"
import {
  advancing,
  balance,
  blockHash,
  devAccount,
  health,
  makeScenario,
  oneNode,
  type Proxy,
  removeCliCopy,
  type Run,
  type Scenario,
  settled,
  steps,
  stopAndCheck,
  tcpProxy,
  waitHeight
} from "./upgrade-support.js"

const scenarios: Array<Scenario> = []
const proxies: Array<Proxy> = []
afterEach(async () => {
  for (const p of proxies) await p.close()
  proxies.length = 0
  for (const s of scenarios) s.dispose()
  scenarios.length = 0
})
afterAll(removeCliCopy)

const scenario = async (opts: Parameters<typeof makeScenario>[0] = {}) => {
  const s = await makeScenario(opts)
  scenarios.push(s)
  return s
}

describe("an upgrade at a height", () => {
  it("switches at the height; the old binary processed block H; the chain continues intact", async () => {
    const s = await scenario()
    const H = 12
    s.init(s.version("v1"))
    // v2 keeps a copy of the chain as v1 left it, to show which blocks v1 processed.
    s.place("v2", s.version("v2", { before: `cp "${s.data}/state.json" "${s.data}/state-at-v2-start.json"` }))
    s.schedule({ name: "v2", height: H })
    const run = s.start()

    await waitHeight(s.port, 3)
    const hash2 = await blockHash(s.port, 2)
    expect(hash2).toMatch(/^0x[0-9a-f]{64}$/)
    // A transaction on v1's chain, to find again on v2's.
    const to = "0x000000000000000000000000000000000000bEEF"
    const tx = await rpc(s.port, "eth_sendTransaction", [{ from: devAccount, to, value: "0xde0b6b3a7640000" }])
    expect(tx).toMatch(/^0x[0-9a-f]{64}$/)
    await waitFor("the transaction to be mined", async () => (await balance(s.port, to)) === 10n ** 18n)
    expect(s.versions()).toEqual(["v1"])

    const u = await settled(s, "v2")
    expect(u.status).toBe("done")
    expect(u.reason).toBeNull()
    expect(s.current()).toBe("upgrades/v2")
    expect(s.versions()).toEqual(["v1", "v2"])

    // v1 mined block H before it was stopped (the switch happens when the head first reports ≥ H) …
    const atSwitch = JSON.parse(fs.readFileSync(path.join(s.data, "state-at-v2-start.json"), "utf8")) as {
      best_block_number: number
    }
    expect(atSwitch.best_block_number).toBeGreaterThanOrEqual(H)
    // … and not many more: detection within a poll or two at 5 blocks/s.
    expect(atSwitch.best_block_number).toBeLessThanOrEqual(H + 3)
    const started = run.events("upgrade-started")[0]?.annotations as
      | { height: number; current_height: number }
      | undefined
    expect(started?.height).toBe(H)
    expect(started?.current_height).toBeGreaterThanOrEqual(H)

    // v2 continues the same chain past H: same block 2, the transaction's effect, a growing head.
    const [, after] = await advancing(s.port)
    expect(after).toBeGreaterThan(H)
    await waitHeight(s.port, atSwitch.best_block_number + 3)
    expect(await blockHash(s.port, 2)).toBe(hash2)
    expect(await balance(s.port, to)).toBe(10n ** 18n)

    expect(steps(s, "v2")).toEqual([
      "pre-stop:skipped",
      "stop:started",
      "stop:ok",
      "backup:skipped",
      "switch:started",
      "switch:ok",
      "pre-upgrade:skipped",
      "start:started",
      "start:ok",
      "verify:started",
      "verify:ok",
      "done:started",
      "done:ok"
    ])
    expect(s.journal()).toBeUndefined()
    await oneNode(s)
    expect(run.events("upgrade-completed")).toHaveLength(1)
    expect((await health(s))?.status).toBe(200)
    expect(run.alive()).toBe(true)
    await stopAndCheck(run, s)
  }, 40_000)
})

/**
 * the broken upgrade binaries worth testing on anvil. Each is v2, scheduled at H over a
 * healthy v1; each must fail verify and be rolled back to v1, leaving a
 * healthy node and a plan that says why.
 */
interface Broken {
  readonly name: string
  /** The body of v2 (after it records its start). */
  readonly body: (s: Scenario) => string
  readonly env?: Record<string, string>
  readonly reason: RegExp
  /** Extra checks while v2 runs / after the rollback. */
  readonly during?: (s: Scenario) => Promise<void>
  readonly after?: (s: Scenario, run: Run) => void
}

const broken: ReadonlyArray<Broken> = [
  {
    name: "exits at once with a non-zero code",
    body: () => "exit 3",
    reason: /exited with code 3/
  },
  {
    // Up long enough to answer RPC on the real chain, not long enough for DAEMON_VERIFY_MIN_UP.
    name: "serves RPC for a while, then exits",
    body: (s) => `exec timeout -s TERM 1.5 ${s.anvil()}`,
    env: { DAEMON_VERIFY_MIN_UP: "3s", DAEMON_VERIFY_TIMEOUT: "5s" },
    reason: /exited with code 124/,
    during: async (s) => {
      await waitFor("v2 to start", () => s.versions().includes("v2"))
      // The v2 node itself answered: v1 is stopped while v2 runs.
      await waitFor("v2's RPC", () => blockNumber(s.port), 3000)
    }
  },
  {
    name: "never opens its port",
    body: () => "exec sleep 60",
    reason: /did not pass within 4s: the node's RPC (does not answer|has not answered)/
  },
  {
    name: "RPC up but the height never moves (DAEMON_VERIFY_PROGRESS=true)",
    body: (s) => `exec ${s.anvil({ mining: false })}`,
    env: { DAEMON_VERIFY_PROGRESS: "true" },
    reason: /did not pass within 4s: its head has not advanced beyond \d+/
  },
  {
    // A binary that ignores the data dir: a chain of its own from block 0 (mining
    // slowly enough never to catch up with the head at stop within the timeout).
    name: "ignores the old data (height back to 0)",
    body: (s) => `exec ${s.anvil({ state: path.join(s.data, "other-chain.json"), blockTime: 1 })}`,
    reason: /did not pass within 4s: its head \d+ is below the head at stop \(\d+\)/
  },
  {
    // A node that hangs on shutdown while holding its port (and never answers):
    // unless the rollback escalates to SIGKILL after DAEMON_SHUTDOWN_GRACE, v1
    // cannot bind the port and the rollback leaves no working node.
    name: "ignores SIGTERM while holding the port",
    body: (s) =>
      `exec "${process.execPath}" -e 'process.on("SIGTERM", () => {}); require("net").createServer(() => {}).listen(${s.port}, "127.0.0.1")'`,
    reason: /did not pass within 4s: the node's RPC (does not answer|has not answered)/,
    after: (_s, run) => {
      expect(run.logs()).toMatch(/after SIGTERM \(DAEMON_SHUTDOWN_GRACE\); sending SIGKILL/)
    }
  }
]

describe("a broken upgrade binary is rolled back", () => {
  it.each(broken)("$name", async (b) => {
    const s = await scenario({ env: { DAEMON_VERIFY_TIMEOUT: "4s", ...b.env } })
    const H = 10
    s.init(s.version("v1"))
    s.place("v2", s.script("v2", b.body(s)))
    s.schedule({ name: "v2", height: H })
    const run = s.start()
    await b.during?.(s)

    const u = await settled(s, "v2")
    expect(u.status).toBe("failed")
    expect(u.reason).toMatch(b.reason)
    expect(s.current()).toBe("genesis")
    await advancing(s.port)
    expect(s.versions()).toEqual(["v1", "v2", "v1"])
    await oneNode(s)
    expect(s.journal()).toBeUndefined()
    const h = steps(s, "v2")
    expect(h).toContain("verify:failed")
    expect(h.slice(-3)).toEqual(["rollback:started", "rollback:ok", "upgrade:failed"])
    expect(run.events("upgrade-failed")).toHaveLength(1)
    expect(run.events("rollback-completed").map((e) => (e.annotations as { current: string }).current)).toEqual([
      "genesis"
    ])
    b.after?.(s, run)
    expect(run.alive()).toBe(true)
    await stopAndCheck(run, s)
  }, 40_000)
})

describe("failure policies and targets", () => {
  it(
    "DAEMON_ON_UPGRADE_FAILURE=halt leaves the node stopped, current on the previous target; wemixvisor keeps running",
    async () => {
      const s = await scenario({ env: { DAEMON_ON_UPGRADE_FAILURE: "halt" } })
      s.init(s.version("v1"))
      s.place("v2", s.script("v2", "exit 3"))
      s.schedule({ name: "v2", height: 8 })
      const run = s.start()
      const u = await settled(s, "v2")
      expect(u.status).toBe("failed")
      expect(u.reason).toMatch(/exited with code 3/)
      expect(s.current()).toBe("genesis")
      await sleep(1500) // long enough for any restart (DAEMON_RESTART_DELAY 200ms) to have happened
      expect(await blockNumber(s.port)).toBeUndefined()
      expect(s.nodeProcesses()).toEqual([])
      expect(s.nodePid()).toBeUndefined()
      expect(s.versions()).toEqual(["v1", "v2"])
      expect(s.journal()).toBeUndefined()
      expect(steps(s, "v2").slice(-3)).toEqual(["rollback:started", "rollback:ok", "upgrade:failed"])
      expect(run.events("rollback-completed")).toEqual([])
      expect(run.logs()).toContain("halted after failed upgrade v2")
      const h = await health(s)
      expect(h?.status).toBe(503)
      expect(h?.body).toContain("halted after a failed upgrade")
      expect(run.alive()).toBe(true)
      run.proc.kill("SIGTERM")
      expect((await run.ended).code).toBe(0)
    },
    30_000
  )

  it("rolls back to the previous target, not genesis: genesis → v2 ok, then a broken v3 → back to v2", async () => {
    const s = await scenario()
    s.init(s.version("v1"))
    s.place("v2", s.version("v2"))
    s.place("v3", s.script("v3", "exit 3"))
    // v3's height passes while v2 is verified: applied right after, in order.
    s.schedule({ name: "v2", height: 6 }, { name: "v3", height: 8 })
    const run = s.start()
    expect((await settled(s, "v3")).status).toBe("failed")
    expect(s.upgrade("v2")?.status).toBe("done")
    expect(s.upgrade("v3")?.reason).toMatch(/exited with code 3/)
    expect(s.current()).toBe("upgrades/v2")
    expect(s.versions()).toEqual(["v1", "v2", "v3", "v2"])
    await advancing(s.port)
    await oneNode(s)
    expect(run.events("rollback-completed").map((e) => (e.annotations as { current: string }).current)).toEqual(["v2"])
    expect(steps(s, "v3").slice(-3)).toEqual(["rollback:started", "rollback:ok", "upgrade:failed"])
    await stopAndCheck(run, s)
  }, 30_000)

  it(
    "an upgrade away from a node that ignores SIGTERM: SIGKILL after the grace period, then the new binary",
    async () => {
      const s = await scenario()
      s.init(s.version("v1"))
      // The wrapper ignores SIGTERM and outlives its anvil (anvil installs its own handler and exits).
      s.place("v2", s.script("v2", `trap '' TERM\n${s.anvil()} &\nwait\nwhile :; do sleep 0.1; done`))
      s.place("v3", s.version("v3"))
      s.schedule({ name: "v2", height: 6 }, { name: "v3", height: 8 })
      const run = s.start()
      expect((await settled(s, "v2")).status).toBe("done")
      const u = await settled(s, "v3")
      expect(u.status).toBe("done")
      expect(s.current()).toBe("upgrades/v3")
      expect(s.versions()).toEqual(["v1", "v2", "v3"])
      expect(run.logs()).toMatch(/after SIGTERM \(DAEMON_SHUTDOWN_GRACE\); sending SIGKILL/)
      await advancing(s.port)
      await oneNode(s)
      await stopAndCheck(run, s)
    },
    30_000
  )
})

describe("the node's RPC goes away for a while", () => {
  it("no crash, no restart of the node; an upgrade whose height passed meanwhile fires after reconnect", async () => {
    const s = await scenario()
    // The node serves s.port; wemixvisor reads it through a proxy the test closes and reopens.
    const proxy = await tcpProxy(s.port)
    proxies.push(proxy)
    s.env.DAEMON_RPC_URL = `http://127.0.0.1:${proxy.port}`
    const H = 15
    s.init(s.version("v1"))
    s.place("v2", s.version("v2"))
    s.schedule({ name: "v2", height: H })
    const run = s.start()
    await waitHeight(s.port, 5)
    const pid = s.nodePid()?.pid
    await proxy.close()
    await waitHeight(s.port, H + 5)
    await sleep(500)
    // Past the height, but wemixvisor cannot see it: nothing happened, nothing crashed, the node was left alone.
    expect(s.versions()).toEqual(["v1"])
    expect(s.upgrade("v2")?.status).toBe("ready") // prepared ahead, never fired
    expect(s.nodePid()?.pid).toBe(pid)
    expect(run.alive()).toBe(true)
    const seenBefore = (await blockNumber(s.port))!

    await proxy.open()
    const u = await settled(s, "v2")
    expect(u.status).toBe("done")
    expect(s.current()).toBe("upgrades/v2")
    expect(s.versions()).toEqual(["v1", "v2"])
    // It fired on the first head seen after the reconnect, far past H.
    const started = run.events("upgrade-started")[0]?.annotations as { current_height: number } | undefined
    expect(started?.current_height).toBeGreaterThanOrEqual(seenBefore)
    expect(run.logs()).toContain("node RPC reachable again")
    await advancing(s.port)
    await oneNode(s)
    await stopAndCheck(run, s)
  }, 40_000)
})

describe("heights over WebSocket (DAEMON_WS_URL)", () => {
  it("keep arriving across the node restart of an upgrade: the next upgrade fires at its exact height", async () => {
    // Polling every 2 s (10 blocks) would first see a head of exactly H2 one time in ten; newHeads sees every block.
    const s = await scenario({ env: { DAEMON_POLL_INTERVAL: "2s", DAEMON_VERIFY_TIMEOUT: "6s" } })
    s.env.DAEMON_WS_URL = `ws://127.0.0.1:${s.port}`
    const H1 = 6
    const H2 = 30
    s.init(s.version("v1"))
    s.place("v2", s.version("v2"))
    s.place("v3", s.version("v3"))
    s.schedule({ name: "v2", height: H1 }, { name: "v3", height: H2 })
    const run = s.start()
    expect((await settled(s, "v2")).status).toBe("done")
    expect(await blockNumber(s.port)).toBeLessThan(H2 - 2) // v3's height is still ahead: v2's node must deliver it
    expect((await settled(s, "v3")).status).toBe("done")
    const started = run.events("upgrade-started").map((e) => e.annotations as { name: string; current_height: number })
    expect(started.map((e) => e.name)).toEqual(["v2", "v3"])
    expect(started[1]?.current_height).toBe(H2)
    expect(s.versions()).toEqual(["v1", "v2", "v3"])
    expect(run.logs()).toContain("head subscription restored")
    await oneNode(s)
    await stopAndCheck(run, s)
  }, 40_000)
})
