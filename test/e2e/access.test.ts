/*
 * Issue #10 end to end: a `run` on a real node with no token configured
 * generates one, refuses what a foreign web page can send, and every
 * documented CLI flow still works without setup. Two homes configured on
 * one API port never show each other's supervisor.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { cliAsync, type Home, makeHome, removeCliCopy, stopRun, waitForApi } from "../api/e2e.js"
import { blockNumber, freePort, waitFor } from "../support/fixtures.js"

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

/** One request exactly as given, Host included. */
const raw = (base: string, method: string, route: string, headers: Record<string, string>, body?: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(`${base}${route}`, { method, headers, agent: false })
    req.on("response", (res) => {
      let text = ""
      res.on("data", (c: Buffer) => (text += c.toString()))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on("error", reject)
    req.end(body)
  })

const tokenFile = (h: Home) => path.join(h.root, "api.token")

describe("secure by default", () => {
  it("no token configured: run generates api.token (0600, kept across restarts); foreign requests refused, plan unchanged; the CLI needs no setup", async () => {
    const h = await setup()
    const run = h.run()
    await waitFor("/health 200", () => fetch(`${h.api}/health`).then((r) => r.status === 200, () => false), 30_000)
    expect(fs.statSync(tokenFile(h)).mode & 0o777).toBe(0o600)
    const token = fs.readFileSync(tokenFile(h), "utf8").trim()
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    expect(run.logs()).toContain("API token generated in")
    expect(run.logs()).not.toContain(token)

    // The documented flows, with nothing configured: the CLI reads the home's token.
    const far = (await blockNumber(h.port))! + 1_000_000
    const scheduled = await cliAsync(["upgrade", "schedule", "v2", String(far), "--remote", h.api], h.env)
    expect(scheduled.stderr).toBe("")
    expect(scheduled.code).toBe(0)
    const before = h.planText()
    expect(before).toContain("\"v2\"")

    // The three requests, as a page in a browser on this host would send them.
    const host = `127.0.0.1:${h.apiPort}`
    const evil = { host, origin: "http://evil.example", "content-type": "text/plain" }
    const post = await raw(h.api, "POST", "/api/v1/upgrades", evil, "{\"name\":\"evil\",\"height\":99999}")
    const rpc = await raw(
      h.api,
      "POST",
      "/rpc",
      evil,
      JSON.stringify({ _tag: "Request", id: "1", tag: "CancelUpgrade", payload: { name: "v2" }, headers: [] }) + "\n"
    )
    const rebound = await raw(h.api, "GET", "/api/v1/upgrades", { host: `evil.example:${h.apiPort}` })
    expect([post.status, rpc.status, rebound.status]).toEqual([403, 403, 403])
    // Without the Origin (curl): no token, no answer.
    expect((await raw(h.api, "DELETE", "/api/v1/upgrades/v2", { host })).status).toBe(401)
    expect(h.planText()).toBe(before)
    // Logged with the peer, once.
    await waitFor("the refusal in the log", () => run.logs().includes("API refused POST /api/v1/upgrades from"), 5000)

    const status = await cliAsync(["upgrade", "status", "--json"], h.env)
    expect(status.code).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({
      supervisor: "running",
      home: h.home,
      supervisor_pid: run.proc.pid
    })
    const remoteStatus = await cliAsync(["upgrade", "status", "--json", "--remote", h.api], h.env)
    expect(JSON.parse(remoteStatus.stdout)).toMatchObject({ home: h.home, supervisor_pid: run.proc.pid })
    const cancelled = await cliAsync(["upgrade", "cancel", "v2", "--remote", h.api], h.env)
    expect(cancelled.code).toBe(0)

    expect(await stopRun(run)).toBe(0)
    const again = h.run()
    await waitForApi(h.api)
    expect(fs.readFileSync(tokenFile(h), "utf8").trim()).toBe(token)
    expect(fs.statSync(tokenFile(h)).mode & 0o777).toBe(0o600)
    expect((await cliAsync(["upgrade", "list", "--remote", h.api], h.env)).code).toBe(0)
    expect(await stopRun(again)).toBe(0)
  })

  it("two homes configured on one API port: the second's status never reports the first's supervisor", async () => {
    const apiPort = await freePort()
    // The same token on both, so only the identity check can tell them apart.
    const shared = { WEMIXVISOR_API_ADDR: `127.0.0.1:${apiPort}`, WEMIXVISOR_API_TOKEN: "one token for both" }
    const a = await setup(shared)
    const b = await setup(shared)
    const runA = a.run()
    await waitForApi(`http://127.0.0.1:${apiPort}`)
    await waitFor("a's status", async () => (await cliAsync(["upgrade", "status", "--json"], a.env)).code === 0, 10_000)
    const runB = b.run() // its API cannot bind (a holds the port); it supervises its node all the same
    await waitFor("b's node", () => fs.existsSync(path.join(b.root, "node.pid")), 20_000)

    const s = await cliAsync(["upgrade", "status", "--json"], b.env)
    expect(s.code).toBe(0)
    const status = JSON.parse(s.stdout) as Record<string, unknown>
    expect(status).toMatchObject({ supervisor: "running", home: b.home, supervisor_pid: runB.proc.pid })
    expect(s.stderr).toContain(`served by another wemixvisor (home ${a.home}, pid ${runA.proc.pid})`)
    expect(
      (JSON.parse((await cliAsync(["upgrade", "status", "--json"], a.env)).stdout) as Record<string, unknown>).home
    ).toBe(a.home)
    expect(await stopRun(runB)).toBe(0)
    expect(await stopRun(runA)).toBe(0)
  })
})
