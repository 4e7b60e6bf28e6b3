import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as path from "node:path"
import { layer as binaryStoreLayer } from "../../src/binaries/BinaryStoreLive.js"
import { AppConfig } from "../../src/config/Config.js"
import { type Height, makeHeight } from "../../src/domain/Height.js"
import { Events, layer as eventsLayer, type WemixvisorEvent } from "../../src/events/Events.js"
import { HeightProvider } from "../../src/height/HeightProvider.js"
import { History } from "../../src/upgrades/History.js"
import { layer as historyLayer } from "../../src/upgrades/HistoryLive.js"
import { PlanStore } from "../../src/upgrades/PlanStore.js"
import { layer as planStoreLayer } from "../../src/upgrades/PlanStoreLive.js"
import { makeUpgradeSource } from "../../src/upgrades/PlanWatcher.js"
import { type PlanSnapshot, UpgradeSource } from "../../src/upgrades/UpgradeSource.js"
import { layer as upgradeSourceLayer } from "../../src/upgrades/UpgradeSourceLive.js"
import { awaitSleepers, settle } from "../node/support.js"
import { sleep } from "../support/fixtures.js"
import { configLayer, eventually, heightLayer, readJson, tempHome, writeAtomically } from "./support.js"

const NOW = "2026-01-01T00:00:00.000Z"
const SHA = "sha256:" + "cd".repeat(32)

const upgrade = (name: string, height: number, extra: object = {}) => ({
  name,
  height,
  status: "scheduled",
  info: "",
  binaries: {},
  checksums: {},
  reason: null,
  created_at: NOW,
  updated_at: NOW,
  ...extra
})
const planText = (...upgrades: Array<object>) => JSON.stringify({ version: 1, upgrades }, null, 2) + "\n"

/** The names a snapshot lists; no file at all lists none. */
const namesOf = (s: PlanSnapshot | undefined) =>
  s?._tag === "Valid" ? s.plan.upgrades.map((u) => u.name) : s?._tag === "Missing" ? [] : undefined

/**
 * Live PlanStore, Events and config over a temp home, a Ref for the chain
 * head, and the UpgradeSource under test — the live layer, or (watch: false)
 * the same implementation with only the poll. Events and snapshots are
 * recorded from before the source starts.
 */
const setup = (
  opts: {
    readonly poll?: string
    readonly watch?: boolean
    readonly head?: number
    readonly before?: (root: string) => void
  } = {}
) =>
  Effect.gen(function*() {
    const home = yield* tempHome
    const root = path.join(home, "wemixvisor")
    opts.before?.(root)
    const latest = yield* Ref.make<Option.Option<Height>>(Option.fromNullable(opts.head).pipe(Option.map(makeHeight)))
    const base = yield* Layer.build(
      Layer.mergeAll(planStoreLayer, binaryStoreLayer, eventsLayer, historyLayer, heightLayer(latest)).pipe(
        Layer.provideMerge(configLayer(home, opts.poll))
      )
    )
    const events = yield* Ref.make<ReadonlyArray<WemixvisorEvent>>([])
    yield* Stream.runForEach(yield* Context.get(base, Events).subscribe, (e) => Ref.update(events, (a) => [...a, e]))
      .pipe(
        Effect.forkScoped
      )
    const source = opts.watch === false
      ? yield* makeUpgradeSource(
        {
          layout: Context.get(base, AppConfig).layout,
          pollInterval: Context.get(base, AppConfig).pollInterval,
          store: Context.get(base, PlanStore),
          events: Context.get(base, Events),
          latestHeight: Context.get(base, HeightProvider).latest,
          history: Context.get(base, History)
        },
        { watch: false }
      )
      : Context.get(
        yield* Layer.build(upgradeSourceLayer.pipe(Layer.provide(Layer.succeedContext(base)))),
        UpgradeSource
      )
    const snaps = yield* Ref.make<ReadonlyArray<PlanSnapshot>>([])
    yield* Stream.runForEach(source.plans, (s) => Ref.update(snaps, (a) => [...a, s])).pipe(Effect.forkScoped)
    const ofType = <T extends WemixvisorEvent["type"]>(type: T) =>
      Ref.get(events).pipe(
        Effect.map((a) => a.filter((e): e is Extract<WemixvisorEvent, { type: T }> => e.type === type))
      )
    return {
      root,
      history: Context.get(base, History).read,
      plan: path.join(root, "upgrade-plan.json"),
      dropIn: path.join(root, "upgrade-info.json"),
      latest,
      source,
      snaps,
      last: Ref.get(snaps).pipe(Effect.map((a) => a.at(-1))),
      ofType
    }
  })

