/*
 * `wemixvisor run` in process: the supervisor started by the CLI with a tiny
 * fake node (a shell script that records its arguments and sleeps), asked
 * about itself by the other commands while it runs, then interrupted as
 * SIGTERM would (Fiber.interrupt): a clean exit 0, the node stopped, the
 * locks and the pid file gone.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { freePort, isAlive, waitFor, writeScript } from "../support/fixtures.js"
import {
  errorText,
  type Home,
  json,
  logsOf,
  makeHome,
  removeHomes,
  restoreEnv,
  runCli,
  startCli,
  type Started
} from "./support.js"

const running: Array<Started> = []
afterEach(async () => {
  // A test that failed half-way must not leave its supervisor (and its node) running.
  for (const s of running.splice(0)) await Effect.runPromise(Fiber.interrupt(s.fiber))
  restoreEnv()
  removeHomes()
})

/** A node that writes its pid and arguments to `<home>/node.args`, then sleeps until signalled. */
const fakeNodeRecordingArgs = (h: Home) =>
  writeScript(
    path.join(h.home, "bins", "gwemix-v1"),
    `case "$1" in version) echo "gwemix v1"; exit 0 ;; esac\necho "$$ $*" > "${h.home}/node.args"\nexec sleep 1000\n`
  )

const nodePidOf = (h: Home): number | undefined => {
  try {
    return (JSON.parse(fs.readFileSync(path.join(h.root, "node.pid"), "utf8")) as { pid: number }).pid
  } catch {
    return undefined
  }
}

