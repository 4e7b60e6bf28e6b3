/*
 * The operator interfaces of a running `wemixvisor run` supervising a real
 * node (anvil): the typed RPC client, REST, Server-Sent Events, /health,
 * auth and limits — and the local CLI next to it.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { layerProtocol, makeClient } from "../../src/api/index.js"
import type { WemixvisorEvent } from "../../src/events/Events.js"
import { cli, cliAsync, type Home, makeHome, removeCliCopy, stopRun, waitForApi } from "../api/e2e.js"
import { blockNumber, freePort, sleep, waitFor } from "../support/fixtures.js"

const homes: Array<Home> = []
afterEach(async () => {
  for (const h of homes.splice(0)) await h.dispose()
})
afterAll(() => removeCliCopy())

const setup = async (env: Record<string, string> = {}) => {
  const h = await makeHome(env)
  homes.push(h)
  return h
}

/** Runs an Effect program that uses a typed client of `h`'s API. */
const withClient = <A, E>(
  h: Home,
  f: (client: Effect.Effect.Success<typeof makeClient>) => Effect.Effect<A, E>,
  token = h.token()
) =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(makeClient, f)).pipe(Effect.provide(layerProtocol({ url: h.api, token })))
  )

const headers = (
  token?: string
): Record<string, string> => (token !== undefined ? { authorization: `Bearer ${token}` } : {})

const healthy = (h: Home) =>
  waitFor("/health 200", () => fetch(`${h.api}/health`).then((r) => r.status === 200, () => false), 30_000)

/** An SSE client: everything received so far, and the `event:` frames parsed. */
const openSse = async (url: string, token?: string) => {
  const controller = new AbortController()
  const res = await fetch(url, { headers: headers(token), signal: controller.signal })
  let text = ""
  const done = (async () => {
    const reader = res.body!.getReader()
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        text += new TextDecoder().decode(value)
      }
    } catch {
      // aborted
    }
  })()
  await waitFor("the SSE subscription", () => text.includes(": connected"), 10_000)
  return {
    status: res.status,
    frames: () =>
      text
        .split("\n\n")
        .filter((f) => f.startsWith("event: "))
        .map((f) => {
          const [ev, data] = f.split("\n")
          return { type: ev!.slice(7), data: JSON.parse(data!.slice(6)) as Record<string, unknown> }
        }),
    close: async () => {
      controller.abort()
      await done
    }
  }
}

const UPGRADE_TYPES = new Set(["upgrade-scheduled", "upgrade-started", "upgrade-completed", "upgrade-failed"])

describe("a real upgrade driven through the API", () => {
  it("scheduled over RPC while run supervises anvil, it fires at its height; WatchEvents, SSE and the log see scheduled → started → completed", async () => {
    const h = await setup()
    const run = h.run()
    await waitForApi(h.api)
    await healthy(h)

    const sse = await openSse(`${h.api}/api/v1/events`, h.token())
    expect(sse.status).toBe(200)
    const watched = withClient(h, (client) =>
      client.WatchEvents().pipe(
        Stream.filter((e) => UPGRADE_TYPES.has(e.type)),
        Stream.takeUntil((e) => e.type === "upgrade-completed" || e.type === "upgrade-failed"),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray),
        Effect.timeout("60 seconds")
      ))
    await sleep(300) // the WatchEvents call reaches the server and subscribes

    // The binary in place, then the upgrade a few blocks ahead.
    const bin = path.join(h.root, "upgrades", "v2", "bin", "gwemix")
    fs.mkdirSync(path.dirname(bin), { recursive: true })
    fs.copyFileSync(h.version("v2"), bin)
    fs.chmodSync(bin, 0o755)
    const head = (await blockNumber(h.port))!
    const target = head + 10
    const scheduled = await withClient(
      h,
      (client) => client.ScheduleUpgrade({ name: "v2", height: target, info: "over RPC" })
    )
    expect(scheduled).toMatchObject({ name: "v2", height: target, status: "scheduled", info: "over RPC" })

    const events: ReadonlyArray<WemixvisorEvent> = await watched
    expect(events.map((e) => e.type)).toEqual(["upgrade-scheduled", "upgrade-started", "upgrade-completed"])
    const started = events[1] as Extract<WemixvisorEvent, { type: "upgrade-started" }>
    expect(started).toMatchObject({ name: "v2", height: target })
    expect(started.current_height).toBeGreaterThanOrEqual(target)

    await waitFor("the SSE frames", () => sse.frames().some((f) => f.type === "upgrade-completed"), 10_000)
    expect(sse.frames().filter((f) => UPGRADE_TYPES.has(f.type)).map((f) => [f.type, f.data.name])).toEqual([
      ["upgrade-scheduled", "v2"],
      ["upgrade-started", "v2"],
      ["upgrade-completed", "v2"]
    ])
    // The log has the same sequence, each once.
    const logged = run
      .logs()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => (JSON.parse(l) as { annotations?: { event?: string } }).annotations?.event)
      .filter((t): t is string => t !== undefined && UPGRADE_TYPES.has(t))
    expect(logged).toEqual(["upgrade-scheduled", "upgrade-started", "upgrade-completed"])

    expect(h.versions()).toEqual(["v1", "v2"])
    expect(fs.readlinkSync(path.join(h.root, "current"))).toBe(path.join("upgrades", "v2"))
    const status = await withClient(h, (client) => client.GetStatus())
    expect(status).toMatchObject({
      supervisor: "running",
      node_state: "running",
      current: "v2",
      upgrading: false,
      pending: []
    })
    expect(status.last).toEqual({ name: "v2", status: "done", reason: null })
    // The audit trail: the RPC schedule with the caller's address, then each step of the upgrade.
    const trail = JSON.parse((await cliAsync(["upgrade", "history", "--json"], h.env)).stdout) as ReadonlyArray<
      { readonly step: string; readonly result: string; readonly door?: string; readonly peer?: string }
    >
    expect(trail[0]).toMatchObject({
      step: "schedule",
      result: "ok",
      door: "rpc",
      peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/)
    })
    expect(trail.filter((r) => r.result !== "started").map((r) => r.step)).toEqual(
      expect.arrayContaining(["schedule", "stop", "switch", "start", "verify", "done"])
    )
    expect(trail.at(-1)).toMatchObject({ step: "done", result: "ok" })
    expect(trail.slice(1).every((r) => r.door === undefined)).toBe(true)
    await sse.close()
    expect(await stopRun(run)).toBe(0)
  })
})