describe("UpgradeSource: the plan file", () => {
  it.scopedLive("emits the current plan first, then each external change once; late subscribers start from the latest", () =>
    Effect.gen(function*() {
      const t = yield* setup({
        before: (root) => fs.writeFileSync(path.join(root, "upgrade-plan.json"), planText(upgrade("v1", 100)))
      })
      yield* eventually("the first snapshot", t.last)
      expect(namesOf(yield* t.last)).toEqual(["v1"])

      // What the CLI does: temp file + rename.
      writeAtomically(t.plan, planText(upgrade("v1", 100), upgrade("v2", 200)))
      yield* eventually("the new plan", Effect.map(t.last, (s) => namesOf(s)?.length === 2))
      // The same plan written again (new inode, different formatting) is not a change.
      writeAtomically(t.plan, JSON.stringify({ version: 1, upgrades: [upgrade("v1", 100), upgrade("v2", 200)] }))
      yield* Effect.sleep("300 millis")
      expect((yield* Ref.get(t.snaps)).map(namesOf)).toEqual([["v1"], ["v1", "v2"]])

      const late = yield* t.source.plans.pipe(Stream.take(1), Stream.runCollect)
      expect([...late].map(namesOf)).toEqual([["v1", "v2"]])
    }))

  it.scoped("the poll alone (fs.watch off) sees an external write within one poll interval", () =>
    Effect.gen(function*() {
      const t = yield* setup({ watch: false, poll: "50ms" })
      yield* eventually("the first snapshot", t.last)
      // The poll's next check is asleep on the TestClock, and its first one is over.
      yield* awaitSleepers(1)
      yield* settle
      writeAtomically(t.plan, planText(upgrade("v2", 200)))
      yield* settle
      expect(namesOf(yield* t.last)).toEqual([])
      yield* TestClock.adjust("50 millis")
      // The clock stays at one interval: only the file read is waited for.
      // Any bound far below the hour-long poll shows the file event did it; 30 s holds on a loaded machine.
      yield* eventually("the new plan", Effect.map(t.last, (s) => namesOf(s)?.length === 1), "30 seconds")
    }))

  it.scopedLive("file events alone (a poll of an hour) see an external write at once", () =>
    Effect.gen(function*() {
      const t = yield* setup({ poll: "1h" })
      yield* eventually("the first snapshot", t.last)
      // The watcher comes up in its own fiber, possibly after the first snapshot (before it, only the poll
      // sees a write): the write is made again, each time a new file, until an event brings it in. Any bound
      // far below the hour-long poll shows the file events did it; 25 s holds on a loaded machine.
      const seen = Effect.map(t.last, (s) => namesOf(s)?.length === 1)
      const deadline = Date.now() + 25_000
      for (;;) {
        writeAtomically(t.plan, planText(upgrade("v2", 200)))
        const got = yield* eventually("the new plan", seen, "1 second").pipe(
          Effect.as(true),
          Effect.catchAllDefect(() => Effect.succeed(false))
        )
        if (got) break
        if (Date.now() > deadline) return yield* Effect.dieMessage("no file event brought the new plan in 25 s")
      }
    }))

  it.scopedLive("a corrupt plan → Corrupt snapshot and one plan-invalid per distinct problem; recovery when fixed", () =>
    Effect.gen(function*() {
      const t = yield* setup({ poll: "50ms" })
      yield* eventually("the first snapshot", t.last)

      writeAtomically(t.plan, "{\"version\": 1, \"upgrades\": [")
      yield* eventually("a Corrupt snapshot", Effect.map(t.last, (s) => s?._tag === "Corrupt"))
      yield* Effect.sleep("300 millis")
      const first = yield* t.ofType("plan-invalid")
      expect(first).toHaveLength(1)
      expect(first[0]).toMatchObject({ path: t.plan, reason: expect.stringMatching(/^not JSON/) })
      expect((yield* Ref.get(t.snaps)).map((s) => s._tag)).toEqual(["Missing", "Corrupt"])

      // A different problem is a new event.
      writeAtomically(t.plan, planText(upgrade("v2", 200, { status: "bogus" })))
      yield* eventually("a second plan-invalid", Effect.map(t.ofType("plan-invalid"), (a) => a.length === 2))
      expect((yield* t.ofType("plan-invalid"))[1]!.reason).toMatch(/^upgrades\[0\]\.status: expected one of/)

      writeAtomically(t.plan, planText(upgrade("v2", 200)))
      yield* eventually("recovery", Effect.map(t.last, (s) => namesOf(s)?.[0] === "v2"))
      expect((yield* Ref.get(t.snaps)).map((s) => s._tag)).toEqual(["Missing", "Corrupt", "Corrupt", "Valid"])

      // The first problem again, after a recovery, is reported again.
      writeAtomically(t.plan, "{\"version\": 1, \"upgrades\": [")
      yield* eventually("a third plan-invalid", Effect.map(t.ofType("plan-invalid"), (a) => a.length === 3))
    }))
})

