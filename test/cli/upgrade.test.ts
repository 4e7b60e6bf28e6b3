/*
 * `upgrade schedule | list | cancel` in process, writing the plan file
 * directly (no supervisor). Every refusal: its exit code, its stderr line,
 * nothing on stdout, the plan file byte for byte unchanged and no upgrade
 * folder left. The head check talks to a real anvil.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { blockNumber, freePort } from "../support/fixtures.js"
import {
  type CliResult,
  type Home,
  initHome,
  json,
  makeHome,
  planRow,
  removeHomes,
  runCli,
  useAnvil,
  writePlan
} from "./support.js"

const node = useAnvil()

afterAll(removeHomes)

const home = (env: Record<string, string> = {}) => initHome({ DAEMON_RPC_URL: node.url(), ...env })

const sha256 = (file: string) => `sha256:${crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")}`

/** A refusal as the operator sees it: the code, one `error:` line, no output, nothing written. */
const expectRefused = (
  h: Home,
  r: CliResult,
  code: 1 | 2,
  says: string | RegExp,
  planBefore: string | undefined,
  what: string
) => {
  expect(r.code, what).toBe(code)
  expect(r.stdout, what).toBe("")
  expect(r.stderr, what).toMatch(/^error: [^\n]*\n$/)
  if (typeof says === "string") expect(r.stderr, what).toContain(says)
  else expect(r.stderr, what).toMatch(says)
  expect(h.planText(), what).toBe(planBefore)
}

