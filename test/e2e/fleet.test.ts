/*
 * `wemixvisor fleet …` against three real supervisors on this machine, each
 * with its own anvil, API port and token, driven through the built CLI (a
 * private copy) with a fleet file that gives the tokens each way (inline,
 * token_file): the board, a fan-out with one supervisor down, and a roll
 * whose second node's binary is broken.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { blockNumber, cleanup, tempDir, waitFor } from "../support/fixtures.js"
import { attachOutput } from "../support/output.js"
import {
  advancing,
  baseEnv,
  cliCopy,
  health,
  makeScenario,
  removeCliCopy,
  type Run,
  type Scenario,
  settled,
  stopRun
} from "./upgrade-support.js"

interface Member {
  readonly name: string
  readonly s: Scenario
  readonly run: Run
  readonly token: string
}

const members: Array<Member> = []
const dirs: Array<string> = []
afterEach(async () => {
  // Stopped together: each stop waits for its node's graceful shutdown.
  await Promise.all(members.map((m) => stopRun(m.run)))
  for (const m of members.splice(0)) m.s.dispose()
  for (const d of dirs.splice(0)) cleanup(d)
})
afterAll(removeCliCopy)

/** A supervisor of its own anvil ("v1"), its API on its own port with its own token, healthy. */
const member = async (name: string, place: (s: Scenario) => void = () => {}): Promise<Member> => {
  const token = crypto.randomBytes(16).toString("hex")
  const s = await makeScenario({ env: { WEMIXVISOR_API_TOKEN: token } })
  s.init(s.version("v1"))
  place(s)
  const m = { name, s, run: s.start(), token }
  members.push(m)
  return m
}

const healthy = (m: Member) =>
  waitFor(`${m.name}'s /health 200`, async () => (await health(m.s))?.status === 200 || undefined, 30_000)

/** The fleet file: node-a's token inline, node-b's in a token_file next to it, node-c's inline. */
const fleetFile = (ms: ReadonlyArray<Member>): string => {
  const dir = tempDir("wemixvisor-fleet-")
  dirs.push(dir)
  fs.writeFileSync(path.join(dir, "node-b.token"), `${ms[1]!.token}\n`, { mode: 0o600 })
  const table = (m: Member, token: string) =>
    `[[node]]\nname = "${m.name}"\nurl = "http://${m.s.env.WEMIXVISOR_API_ADDR}"\n${token}\n`
  const file = path.join(dir, "fleet.toml")
  fs.writeFileSync(
    file,
    [
      table(ms[0]!, `token = "${ms[0]!.token}"`),
      table(ms[1]!, `token_file = "node-b.token"`),
      table(ms[2]!, `token = "${ms[2]!.token}"`)
    ].join("\n"),
    { mode: 0o600 }
  )
  return file
}

interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** `wemixvisor fleet …` from the private copy, without a home (an operator's machine), without blocking the loop. */
const fleet = (args: ReadonlyArray<string>, timeoutMs = 120_000): Promise<CliResult> =>
  new Promise((resolve) => {
    const p = spawn(process.execPath, [cliCopy(), "fleet", ...args], {
      env: baseEnv({}),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    attachOutput(`wemixvisor fleet ${args.join(" ")}`, () => `stdout:\n${stdout}\nstderr:\n${stderr}`)
    p.stdout!.on("data", (c) => (stdout += String(c)))
    p.stderr!.on("data", (c) => (stderr += String(c)))
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs)
    p.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

const row = (stdout: string, name: string) => stdout.split("\n").find((l) => l.startsWith(`${name} `)) ?? ""

describe("fleet: three supervisors", () => {
  it(
    "status shows all three; schedule with one supervisor down schedules the other two, reports it, exit 1",
    async () => {
      const ms = [await member("node-a"), await member("node-b"), await member("node-c")]
      await Promise.all(ms.map(healthy))
      const file = fleetFile(ms)

      const board = await fleet(["status", "--fleet", file])
      expect(board.code, board.stderr).toBe(0)
      expect(board.stdout).toMatch(/^NODE {4}HEAD +NODE STATE +CURRENT +PENDING$/m)
      for (const m of ms) {
        expect(row(board.stdout, m.name)).toMatch(
          new RegExp(`^${m.name} +\\d+ +running +genesis +none$`)
        )
      }
      expect(board.stdout).toContain("No upgrade pending on any node")
      const json = JSON.parse((await fleet(["status", "--json", "--fleet", file])).stdout) as {
        nodes: Array<{ name: string; ok: boolean; status: { home: string; node_state: string } }>
        green: boolean
      }
      expect(json.nodes.map((n) => [n.name, n.ok, n.status.home, n.status.node_state])).toEqual(
        ms.map((m) => [m.name, true, m.s.home, "running"])
      )
      expect(json.green).toBe(true)

      // node-c's supervisor stops (its node with it): its API no longer answers.
      expect((await stopRun(ms[2]!.run)).code).toBe(0)
      const heads = await Promise.all(ms.slice(0, 2).map((m) => blockNumber(m.s.port)))
      const far = String(Math.max(...heads.map((h) => h!)) + 1_000_000)
      const scheduled = await fleet(["schedule", "v9", far, "--fleet", file, "--info", "fleet test"])
      expect(scheduled.code, scheduled.stderr).toBe(1)
      expect(row(scheduled.stdout, "node-a")).toBe(`node-a  ✓ Upgrade 'v9' scheduled for block height ${far}`)
      expect(row(scheduled.stdout, "node-b")).toBe(`node-b  ✓ Upgrade 'v9' scheduled for block height ${far}`)
      expect(row(scheduled.stdout, "node-c")).toMatch(
        /^node-c  ✗ wemixvisor API http:\/\/127\.0\.0\.1:\d+ unreachable: /
      )
      expect(scheduled.stderr).toContain("error: fleet schedule v9 failed on 1 of 3 nodes (node-c)")
      expect(ms[0]!.s.upgrade("v9")).toMatchObject({ height: Number(far), status: "scheduled" })
      expect(ms[1]!.s.upgrade("v9")).toMatchObject({ height: Number(far), status: "scheduled" })
      expect(ms[2]!.s.upgrade("v9")).toBeUndefined()

      // The board says it: node-c does not answer, v9 is not ready anywhere (no binary): exit 1.
      const after = await fleet(["status", "--fleet", file])
      expect(after.code).toBe(1)
      expect(row(after.stdout, "node-c")).toMatch(/^node-c +- +- +- +UNREACHABLE: wemixvisor API /)
      expect(row(after.stdout, "node-a")).toMatch(new RegExp(`v9 at ${far}: (scheduled|preparing)`))
      expect(after.stdout).toMatch(
        new RegExp(`^0/3 ready for v9 at ${far} — node-a: .+; node-b: .+; node-c: unreachable$`, "m")
      )
      expect(after.stderr).toMatch(/error: fleet not green: 1 of 3 not answering \(node-c\); not ready everywhere: v9/)

      // --check: each answering node's own `upgrade check` of v9 (over RPC CheckUpgrade): no binary there, NO GO.
      const checked = await fleet(["status", "--check", "--fleet", file])
      expect(checked.code).toBe(1)
      for (const name of ["node-a", "node-b"]) {
        expect(checked.stdout).toMatch(new RegExp(`^${name}  v9: NO GO: \\d+ problems? — `, "m"))
      }
      expect(checked.stderr).toMatch(/NO GO \(or not checked\): node-a v9, node-b v9/)

      // And a cancel reaches the two that answer.
      const cancelled = await fleet(["cancel", "v9", "--fleet", file])
      expect(cancelled.code).toBe(1)
      expect(row(cancelled.stdout, "node-a")).toBe(`node-a  ✓ Upgrade cancelled ('v9' at block height ${far})`)
      expect(row(cancelled.stdout, "node-b")).toBe(`node-b  ✓ Upgrade cancelled ('v9' at block height ${far})`)
      expect(ms[0]!.s.upgrade("v9")?.status).toBe("cancelled")
    },
    120_000
  )

  it(
    "roll: node-a done on v2, node-b's broken v2 fails and is rolled back, the roll stops, node-c untouched",
    async () => {
      const ms = [
        await member("node-a", (s) => s.place("v2", s.version("v2"))),
        await member("node-b", (s) => s.place("v2", s.script("v2", "exit 3"))),
        await member("node-c", (s) => s.place("v2", s.version("v2")))
      ]
      await Promise.all(ms.map(healthy))
      const file = fleetFile(ms)

      const r = await fleet(["roll", "v2", "--height-offset", "10", "--roll-timeout", "90s", "--fleet", file], 180_000)
      expect(r.code, r.stderr).toBe(1)
      const lines = r.stdout.trim().split("\n")
      expect(lines).toHaveLength(3)
      expect(lines[0]).toMatch(/^node-a  ✓ v2 done at block height (\d+) \(scheduled at head \d+ \+ 10\); now on v2$/)
      expect(lines[1]).toMatch(
        /^node-b  ✗ v2 failed at block height \d+: .*exited with code 3.*; now on genesis \(node running\)$/
      )
      expect(lines[2]).toBe("node-c  - not touched")
      expect(r.stderr).toMatch(
        /… node-a: v2 scheduled at block height \d+ \(head \d+ \+ 10\); waiting for it to be done/
      )
      expect(r.stderr).toContain("error: fleet roll of v2 stopped at node-b: done on node-a; not touched: node-c")

      // node-a: on the new binary, verified.
      const [a, b, c] = ms as [Member, Member, Member]
      expect((await settled(a.s, "v2")).status).toBe("done")
      expect(a.s.current()).toBe(path.join("upgrades", "v2"))
      expect(a.s.versions()).toEqual(["v1", "v2"])
      // node-b: failed, rolled back, the old binary serving again.
      const failed = await settled(b.s, "v2")
      expect(failed.status).toBe("failed")
      expect(failed.reason).toMatch(/exited with code 3/)
      expect(b.s.current()).toBe("genesis")
      await advancing(b.s.port)
      expect(b.s.versions()).toEqual(["v1", "v2", "v1"])
      // node-c: nothing scheduled, still on the old binary.
      expect(c.s.plan()).toEqual([])
      expect(c.s.current()).toBe("genesis")
      expect(c.s.versions()).toEqual(["v1"])
      // The board after it: node-b's failure is its last upgrade; nothing pending anywhere.
      const board = await fleet(["status", "--fleet", file])
      expect(row(board.stdout, "node-a")).toMatch(/^node-a +\d+ +running +v2 +none$/)
      expect(row(board.stdout, "node-b")).toMatch(
        /^node-b +\d+ +running +genesis +none \(last: v2 failed: .*exited with code 3.*\)$/
      )
      expect(row(board.stdout, "node-c")).toMatch(/^node-c +\d+ +running +genesis +none$/)
    },
    200_000
  )
})
