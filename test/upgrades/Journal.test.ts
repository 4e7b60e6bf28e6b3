import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeHeight } from "../../src/domain/Height.js"
import type { UpgradeName } from "../../src/domain/Upgrade.js"
import * as Journal from "../../src/upgrades/Journal.js"
import { cleanup, tempDir } from "../support/fixtures.js"

const withDir = Effect.acquireRelease(
  Effect.sync(() => tempDir("wemixvisor-journal-")),
  (d) => Effect.sync(() => cleanup(d))
)

const entry = new Journal.JournalEntry({
  name: "v2" as UpgradeName,
  height: makeHeight(100),
  from: "genesis",
  step: "switch",
  head_at_stop: makeHeight(100),
  started_at: "2026-01-01T00:00:00.000Z",
  reason: null
})

describe("Journal", () => {
  it.scoped("absent → none; written → read back exactly; removed → none", () =>
    Effect.gen(function*() {
      const dir = yield* withDir
      const j = Journal.make(path.join(dir, "journal.json"))
      expect(Option.isNone(yield* j.read)).toBe(true)
      yield* j.write(entry)
      expect(JSON.parse(fs.readFileSync(j.file, "utf8"))).toEqual({
        name: "v2",
        height: 100,
        from: "genesis",
        step: "switch",
        head_at_stop: 100,
        started_at: "2026-01-01T00:00:00.000Z",
        reason: null,
        backup: null,
        on_failure: null
      })
      expect(yield* j.read).toEqual(Option.some(entry))
      // The policy journaled when the upgrade started is read back as written.
      const halting = new Journal.JournalEntry({ ...entry, on_failure: "halt" })
      yield* j.write(halting)
      expect(JSON.parse(fs.readFileSync(j.file, "utf8"))).toMatchObject({ on_failure: "halt" })
      expect(yield* j.read).toEqual(Option.some(halting))
      // A journal older than the field reads as null (DAEMON_ON_UPGRADE_FAILURE decides).
      const { on_failure: _, ...old } = Journal.JournalEntry.make(entry)
      fs.writeFileSync(j.file, JSON.stringify(old))
      expect(Option.map(yield* j.read, (e) => e.on_failure)).toEqual(Option.some(null))
      // No temp file is left next to it.
      expect(fs.readdirSync(dir)).toEqual(["journal.json"])
      yield* j.remove
      expect(Option.isNone(yield* j.read)).toBe(true)
      yield* j.remove
    }))

  it.scoped("a journal that does not validate is FileCorrupt naming the file, and is left in place", () =>
    Effect.gen(function*() {
      const dir = yield* withDir
      const j = Journal.make(path.join(dir, "journal.json"))
      for (
        const text of [
          "{",
          JSON.stringify({ ...Journal.JournalEntry.make(entry), step: "jump" }),
          JSON.stringify({ name: "v2" })
        ]
      ) {
        fs.writeFileSync(j.file, text)
        const err = yield* Effect.flip(j.read)
        expect(err._tag).toBe("FileCorrupt")
        expect(err.message).toContain(j.file)
        expect(fs.readFileSync(j.file, "utf8")).toBe(text)
      }
    }))

  it.scoped("a journal written before backups existed (no `backup` field) still reads, as no backup", () =>
    Effect.gen(function*() {
      const dir = yield* withDir
      const j = Journal.make(path.join(dir, "journal.json"))
      const { backup: _none, ...old } = Journal.JournalEntry.make(entry)
      fs.writeFileSync(j.file, JSON.stringify(old))
      const read = yield* j.read
      expect(Option.map(read, (e) => e.backup)).toEqual(Option.some(null))
      const withBackup = new Journal.JournalEntry({
        ...entry,
        step: "backup",
        backup: path.join(dir, "backups", "v2-20260101T000000000Z")
      })
      yield* j.write(withBackup)
      expect(yield* j.read).toEqual(Option.some(withBackup))
    }))

  it("steps are in ARCHITECTURE §7 order, then rollback", () => {
    expect(Journal.JournalStep.literals).toEqual([
      "pre-stop",
      "stop",
      "backup",
      "switch",
      "pre-upgrade",
      "start",
      "verify",
      "done",
      "rollback"
    ])
  })
})
