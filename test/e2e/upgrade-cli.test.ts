/*
 * `wemixvisor upgrade …` through the built binary, without a running
 * supervisor: the flows of ARCHITECTURE §5, every refusal with its exit code and an
 * unchanged plan file, and `status` from the files. The head check talks to
 * a real anvil.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { cli, fakeBinary, type Home, makeHome, removeCliCopy } from "../api/e2e.js"
import { type Anvil, blockNumber, freePort, startAnvil, waitFor } from "../support/fixtures.js"

const homes: Array<Home> = []
const anvils: Array<Anvil> = []
afterEach(async () => {
  for (const a of anvils.splice(0)) await a.stop()
  for (const h of homes.splice(0)) await h.dispose()
})
afterAll(() => removeCliCopy())

const setup = async (opts: { readonly node?: boolean } = {}) => {
  const h = await makeHome()
  homes.push(h)
  if (opts.node !== false) {
    anvils.push(await startAnvil({ port: h.port, dataDir: h.data }))
    await waitFor("a few blocks", async () => ((await blockNumber(h.port)) ?? 0) >= 3)
  }
  return h
}

const planOf = (h: Home) => JSON.parse(h.planText()!) as { upgrades: Array<Record<string, unknown>> }
const sha = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")

describe("upgrade CLI: the flows", () => {
  it("schedule → list (text, --json) → cancel → list; stdout carries only the output", async () => {
    const h = await setup()
    const s = cli(["upgrade", "schedule", "v2.0.0", "1500000", "--info", "Mont Blanc"], h.env)
    expect(s.stderr).toBe("")
    expect(s.code).toBe(0)
    expect(s.stdout).toBe("✓ Upgrade 'v2.0.0' scheduled for block height 1500000\n")
    expect(planOf(h).upgrades).toMatchObject([{
      name: "v2.0.0",
      height: 1500000,
      status: "scheduled",
      info: "Mont Blanc",
      reason: null
    }])

    const text = cli(["upgrade", "list"], h.env)
    expect(text.code).toBe(0)
    expect(text.stdout.split("\n")[0]).toMatch(/^NAME\s+HEIGHT\s+STATUS\s+ETA\s+INFO$/)
    // No supervisor runs here: nothing has measured the chain's pace.
    expect(text.stdout).toMatch(/^v2\.0\.0\s+1500000\s+scheduled\s+unknown\s+Mont Blanc$/m)

    const json = cli(["upgrade", "list", "--json"], h.env)
    expect(json.code).toBe(0)
    const listed = JSON.parse(json.stdout)
    expect(listed).toEqual({
      upgrades: planOf(h).upgrades.map((u: object) => ({ ...u, eta: null, eta_seconds: null })),
      count: 1
    })
    expect(Object.keys(listed.upgrades[0]).sort()).toEqual(
      [
        "binaries",
        "checked_head",
        "checksums",
        "created_at",
        "eta",
        "eta_seconds",
        "height",
        "info",
        "name",
        "reason",
        "status",
        "updated_at"
      ]
    )

    // No name: the only pending upgrade.
    const c = cli(["upgrade", "cancel"], h.env)
    expect(c.code).toBe(0)
    expect(c.stdout).toMatch(/^✓ Upgrade cancelled/)
    expect(JSON.parse(cli(["upgrade", "list", "--json"], h.env).stdout)).toMatchObject({
      upgrades: [{ name: "v2.0.0", status: "cancelled" }],
      count: 1
    })
    expect(cli(["upgrade", "list"], h.env).stdout).toMatch(/^v2\.0\.0\s+1500000\s+cancelled/m)

    // A cancelled name may be scheduled again.
    expect(cli(["upgrade", "schedule", "v2.0.0", "1600000"], h.env).code).toBe(0)
    expect(planOf(h).upgrades).toMatchObject([{ name: "v2.0.0", height: 1600000, status: "scheduled" }])
  })

  it("an empty plan lists as 'No upgrades scheduled' (and {upgrades: [], count: 0})", async () => {
    const h = await setup({ node: false })
    expect(cli(["upgrade", "list"], h.env)).toMatchObject({ code: 0, stdout: "No upgrades scheduled\n" })
    expect(JSON.parse(cli(["upgrade", "list", "--json"], h.env).stdout)).toEqual({ upgrades: [], count: 0 })
    expect(h.planText()).toBeUndefined()
  })

  it("--binary copies the binary into upgrades/<name>/bin/$DAEMON_NAME; the same one again is fine, a different one is refused", async () => {
    const h = await setup()
    const v2 = h.version("v2")
    expect(cli(["upgrade", "schedule", "v2", "100000", "--binary", v2], h.env).code).toBe(0)
    const placed = path.join(h.root, "upgrades", "v2", "bin", "gwemix")
    expect(sha(placed)).toBe(sha(v2))
    expect(fs.statSync(placed).mode & 0o111).not.toBe(0)

    expect(cli(["upgrade", "cancel", "v2"], h.env).code).toBe(0)
    expect(cli(["upgrade", "schedule", "v2", "100001", "--binary", v2], h.env).code).toBe(0)
    expect(cli(["upgrade", "cancel", "v2"], h.env).code).toBe(0)
    const before = h.planText()
    const other = fakeBinary(h.home, "other")
    const refused = cli(["upgrade", "schedule", "v2", "100002", "--binary", other], h.env)
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/different binary is already/)
    expect(sha(placed)).toBe(sha(v2))
    expect(h.planText()).toBe(before)
  })

  it("shell completions are built in: --completions bash|zsh|fish", () => {
    const env = { DAEMON_HOME: "/nonexistent", DAEMON_NAME: "gwemix" }
    for (const shell of ["bash", "zsh", "fish"]) {
      const r = cli(["--completions", shell], env)
      expect(r.code, shell).toBe(0)
      expect(r.stdout, shell).toContain("upgrade")
      expect(r.stdout, shell).toContain("schedule")
    }
  })
})

describe("upgrade CLI: refusals leave the plan unchanged", () => {
  it("schedule: bad name or height, taken name, height at or below the head → 2; node unreachable → 1 unless --force", async () => {
    const h = await setup()
    expect(cli(["upgrade", "schedule", "v1", "100000"], h.env).code).toBe(0)
    const before = h.planText()
    const head = (await blockNumber(h.port))!
    const refusals: ReadonlyArray<readonly [string, ReadonlyArray<string>, number, RegExp]> = [
      ["bad name", ["../v2", "100000"], 2, /invalid name/],
      ["name too long", ["v".repeat(65), "100000"], 2, /invalid name/],
      ["height not a number", ["v2", "12a"], 2, /invalid height/],
      ["negative height", ["v2", "-1"], 2, /invalid height/],
      ["fractional height", ["v2", "1.5"], 2, /invalid height/],
      ["taken name", ["v1", "200000"], 2, /already exists with status 'scheduled'/],
      ["height at or below the head", ["v2", String(head)], 2, /at or below the chain head .*--force/],
      ["missing --binary", ["v2", "200000", "--binary", path.join(h.home, "nope")], 2, /does not exist/]
    ]
    for (const [what, args, code, message] of refusals) {
      const r = cli(["upgrade", "schedule", ...args], h.env)
      expect(r.code, what).toBe(code)
      expect(r.stdout, what).toBe("")
      expect(r.stderr, what).toMatch(message)
      expect(h.planText(), what).toBe(before)
    }
    expect(fs.existsSync(path.join(h.root, "upgrades", "v2"))).toBe(false)

    // --force skips the head check.
    expect(cli(["upgrade", "schedule", "v0", "1", "--force"], h.env).code).toBe(0)

    const down = { ...h.env, DAEMON_RPC_URL: `http://127.0.0.1:${await freePort()}` }
    const afterForce = h.planText()
    const r = cli(["upgrade", "schedule", "v2", "200000"], down)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot check the height against the chain head: node RPC .* unreachable.*--force/)
    expect(h.planText()).toBe(afterForce)
    expect(cli(["upgrade", "schedule", "v2", "200000", "--force"], down).code).toBe(0)
  })

  it("cancel: unknown name, in progress, nothing or several pending → 2", async () => {
    const h = await setup({ node: false })
    const now = "2026-01-01T00:00:00.000Z"
    const row = (name: string, height: number, status: string) => ({
      name,
      height,
      status,
      info: "",
      binaries: {},
      checksums: {},
      reason: null,
      created_at: now,
      updated_at: now
    })
    fs.writeFileSync(
      h.planFile,
      JSON.stringify({ version: 1, upgrades: [row("v1", 100, "upgrading"), row("v0", 50, "done")] }, null, 2) + "\n"
    )
    const before = h.planText()
    const refusals: ReadonlyArray<readonly [string, ReadonlyArray<string>, RegExp]> = [
      ["unknown", ["nope"], /no upgrade named 'nope'/],
      ["in progress", ["v1"], /in progress/],
      ["already over", ["v0"], /already done/],
      ["bad name", ["../x"], /invalid name/]
    ]
    for (const [what, args, message] of refusals) {
      const r = cli(["upgrade", "cancel", ...args], h.env)
      expect(r.code, what).toBe(2)
      expect(r.stderr, what).toMatch(message)
      expect(h.planText(), what).toBe(before)
    }
    fs.writeFileSync(h.planFile, JSON.stringify({ version: 1, upgrades: [row("v0", 50, "done")] }))
    expect(cli(["upgrade", "cancel"], h.env)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/nothing to cancel/)
    })
    fs.writeFileSync(
      h.planFile,
      JSON.stringify({ version: 1, upgrades: [row("a", 50, "scheduled"), row("b", 60, "scheduled")] })
    )
    const several = fs.readFileSync(h.planFile, "utf8")
    expect(cli(["upgrade", "cancel"], h.env)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/name the one to cancel/)
    })
    expect(h.planText()).toBe(several)
  })

  it("a corrupt plan is never overwritten: schedule and cancel fail with 1 and name the file", async () => {
    const h = await setup()
    fs.writeFileSync(h.planFile, "{ not json")
    for (const args of [["schedule", "v2", "100000"], ["cancel", "v2"], ["list"]]) {
      const r = cli(["upgrade", ...args], h.env)
      expect(r.code, args.join(" ")).toBe(1)
      expect(r.stderr).toContain(h.planFile)
    }
    expect(h.planText()).toBe("{ not json")
  })

  it("--remote: a binary cannot be sent (2); an API that does not answer → 1", async () => {
    const h = await setup({ node: false })
    const api = `http://127.0.0.1:${await freePort()}`
    const withBinary = cli(["upgrade", "schedule", "v2", "100", "--remote", api, "--binary", h.version("v2")], h.env)
    expect(withBinary.code).toBe(2)
    expect(withBinary.stderr).toMatch(/--binary/)
    const down = cli(["upgrade", "list", "--remote", api], h.env)
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/wemixvisor API .* unreachable/)
    expect(cli(["upgrade", "list"], { ...h.env, WEMIXVISOR_API_URL: api }).code).toBe(1)
    expect(cli(["upgrade", "list", "--remote", "ftp://x"], h.env).code).toBe(2)
    expect(h.planText()).toBeUndefined()
  })
})

describe("upgrade status without a running supervisor", () => {
  it("shows the plan, current and the head, and says the supervisor is not running", async () => {
    const h = await setup()
    expect(cli(["upgrade", "schedule", "v2", "100000"], h.env).code).toBe(0)
    const json = cli(["upgrade", "status", "--json"], h.env)
    expect(json.code).toBe(0)
    const s = JSON.parse(json.stdout)
    expect(Object.keys(s).sort()).toEqual(
      [
        "block_interval_seconds",
        "current",
        "current_height",
        "governance",
        "head_age_seconds",
        "home",
        "in_progress",
        "last",
        "node_pid",
        "node_state",
        "paused",
        "pending",
        "pending_upgrade",
        "plan_problem",
        "proposals",
        "restarts",
        "supervisor",
        "supervisor_pid",
        "upgrades_paused",
        "upgrading",
        "version"
      ]
    )
    expect(s).toMatchObject({
      supervisor: "not-running",
      // Tracked by a running supervisor only: none from the files.
      proposals: [],
      node_state: "stopped",
      node_pid: null,
      current: "genesis",
      pending_upgrade: { name: "v2", height: 100000, status: "scheduled" },
      upgrading: false,
      in_progress: null,
      last: null,
      block_interval_seconds: null,
      head_age_seconds: null,
      upgrades_paused: null
    })
    expect(s.current_height).toBeGreaterThanOrEqual(3)
    expect(s.pending).toHaveLength(1)

    const text = cli(["upgrade", "status"], h.env)
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^Supervisor:\s+not running$/m)
    expect(text.stdout).toMatch(/^Current:\s+genesis$/m)
    expect(text.stdout).toMatch(/^Chain head:\s+\d+$/m)
    expect(text.stdout).toMatch(/^Pending:\s+v2 at block height 100000 \(scheduled\)$/m)

    // The node down: still a status, with the head unknown.
    for (const a of anvils.splice(0)) await a.stop()
    const down = cli(["upgrade", "status", "--json"], h.env)
    expect(down.code).toBe(0)
    expect(JSON.parse(down.stdout)).toMatchObject({ supervisor: "not-running", current_height: null })
    expect(cli(["upgrade", "status"], h.env).stdout).toMatch(/^Chain head:\s+unknown/m)
  })

  it("on a home without init: exit 2 saying to run init", async () => {
    const h = await setup({ node: false })
    fs.rmSync(path.join(h.root, "current"))
    const r = cli(["upgrade", "status"], h.env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/init/)
  })
})
