/*
 * The light commands in process: `version`, `config`, `init`, usage errors,
 * and the log format. What an operator sees: stdout, the stderr line, the
 * exit code, the files `init` leaves.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { processStartTime } from "../../src/platform/Proc.js"
import { VERSION } from "../../src/version.js"
import { errorText, json, logsOf, makeHome, removeHomes, restoreEnv, runCli } from "./support.js"

afterEach(() => {
  restoreEnv()
  removeHomes()
})

describe("version and config", () => {
  it.live("version prints the name and the version, needing no configuration", () =>
    Effect.gen(function*() {
      const r = yield* runCli(["version"])
      expect(r).toEqual({ code: 0, stdout: `wemixvisor ${VERSION}\n`, stderr: "" })
    }))

  it.live("config prints every effective value as NAME=value; config --json as an object; the token is never shown", () =>
    Effect.gen(function*() {
      const h = makeHome({ DAEMON_POLL_INTERVAL: "2s", WEMIXVISOR_API_TOKEN: "s3cret" })
      const text = yield* runCli(["config"], h.env)
      expect(text.code).toBe(0)
      expect(text.stderr).toBe("")
      const lines = text.stdout.trimEnd().split("\n")
      expect(lines).toContain(`DAEMON_HOME=${h.home}`)
      expect(lines).toContain("DAEMON_NAME=gwemix")
      expect(lines).toContain("DAEMON_POLL_INTERVAL=2s")
      expect(lines).toContain("DAEMON_RPC_URL=http://127.0.0.1:8588")
      // Unset optional values print as empty.
      expect(lines).toContain("DAEMON_WS_URL=")
      expect(lines).toContain("WEMIXVISOR_API_TOKEN=(set)")
      expect(text.stdout).not.toContain("s3cret")
      for (const l of lines) expect(l).toMatch(/^[A-Z_]+=/)

      const j = yield* runCli(["config", "--json"], h.env)
      expect(j.code).toBe(0)
      expect(json(j)).toMatchObject({
        daemon_home: h.home,
        daemon_name: "gwemix",
        daemon_poll_interval: "2s",
        daemon_ws_url: null,
        daemon_allow_download_binaries: false,
        wemixvisor_api_token: "(set)",
        wemixvisor_log_format: "json"
      })
      expect(j.stdout).not.toContain("s3cret")
    }))

  it.live("root flags --home and --name go before the subcommand and win over the environment", () =>
    Effect.gen(function*() {
      const h = makeHome()
      const other = makeHome()
      const r = yield* runCli(["--home", other.home, "--name", "geth", "config", "--json"], h.env)
      expect(r.code).toBe(0)
      expect(json(r)).toMatchObject({ daemon_home: other.home, daemon_name: "geth" })
    }))

  it.live("a bad or missing configuration value: exit 2, the variable and the value on stderr, nothing on stdout", () =>
    Effect.gen(function*() {
      const h = makeHome()
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{ DAEMON_NAME: "gwemix" }, "invalid DAEMON_HOME=\"\": is required"],
        [
          { DAEMON_HOME: "relative/home", DAEMON_NAME: "gwemix" },
          "invalid DAEMON_HOME=\"relative/home\" (env): must be an absolute path"
        ],
        [{ ...h.env, DAEMON_POLL_INTERVAL: "5" }, "invalid DAEMON_POLL_INTERVAL=\"5\" (env): a duration needs a unit"],
        [{ ...h.env, DAEMON_RPC_URL: "ws://x" }, "invalid DAEMON_RPC_URL=\"ws://x\" (env)"]
      ]
      for (const [env, says] of cases) {
        const r = yield* runCli(["config"], env)
        expect(r.code, says).toBe(2)
        expect(r.stdout, says).toBe("")
        // One line: `error: ` and the problem, no stack.
        expect(r.stderr.startsWith(`error: ${says}`), r.stderr).toBe(true)
        expect(r.stderr.endsWith("\n") && r.stderr.indexOf("\n") === r.stderr.length - 1, r.stderr).toBe(true)
      }
    }))
})

describe("usage errors (@effect/cli ValidationError) → 2, printed once by @effect/cli", () => {
  it.live("an unknown subcommand, a missing argument, an unknown option", () =>
    Effect.gen(function*() {
      const h = makeHome()
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
        [["upgrade", "frobnicate"], /Invalid subcommand/],
        [["upgrade", "schedule", "v2"], /Missing argument <height>/],
        [["upgrade", "list", "--bogus"], /--bogus/],
        [["init"], /Missing argument <genesis-binary>/]
      ]
      for (const [args, says] of cases) {
        const r = yield* runCli(args, h.env)
        expect(r.code, args.join(" ")).toBe(2)
        expect(r.stdout, args.join(" ")).toBe("")
        expect(r.stderr, args.join(" ")).toMatch(says)
        // teardown does not print it a second time.
        expect(r.stderr, args.join(" ")).not.toMatch(/^error: /m)
      }
      expect(fs.existsSync(h.planFile)).toBe(false)
    }))

  it.live("--help and --completions print on stdout and exit 0", () =>
    Effect.gen(function*() {
      const help = yield* runCli(["upgrade", "schedule", "--help"])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain("--binary")
      expect(help.stdout).toContain("--checksums")
      const completions = yield* runCli(["--completions", "bash"])
      expect(completions.code).toBe(0)
      expect(completions.stdout).toContain("schedule")
    }))
})

describe("init", () => {
  it.live("creates the layout, copies the genesis binary (executable), points current at genesis", () =>
    Effect.gen(function*() {
      const h = makeHome()
      const genesis = h.binary("v1")
      const r = yield* runCli(["init", genesis], h.env)
      expect(r).toEqual({ code: 0, stdout: `✓ Initialized ${h.root} (current -> genesis)\n`, stderr: "" })
      const copied = path.join(h.root, "genesis", "bin", "gwemix")
      expect(fs.readFileSync(copied)).toEqual(fs.readFileSync(genesis))
      expect(fs.statSync(copied).mode & 0o111).not.toBe(0)
      expect(fs.readlinkSync(path.join(h.root, "current"))).toMatch(/genesis$/)
      expect(fs.existsSync(path.join(h.root, "upgrades"))).toBe(true)
    }))

  it.live("an existing home: refused with 2 (nothing changed); --force re-creates it and never moves current", () =>
    Effect.gen(function*() {
      const h = makeHome()
      expect((yield* runCli(["init", h.binary("v1")], h.env)).code).toBe(0)
      const copied = path.join(h.root, "genesis", "bin", "gwemix")
      const before = fs.readFileSync(copied)

      const again = yield* runCli(["init", h.binary("v1b")], h.env)
      expect(again.code).toBe(2)
      expect(again.stdout).toBe("")
      expect(again.stderr).toBe(
        `error: ${h.root} already exists; use --force to re-create it (a working current is never moved)\n`
      )
      expect(fs.readFileSync(copied)).toEqual(before)

      // Point current elsewhere: --force must leave it there.
      fs.mkdirSync(path.join(h.root, "upgrades", "v2", "bin"), { recursive: true })
      fs.copyFileSync(h.binary("v2"), path.join(h.root, "upgrades", "v2", "bin", "gwemix"))
      fs.rmSync(path.join(h.root, "current"))
      fs.symlinkSync("upgrades/v2", path.join(h.root, "current"))
      const forced = yield* runCli(["init", "--force", h.binary("v1b")], h.env)
      expect(forced).toEqual({ code: 0, stdout: `✓ Initialized ${h.root} (current -> v2)\n`, stderr: "" })
      expect(fs.readFileSync(copied, "utf8")).toContain("gwemix v1b")
      expect(fs.readlinkSync(path.join(h.root, "current"))).toBe("upgrades/v2")
    }))

  it.live("a broken current (dangling, or naming no target): --force points it at genesis and says so; a working one stays (issue #12 item 10)", () =>
    Effect.gen(function*() {
      const h = makeHome()
      expect((yield* runCli(["init", h.binary("v1")], h.env)).code).toBe(0)
      const current = path.join(h.root, "current")
      for (const text of ["upgrades/v9", "somewhere/else"]) {
        fs.rmSync(current)
        fs.symlinkSync(text, current)
        const r = yield* runCli(["init", "--force", h.binary("v1")], h.env)
        expect(r.code, text).toBe(0)
        expect(r.stdout).toBe(`✓ Initialized ${h.root} (current -> genesis)\n`)
        expect(logsOf(r).map((l) => l.message)).toEqual([
          `current pointed at ${text}, which has no usable binary; it points at genesis now`
        ])
        expect(fs.readlinkSync(current)).toBe("genesis")
      }
    }))

  it.live("init --force while a run holds the home: 2, the genesis binary under its node untouched (issue #12 item 11)", () =>
    Effect.gen(function*() {
      const h = makeHome()
      expect((yield* runCli(["init", h.binary("v1")], h.env)).code).toBe(0)
      const copied = path.join(h.root, "genesis", "bin", "gwemix")
      const before = fs.readFileSync(copied)
      // This test process holds run.lock, as a running `run` would.
      fs.writeFileSync(
        path.join(h.root, "run.lock"),
        JSON.stringify({ pid: process.pid, start_time: processStartTime(process.pid), time: new Date().toISOString() })
      )
      const r = yield* runCli(["init", "--force", h.binary("v1b")], h.env)
      expect(r.code).toBe(2)
      expect(r.stdout).toBe("")
      expect(errorText(r)).toBe(
        `error: another wemixvisor (pid ${process.pid}) is already running on this home (${
          path.join(h.root, "run.lock")
        })\n`
      )
      expect(fs.readFileSync(copied)).toEqual(before)
    }))

  it.live("a genesis binary that does not exist or is not executable: 2, no home created", () =>
    Effect.gen(function*() {
      const h = makeHome()
      const missing = path.join(h.home, "nope")
      const r = yield* runCli(["init", missing], h.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toBe(`error: binary ${missing}: does not exist\n`)
      const plain = path.join(h.home, "plain")
      fs.writeFileSync(plain, "not a program")
      const r2 = yield* runCli(["init", plain], h.env)
      expect(r2.code).toBe(2)
      expect(r2.stderr).toMatch(/is not executable/)
      expect(fs.existsSync(path.join(h.root, "current"))).toBe(false)
    }))
})