describe("UpgradeSource: the upgrade-info.json drop-in", () => {
  it.scopedLive("a valid drop-in is merged as the CLI would, renamed .merged, and announced", () =>
    Effect.gen(function*() {
      const t = yield* setup({
        head: 100,
        before: (root) => fs.writeFileSync(path.join(root, "upgrade-plan.json"), planText(upgrade("v1", 150)))
      })
      const info = { binaries: { "linux/amd64": `https://example.com/gwemix-v2.tar.gz?checksum=${SHA}` } }
      const text = JSON.stringify({ name: "v2", height: 200, info, time: "0001-01-01T00:00:00Z" })
      writeAtomically(t.dropIn, text)
      yield* eventually("upgrade-info.json.merged", Effect.sync(() => fs.existsSync(t.dropIn + ".merged")))
      expect(fs.existsSync(t.dropIn)).toBe(false)
      expect(fs.readFileSync(t.dropIn + ".merged", "utf8")).toBe(text)
      const onDisk = readJson(t.plan) as { upgrades: Array<Record<string, unknown>> }
      expect(onDisk.upgrades.map((u) => u.name)).toEqual(["v1", "v2"])
      expect(onDisk.upgrades[1]).toMatchObject({
        name: "v2",
        height: 200,
        status: "scheduled",
        info: JSON.stringify(info),
        binaries: { "linux/amd64": "https://example.com/gwemix-v2.tar.gz" },
        checksums: { "linux/amd64": SHA },
        reason: null
      })
      yield* eventually("the merged plan's snapshot", Effect.map(t.last, (s) => namesOf(s)?.length === 2))
      // Announced once, from the plan change (before subscribers see the plan).
      expect(yield* t.ofType("upgrade-scheduled")).toMatchObject([{ name: "v2", height: 200 }])
      yield* Effect.sleep("200 millis")
      expect(yield* t.ofType("upgrade-scheduled")).toHaveLength(1)
      expect(yield* t.ofType("upgrade-problem")).toEqual([])
      // Recorded once in the history, through the drop-in's door (no peer: a file has none).
      expect(yield* t.history).toEqual([
        {
          time: expect.any(String),
          name: "v2",
          step: "schedule",
          result: "ok",
          detail: "height 200 (head 100); linux/amd64 https://example.com/gwemix-v2.tar.gz",
          door: "drop-in"
        }
      ])
    }))

  it.scopedLive("a drop-in's on_failure is stored with the upgrade and said in its history line", () =>
    Effect.gen(function*() {
      const t = yield* setup({ head: 100 })
      writeAtomically(t.dropIn, JSON.stringify({ name: "v2", height: 200, on_failure: "halt" }))
      yield* eventually("upgrade-info.json.merged", Effect.sync(() => fs.existsSync(t.dropIn + ".merged")))
      const onDisk = readJson(t.plan) as { upgrades: Array<Record<string, unknown>> }
      expect(onDisk.upgrades[0]).toMatchObject({ name: "v2", height: 200, on_failure: "halt" })
      expect((yield* t.history).map((r) => r.detail)).toEqual(["height 200 (head 100); on failure halt"])
    }))

  it.scopedLive("each invalid kind → .invalid, an upgrade-problem, and the plan unchanged", () =>
    Effect.gen(function*() {
      const t = yield* setup({
        head: 100,
        before: (root) => fs.writeFileSync(path.join(root, "upgrade-plan.json"), planText(upgrade("v1", 150)))
      })
      const planBefore = fs.readFileSync(t.plan, "utf8")
      const kinds: ReadonlyArray<readonly [string, string, string, RegExp]> = [
        ["bad JSON", "{\"name\": \"v2\", \"height\": 200", "upgrade-info.json", /^not JSON/],
        ["bad name", JSON.stringify({ name: "../v2", height: 200 }), "upgrade-info.json", /^name: an upgrade name/],
        ["bad height", JSON.stringify({ name: "v2", height: 2.5 }), "v2", /^height: a height must be a whole number/],
        [
          "height at the head",
          JSON.stringify({ name: "v2", height: 100 }),
          "v2",
          /^height 100 is at or below the chain head 100$/
        ],
        [
          "height below the head",
          JSON.stringify({ name: "v2", height: 7, info: "" }),
          "v2",
          /at or below the chain head 100/
        ],
        ["duplicate name", JSON.stringify({ name: "v1", height: 300 }), "v1", /already exists with status 'scheduled'/],
        ["bad on_failure", JSON.stringify({ name: "v2", height: 200, on_failure: "pray" }), "v2", /^on_failure: /]
      ]
      for (const [kind, text, name, reason] of kinds) {
        writeAtomically(t.dropIn, text)
        yield* eventually(`${kind} to be refused`, Effect.sync(() => fs.existsSync(t.dropIn + ".invalid")))
        expect(fs.existsSync(t.dropIn), kind).toBe(false)
        expect(fs.readFileSync(t.dropIn + ".invalid", "utf8"), kind).toBe(text)
        expect(fs.readFileSync(t.plan, "utf8"), kind).toBe(planBefore)
        const problems = yield* t.ofType("upgrade-problem")
        expect(problems.at(-1), kind).toMatchObject({ name, reason: expect.stringMatching(reason) })
        fs.rmSync(t.dropIn + ".invalid")
      }
      expect(yield* t.ofType("upgrade-problem")).toHaveLength(kinds.length)
      expect(yield* t.ofType("upgrade-scheduled")).toEqual([])
      expect(fs.existsSync(t.dropIn + ".merged")).toBe(false)
      // Nothing was scheduled: nothing in the history.
      expect(yield* t.history).toEqual([])
    }))

  it.scopedLive("with no chain head known yet, the height check is skipped", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      writeAtomically(t.dropIn, JSON.stringify({ name: "v2", height: 1 }))
      yield* eventually("upgrade-info.json.merged", Effect.sync(() => fs.existsSync(t.dropIn + ".merged")))
      expect((readJson(t.plan) as { upgrades: Array<{ height: number }> }).upgrades[0]!.height).toBe(1)
    }))

  it.scoped("a drop-in written in several parts is not consumed half-written", () =>
    Effect.gen(function*() {
      const t = yield* setup({ poll: "200ms", head: 100 })
      yield* eventually("the first snapshot", t.last)
      yield* awaitSleepers(1)
      const text = JSON.stringify({ name: "v2", height: 200, info: "x".repeat(200) })
      const parts = [text.slice(0, 10), text.slice(10, 40), text.slice(40, 120), text.slice(120)]
      // A writer that is neither atomic nor quick: a part every half poll interval, every part a file
      // event and a chance to read it half-done (the real pause lets that event's check run).
      fs.writeFileSync(t.dropIn, parts[0]!)
      for (const part of parts.slice(1)) {
        yield* Effect.promise(() => sleep(30))
        yield* TestClock.adjust("100 millis")
        fs.appendFileSync(t.dropIn, part)
      }
      // Unchanged from now on: consumed once a whole poll interval has seen it so.
      for (let i = 0; i < 5 && !fs.existsSync(t.dropIn + ".merged"); i++) {
        yield* Effect.promise(() => sleep(30))
        yield* TestClock.adjust("200 millis")
      }
      yield* eventually("upgrade-info.json.merged", Effect.sync(() => fs.existsSync(t.dropIn + ".merged")))
      expect(fs.readFileSync(t.dropIn + ".merged", "utf8")).toBe(text)
      expect(fs.existsSync(t.dropIn + ".invalid")).toBe(false)
      expect(yield* t.ofType("upgrade-problem")).toEqual([])
    }))

  it.scoped("a drop-in that cannot be read (a directory by that name) is reported once, again only when it changes (issue #12 item 18)", () => {
    const lines: Array<string> = []
    const capture = Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") lines.push(String(Array.isArray(message) ? message.join(" ") : message))
    })
    return Effect.gen(function*() {
      const t = yield* setup({ poll: "100ms", watch: false, head: 100 })
      yield* eventually("the first snapshot", t.last)
      const warned = () => lines.filter((l) => l.includes("upgrade-info.json")).length
      const polls = (n: number) =>
        Effect.gen(function*() {
          for (let i = 0; i < n; i++) {
            yield* TestClock.adjust("100 millis")
            yield* Effect.promise(() => sleep(5))
          }
        })
      fs.mkdirSync(t.dropIn)
      yield* polls(3)
      yield* eventually("the warning", Effect.sync(() => (warned() >= 1 ? true : undefined)))
      yield* polls(20)
      expect(warned()).toBe(1)
      expect(lines[0]).toMatch(/upgrade-info\.json: .*EISDIR|illegal operation on a directory/)
      // Gone, then back: said again once.
      fs.rmdirSync(t.dropIn)
      yield* polls(3)
      fs.mkdirSync(t.dropIn)
      yield* polls(3)
      yield* eventually("the second warning", Effect.sync(() => (warned() >= 2 ? true : undefined)))
      yield* polls(20)
      expect(warned()).toBe(2)
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
  })

  it.scopedLive("a corrupt plan leaves the drop-in in place until the plan is fixed", () =>
    Effect.gen(function*() {
      const t = yield* setup({
        head: 100,
        before: (root) => fs.writeFileSync(path.join(root, "upgrade-plan.json"), "not json")
      })
      const text = JSON.stringify({ name: "v2", height: 200 })
      writeAtomically(t.dropIn, text)
      yield* Effect.sleep("400 millis")
      expect(fs.readFileSync(t.dropIn, "utf8")).toBe(text)
      expect(fs.existsSync(t.dropIn + ".merged") || fs.existsSync(t.dropIn + ".invalid")).toBe(false)
      expect(fs.readFileSync(t.plan, "utf8")).toBe("not json")
      expect(yield* t.ofType("plan-invalid")).toHaveLength(1)

      writeAtomically(t.plan, planText(upgrade("v1", 150)))
      yield* eventually("upgrade-info.json.merged", Effect.sync(() => fs.existsSync(t.dropIn + ".merged")))
      expect((readJson(t.plan) as { upgrades: Array<{ name: string }> }).upgrades.map((u) => u.name)).toEqual([
        "v1",
        "v2"
      ])
      yield* eventually("upgrade-scheduled", Effect.map(t.ofType("upgrade-scheduled"), (a) => a.length > 0))
      expect(yield* t.ofType("upgrade-scheduled")).toMatchObject([{ name: "v2", height: 200 }])
    }))

  it.scopedLive("a drop-in merged just before a crash (still in place on restart) is renamed, not refused", () =>
    Effect.gen(function*() {
      const merged = planText(upgrade("v2", 200, { info: "notes" }))
      const t = yield* setup({
        head: 100,
        before: (root) => {
          fs.writeFileSync(path.join(root, "upgrade-plan.json"), merged)
          fs.writeFileSync(
            path.join(root, "upgrade-info.json"),
            JSON.stringify({ name: "v2", height: 200, info: "notes" })
          )
        }
      })
      yield* eventually("upgrade-info.json.merged", Effect.sync(() => fs.existsSync(t.dropIn + ".merged")))
      expect(fs.readFileSync(t.plan, "utf8")).toBe(merged)
      expect(yield* t.ofType("upgrade-problem")).toEqual([])
      expect(yield* t.ofType("upgrade-scheduled")).toEqual([])
      expect(yield* t.history).toEqual([])
    }))
})

