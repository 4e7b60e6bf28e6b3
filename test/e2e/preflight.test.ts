/*
 * `wemixvisor upgrade check <name>` (issue #18 item 6) through the built CLI
 * and a real anvil: a ready upgrade is a go (exit 0) locally and with
 * --remote against a running `wemixvisor run` (whose ETA it shows); a broken
 * or missing binary and a hook that is not executable are a NO GO (exit 1)
 * naming them; an unknown name is exit 2 with nothing written.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { waitFor } from "../support/fixtures.js"
import { baseEnv, cliCopy, health, makeScenario, removeCliCopy, type Scenario, stopRun } from "./upgrade-support.js"

const scenarios: Array<Scenario> = []
afterEach(async () => {
  for (const s of scenarios) {
    for (const r of s.runs()) await stopRun(r)
    s.dispose()
  }
  scenarios.length = 0
})
afterAll(removeCliCopy)

/** The probe on (fastEnv turns it off: the wrappers answer `version` without logging a start) and the chain checked. */
const scenario = async (env: Record<string, string> = {}) => {
  const s = await makeScenario({ env: { DAEMON_VERSION_ARGS: "version", DAEMON_CHAIN_ID: "31337", ...env } })
  scenarios.push(s)
  return s
}

const cli = (s: Scenario, args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [cliCopy(), ...args], {
    env: baseEnv({ ...s.env, ...env }),
    encoding: "utf8",
    timeout: 60_000
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const lines = (stdout: string) => stdout.split("\n").filter((l) => l !== "")
const verdict = (stdout: string) => lines(stdout).at(-1)

/** The node alone (no supervisor): the genesis wrapper started by hand, stopped by the scenario's dispose. */
const nodeOnly = async (s: Scenario) => {
  const child = spawn(s.version("v1"), [], { stdio: "ignore", detached: false })
  await waitFor("the node's RPC", async () => {
    const res = await fetch(`http://127.0.0.1:${s.port}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] })
    }).catch(() => undefined)
    return res?.ok === true
  }, 20_000)
  return child
}

describe("upgrade check", () => {
  it(
    "a ready upgrade: go (exit 0) locally and with --remote against the running supervisor, with its ETA",
    async () => {
      const s = await scenario()
      s.init(s.version("v1"))
      s.place("v2", s.version("v2"))
      s.schedule({ name: "v2", height: 1_000_000 })
      s.start()
      await waitFor("/health 200", async () => (await health(s))?.status === 200, 60_000)
      const api = `http://${s.env.WEMIXVISOR_API_ADDR}`
      const token = fs.readFileSync(path.join(s.root, "api.token"), "utf8").trim()
      // The ETA needs the block interval, measured from two new heads: wait for the supervisor to say it has one.
      await waitFor("the measured block interval", async () => {
        const res = await fetch(`${api}/api/v1/upgrades/status`, { headers: { authorization: `Bearer ${token}` } })
          .catch(() => undefined)
        if (res?.ok !== true) return false
        const status = (await res.json()) as { block_interval_seconds: number | null; pending: Array<{ eta: unknown }> }
        return status.block_interval_seconds !== null && status.pending[0]?.eta != null
      }, 60_000)
      // The supervisor prepares it at once; from then on it does not write the plan while nothing changes.
      await waitFor("v2 ready", () => s.upgrade("v2")?.status === "ready", 60_000)
      const plan = fs.readFileSync(path.join(s.root, "upgrade-plan.json"), "utf8")

      const local = cli(s, ["upgrade", "check", "v2"])
      expect(local.code, local.stdout + local.stderr).toBe(0)
      expect(verdict(local.stdout)).toBe("go: v2 at 1000000 would go through now (1 warning)")
      const out = lines(local.stdout)
      expect(out).toContain(
        `ok      binary ${path.join(s.root, "upgrades", "v2", "bin", "gwemix")}: in place and executable`
      )
      expect(out).toContain("ok      version: the new binary reports \"gwemix v2\"")
      expect(out).toContain("ok      eth_chainId is 31337, as DAEMON_CHAIN_ID")
      expect(out).toContain("ok      on failure: rollback to genesis (DAEMON_ON_UPGRADE_FAILURE=rollback)")
      // The running supervisor's ETA (a block every 0.2 s: days away).
      expect(out.find((l) => l.includes("ETA"))).toMatch(
        /^ok {6}ETA in \d+d(\d+h)? \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\) \(height 1000000, head \d+\)$/
      )
      expect(out.find((l) => l.startsWith("ok      wemixvisor run is supervising"))).toBeDefined()
      // The one warning: backups are off.
      expect(out.filter((l) => l.startsWith("warning"))).toEqual([
        "warning DAEMON_BACKUP=false: no backup before upgrades; a rollback starts the old binary on the data as the new one left it"
      ])

      const remote = cli(s, ["upgrade", "check", "v2", "--remote", api])
      expect(remote.code, remote.stdout + remote.stderr).toBe(0)
      expect(verdict(remote.stdout)).toBe("go: v2 at 1000000 would go through now (1 warning)")
      const json = cli(s, ["upgrade", "check", "v2", "--json", "--remote", api])
      expect(json.code, json.stderr).toBe(0)
      const result = JSON.parse(json.stdout) as Record<string, unknown>
      expect(Object.keys(result).sort()).toEqual([
        "eta",
        "eta_seconds",
        "findings",
        "go",
        "height",
        "name",
        "on_failure"
      ])
      expect(result).toMatchObject({ name: "v2", height: 1_000_000, go: true, on_failure: "rollback to genesis" })
      expect(typeof result.eta).toBe("string")
      expect(result.eta_seconds).toBeGreaterThan(86_400)

      // Unknown: exit 2 both ways, nothing printed on stdout, nothing written.
      for (const args of [["upgrade", "check", "nope"], ["upgrade", "check", "nope", "--remote", api]]) {
        const r = cli(s, args)
        expect(r.code, args.join(" ")).toBe(2)
        expect(r.stdout).toBe("")
        expect(r.stderr).toContain("no upgrade named 'nope'")
      }
      expect(fs.readFileSync(path.join(s.root, "upgrade-plan.json"), "utf8")).toBe(plan)

      // A binary broken under the running supervisor: NO GO through it too, naming the binary.
      fs.chmodSync(path.join(s.root, "upgrades", "v2", "bin", "gwemix"), 0o644)
      const broken = cli(s, ["upgrade", "check", "v2", "--remote", api])
      expect(broken.code, broken.stdout + broken.stderr).toBe(1)
      expect(verdict(broken.stdout)).toBe("NO GO: 1 problem")
      expect(lines(broken.stdout)).toContain(
        `problem binary ${
          path.join(s.root, "upgrades", "v2", "bin", "gwemix")
        } is not executable (chmod +x it): put the new binary there (chmod +x), or schedule 'v2' again with --binary`
      )
      expect(broken.stderr).toContain("error: upgrade check: 'v2' would not go through now: 1 problem")
    },
    120_000
  )

  it(
    "a broken or missing binary and a hook that is not executable: NO GO (exit 1), each named; bad input: exit 2",
    async () => {
      const hooks = fs.mkdtempSync(path.join(os.tmpdir(), "wemixvisor-preflight-hooks-"))
      const hook = path.join(hooks, "pre-upgrade.sh")
      fs.writeFileSync(hook, "#!/bin/sh\nexit 0\n", { mode: 0o644 })
      try {
        const s = await scenario({ DAEMON_PRE_UPGRADE: hook })
        s.init(s.version("v1"))
        // "Cannot execute": the shell's 127, what a binary for another machine or a missing interpreter gives.
        s.place("v2", s.script("v2-broken", "exit 127"))
        s.schedule({ name: "v2", height: 1_000_000 }, { name: "v3", height: 1_000_001 })
        await nodeOnly(s)
        const plan = fs.readFileSync(path.join(s.root, "upgrade-plan.json"), "utf8")

        const v2 = cli(s, ["upgrade", "check", "v2"])
        expect(v2.code, v2.stdout + v2.stderr).toBe(1)
        const out = lines(v2.stdout)
        expect(verdict(v2.stdout)).toBe("NO GO: 2 problems")
        expect(out.filter((l) => l.startsWith("problem"))).toEqual([
          expect.stringMatching(/^problem .*upgrades\/v2\/bin\/gwemix.*: the new binary cannot run on this machine$/),
          `problem invalid DAEMON_PRE_UPGRADE="${hook}": is not executable (chmod +x it); the upgrade would fail at its height`
        ])
        // No run on this home: said, as a warning.
        expect(out).toContain(
          `warning no 'wemixvisor run' is running on ${s.home}: nothing fires the upgrade until one runs`
        )
        expect(out).toContain(
          "ok      ETA unknown (height 1000000): only a running wemixvisor measures the block interval"
        )

        const v3 = cli(s, ["upgrade", "check", "v3", "--json"])
        expect(v3.code).toBe(1)
        const result = JSON.parse(v3.stdout) as {
          go: boolean
          findings: Array<{ check: string; level: string; message: string }>
        }
        expect(result.go).toBe(false)
        expect(result.findings.filter((f) => f.level === "problem").map((f) => f.check)).toEqual([
          "binary",
          "DAEMON_PRE_UPGRADE"
        ])
        expect(result.findings.find((f) => f.check === "binary")!.message).toContain(
          `${path.join(s.root, "upgrades", "v3", "bin", "gwemix")} does not exist`
        )

        // Bad input: an unknown name, a bad name, an unknown flag: exit 2, nothing on stdout.
        for (
          const args of [["upgrade", "check", "nope"], ["upgrade", "check", "../x"], [
            "upgrade",
            "check",
            "v2",
            "--bogus"
          ]]
        ) {
          const r = cli(s, args)
          expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2)
          expect(r.stdout).toBe("")
        }
        // Fixed, it is a go: the hook made executable, the binary replaced by a working one.
        fs.chmodSync(hook, 0o755)
        fs.copyFileSync(s.version("v2"), path.join(s.root, "upgrades", "v2", "bin", "gwemix"))
        const fixed = cli(s, ["upgrade", "check", "v2"])
        expect(fixed.code, fixed.stdout).toBe(0)
        expect(verdict(fixed.stdout)).toBe("go: v2 at 1000000 would go through now (2 warnings)")
        expect(fs.readFileSync(path.join(s.root, "upgrade-plan.json"), "utf8")).toBe(plan)
      } finally {
        fs.rmSync(hooks, { recursive: true, force: true })
      }
    },
    90_000
  )
})
