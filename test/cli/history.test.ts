/*
 * `upgrade history` (issue #13 item 4), in process and without a supervisor:
 * the CLI's own schedule, prepare and cancel lines with door `cli`, the
 * table and --json, --name and --limit, the trail read across rotated
 * files oldest first, and each bad argument refused with exit 2.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeHistory } from "../../src/upgrades/HistoryLive.js"
import { initHome, json, makeHome, removeHomes, runCli, useAnvil } from "./support.js"

const node = useAnvil()

afterAll(removeHomes)

interface Row {
  readonly name: string
  readonly step: string
  readonly result: string
  readonly door?: string
  readonly detail?: string
}

describe("upgrade history", () => {
  it.live("the CLI's schedule and cancel, as a table and as JSON; --name; --limit", () =>
    Effect.gen(function*() {
      const h = yield* initHome({ DAEMON_RPC_URL: node.url() })
      expect((yield* runCli(["upgrade", "history"], h.env)).stdout).toBe("No upgrade history yet\n")
      expect((yield* runCli(["upgrade", "history", "--json"], h.env)).stdout).toBe("[]\n")

      expect((yield* runCli(["upgrade", "schedule", "v2", "1500000", "--binary", h.binary("v2")], h.env)).code).toBe(0)
      expect((yield* runCli(["upgrade", "schedule", "v3", "1600000", "--force"], h.env)).code).toBe(0)
      expect((yield* runCli(["upgrade", "cancel", "v3"], h.env)).code).toBe(0)

      const all = json(yield* runCli(["upgrade", "history", "--json"], h.env)) as ReadonlyArray<Row>
      expect(all.map((r) => [r.name, r.step, r.result, r.door])).toEqual([
        ["v2", "schedule", "ok", "cli"],
        ["v3", "schedule", "ok", "cli"],
        ["v3", "cancel", "ok", "cli"]
      ])
      expect(all[0]!.detail).toMatch(/^height 1500000 \(head \d+\); binary copied from .*v2/)
      expect(all[1]!.detail).toBe("height 1600000 (forced)")

      const text = yield* runCli(["upgrade", "history"], h.env)
      expect(text.code).toBe(0)
      const lines = text.stdout.trimEnd().split("\n")
      expect(lines[0]).toMatch(/^TIME \(UTC\)\s+NAME\s+STEP\s+RESULT\s+DOOR\s+DETAIL$/)
      expect(lines.slice(1).map((l) => l.split(/\s{2,}/).slice(1, 5))).toEqual([
        ["v2", "schedule", "ok", "cli"],
        ["v3", "schedule", "ok", "cli"],
        ["v3", "cancel", "ok", "cli"]
      ])
      expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ /)

      const v3 = json(yield* runCli(["upgrade", "history", "--json", "--name", "v3"], h.env)) as ReadonlyArray<Row>
      expect(v3.map((r) => r.step)).toEqual(["schedule", "cancel"])
      expect((yield* runCli(["upgrade", "history", "--name", "v9"], h.env)).stdout).toBe(
        "No upgrade history for 'v9'\n"
      )

      const last = yield* runCli(["upgrade", "history", "--limit", "1"], h.env)
      expect(last.stdout.split("\n")[0]).toBe("(2 earlier entries not shown; use --limit to see more)")
      expect(last.stdout).toContain("cancel")
      expect(last.stdout).not.toContain("schedule")
      const lastJson = json(yield* runCli(["upgrade", "history", "--json", "--limit", "2"], h.env)) as ReadonlyArray<
        Row
      >
      expect(lastJson.map((r) => [r.name, r.step])).toEqual([["v3", "schedule"], ["v3", "cancel"]])
    }))

  it.live("reads across rotated files, oldest first, and rotates on the CLI's own appends", () =>
    Effect.gen(function*() {
      const h = yield* initHome({
        DAEMON_RPC_URL: node.url(),
        WEMIXVISOR_HISTORY_MAX_SIZE: "1KiB",
        WEMIXVISOR_HISTORY_KEEP: "3"
      })
      const history = makeHistory(path.join(h.root, "upgrade-history.jsonl"), { maxSize: 1024, keep: 3 })
      // ~130-byte lines, 1 KiB per file, 3 rotated files kept: 40 lines are more than the trail keeps.
      for (let i = 0; i < 40; i++) {
        yield* history.append({ name: `u${i}`, step: "schedule", result: "ok", detail: "x".repeat(40), door: "rest" })
      }
      expect((yield* runCli(["upgrade", "schedule", "v2", "1500000", "--force"], h.env)).code).toBe(0)
      const files = fs.readdirSync(h.root).filter((f) => f.startsWith("upgrade-history")).sort()
      expect(files).toEqual([
        "upgrade-history.1.jsonl.gz",
        "upgrade-history.2.jsonl.gz",
        "upgrade-history.3.jsonl.gz",
        "upgrade-history.jsonl"
      ])
      const rows = json(yield* runCli(["upgrade", "history", "--json"], h.env)) as ReadonlyArray<Row>
      // The oldest lines went with the oldest file; what is left reads in order, the CLI's own line last.
      const first = Number(rows[0]!.name.slice(1))
      expect(first).toBeGreaterThan(0)
      expect(rows.map((r) => r.name)).toEqual([
        ...Array.from({ length: 40 - first }, (_, i) => `u${first + i}`),
        "v2"
      ])
      expect(rows.at(-1)).toMatchObject({ step: "schedule", door: "cli" })
    }))

  it.live("bad arguments and a missing layout: exit 2, one error line, nothing printed", () =>
    Effect.gen(function*() {
      const h = yield* initHome({ DAEMON_RPC_URL: node.url() })
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["--limit", "0"], "--limit"],
        [["--limit", "-3"], "--limit"],
        [["--name", "../etc"], "upgrade name"]
      ]
      for (const [args, says] of cases) {
        const r = yield* runCli(["upgrade", "history", ...args], h.env)
        expect(r.code, args.join(" ")).toBe(2)
        expect(r.stdout, args.join(" ")).toBe("")
        expect(r.stderr, args.join(" ")).toContain(says)
      }
      const bare = makeHome()
      const r = yield* runCli(["upgrade", "history"], bare.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toContain("init")
    }))
})
