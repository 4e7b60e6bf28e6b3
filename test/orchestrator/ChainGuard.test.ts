import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, Option } from "effect"
import { type ChainIdReader, chainMismatch } from "../../src/orchestrator/ChainGuard.js"

/** Runs `self`, keeping what it logs (level and text). */
const logged = <A>(self: Effect.Effect<A>) =>
  Effect.gen(function*() {
    const logs: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      logs.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
    const value = yield* self.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return { value, logs }
  })

const reports = (id: number): ChainIdReader => () => Effect.succeed(id)
const asked: Array<string> = []
const recording: ChainIdReader = (url) => Effect.sync(() => (asked.push(url), 1111))

describe("chain-id guard", () => {
  it.effect("a mismatch is the reason the upgrade must not run", () =>
    Effect.gen(function*() {
      const r = yield* chainMismatch(Option.some(1111), "http://node", reports(1112))
      expect(r).toEqual(Option.some("node reports chain id 1112, DAEMON_CHAIN_ID is 1111"))
    }))

  it.effect("a match lets it run, asking the configured RPC", () =>
    Effect.gen(function*() {
      const r = yield* logged(chainMismatch(Option.some(1111), "http://node:8588", recording))
      expect(r.value).toEqual(Option.none())
      expect(r.logs).toEqual([])
      expect(asked).toEqual(["http://node:8588"])
    }))

  it.effect("no DAEMON_CHAIN_ID: the node is not asked", () =>
    Effect.gen(function*() {
      const r = yield* chainMismatch(Option.none(), "http://node", () => Effect.die("asked"))
      expect(r).toEqual(Option.none())
    }))

  it.effect("an unreachable RPC lets it run, with a warning", () =>
    Effect.gen(function*() {
      const r = yield* logged(
        chainMismatch(Option.some(1111), "http://node", () => Effect.fail({ message: "connection refused" }))
      )
      expect(r.value).toEqual(Option.none())
      expect(r.logs).toHaveLength(1)
      expect(r.logs[0]).toMatch(/^WARN chain id could not be checked \(connection refused\)/)
    }))
})