describe("upgrade schedule", () => {
  it.live("schedules above the head; --binary copies the binary in; --info is kept; list and cancel follow", () =>
    Effect.gen(function*() {
      const h = yield* home()
      const v2 = h.binary("v2")
      const r = yield* runCli(
        ["upgrade", "schedule", "v2.0.0", "1500000", "--binary", v2, "--info", "Mont Blanc"],
        h.env
      )
      expect(r).toEqual({ code: 0, stdout: "✓ Upgrade 'v2.0.0' scheduled for block height 1500000\n", stderr: "" })
      expect(h.plan().upgrades).toMatchObject([
        {
          name: "v2.0.0",
          height: 1500000,
          status: "scheduled",
          info: "Mont Blanc",
          binaries: {},
          checksums: {},
          reason: null
        }
      ])
      const placed = path.join(h.root, "upgrades", "v2.0.0", "bin", "gwemix")
      expect(fs.readFileSync(placed)).toEqual(fs.readFileSync(v2))
      expect(fs.statSync(placed).mode & 0o111).not.toBe(0)

      const cancelled = yield* runCli(["upgrade", "cancel", "v2.0.0"], h.env)
      expect(cancelled).toEqual({
        code: 0,
        stdout: "✓ Upgrade cancelled ('v2.0.0' at block height 1500000)\n",
        stderr: ""
      })
      expect(h.plan().upgrades).toMatchObject([{ name: "v2.0.0", status: "cancelled" }])
      // A cancelled name may be scheduled again (no --binary: the one in place is used).
      expect((yield* runCli(["upgrade", "schedule", "v2.0.0", "1600000"], h.env)).code).toBe(0)
      expect(h.plan().upgrades).toMatchObject([{ name: "v2.0.0", height: 1600000, status: "scheduled", info: "" }])
    }))

  it.live("bad name, bad height, a taken name, at or below the head → 2, the plan unchanged", () =>
    Effect.gen(function*() {
      const h = yield* home()
      expect((yield* runCli(["upgrade", "schedule", "v1", "100000000"], h.env)).code).toBe(0)
      const before = h.planText()
      const head = (yield* Effect.promise(() => blockNumber(node.port())))!
      const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>, string | RegExp]> = [
        ["path in the name", ["../v2", "100000000"], "invalid name"],
        ["name too long", ["v".repeat(65), "100000000"], "invalid name"],
        ["height with letters", ["v2", "12a"], "invalid height"],
        ["negative height", ["v2", "-1"], "invalid height"],
        ["fractional height", ["v2", "1.5"], "invalid height"],
        ["taken name", ["v1", "200000000"], "upgrade 'v1': already exists with status 'scheduled'"],
        ["at the head", ["v2", String(head)], /height \d+ is at or below the chain head \d+.*--force/],
        ["below the head", ["v2", "1"], /at or below the chain head/],
        ["--binary that does not exist", ["v2", "200000000", "--binary", path.join(h.home, "nope")], "does not exist"]
      ]
      for (const [what, args, says] of cases) {
        expectRefused(h, yield* runCli(["upgrade", "schedule", ...args], h.env), 2, says, before, what)
      }
      expect(h.upgradeDirs()).toEqual([])

      // --force schedules at or below the head.
      const forced = yield* runCli(["upgrade", "schedule", "v0", "1", "--force"], h.env)
      expect(forced).toEqual({ code: 0, stdout: "✓ Upgrade 'v0' scheduled for block height 1\n", stderr: "" })
      expect(h.plan().upgrades.map((u) => u.name)).toEqual(["v1", "v0"])
    }))

  it.live("--on-failure rollback|halt is stored with the upgrade and said; anything else → 2 naming --on-failure, nothing written", () =>
    Effect.gen(function*() {
      const h = yield* home()
      const r = yield* runCli(["upgrade", "schedule", "v2", "100000000", "--on-failure", "halt"], h.env)
      expect(r).toEqual({
        code: 0,
        stdout: "✓ Upgrade 'v2' scheduled for block height 100000000 (on failure: halt)\n",
        stderr: ""
      })
      expect(h.plan().upgrades).toMatchObject([{ name: "v2", on_failure: "halt" }])
      const before = h.planText()
      for (const bad of ["pray", "HALT", ""]) {
        expectRefused(
          h,
          yield* runCli(["upgrade", "schedule", "v3", "200000000", "--on-failure", bad], h.env),
          2,
          "invalid --on-failure: expected rollback or halt",
          before,
          `--on-failure ${JSON.stringify(bad)}`
        )
      }
      expect((yield* runCli(["upgrade", "schedule", "v3", "200000000"], h.env)).code).toBe(0)
      expect(h.plan().upgrades[1]).not.toHaveProperty("on_failure")
    }))

  it.live("the node unreachable: 1, saying the head could not be checked (and --force), the plan unchanged; --force schedules it", () =>
    Effect.gen(function*() {
      const down = { DAEMON_RPC_URL: `http://127.0.0.1:${yield* Effect.promise(freePort)}` }
      const h = yield* home(down)
      const r = yield* runCli(["upgrade", "schedule", "v2", "200000"], h.env)
      expectRefused(
        h,
        r,
        1,
        /^error: cannot check the height against the chain head: node RPC http:\/\/127\.0\.0\.1:\d+ unreachable: .*\(use --force to schedule it anyway\)\n$/,
        undefined,
        "down"
      )
      expect((yield* runCli(["upgrade", "schedule", "v2", "200000", "--force"], h.env)).code).toBe(0)
      expect(h.plan().upgrades).toMatchObject([{ name: "v2", height: 200000, status: "scheduled" }])
    }))

  it.live("binary URLs: refused (2) while DAEMON_ALLOW_DOWNLOAD_BINARIES is not true; accepted in each form once it is", () =>
    Effect.gen(function*() {
      const h = yield* home()
      const v2 = h.binary("v2")
      const url = pathToFileURL(v2).href
      const sum = sha256(v2)
      const map = JSON.stringify({ "linux/amd64": url, "linux/arm64": "https://example.invalid/arm64" })
      const sums = JSON.stringify({ "linux/amd64": sum, "linux/arm64": sum })
      for (
        const flags of [["--binaries", url, "--checksum", sum], ["--url", url, "--checksum", sum], [
          "--binaries",
          map,
          "--checksums",
          sums
        ]]
      ) {
        const r = yield* runCli(["upgrade", "schedule", "v2", "100000000", ...flags], h.env)
        expectRefused(h, r, 2, "DAEMON_ALLOW_DOWNLOAD_BINARIES=true", undefined, flags.join(" "))
      }
      expect(h.upgradeDirs()).toEqual([])

      const allowed = { ...h.env, DAEMON_ALLOW_DOWNLOAD_BINARIES: "true" }
      expect(
        (yield* runCli(["upgrade", "schedule", "a", "100000001", "--binaries", url, "--checksum", sum], allowed)).code
      ).toBe(0)
      expect((yield* runCli(["upgrade", "schedule", "b", "100000002", "--url", url, "--checksum", sum], allowed)).code)
        .toBe(0)
      expect(
        (yield* runCli(["upgrade", "schedule", "c", "100000003", "--binaries", map, "--checksums", sums], allowed)).code
      ).toBe(0)
      expect(h.plan().upgrades).toMatchObject([
        { name: "a", binaries: { any: url }, checksums: { any: sum } },
        { name: "b", binaries: { any: url }, checksums: { any: sum } },
        {
          name: "c",
          binaries: { "linux/amd64": url, "linux/arm64": "https://example.invalid/arm64" },
          checksums: { "linux/amd64": sum }
        }
      ])
      // Scheduling downloads nothing: the binaries are fetched ahead of the height (or by `upgrade prepare`).
      expect(h.upgradeDirs()).toEqual([])
    }))

  it.live("malformed binary flags → 2, the plan unchanged", () =>
    Effect.gen(function*() {
      const h = yield* home({ DAEMON_ALLOW_DOWNLOAD_BINARIES: "true" })
      const url = "https://example.org/gwemix"
      const sum = `sha256:${"a".repeat(64)}`
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["--binaries", url, "--url", "https://example.org/other"], "give --binaries or --url, not both"],
        [["--checksum", sum], "a checksum needs a binary URL (--binaries)"],
        [["--checksums", JSON.stringify({ any: sum })], "invalid checksums: a checksum needs a binary URL"],
        [["--binaries", JSON.stringify({ any: url }), "--checksum", sum], "a single --checksum goes with a single URL"],
        [["--binaries", url, "--checksums", JSON.stringify({ any: sum })], "--checksums goes with a JSON map of URLs"],
        [["--binaries", url, "--checksum", "md5:1234"], "invalid checksum"],
        [["--binaries", "ftp://example.org/gwemix", "--checksum", sum], "ftp: URLs are not supported"],
        [["--binaries", url], "DAEMON_UNSAFE_SKIP_CHECKSUM=true"],
        [
          ["--binaries", JSON.stringify({ "linux/arm64": url }), "--checksums", JSON.stringify({ "linux/arm64": sum })],
          "no binary for linux/amd64"
        ],
        [["--binaries", "{not json"], "invalid binaries"]
      ]
      for (const [flags, says] of cases) {
        const r = yield* runCli(["upgrade", "schedule", "v2", "100000000", ...flags], h.env)
        expectRefused(h, r, 2, says, undefined, flags.join(" "))
      }
      expect(h.upgradeDirs()).toEqual([])
    }))

  it.live("--binary with --remote → 2: a remote wemixvisor cannot read a local file; nothing sent, nothing written", () =>
    Effect.gen(function*() {
      const h = yield* home()
      const api = `http://127.0.0.1:${yield* Effect.promise(freePort)}`
      const r = yield* runCli(
        ["upgrade", "schedule", "v2", "100000000", "--remote", api, "--binary", h.binary("v2")],
        h.env
      )
      expectRefused(
        h,
        r,
        2,
        "invalid --binary: copies a local file, which a remote wemixvisor cannot read; put it at upgrades/v2/bin/gwemix",
        undefined,
        "remote binary"
      )
      expect(h.upgradeDirs()).toEqual([])
    }))
})

