import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { loadConfig, runOnly, runOnlyButNotify, UNKNOWN_KEY } from "../../src/config/Config.js"
import { cleanup, tempDir } from "../support/fixtures.js"

/*
 * A command other than `run` does not fail on a bad value it never reads
 * (Config.runOnly): the value takes its default and is listed in `ignored`.
 * `run` (no tolerance) refuses the same configuration.
 */

const withToml = <A>(text: string, body: (home: string) => A): A => {
  const home = tempDir()
  try {
    fs.mkdirSync(path.join(home, "wemixvisor"))
    fs.writeFileSync(path.join(home, "wemixvisor", "config.toml"), text)
    return body(home)
  } finally {
    cleanup(home)
  }
}

const env = (home: string) => ({ env: { DAEMON_HOME: home, DAEMON_NAME: "gw" } })

describe("tolerated settings", () => {
  it("a bad run-only value is set aside with its default; strict loading refuses it", () =>
    withToml("daemon_hook_timeout = \"5x\"\ndaemon_max_restarts = -1\n", (home) => {
      const c = Effect.runSync(loadConfig(env(home), runOnly))
      expect(Duration.toMillis(c.hookTimeout)).toBe(300_000)
      expect(c.maxRestarts).toBe(10)
      expect(c.ignored.map((e) => e.variable)).toEqual(["DAEMON_MAX_RESTARTS", "DAEMON_HOOK_TIMEOUT"])
      expect(c.ignored[1]!.message).toContain("(config.toml)")
      expect(c.given.DAEMON_HOOK_TIMEOUT).toBe("5m")
      expect(Effect.runSync(Effect.flip(loadConfig(env(home)))).variable).toBe("DAEMON_MAX_RESTARTS")
    }))

  it("a bad value the command reads still fails it", () =>
    withToml("daemon_rpc_url = \"ftp://x\"\n", (home) => {
      expect(Effect.runSync(Effect.flip(loadConfig(env(home), runOnly))).variable).toBe("DAEMON_RPC_URL")
    }))

  it("cross-key rules and unknown keys are tolerated the same way", () =>
    withToml(
      "daemon_restart_delay = \"2m\"\ndaemon_restart_max_delay = \"1m\"\ndaemon_shutdown_gracee = \"1s\"\n",
      (home) => {
        const c = Effect.runSync(loadConfig(env(home), runOnly))
        expect(c.ignored.map((e) => e.problem)).toEqual([
          "unknown key (did you mean daemon_shutdown_grace?)",
          "must not be shorter than DAEMON_RESTART_DELAY (2m)"
        ])
        expect(Duration.toMillis(c.restartMaxDelay)).toBe(120_000)
        expect(runOnly(UNKNOWN_KEY)).toBe(true)
      }
    ))

  it("a bad notification channel is tolerated by all but `notify test` and `run`", () =>
    withToml("wemixvisor_notify_slack = \"ftp://x\"\n", (home) => {
      const c = Effect.runSync(loadConfig(env(home), runOnly))
      expect([c.notify, c.ignored.map((e) => e.variable)]).toEqual([[], ["WEMIXVISOR_NOTIFY_SLACK"]])
      const e = Effect.runSync(Effect.flip(loadConfig(env(home), runOnlyButNotify)))
      expect(e.variable).toBe("WEMIXVISOR_NOTIFY_SLACK")
    }))

  it("without tolerance nothing is ever ignored", () =>
    withToml("daemon_backup = true\n", (home) => {
      expect(Effect.runSync(loadConfig(env(home))).ignored).toEqual([])
    }))
})
