/*
 * Issue #12 items 5, 6, 7 and 12 end to end: what an operator does to the
 * files of a running supervisor (deletes or corrupts the plan, holds its lock,
 * removes a corrupt journal, hand-edits an entry below the head) never loses
 * or wrongly fires an upgrade. The built CLI, a real anvil; sequential.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { blockNumber, waitFor } from "../support/fixtures.js"
import {
  baseEnv,
  cliCopy,
  health,
  makeScenario,
  removeCliCopy,
  type Scenario,
  settled,
  stopAndCheck,
  waitHeight
} from "./upgrade-support.js"

const scenarios: Array<Scenario> = []
const sleepers: Array<number> = []
afterEach(() => {
  for (const pid of sleepers.splice(0)) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone
    }
  }
  for (const s of scenarios.splice(0)) s.dispose()
})
afterAll(removeCliCopy)

const scenario = async () => {
  const s = await makeScenario()
  scenarios.push(s)
  return s
}

/** v1 running, v2 scheduled at `H` and ready. */
const readyV2 = async (H: number) => {
  const s = await scenario()
  s.init(s.version("v1"))
  s.place("v2", s.version("v2"))
  s.schedule({ name: "v2", height: H })
  const run = s.start()
  await waitHeight(s.port, 3)
  await waitFor("v2 ready", () => s.upgrade("v2")?.status === "ready")
  return { s, run }
}

