import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { History, layer as historyLayer } from "../../src/upgrades/History.js"
import { configLayer, tempHome } from "./support.js"

const historyAt = (home: string) => Effect.provide(History, historyLayer.pipe(Layer.provide(configLayer(home))))
const historyFile = (home: string) => path.join(home, "wemixvisor", "upgrade-history.jsonl")

describe("History", () => {
  it.scoped("append/read round trip: one JSON line per record, snake_case, time from the clock", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = yield* historyAt(home)
      expect(yield* history.read).toEqual([])
      yield* TestClock.setTime(Date.parse("2026-03-01T10:00:00.000Z"))
      yield* history.append({ name: "v2", step: "stop", result: "started" })
      yield* TestClock.adjust("1500 millis")
      yield* history.append({ name: "v2", step: "stop", result: "ok", detail: "exited with code 0" })
      yield* history.append({
        name: "v2",
        step: "verify",
        result: "failed",
        detail: "exited with code 1",
        time: "2026-03-01T10:05:00.000Z"
      })

      const lines = fs.readFileSync(historyFile(home), "utf8").split("\n")
      expect(lines.at(-1)).toBe("")
      expect(lines.slice(0, -1).map((l) => JSON.parse(l))).toEqual([
        { time: "2026-03-01T10:00:00.000Z", name: "v2", step: "stop", result: "started" },
        { time: "2026-03-01T10:00:01.500Z", name: "v2", step: "stop", result: "ok", detail: "exited with code 0" },
        { time: "2026-03-01T10:05:00.000Z", name: "v2", step: "verify", result: "failed", detail: "exited with code 1" }
      ])
      const records = yield* history.read
      expect(records.map((r) => `${r.step}:${r.result}`)).toEqual(["stop:started", "stop:ok", "verify:failed"])
      // Another reader (status, a fresh process) sees the same trail.
      expect(yield* (yield* historyAt(home)).read).toEqual(records)
    }))

  it.scoped("a torn line (crash mid-append) costs that record only", () =>
    Effect.gen(function*() {
      const home = yield* tempHome
      const history = yield* historyAt(home)
      yield* history.append({ name: "v2", step: "switch", result: "started" })
      fs.appendFileSync(historyFile(home), "{\"time\":\"2026-03-01T10:00:00.000Z\",\"name\":\"v2\",\"st")
      yield* history.append({ name: "v2", step: "switch", result: "ok" })
      const lines = fs.readFileSync(historyFile(home), "utf8").trimEnd().split("\n")
      expect(lines).toHaveLength(3)
      expect(JSON.parse(lines[2]!)).toMatchObject({ step: "switch", result: "ok" })
      expect((yield* history.read).map((r) => r.result)).toEqual(["started", "ok"])
    }))
})