describe("the CLI next to a running supervisor", () => {
  it("local writes are announced once; --remote / WEMIXVISOR_API_URL go over RPC; status shows the running supervisor", async () => {
    const h = await setup()
    const run = h.run()
    await waitForApi(h.api)
    await healthy(h)
    const far = String((await blockNumber(h.port))! + 1_000_000)

    // Written to the plan file directly; `run` picks it up and announces it.
    const local = await cliAsync(["upgrade", "schedule", "v3", far], h.env)
    expect(local).toMatchObject({ code: 0, stdout: `✓ Upgrade 'v3' scheduled for block height ${far}\n` })
    await waitFor("upgrade-scheduled in the log", () => run.events("upgrade-scheduled").length > 0, 10_000)

    const remoteList = await cliAsync(["upgrade", "list", "--json", "--remote", h.api], h.env)
    expect(remoteList.code).toBe(0)
    const localList = JSON.parse((await cliAsync(["upgrade", "list", "--json"], h.env)).stdout)
    // The ETA is read at each call (seconds pass between them); the rest is the same plan.
    const withoutEta = (l: { upgrades: Array<Record<string, unknown>> }) =>
      l.upgrades.map(({ eta: _eta, eta_seconds: _s, ...u }) => u)
    expect(withoutEta(JSON.parse(remoteList.stdout))).toEqual(withoutEta(localList))
    // The running supervisor has measured the block interval from the node's heights: v3 has an ETA.
    expect(localList.upgrades[0]).toMatchObject({
      name: "v3",
      eta: expect.any(String),
      eta_seconds: expect.any(Number)
    })

    const viaEnv = { ...h.env, WEMIXVISOR_API_URL: h.api }
    const remote = await cliAsync(["upgrade", "schedule", "v4", String(Number(far) + 1)], viaEnv)
    expect(remote).toMatchObject({ code: 0, stdout: `✓ Upgrade 'v4' scheduled for block height ${Number(far) + 1}\n` })
    // Announced from the watcher's view of the plan: a schedule it never saw before the cancel is no change.
    await waitFor("v4 scheduled in the log", () => run.events("upgrade-scheduled").length > 1, 10_000)
    const refused = await cliAsync(["upgrade", "schedule", "v5", "1"], viaEnv)
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/at or below the chain head/)
    expect((await cliAsync(["upgrade", "cancel", "nope"], viaEnv)).code).toBe(2)
    expect((await cliAsync(["upgrade", "cancel", "v3"], viaEnv)).code).toBe(0)
    expect((await cliAsync(["upgrade", "cancel", "v4"], h.env)).code).toBe(0)

    await waitFor("both cancellations in the log", () => run.events("upgrade-cancelled").length >= 2, 10_000)
    await sleep(500)
    // Once per change, whichever door made it.
    expect(run.events("upgrade-scheduled").map((e) => (e.annotations as { name: string }).name).sort()).toEqual([
      "v3",
      "v4"
    ])
    expect(run.events("upgrade-cancelled").map((e) => (e.annotations as { name: string }).name).sort()).toEqual([
      "v3",
      "v4"
    ])

    // Each in the audit trail through its door: local writes `cli`, --remote / WEMIXVISOR_API_URL `rpc` with the peer.
    const trail = JSON.parse((await cliAsync(["upgrade", "history", "--json"], h.env)).stdout) as ReadonlyArray<
      { readonly name: string; readonly step: string; readonly door?: string; readonly peer?: string }
    >
    expect(trail.map((r) => [r.name, r.step, r.door])).toEqual([
      ["v3", "schedule", "cli"],
      ["v4", "schedule", "rpc"],
      ["v3", "cancel", "rpc"],
      ["v4", "cancel", "cli"]
    ])
    expect(trail.filter((r) => r.door === "rpc").map((r) => r.peer)).toEqual([
      expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      expect.stringMatching(/^127\.0\.0\.1:\d+$/)
    ])

    // `status` finds the running supervisor through run.lock and asks it.
    const status = await cliAsync(["upgrade", "status", "--json"], h.env)
    expect(status.code).toBe(0)
    const s = JSON.parse(status.stdout)
    expect(s).toMatchObject({ supervisor: "running", node_state: "running", current: "genesis" })
    expect(typeof s.node_pid).toBe("number")
    expect(s.current_height).toBeGreaterThan(0)
    expect((await cliAsync(["upgrade", "status"], h.env)).stdout).toMatch(/^Supervisor:\s+running$/m)
    expect(await stopRun(run)).toBe(0)
  })
})

