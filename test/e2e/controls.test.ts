/*
 * The operator's manual controls (issue #16 item 6) end to end: the built CLI
 * and REST against a `wemixvisor run` supervising a real node (anvil).
 * `upgrade pause` holds an upgrade past its height, and `upgrade resume` fires
 * it at once; `node restart` gives the node a new process and leaves
 * wemixvisor, the chain and the plan alone. Sequential: real processes.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { cliAsync } from "../api/e2e.js"
import { blockNumber, waitFor } from "../support/fixtures.js"
import {
  advancing,
  health,
  makeScenario,
  oneNode,
  removeCliCopy,
  type Scenario,
  settled,
  steps,
  stopAndCheck,
  waitHeight
} from "./upgrade-support.js"

const TOKEN = "e2e-controls-token"

const scenarios: Array<Scenario> = []
afterEach(() => {
  for (const s of scenarios) s.dispose()
  scenarios.length = 0
})
afterAll(removeCliCopy)

const scenario = async () => {
  const s = await makeScenario({ env: { WEMIXVISOR_API_TOKEN: TOKEN } })
  scenarios.push(s)
  return s
}

const api = (s: Scenario) => `http://${s.env.WEMIXVISOR_API_ADDR}`

/** A mutating REST call: the token and `Content-Type: application/json`, even without a body. */
const post = async (s: Scenario, route: string, body?: unknown) => {
  const res = await fetch(`${api(s)}${route}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(30_000)
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

interface Status {
  readonly supervisor_pid: number | null
  readonly current_height: number | null
  readonly node_state: string
  readonly node_pid: number | null
  readonly restarts: number
  readonly current: string
  readonly upgrading: boolean
  readonly pending: ReadonlyArray<{ readonly name: string; readonly status: string }>
  readonly paused: string | null
  readonly upgrades_paused: { readonly by: string; readonly since: string; readonly reason: string | null } | null
}

/** `upgrade status --json` of the CLI (this home's `run`, over its API). */
const cliStatus = async (s: Scenario): Promise<Status> => {
  const r = await cliAsync(["upgrade", "status", "--json"], s.env)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as Status
}

/** The value of an unlabelled gauge in /metrics. */
const gauge = async (s: Scenario, name: string): Promise<number | undefined> => {
  const text = await fetch(`${api(s)}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text())
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

/** The API answers and the node is healthy (a head seen). */
const healthy = (s: Scenario) => waitFor("/health 200", async () => (await health(s))?.status === 200, 30_000)

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The JSON log lines of every run carrying `message`. */
const logLines = (s: Scenario, message: RegExp) =>
  s.runs().flatMap((r) => r.logs().split("\n")).filter((l) => message.test(l))

describe("upgrade pause / resume", () => {
  it(
    "paused (CLI): the height passes, nothing fires, every view says so; resumed (REST): the held upgrade fires at once and completes",
    async () => {
      const s = await scenario()
      s.init(s.version("v1"))
      s.place("v2", s.version("v2"))
      const run = s.start()
      await healthy(s)
      expect((await health(s))?.body).not.toContain("degraded")
      expect(await gauge(s, "wemixvisor_upgrades_paused")).toBe(0)

      // The CLI on this home asks its `run` (over the API, as the RPC door).
      const p = await cliAsync(["upgrade", "pause", "--reason", "exchange freeze"], s.env)
      expect(p.stderr).toBe("")
      expect(p.code).toBe(0)
      expect(p.stdout).toMatch(
        /^✓ Upgrades PAUSED by rpc[^\n]* since \S+ \(exchange freeze\): none fires until `wemixvisor upgrade resume`\n$/
      )
      await waitFor("the upgrades-paused event", () => run.events("upgrades-paused").length === 1, 10_000)

      // Scheduled after the pause, so its height can only pass while paused, however slow this machine is.
      const H = (await blockNumber(s.port))! + 8
      s.schedule({ name: "v2", height: H })
      await waitHeight(s.port, H + 3, 30_000)
      await waitFor(
        "the log line holding v2",
        () => logLines(s, /upgrade v2 reached its height \d+ but upgrades are paused by the operator/).length > 0,
        20_000
      )
      // Past its height, held: the old binary runs, v2 is still pending, nothing of it in the history.
      const held = await cliStatus(s)
      expect(held.current_height).toBeGreaterThanOrEqual(H)
      expect(held.upgrades_paused).toMatchObject({ reason: "exchange freeze" })
      expect(held.upgrades_paused?.by).toMatch(/^rpc/)
      expect(held.paused).toBeNull()
      expect(held.upgrading).toBe(false)
      expect(held.current).toBe("genesis")
      expect(held.pending.map((u) => u.name)).toEqual(["v2"])
      expect(["scheduled", "ready"]).toContain(s.upgrade("v2")?.status)
      expect(s.current()).toBe("genesis")
      expect(s.versions()).toEqual(["v1"])
      expect(steps(s, "v2").filter((x) => !x.startsWith("prepare"))).toEqual([])
      expect(run.events("upgrade-started")).toEqual([])
      const text = await cliAsync(["upgrade", "status"], s.env)
      expect(text.stdout).toMatch(/Upgrades:\s+PAUSED by rpc[^\n]* \(exchange freeze\)/)
      const h = await health(s)
      expect(h?.status).toBe(200)
      expect(JSON.parse(h!.body)).toEqual({
        status: "ok",
        degraded: "upgrades paused by the operator: none fires until `wemixvisor upgrade resume`"
      })
      await waitFor(
        "wemixvisor_upgrades_paused 1",
        async () => (await gauge(s, "wemixvisor_upgrades_paused")) === 1,
        10_000
      )
      // The head wemixvisor had seen while holding v2 (the node itself may be a block ahead of its last poll).
      const seenPaused = held.current_height!

      // Resumed over REST: no new block needed, the due upgrade fires at once.
      const r = await post(s, "/api/v1/upgrades/resume")
      expect(r.status).toBe(200)
      expect(r.body).toMatchObject({ message: "Upgrades resumed", resumed: { reason: "exchange freeze" } })
      const u = await settled(s, "v2", 30_000)
      expect(u.status).toBe("done")
      expect(u.reason).toBeNull()
      expect(s.current()).toBe("upgrades/v2")
      expect(s.versions()).toEqual(["v1", "v2"])
      const started = run.events("upgrade-started").map((e) =>
        e.annotations as { name: string; current_height: number }
      )
      expect(started.map((e) => e.name)).toEqual(["v2"])
      // Fired late, on resume: at a head no older than the one seen while held (itself ≥ H).
      expect(started[0]!.current_height).toBeGreaterThanOrEqual(seenPaused)
      const order = (needle: string) => run.logs().indexOf(`"event":"${needle}"`)
      expect(order("upgrades-resumed")).toBeGreaterThan(-1)
      expect(order("upgrades-resumed")).toBeLessThan(order("upgrade-started"))
      expect(steps(s, "v2").slice(-2)).toEqual(["done:started", "done:ok"])
      const audit = s.history().filter((x) => x.name === "(upgrades)") as Array<{ step: string; door?: string }>
      expect(audit.map((x) => [x.step, x.door])).toEqual([["pause", "rpc"], ["resume", "rest"]])

      const after = await cliStatus(s)
      expect(after.upgrades_paused).toBeNull()
      expect(after.pending).toEqual([])
      await waitFor("/health without the pause", async () => {
        const x = await health(s)
        return x?.status === 200 && !x.body.includes("degraded")
      })
      await waitFor(
        "wemixvisor_upgrades_paused 0",
        async () => (await gauge(s, "wemixvisor_upgrades_paused")) === 0,
        10_000
      )
      // Nothing left to resume.
      const again = await cliAsync(["upgrade", "resume"], s.env)
      expect(again.code).toBe(0)
      expect(again.stdout).toBe("Upgrades were not paused by an operator; nothing to resume\n")

      await advancing(s.port)
      await oneNode(s)
      expect(run.alive()).toBe(true)
      await stopAndCheck(run, s)
    },
    90_000
  )
})

describe("node restart", () => {
  it(
    "CLI, then REST: a new node process each time, the same wemixvisor, the chain goes on; no upgrade or rollback recorded",
    async () => {
      const s = await scenario()
      s.init(s.version("v1"))
      const run = s.start()
      await healthy(s)
      await advancing(s.port)
      const supervisor = run.proc.pid!
      const before = await cliStatus(s)
      expect(before.supervisor_pid).toBe(supervisor)
      expect(before.node_state).toBe("running")
      const pid0 = s.nodePid()!.pid
      expect(before.node_pid).toBe(pid0)
      const head0 = (await blockNumber(s.port))!

      const r = await cliAsync(["node", "restart"], s.env)
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      const m = /^✓ Node restarted \(pid (\d+)\)\n$/.exec(r.stdout)
      expect(m, r.stdout).not.toBeNull()
      const pid1 = Number(m![1])
      expect(pid1).not.toBe(pid0)
      expect(s.nodePid()?.pid).toBe(pid1)
      expect(pidAlive(pid0) && s.nodeProcesses().some((p) => p.pid === pid0)).toBe(false)
      // The chain comes back from the node's state and goes on.
      await waitHeight(s.port, head0 + 1, 30_000)
      await advancing(s.port)
      const mid = await cliStatus(s)
      expect(mid).toMatchObject({ supervisor_pid: supervisor, node_state: "running", node_pid: pid1, restarts: 0 })
      expect(run.alive()).toBe(true)

      const head1 = (await blockNumber(s.port))!
      const rest = await post(s, "/api/v1/node/restart")
      expect(rest.status).toBe(200)
      expect(rest.body).toMatchObject({ message: "Node restarted", node: { state: "running", reason: null } })
      const pid2 = (rest.body.node as { pid: number }).pid
      expect(pid2).not.toBe(pid1)
      expect(pid2).not.toBe(pid0)
      expect(s.nodePid()?.pid).toBe(pid2)
      await waitHeight(s.port, head1 + 1, 30_000)
      await advancing(s.port)
      expect(await cliStatus(s)).toMatchObject({
        supervisor_pid: supervisor,
        node_state: "running",
        node_pid: pid2,
        restarts: 0,
        current: "genesis",
        upgrading: false,
        upgrades_paused: null
      })
      expect(run.proc.pid).toBe(supervisor)
      expect(run.alive()).toBe(true)

      // The same binary thrice (versions.log records each start's pid), nothing else.
      expect(s.versions()).toEqual(["v1", "v1", "v1"])
      expect(s.current()).toBe("genesis")
      expect(s.plan()).toEqual([])
      expect(s.journal()).toBeUndefined()
      const history = s.history() as Array<{ name: string; step: string; result: string; door?: string }>
      expect(history.map((x) => [x.name, x.step, x.result, x.door])).toEqual([
        ["(node)", "node-restart", "ok", "rpc"],
        ["(node)", "node-restart", "ok", "rest"]
      ])
      for (const e of ["upgrade-started", "upgrade-completed", "upgrade-failed", "rollback-completed"]) {
        expect(run.events(e), e).toEqual([])
      }
      // Each restart: the old node's expected exit, then a start with the new pid.
      await waitFor("the node events of both restarts", () => run.events("node-started").length >= 3, 10_000)
      const exited = run.events("node-exited").map((e) => e.annotations as { pid: number; expected: boolean })
      expect(exited.map((e) => [e.pid, e.expected])).toEqual([[pid0, true], [pid1, true]])
      const startedPids = run.events("node-started").map((e) => (e.annotations as { pid: number }).pid)
      expect(startedPids).toEqual([pid0, pid1, pid2])
      await oneNode(s)
      await stopAndCheck(run, s)
    },
    90_000
  )
})
