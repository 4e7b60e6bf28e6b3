/*
 * Operations the height depends on (issue #12 items 6 and 12): cancel refuses
 * what a supervisor may already be applying — an upgrade the journal names,
 * one whose height the head has reached — and schedule records in the entry
 * that wemixvisor checked it (`checked_head`) or was told to skip the check
 * (`force`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either, Layer, Option, Ref } from "effect"
import * as fs from "node:fs"
import { make as makeBinaryStore } from "../../src/binaries/BinaryStoreLive.js"
import { AppConfig } from "../../src/config/Config.js"
import { NodeUnreachable } from "../../src/domain/Errors.js"
import { type Height, makeHeight } from "../../src/domain/Height.js"
import { failurePolicy, type UpgradeName } from "../../src/domain/Upgrade.js"
import type { Origin } from "../../src/upgrades/History.js"
import { makeHistory } from "../../src/upgrades/HistoryLive.js"
import { decodeOnFailureArg, decodeSchedule } from "../../src/upgrades/Operations.js"
import { make as makeOperations } from "../../src/upgrades/OperationsLive.js"
import { PlanStore } from "../../src/upgrades/PlanStore.js"
import { layer as planStoreLayer } from "../../src/upgrades/PlanStoreLive.js"
import { configLayer, tempHome } from "./support.js"

const setup = Effect.gen(function*() {
  const home = yield* tempHome
  const ctx = yield* Layer.build(planStoreLayer.pipe(Layer.provideMerge(configLayer(home, "50ms"))))
  const config = Context.get(ctx, AppConfig)
  const head = yield* Ref.make(Option.some(makeHeight(10)))
  const ops = makeOperations({
    store: Context.get(ctx, PlanStore),
    binaries: makeBinaryStore(config.layout),
    head: Effect.flatMap(
      Ref.get(head),
      Option.match({
        onNone: () => Effect.fail(new NodeUnreachable({ url: config.rpcUrl, cause: new Error("connection refused") })),
        onSome: (h: Height) => Effect.succeed(h)
      })
    ),
    downloads: config,
    history: makeHistory(config.layout.history)
  })
  const planJson = () =>
    JSON.parse(fs.readFileSync(config.layout.plan, "utf8")) as { upgrades: Array<Record<string, unknown>> }
  const history = makeHistory(config.layout.history).read
  return { config, head, ops, planJson, history }
})

const cli: Origin = { door: "cli" }

const v = (n: string) => n as UpgradeName

describe("Operations.cancel", () => {
  it.scoped("refuses an upgrade the journal names, though the plan does not say upgrading yet", () =>
    Effect.gen(function*() {
      const { config, ops } = yield* setup
      yield* ops.schedule({ name: v("v2"), height: makeHeight(100), force: false }, cli)
      fs.writeFileSync(
        config.layout.journal,
        JSON.stringify({
          name: "v2",
          height: 100,
          from: "genesis",
          step: "stop",
          head_at_stop: 100,
          started_at: "2026-01-01T00:00:00.000Z",
          reason: null
        })
      )
      const err = yield* Effect.flip(ops.cancel(Option.some("v2"), cli))
      expect(err).toMatchObject({ _tag: "UpgradeConflict", name: "v2" })
      expect(err.message).toMatch(/in progress .*journal\.json/)
      expect((yield* ops.list).upgrades[0]?.status).toBe("scheduled")
    }))

  it.scoped("refuses an upgrade whose height the head has reached; cancels it when the head cannot be read", () =>
    Effect.gen(function*() {
      const { head, ops } = yield* setup
      yield* ops.schedule({ name: v("v2"), height: makeHeight(100), force: false }, cli)
      yield* Ref.set(head, Option.some(makeHeight(100)))
      const err = yield* Effect.flip(ops.cancel(Option.none(), cli))
      expect(err).toMatchObject({ _tag: "UpgradeConflict", name: "v2" })
      expect(err.message).toMatch(/chain head 100 has reached its height 100/)
      yield* Ref.set(head, Option.some(makeHeight(99)))
      expect((yield* ops.cancel(Option.some("v2"), cli)).name).toBe("v2")
      yield* ops.schedule({ name: v("v3"), height: makeHeight(200), force: false }, cli)
      yield* Ref.set(head, Option.none())
      expect((yield* ops.cancel(Option.some("v3"), cli)).name).toBe("v3")
    }))
})

describe("Operations.schedule records how the height was checked", () => {
  it.scoped("checked_head: the head it was checked against; force: true when forced; neither otherwise", () =>
    Effect.gen(function*() {
      const { ops, planJson } = yield* setup
      yield* ops.schedule({ name: v("v2"), height: makeHeight(100), force: false }, cli)
      yield* ops.schedule({ name: v("v3"), height: makeHeight(5), force: true }, cli)
      const [v2, v3] = planJson().upgrades
      expect(v2).toMatchObject({ name: "v2", checked_head: 10 })
      expect(v2).not.toHaveProperty("force")
      expect(v3).toMatchObject({ name: "v3", force: true })
      expect(v3).not.toHaveProperty("checked_head")
    }))
})

describe("Operations record each schedule and cancel in the history, with its door", () => {
  it.scoped("one line each, with the door and peer given; a refused request writes none", () =>
    Effect.gen(function*() {
      const { config, head, history, ops } = yield* setup
      const rest: Origin = { door: "rest", peer: "10.0.0.7:51234" }
      yield* ops.schedule({ name: v("v2"), height: makeHeight(100), force: false }, rest)
      yield* ops.schedule({ name: v("v3"), height: makeHeight(5), force: true }, { door: "rpc" })
      // Refused: a taken name, a height at the head, an unknown name, one the journal names.
      yield* Effect.flip(ops.schedule({ name: v("v2"), height: makeHeight(300), force: false }, cli))
      yield* Effect.flip(ops.schedule({ name: v("v4"), height: makeHeight(10), force: false }, cli))
      yield* Effect.flip(ops.cancel(Option.some("nope"), cli))
      yield* Ref.set(head, Option.some(makeHeight(4)))
      fs.writeFileSync(
        config.layout.journal,
        JSON.stringify({
          name: "v3",
          height: 5,
          from: "genesis",
          step: "stop",
          head_at_stop: 5,
          started_at: "2026-01-01T00:00:00.000Z",
          reason: null
        })
      )
      yield* Effect.flip(ops.cancel(Option.some("v3"), cli))
      yield* ops.cancel(Option.some("v2"), cli)
      const lines = (yield* history).map(({ time: _, ...r }) => r)
      expect(lines).toEqual([
        {
          name: "v2",
          step: "schedule",
          result: "ok",
          detail: "height 100 (head 10)",
          door: "rest",
          peer: "10.0.0.7:51234"
        },
        { name: "v3", step: "schedule", result: "ok", detail: "height 5 (forced)", door: "rpc" },
        { name: "v2", step: "cancel", result: "ok", detail: "height 100", door: "cli" }
      ])
    }))
})

describe("Per-upgrade failure policy (on_failure, issue #16)", () => {
  it("decodeSchedule: rollback and halt are taken, absent or null follow the default, anything else is refused naming on_failure", () => {
    expect(Either.getOrThrow(decodeSchedule({ name: "v2", height: 5, on_failure: "halt" })).onFailure).toBe("halt")
    expect(Either.getOrThrow(decodeSchedule({ name: "v2", height: 5, on_failure: "rollback" })).onFailure).toBe(
      "rollback"
    )
    expect(Either.getOrThrow(decodeSchedule({ name: "v2", height: 5 }))).not.toHaveProperty("onFailure")
    expect(Either.getOrThrow(decodeSchedule({ name: "v2", height: 5, on_failure: null }))).not.toHaveProperty(
      "onFailure"
    )
    for (const bad of ["pray", "HALT", "", 1, true]) {
      const e = Either.getLeft(decodeSchedule({ name: "v2", height: 5, on_failure: bad })).pipe(Option.getOrThrow)
      expect(e.field).toBe("on_failure")
      expect(e.problem).toMatch(/rollback or halt/)
    }
    const arg = Either.getLeft(decodeOnFailureArg("pray")).pipe(Option.getOrThrow)
    expect(arg.field).toBe("--on-failure")
  })

  it.scoped("stored with the upgrade only when given; the history's schedule line says it", () =>
    Effect.gen(function*() {
      const { history, ops, planJson } = yield* setup
      yield* ops.schedule({ name: v("v2"), height: makeHeight(100), force: false, onFailure: "halt" }, cli)
      yield* ops.schedule({ name: v("v3"), height: makeHeight(200), force: false }, cli)
      const [v2, v3] = planJson().upgrades
      expect(v2).toMatchObject({ name: "v2", on_failure: "halt" })
      expect(v3).not.toHaveProperty("on_failure")
      const details = (yield* history).map((r) => r.detail)
      expect(details).toEqual(["height 100 (head 10); on failure halt", "height 200 (head 10)"])
      const listed = yield* ops.list
      expect(listed.upgrades.map((u) => u.on_failure)).toEqual(["halt", undefined])
    }))

  it.scoped("a plan file older than the field still reads (absent = follow DAEMON_ON_UPGRADE_FAILURE)", () =>
    Effect.gen(function*() {
      const { config, ops } = yield* setup
      fs.writeFileSync(
        config.layout.plan,
        JSON.stringify({
          version: 1,
          upgrades: [{
            name: "v2",
            height: 100,
            status: "scheduled",
            info: "",
            binaries: {},
            checksums: {},
            reason: null,
            created_at: "2026-01-01T00:00:00.000Z",
            updated_at: "2026-01-01T00:00:00.000Z",
            checked_head: 10
          }]
        })
      )
      const listed = yield* ops.list
      expect(listed.upgrades[0]?.on_failure).toBeUndefined()
      expect(failurePolicy(listed.upgrades[0]!, "halt")).toBe("halt")
      expect(failurePolicy({ on_failure: "rollback" }, "halt")).toBe("rollback")
    }))

  it.scoped("a plan entry with an invalid on_failure is refused as corrupt, naming the field", () =>
    Effect.gen(function*() {
      const { config, ops } = yield* setup
      fs.writeFileSync(
        config.layout.plan,
        JSON.stringify({
          version: 1,
          upgrades: [{
            name: "v2",
            height: 100,
            status: "scheduled",
            info: "",
            binaries: {},
            checksums: {},
            reason: null,
            created_at: "2026-01-01T00:00:00.000Z",
            updated_at: "2026-01-01T00:00:00.000Z",
            on_failure: "pray"
          }]
        })
      )
      const e = yield* Effect.flip(ops.list)
      expect(e.message).toMatch(/on_failure/)
    }))
})

describe("Operations.applyAll", () => {
  const gov: Origin = { door: "governance", peer: "tx 0xabc" }
  const scheduleOf = (name: string, height: number) => ({
    _tag: "Schedule" as const,
    cmd: { name: v(name), height: makeHeight(height), info: "", force: false },
    origin: gov
  })

  it.scoped("applies in order against the plan the earlier requests left; a refused one is its Left and changes nothing", () =>
    Effect.gen(function*() {
      const { history, ops } = yield* setup
      yield* ops.schedule({ name: v("v1"), height: makeHeight(50), force: false }, cli)
      const results = yield* ops.applyAll([
        scheduleOf("v2", 100),
        { _tag: "Cancel", name: v("v2"), origin: gov },
        scheduleOf("v2", 120), // cancelled just before: may come again
        scheduleOf("v1", 60), // taken
        scheduleOf("v3", 5), // at or below the head (10)
        scheduleOf("v4", 200)
      ])
      expect(results.map((r) => Either.isRight(r) ? `${r.right.name}@${r.right.height}` : r.left._tag)).toEqual([
        "v2@100",
        "v2@100",
        "v2@120",
        "UpgradeConflict",
        "UpgradeConflict",
        "v4@200"
      ])
      const plan = yield* ops.list
      expect(plan.upgrades.map((u) => [u.name, u.height, u.status])).toEqual([
        ["v1", 50, "scheduled"],
        ["v2", 120, "scheduled"],
        ["v4", 200, "scheduled"]
      ])
      // One history line per applied request, with the door and the peer.
      const lines = (yield* history).filter((h) => h.door === "governance")
      expect(lines.map((h) => `${h.step} ${h.name}`)).toEqual([
        "schedule v2",
        "cancel v2",
        "schedule v2",
        "schedule v4"
      ])
      expect(lines.every((h) => h.peer === "tx 0xabc")).toBe(true)
    }))

  it.scoped("the head unknown: the whole batch fails, nothing written", () =>
    Effect.gen(function*() {
      const { head, ops } = yield* setup
      yield* Ref.set(head, Option.none())
      const err = yield* Effect.flip(ops.applyAll([scheduleOf("v2", 100)]))
      expect(err._tag).toBe("NodeUnreachable")
      expect((yield* ops.list).upgrades).toEqual([])
    }))
})