describe("upgrade list", () => {
  it.live("an empty plan: 'No upgrades scheduled' and {upgrades: [], count: 0}; nothing written", () =>
    Effect.gen(function*() {
      const h = yield* home()
      expect(yield* runCli(["upgrade", "list"], h.env)).toEqual({
        code: 0,
        stdout: "No upgrades scheduled\n",
        stderr: ""
      })
      const j = yield* runCli(["upgrade", "list", "--json"], h.env)
      expect(j.code).toBe(0)
      expect(json(j)).toEqual({ upgrades: [], count: 0 })
      expect(h.planText()).toBeUndefined()
    }))

  it.live("every status, lowest height first; INFO shows the reason when there is one; ETA unknown without a supervisor; --json is the plan's rows", () =>
    Effect.gen(function*() {
      const h = yield* home()
      const rows = [
        planRow("v5", 500, "scheduled", { info: "Mont Blanc" }),
        planRow("v1", 100, "done"),
        planRow("v3", 300, "failed", { reason: "verify: node exited with code 1" }),
        planRow("v4", 400, "ready"),
        planRow("v2", 200, "cancelled", { info: "superseded" }),
        planRow("v6", 600, "preparing"),
        planRow("v7", 700, "upgrading"),
        planRow("v8", 800, "scheduled", { reason: "checksum mismatch for http://x", binaries: { any: "http://x" } })
      ]
      writePlan(h, rows)
      const before = h.planText()
      const text = yield* runCli(["upgrade", "list"], h.env)
      expect(text.code).toBe(0)
      expect(text.stdout).toBe(
        [
          "NAME  HEIGHT  STATUS     ETA      INFO",
          "v1    100     done       -",
          "v2    200     cancelled  -        superseded",
          "v3    300     failed     -        verify: node exited with code 1",
          "v4    400     ready      unknown",
          "v5    500     scheduled  unknown  Mont Blanc",
          "v6    600     preparing  unknown",
          "v7    700     upgrading  unknown",
          "v8    800     scheduled  unknown  checksum mismatch for http://x",
          ""
        ].join("\n")
      )
      const j = yield* runCli(["upgrade", "list", "--json"], h.env)
      expect(j.code).toBe(0)
      const byHeight = rows.slice().sort((a, b) => a.height - b.height)
      // No supervisor running: no ETA (only a running one measures the block interval).
      expect(json(j)).toEqual({ upgrades: byHeight.map((u) => ({ ...u, eta: null, eta_seconds: null })), count: 8 })
      expect(h.planText()).toBe(before)
    }))

  it.live("ON FAILURE: a column only when some upgrade has its own policy; --json has on_failure only where set; status says it", () =>
    Effect.gen(function*() {
      const h = yield* home()
      const rows = [planRow("v1", 100, "scheduled"), planRow("v2", 200, "scheduled", { on_failure: "halt" })]
      writePlan(h, rows)
      const text = yield* runCli(["upgrade", "list"], h.env)
      expect(text.stdout).toBe(
        [
          "NAME  HEIGHT  STATUS     ETA      ON FAILURE  INFO",
          "v1    100     scheduled  unknown  -",
          "v2    200     scheduled  unknown  halt",
          ""
        ].join("\n")
      )
      const j = yield* runCli(["upgrade", "list", "--json"], h.env)
      expect(json(j)).toEqual({ upgrades: rows.map((u) => ({ ...u, eta: null, eta_seconds: null })), count: 2 })
      const status = yield* runCli(["upgrade", "status"], h.env)
      expect(status.stdout).toMatch(/v2 at block height 200 \(scheduled\)[^\n]*, on failure: halt\n/)
      expect(status.stdout).not.toMatch(/v1 at block height 100[^\n]*on failure/)
      const sj = json(yield* runCli(["upgrade", "status", "--json"], h.env)) as {
        pending: Array<Record<string, unknown>>
      }
      expect(sj.pending.map((u) => u["on_failure"])).toEqual([undefined, "halt"])
    }))

  it.live("a corrupt plan: 1, naming the file; never overwritten", () =>
    Effect.gen(function*() {
      const h = yield* home()
      fs.writeFileSync(h.planFile, "{ not json")
      for (const args of [["list"], ["list", "--json"], ["cancel", "v2"], ["schedule", "v2", "100000000"]]) {
        const r = yield* runCli(["upgrade", ...args], h.env)
        expect(r.code, args.join(" ")).toBe(1)
        expect(r.stdout).toBe("")
        expect(r.stderr).toContain(h.planFile)
      }
      expect(h.planText()).toBe("{ not json")
    }))
})

