/*
 * Issue #5 end to end: upgrade hooks (DAEMON_PRE_UPGRADE, DAEMON_PRE_STOP)
 * with the built CLI and a real anvil. Sequential: real processes on 2 cores.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { isAlive, writeScript } from "../support/fixtures.js"
import {
  advancing,
  makeScenario,
  oneNode,
  removeCliCopy,
  type Scenario,
  settled,
  steps,
  stopAndCheck,
  waitHeight
} from "./upgrade-support.js"

const scenarios: Array<Scenario> = []
afterEach(() => {
  for (const s of scenarios) s.dispose()
  scenarios.length = 0
})
afterAll(removeCliCopy)

/** A hook script in the home; each run appends "<name> <height> current=<link>" to hooks.log. */
const hook = (home: string, file: string, body: string) =>
  writeScript(
    path.join(home, "hooks", file),
    `#!/bin/sh
echo "$1 $2 current=$(readlink "$DAEMON_HOME/wemixvisor/current")" >> "${home}/hooks.log"
${body}
`
  )
const hookLog = (s: Scenario) => {
  const f = path.join(s.home, "hooks.log")
  return fs.existsSync(f) ? fs.readFileSync(f, "utf8").trim().split("\n") : []
}

const scenario = async (env: (home: string) => Record<string, string>) => {
  const s = await makeScenario()
  Object.assign(s.env, env(s.home))
  scenarios.push(s)
  return s
}

describe("hooks", () => {
  it("a pre-upgrade hook exiting 30 fails the upgrade: rolled back, the new binary never started", async () => {
    const s = await scenario((home) => ({ DAEMON_PRE_UPGRADE: hook(home, "pre-upgrade", "exit 30") }))
    s.init(s.version("v1"))
    s.place("v2", s.version("v2"))
    const run = s.start()
    const head = await waitHeight(s.port, 3)
    s.schedule({ name: "v2", height: head + 5 })

    const u = await settled(s, "v2")
    expect(u.status).toBe("failed")
    expect(u.reason).toMatch(/^pre-upgrade hook .*pre-upgrade exited with code 30 \(fail the upgrade\)$/)
    // It ran once, after the switch, with the upgrade's name and height.
    expect(hookLog(s)).toEqual([`v2 ${head + 5} current=upgrades/v2`])
    expect(s.current()).toBe("genesis")
    expect(s.versions()).toEqual(["v1", "v1"])
    expect(steps(s, "v2").slice(4)).toEqual([
      "switch:started",
      "switch:ok",
      "pre-upgrade:started",
      "pre-upgrade:failed",
      "rollback:started",
      "rollback:ok",
      "upgrade:failed"
    ])
    expect(run.events("rollback-completed")).toHaveLength(1)
    await advancing(s.port)
    await oneNode(s)
    await stopAndCheck(run, s)
  }, 40_000)

  it(
    "a hanging pre-stop hook is cut off at DAEMON_HOOK_TIMEOUT, with what it started, and the upgrade completes",
    async () => {
      const s = await scenario((home) => ({
        DAEMON_PRE_STOP: hook(home, "pre-stop", `sleep 60 &\necho $! > "${home}/hook-child"\nwait`),
        DAEMON_HOOK_TIMEOUT: "2s"
      }))
      s.init(s.version("v1"))
      s.place("v2", s.version("v2"))
      const run = s.start()
      const head = await waitHeight(s.port, 3)
      s.schedule({ name: "v2", height: head + 5 })

      const u = await settled(s, "v2", 30_000)
      expect(u.status).toBe("done")
      // It ran before the stop, while v1 was still the node.
      expect(hookLog(s)).toEqual([`v2 ${head + 5} current=genesis`])
      const child = Number(fs.readFileSync(path.join(s.home, "hook-child"), "utf8").trim())
      expect(isAlive(child)).toBe(false)
      const failed = s.history().find((x) => x.name === "v2" && x.step === "pre-stop" && x.result === "failed")
      expect(failed?.detail).toMatch(
        /did not finish within 2s and was killed; the upgrade goes on \(its height is mandatory\)$/
      )
      expect(steps(s, "v2").slice(0, 3)).toEqual(["pre-stop:started", "pre-stop:failed", "stop:started"])
      const problems = run.events("upgrade-problem").map((e) => (e.annotations as { reason: string }).reason)
      expect(problems).toEqual([expect.stringMatching(/^pre-stop hook .* did not finish within 2s/)])
      // The stop came only after the hook's time was up.
      const hookEnd = Date.parse(failed!.time)
      const stopped = s.history().find((x) => x.name === "v2" && x.step === "stop" && x.result === "started")
      expect(Date.parse(stopped!.time)).toBeGreaterThanOrEqual(hookEnd)
      expect(s.current()).toBe("upgrades/v2")
      expect(s.versions()).toEqual(["v1", "v2"])
      await advancing(s.port)
      await oneNode(s)
      await stopAndCheck(run, s)
    },
    40_000
  )
})