const cli = (s: Scenario, args: ReadonlyArray<string>) => {
  const r = spawnSync(process.execPath, [cliCopy(), ...args], {
    env: baseEnv(s.env),
    encoding: "utf8",
    timeout: 30_000
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const statusJson = (s: Scenario) =>
  JSON.parse(cli(s, ["upgrade", "status", "--json"]).stdout) as Record<string, unknown>

const planFile = (s: Scenario) => path.join(s.root, "upgrade-plan.json")

/** The head now, plus `blocks` (anvil mines 5 a second here). */
const ahead = async (s: Scenario, blocks: number) =>
  (await waitFor("the node's RPC", () => blockNumber(s.port))) + blocks

describe("the plan file goes away or goes bad under a running supervisor", () => {
  it(
    "deleted: re-created from the last valid plan (plan-restored), and the upgrade still fires at its height",
    async () => {
      const H = 30
      const { s, run } = await readyV2(H)

      fs.rmSync(planFile(s))
      await waitFor("the plan re-created", () => fs.existsSync(planFile(s)), 10_000)
      expect(s.upgrade("v2")).toMatchObject({ name: "v2", height: H })
      await waitFor("plan-restored", () => run.events("plan-restored").length > 0, 5_000)

      const u = await settled(s, "v2", 30_000)
      expect(u.status).toBe("done")
      expect(s.current()).toBe("upgrades/v2")
      await stopAndCheck(run, s)
    },
    60_000
  )

  it(
    "corrupt: said loudly (plan-invalid, /health 503, plan_problem), never overwritten, and the known upgrade still fires",
    async () => {
      const H = 30
      const { s, run } = await readyV2(H)
      const good = fs.readFileSync(planFile(s), "utf8")

      fs.writeFileSync(planFile(s), "{ not json")
      await waitFor("plan-invalid", () => run.events("plan-invalid").length > 0, 5_000)
      const invalid = run.events("plan-invalid")[0]!.annotations as { path: string; reason: string }
      expect(invalid.path).toBe(planFile(s))
      expect(invalid.reason).toMatch(/not JSON/)
      await waitFor("/health 503", async () => (await health(s))?.status === 503, 5_000)
      expect(statusJson(s).plan_problem).toMatch(/upgrade-plan\.json is corrupt/)
      expect(cli(s, ["upgrade", "status"]).stdout).toMatch(/^Plan problem:\s+.*corrupt/m)

      // The height passes: the last valid plan fires v2.
      await waitFor("current -> upgrades/v2", () => s.current() === "upgrades/v2", 30_000)
      expect(fs.readFileSync(planFile(s), "utf8")).toBe("{ not json")

      // Fixed by the operator: the outcome reaches the plan.
      fs.writeFileSync(planFile(s), good)
      expect((await settled(s, "v2", 30_000)).status).toBe("done")
      await waitFor("/health 200", async () => (await health(s))?.status === 200, 10_000)
      expect(statusJson(s).plan_problem).toBeNull()
      await stopAndCheck(run, s)
    },
    90_000
  )
})

describe("a plan lock held by a live, stuck process", () => {
  it(
    "does not hold the upgrade back past its height; the lock is reported (log with the pid, /health, plan_problem); the plan catches up",
    async () => {
      const H = 40
      const { s, run } = await readyV2(H)

      // A "CLI stopped with ^Z": a live process holds upgrade-plan.lock.
      const holder = spawn("sleep", ["600"], { stdio: "ignore" })
      sleepers.push(holder.pid!)
      const lock = path.join(s.root, "upgrade-plan.lock")
      fs.writeFileSync(lock, JSON.stringify({ pid: holder.pid, time: new Date().toISOString() }) + "\n")

      await waitFor("current -> upgrades/v2", () => s.current() === "upgrades/v2", 30_000)
      const started = run.events("upgrade-started")[0]?.annotations as { current_height: number } | undefined
      expect(started?.current_height).toBeLessThanOrEqual(H + 5)
      await waitFor("the held lock logged", () => run.logs().includes(`held by pid ${holder.pid}`), 15_000)
      await waitFor("/health 503", async () => (await health(s))?.status === 503, 5_000)
      expect(String(statusJson(s).plan_problem)).toContain(`pid ${holder.pid}`)
      // The plan is behind (its lock is held), the journal is not.
      expect(s.upgrade("v2")?.status).toBe("ready")

      fs.rmSync(lock)
      expect((await settled(s, "v2", 30_000)).status).toBe("done")
      await waitFor("/health 200", async () => (await health(s))?.status === 200, 10_000)
      await stopAndCheck(run, s)
    },
    90_000
  )
})

describe("a corrupt journal, removed as the log says", () => {
  it("resumes upgrades live; status says paused and why; schedule while paused warns", async () => {
    const s = await scenario()
    s.init(s.version("v1"))
    s.place("v2", s.version("v2"))
    const journal = path.join(s.root, "journal.json")
    fs.writeFileSync(journal, "{ not json")
    const run = s.start()
    await waitHeight(s.port, 3)
    await waitFor("paused logged", () => run.logs().includes("journal.json"), 10_000)

    const st = statusJson(s)
    expect(st.paused).toMatch(/journal\.json is corrupt/)
    expect(cli(s, ["upgrade", "status"]).stdout).toMatch(/^Paused:\s+.*journal\.json/m)
    const H = await ahead(s, 25)
    const sched = cli(s, ["upgrade", "schedule", "v2", String(H)])
    expect(sched.code).toBe(0)
    expect(sched.stderr).toMatch(/paused/)

    fs.rmSync(journal)
    await waitFor("/health 200", async () => (await health(s))?.status === 200, 10_000)
    expect(statusJson(s).paused).toBeNull()
    expect((await settled(s, "v2", 30_000)).status).toBe("done")
    expect(s.current()).toBe("upgrades/v2")
    await stopAndCheck(run, s)
  }, 90_000)
})

describe("a hand-edited entry below the head", () => {
  it(
    "is refused (failed, plan-invalid, says --force), not fired; the same through the CLI with --force fires",
    async () => {
      const s = await scenario()
      s.init(s.version("v1"))
      s.place("v2", s.version("v2"))
      const run = s.start()
      await waitHeight(s.port, 10)
      s.schedule({ name: "v2", height: 5, byHand: true })

      await waitFor("v2 failed", () => s.upgrade("v2")?.status === "failed", 10_000)
      expect(s.upgrade("v2")?.reason).toMatch(/--force/)
      expect(
        run.events("plan-invalid").some((e) => String((e.annotations as { reason?: string }).reason).includes("v2"))
      ).toBe(true)
      expect(s.current()).toBe("genesis")

      const forced = cli(s, ["upgrade", "schedule", "v2", "5", "--force"])
      expect(forced.code).toBe(0)
      expect((await settled(s, "v2", 30_000)).status).toBe("done")
      expect(s.current()).toBe("upgrades/v2")
      await stopAndCheck(run, s)
    },
    60_000
  )
})
