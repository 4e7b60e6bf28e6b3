/*
 * Hot reload with the built CLI and real processes (ARCHITECTURE §4
 * "Reload"): a change of config.toml and a SIGHUP change a live setting with
 * the node untouched (same pid, still running); a bad file is refused as a
 * whole and the running configuration kept; what needs a restart says so.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { cleanup, freePort, isAlive, tempDir, waitFor, writeScript } from "../support/fixtures.js"
import { type HttpReceiver, startHttpReceiver } from "../support/receivers.js"
import { cli, killAll, startRun, type Supervisor } from "./support.js"

let home = ""
let sup: Supervisor | undefined
const receivers: Array<HttpReceiver> = []
afterEach(async () => {
  killAll(sup, home)
  cleanup(home)
  for (const r of receivers.splice(0)) await r.close()
})

const nodePid = (root: string): number | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, "node.pid"), "utf8")).pid
  } catch {
    return undefined
  }
}

describe("configuration reload", () => {
  it("a file change and SIGHUP apply live settings with the node untouched; a bad file is refused", async () => {
    home = tempDir()
    const root = path.join(home, "wemixvisor")
    const env = { DAEMON_HOME: home, DAEMON_NAME: "gwemix", WEMIXVISOR_API_ADDR: `127.0.0.1:${await freePort()}` }
    const node = writeScript(path.join(home, "node"), `case "$1" in version) echo v1; exit 0;; esac\nexec sleep 1000\n`)
    expect(cli(["init", node], env).code).toBe(0)
    const toml = path.join(root, "config.toml")
    fs.writeFileSync(toml, "daemon_restart_delay = \"100ms\"\n")
    sup = startRun(env)
    const pid = await waitFor("node.pid", () => nodePid(root))
    await sup.waitLog("wemixvisor running")

    // A live setting and one that needs a restart.
    fs.writeFileSync(
      toml,
      `daemon_restart_delay = "100ms"\ndaemon_max_restarts = 0\ndaemon_rpc_url = "http://127.0.0.1:1"\n`
    )
    await sup.waitLog(
      "config-reloaded: now in effect: daemon_max_restarts; needs a restart of wemixvisor (kept): daemon_rpc_url"
    )
    expect([nodePid(root), isAlive(pid)]).toEqual([pid, true])

    // A bad file: refused as a whole, named; the supervisor and the node go on.
    fs.writeFileSync(toml, "daemon_max_restarts = 3\ndaemon_restart_dleay = \"1s\"\n")
    await sup.waitLog("config-invalid: invalid config.toml key daemon_restart_dleay: unknown key")
    expect([sup.proc.exitCode, nodePid(root), isAlive(pid)]).toEqual([null, pid, true])

    fs.writeFileSync(
      toml,
      `daemon_restart_delay = "100ms"\ndaemon_max_restarts = 0\ndaemon_rpc_url = "http://127.0.0.1:1"\n`
    )
    // Back to what runs: nothing new, so a file event says nothing; a SIGHUP always answers.
    sup.proc.kill("SIGHUP")
    await sup.waitLog("config-reloaded: nothing changed; needs a restart of wemixvisor (kept): daemon_rpc_url")
    expect(sup.logs()).toContain("\"trigger\":\"SIGHUP\"")
    expect([nodePid(root), isAlive(pid)]).toEqual([pid, true])

    // A notification channel added live: its lanes start, and the next reload's event reaches it.
    const hook = await startHttpReceiver()
    receivers.push(hook)
    fs.writeFileSync(
      toml,
      `daemon_restart_delay = "100ms"\ndaemon_max_restarts = 0\ndaemon_rpc_url = "http://127.0.0.1:1"\n` +
        `wemixvisor_notify_coalesce = "0s"\n[[notify]]\ntype = "webhook"\nurl = "${hook.url}"\nevents = ["config-reloaded"]\n`
    )
    await sup.waitLog("config-reloaded: now in effect: wemixvisor_notify, wemixvisor_notify_coalesce;")
    await sup.waitLog("notifications to webhook (")
    sup.proc.kill("SIGHUP")
    const [posted] = await hook.waitFor(1)
    expect(posted!.json).toMatchObject({ type: "config-reloaded", trigger: "SIGHUP", changed: [] })
    expect([nodePid(root), isAlive(pid)]).toEqual([pid, true])

    // The log level, live: the reload that raises it to `error` is told to the webhook, not written to the log.
    fs.writeFileSync(
      toml,
      `daemon_restart_delay = "100ms"\ndaemon_max_restarts = 0\ndaemon_rpc_url = "http://127.0.0.1:1"\n` +
        `wemixvisor_log_level = "error"\n` +
        `wemixvisor_notify_coalesce = "0s"\n[[notify]]\ntype = "webhook"\nurl = "${hook.url}"\nevents = ["config-reloaded"]\n`
    )
    const [, levelled] = await hook.waitFor(2)
    expect(levelled!.json).toMatchObject({ type: "config-reloaded", changed: ["wemixvisor_log_level"] })
    expect(sup.logs()).not.toContain("now in effect: wemixvisor_log_level")

    // The reloaded restart policy is the one in force: with 0 restarts allowed, a crash leaves the node in error.
    process.kill(pid, "SIGKILL")
    await sup.waitLog("DAEMON_MAX_RESTARTS=0")
    sup.proc.kill("SIGTERM")
    expect(await sup.exited).toBe(0)
  }, 60_000)
})