describe("upgrade cancel", () => {
  it.live("by name; without a name the only pending one; refusals (unknown, in progress, over, bad name, none, several) → 2, unchanged", () =>
    Effect.gen(function*() {
      const h = yield* home()
      writePlan(h, [planRow("v1", 100, "upgrading"), planRow("v0", 50, "done"), planRow("v2", 200, "ready")])
      const before = h.planText()
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["nope"], "no upgrade named 'nope'"],
        [["v1"], "in progress"],
        [["v0"], "already done"],
        [["../x"], "invalid name"]
      ]
      for (const [args, says] of cases) {
        expectRefused(h, yield* runCli(["upgrade", "cancel", ...args], h.env), 2, says, before, args.join(" "))
      }

      // Two pending (v1 upgrading, v2 ready): a name is needed.
      expectRefused(h, yield* runCli(["upgrade", "cancel"], h.env), 2, "name the one to cancel", before, "several")
      // In plain words (issue #12 item 16): the pending ones listed, not "upgrade 'v1, v2'".
      expect((yield* runCli(["upgrade", "cancel"], h.env)).stderr).toBe(
        "error: 2 upgrades are pending (v1 at 100, v2 at 200); name the one to cancel\n"
      )
      // A name that ran or runs cannot be freed by cancel: it is not suggested.
      for (
        const [n, says] of [["v0", "already ran (done); an upgrade name is used once: choose another name"], [
          "v1",
          "is in progress; choose another name"
        ]]
      ) {
        const r = yield* runCli(["upgrade", "schedule", n!, "9999999", "--force"], h.env)
        expectRefused(h, r, 2, `upgrade '${n}': ${says}`, before, `schedule ${n}`)
        expect(r.stderr).not.toContain("cancel it first")
      }
      expect(yield* runCli(["upgrade", "cancel", "v2"], h.env)).toEqual({
        code: 0,
        stdout: "✓ Upgrade cancelled ('v2' at block height 200)\n",
        stderr: ""
      })
      expect(h.plan().upgrades).toMatchObject([{ name: "v1", status: "upgrading" }, { name: "v0", status: "done" }, {
        name: "v2",
        status: "cancelled"
      }])

      writePlan(h, [planRow("v0", 50, "done"), planRow("v3", 300, "cancelled")])
      const none = h.planText()
      expectRefused(
        h,
        yield* runCli(["upgrade", "cancel"], h.env),
        2,
        "no upgrade is pending; there is nothing to cancel",
        none,
        "none"
      )
      expect((yield* runCli(["upgrade", "cancel"], h.env)).stderr).toBe(
        "error: no upgrade is pending; there is nothing to cancel\n"
      )

      writePlan(h, [planRow("v0", 50, "done"), planRow("v4", 400, "scheduled")])
      expect((yield* runCli(["upgrade", "cancel"], h.env)).stdout).toBe(
        "✓ Upgrade cancelled ('v4' at block height 400)\n"
      )
      expect(h.plan().upgrades).toMatchObject([{ name: "v0", status: "done" }, { name: "v4", status: "cancelled" }])
    }))
})

describe("an uninitialised home (issue #12 item 9)", () => {
  it.live("every local upgrade command exits 2 saying to run init, and writes nothing there", () =>
    Effect.gen(function*() {
      const h = makeHome()
      for (
        const args of [
          ["schedule", "v2", "100", "--force"],
          ["list"],
          ["list", "--json"],
          ["cancel", "v2"],
          ["cancel"],
          ["prepare", "v2"],
          ["status"]
        ]
      ) {
        const r = yield* runCli(["upgrade", ...args], h.env)
        expect(r.code, args.join(" ")).toBe(2)
        expect(r.stdout, args.join(" ")).toBe("")
        expect(r.stderr, args.join(" ")).toBe(
          `error: invalid DAEMON_HOME: ${h.root} has no current binary; run 'wemixvisor init <genesis-binary>' first\n`
        )
      }
      expect(fs.existsSync(h.root)).toBe(false)
    }))
})