describe("run", () => {
  it.live("starts the node with the arguments after --, answers status and prepare while running, stops cleanly when interrupted", () =>
    Effect.gen(function*() {
      const apiPort = yield* Effect.promise(freePort)
      const h = makeHome({
        DAEMON_RPC_URL: `http://127.0.0.1:${yield* Effect.promise(freePort)}`,
        DAEMON_POLL_INTERVAL: "100ms",
        DAEMON_SHUTDOWN_GRACE: "2s",
        WEMIXVISOR_API_ADDR: `127.0.0.1:${apiPort}`
      })
      expect((yield* runCli(["init", fakeNodeRecordingArgs(h)], h.env)).code).toBe(0)

      const run = yield* startCli(["run", "--", "--datadir", "/data", "--syncmode", "full"], h.env)
      running.push(run)
      const pid = yield* Effect.promise(() =>
        waitFor("the node to start", () => fs.existsSync(path.join(h.home, "node.args")) && nodePidOf(h), 15_000)
      )
      expect(isAlive(pid)).toBe(true)
      expect(fs.readFileSync(path.join(h.home, "node.args"), "utf8")).toBe(`${pid} --datadir /data --syncmode full\n`)
      expect(fs.existsSync(path.join(h.root, "run.lock"))).toBe(true)
      // Listening (unhealthy, 503, while the node's RPC does not answer: answering is what counts here).
      yield* Effect.promise(() =>
        waitFor("the API", () => fetch(`http://127.0.0.1:${apiPort}/health`).then(() => true, () => false), 10_000)
      )

      // Another command on this home sees the supervisor and asks it (over its API).
      const status = yield* runCli(["upgrade", "status", "--json"], h.env)
      expect(status.code).toBe(0)
      expect(json(status)).toMatchObject({
        supervisor: "running",
        node_state: "running",
        node_pid: pid,
        current: "genesis",
        current_height: null
      })

      // A second supervisor on the same home is refused (2), and the first one is untouched.
      const second = yield* runCli(["run"], h.env)
      expect(second.code).toBe(2)
      expect(errorText(second)).toBe(
        `error: another wemixvisor (pid ${process.pid}) is already running on this home (${
          path.join(h.root, "run.lock")
        })\n`
      )
      expect(isAlive(pid)).toBe(true)
      expect(fs.existsSync(path.join(h.root, "run.lock"))).toBe(true)

      // `upgrade prepare --remote` is done by the running supervisor's orchestrator.
      expect(
        (yield* runCli(["upgrade", "schedule", "v2", "1000000", "--force", "--binary", h.binary("v2")], h.env)).code
      ).toBe(0)
      const prepared = yield* runCli(["upgrade", "prepare", "v2", "--remote", `http://127.0.0.1:${apiPort}`], h.env)
      expect(prepared).toMatchObject({ code: 0, stdout: "✓ Upgrade 'v2' ready for block height 1000000\n" })
      expect(h.plan().upgrades).toMatchObject([{ name: "v2", status: "ready", reason: null }])

      // SIGTERM/SIGINT: runMain interrupts the program.
      yield* Fiber.interrupt(run.fiber)
      running.splice(0)
      const r = yield* run.result
      expect(r.code).toBe(0)
      expect(r.stdout).toBe("")
      expect(errorText(r)).toBe("")
      expect(logsOf(r).map((l) => l.message)).toContain("wemixvisor running")
      expect(logsOf(r).filter((l) => l.logLevel === "ERROR" || l.logLevel === "FATAL")).toEqual([])
      expect(isAlive(pid)).toBe(false)
      expect(fs.existsSync(path.join(h.root, "run.lock"))).toBe(false)
      expect(fs.existsSync(path.join(h.root, "node.pid"))).toBe(false)
      expect(
        yield* Effect.promise(() => fetch(`http://127.0.0.1:${apiPort}/health`).then(() => "answered", () => "closed"))
      ).toBe("closed")
    }))

  it.live("a home without a current binary: 2, saying to run init; nothing started, no lock left", () =>
    Effect.gen(function*() {
      const h = makeHome({ WEMIXVISOR_API_ADDR: `127.0.0.1:${yield* Effect.promise(freePort)}` })
      const r = yield* runCli(["run"], h.env)
      expect(r.code).toBe(2)
      expect(r.stdout).toBe("")
      expect(errorText(r)).toBe(
        `error: invalid DAEMON_HOME: ${h.root} has no current binary; run 'wemixvisor init <genesis-binary>' first\n`
      )
      expect(fs.existsSync(path.join(h.root, "run.lock"))).toBe(false)
    }))

  it.live("an API exposed beyond loopback without a token: refused before anything starts (2)", () =>
    Effect.gen(function*() {
      const h = makeHome({ WEMIXVISOR_API_ADDR: `0.0.0.0:${yield* Effect.promise(freePort)}` })
      expect((yield* runCli(["init", h.binary("v1")], h.env)).code).toBe(0)
      const r = yield* runCli(["run"], h.env)
      expect(r.code).toBe(2)
      expect(errorText(r)).toMatch(
        /^error: invalid WEMIXVISOR_API_ADDR="0\.0\.0\.0:\d+": is not a loopback address, so WEMIXVISOR_API_TOKEN must be set/
      )
      expect(fs.existsSync(path.join(h.root, "run.lock"))).toBe(false)
      expect(fs.existsSync(path.join(h.root, "node.pid"))).toBe(false)
    }))

  it.live("what could only fail at the height is refused at start (2): a missing pre-upgrade hook, verify min-up ≥ timeout; config says the same", () =>
    Effect.gen(function*() {
      const h = makeHome({ WEMIXVISOR_API_ADDR: `127.0.0.1:${yield* Effect.promise(freePort)}` })
      expect((yield* runCli(["init", h.binary("v1")], h.env)).code).toBe(0)
      for (
        const [env, says] of [
          [
            { DAEMON_PRE_UPGRADE: "/nonexistent/migrate.sh" },
            `error: invalid DAEMON_PRE_UPGRADE="/nonexistent/migrate.sh": does not exist; the upgrade would fail at its height\n`
          ],
          [
            { DAEMON_VERIFY_MIN_UP: "10s", DAEMON_VERIFY_TIMEOUT: "3s" },
            /^error: invalid DAEMON_VERIFY_MIN_UP="10s": must be shorter than DAEMON_VERIFY_TIMEOUT \(3s\)/
          ]
        ] as const
      ) {
        for (const cmd of [["run"], ["config"]]) {
          const r = yield* runCli(cmd, { ...h.env, ...env })
          expect(r.code, cmd[0]).toBe(2)
          expect(r.stdout, cmd[0]).toBe("")
          if (typeof says === "string") expect(errorText(r)).toBe(says)
          else expect(errorText(r)).toMatch(says)
        }
      }
      expect(fs.existsSync(path.join(h.root, "run.lock"))).toBe(false)
      expect(fs.existsSync(path.join(h.root, "node.pid"))).toBe(false)
    }))
})