describe("UpgradeSource: upgrade-scheduled / upgrade-cancelled come from plan changes", () => {
  it.scopedLive("each change made by writing the plan file is announced once; status changes by the orchestrator are not", () =>
    Effect.gen(function*() {
      const t = yield* setup({
        poll: "50ms",
        before: (root) => fs.writeFileSync(path.join(root, "upgrade-plan.json"), planText(upgrade("v1", 150)))
      })
      yield* eventually("the first snapshot", t.last)
      const settle = (what: string, check: (s: PlanSnapshot | undefined) => boolean) =>
        eventually(what, Effect.map(t.last, check)).pipe(Effect.zipRight(Effect.sleep("150 millis")))
      const later = "2026-01-02T00:00:00.000Z"

      // Already in the plan when the source started: nothing to announce.
      expect(yield* t.ofType("upgrade-scheduled")).toEqual([])

      // What `upgrade schedule` does: a new entry.
      writeAtomically(t.plan, planText(upgrade("v1", 150), upgrade("v2", 200)))
      yield* settle("v2 in the plan", (s) => namesOf(s)?.length === 2)
      // The orchestrator's bookkeeping: a reason, then upgrading, then done.
      writeAtomically(
        t.plan,
        planText(upgrade("v1", 150, { reason: "binary missing: x", updated_at: later }), upgrade("v2", 200))
      )
      yield* settle("the reason", (s) => s?._tag === "Valid" && s.plan.upgrades[0]!.reason !== null)
      writeAtomically(
        t.plan,
        planText(upgrade("v1", 150, { status: "upgrading", updated_at: later }), upgrade("v2", 200))
      )
      yield* settle("upgrading", (s) => s?._tag === "Valid" && s.plan.upgrades[0]!.status === "upgrading")
      writeAtomically(t.plan, planText(upgrade("v1", 150, { status: "done", updated_at: later }), upgrade("v2", 200)))
      yield* settle("done", (s) => s?._tag === "Valid" && s.plan.upgrades[0]!.status === "done")
      // What `upgrade cancel v2` does.
      writeAtomically(
        t.plan,
        planText(
          upgrade("v1", 150, { status: "done", updated_at: later }),
          upgrade("v2", 200, { status: "cancelled", updated_at: later })
        )
      )
      yield* settle("v2 cancelled", (s) => s?._tag === "Valid" && s.plan.upgrades[1]!.status === "cancelled")
      // A corrupt spell and back to the same plan: nothing new.
      writeAtomically(t.plan, "{")
      yield* settle("corrupt", (s) => s?._tag === "Corrupt")
      writeAtomically(
        t.plan,
        planText(
          upgrade("v1", 150, { status: "done", updated_at: later }),
          upgrade("v2", 200, { status: "cancelled", updated_at: later })
        )
      )
      yield* settle("valid again", (s) => s?._tag === "Valid")
      // v2 scheduled again under the same name (a new created_at).
      writeAtomically(
        t.plan,
        planText(
          upgrade("v1", 150, { status: "done", updated_at: later }),
          upgrade("v2", 300, { created_at: later, updated_at: later })
        )
      )
      yield* settle("v2 again", (s) => s?._tag === "Valid" && s.plan.upgrades[1]!.status === "scheduled")

      expect((yield* t.ofType("upgrade-scheduled")).map((e) => [e.name, e.height])).toEqual([["v2", 200], ["v2", 300]])
      expect((yield* t.ofType("upgrade-cancelled")).map((e) => e.name)).toEqual(["v2"])
    }))
})