describe("REST, auth and limits on a running supervisor", () => {
  it("token on everything but /health (REST 401, RPC typed Unauthorized → CLI exit 2); bodies over 64 KiB → 413; SIGTERM with an SSE client open exits at once", async () => {
    const token = "correct horse battery staple"
    const h = await setup({ WEMIXVISOR_API_TOKEN: token })
    const run = h.run()
    await waitForApi(h.api)
    await healthy(h) // no token needed

    const health = await (await fetch(`${h.api}/health`)).json()
    expect(health).toEqual({ status: "ok" })

    for (const t of [undefined, "wrong", `${token}!`]) {
      const r = await fetch(`${h.api}/api/v1/upgrades`, { headers: headers(t) })
      expect(r.status, `token=${t}`).toBe(401)
      expect(await r.json()).toMatchObject({ error: "unauthorized" })
    }
    const ok = await fetch(`${h.api}/api/v1/upgrades`, { headers: headers(token) })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ upgrades: [], count: 0 })

    const post = (body: string, t?: string) =>
      fetch(`${h.api}/api/v1/upgrades`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers(t) },
        body
      })
    const far = (await blockNumber(h.port))! + 1_000_000
    expect((await post(JSON.stringify({ name: "v2", height: far }))).status).toBe(401)
    const big = await post(JSON.stringify({ name: "v2", height: far, info: "x".repeat(65 * 1024) }), token)
    expect(big.status).toBe(413)
    expect(h.planText()).toBeUndefined()
    const created = await post(JSON.stringify({ name: "v2", height: far }), token)
    expect(created.status).toBe(201)
    expect(await created.json()).toMatchObject({
      message: "Upgrade scheduled successfully",
      upgrade: { name: "v2", height: far }
    })
    const status = await (await fetch(`${h.api}/api/v1/upgrades/status`, { headers: headers(token) })).json()
    expect(status).toMatchObject({ supervisor: "running", node_state: "running" })
    const del = await fetch(`${h.api}/api/v1/upgrades/v2`, { method: "DELETE", headers: headers(token) })
    expect(await del.json()).toEqual({ message: "Upgrade cancelled successfully", name: "v2" })

    // The RPC door: the CLI with a wrong or missing token is refused (2), the right one passes.
    const remote = (t?: string) => {
      const env: Record<string, string> = { ...h.env }
      delete env.WEMIXVISOR_API_TOKEN
      return cliAsync(
        ["upgrade", "list", "--remote", h.api],
        t !== undefined ? { ...env, WEMIXVISOR_API_TOKEN: t } : env
      )
    }
    for (const t of [undefined, "wrong"]) {
      const r = await remote(t)
      expect(r.code, `token=${t}`).toBe(2)
      expect(r.stderr).toMatch(/WEMIXVISOR_API_TOKEN/)
    }
    expect((await remote(token)).code).toBe(0)
    const unauthorized = await withClient(h, (client) => Effect.flip(client.ListUpgrades()), "wrong")
    expect(unauthorized._tag).toBe("Unauthorized")

    const sse = await openSse(`${h.api}/api/v1/events`, token)
    const t0 = Date.now()
    expect(await stopRun(run)).toBe(0)
    expect(Date.now() - t0).toBeLessThan(8000)
    await sse.close()
  })

  it("a non-loopback WEMIXVISOR_API_ADDR without a token: run refuses to start (exit 2) and starts no node", async () => {
    const h = await setup()
    const r = cli(["run"], { ...h.env, WEMIXVISOR_API_ADDR: `0.0.0.0:${await freePort()}` })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/WEMIXVISOR_API_ADDR/)
    expect(r.stderr).toMatch(/WEMIXVISOR_API_TOKEN/)
    expect(h.versions()).toEqual([])
    expect(fs.existsSync(path.join(h.root, "run.lock"))).toBe(false)
  })
})
