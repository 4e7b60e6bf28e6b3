import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Logger, Option, Ref } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { NodeUnreachable } from "../../src/domain/Errors.js"
import { BATCH_RANGES, type FollowDeps, makeFollower, MAX_RANGE, ranges } from "../../src/governance/Follow.js"
import type { RegistryChain, RegistryEvent } from "../../src/governance/Registry.js"
import { cleanup, tempDir } from "../support/fixtures.js"

/*
 * The follower's rules (governance/Follow.ts) against a scripted chain:
 * only blocks buried under the confirmations are read, in bounded ranges;
 * each event is applied once, across restarts and a kill between an event
 * and its cursor write; a failed apply holds the cursor; a reorganisation
 * younger than the confirmations is never seen, a deeper one is said and
 * read again.
 */

const REGISTRY = "0x5fbdb2315678afecb367f032d93f642f64180aa3"

/** A chain whose blocks carry hashes `<fork>-<n>` and whose registry emitted `events`; `fork` changes on a reorg. */
const scriptedChain = (events: Array<RegistryEvent>) => {
  const state = { fork: "a", down: false, calls: [] as Array<readonly [number, number]> }
  const chain: RegistryChain = {
    logs: (from, to) =>
      state.down
        ? Effect.fail(new NodeUnreachable({ url: "http://node", reason: "down" }))
        : Effect.sync(() => {
          state.calls.push([from, to])
          return events.filter((e) => e.block >= from && e.block <= to)
        }),
    blockHash: (n) => Effect.succeed(Option.some(`${state.fork}-${n}`)),
    code: Effect.succeed("0x60")
  }
  return { chain, state, events }
}

const scheduled = (name: string, block: number, logIndex = 0): RegistryEvent => ({
  _tag: "Scheduled",
  name,
  height: 1_000_000n,
  info: "",
  block,
  logIndex,
  tx: `0x${block}${logIndex}`
})

const captureLogs = Effect.gen(function*() {
  const lines = yield* Ref.make(Chunk.empty<string>())
  const logger = Logger.make(({ logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    Effect.runSync(Ref.update(lines, Chunk.append(`${logLevel.label} ${text}`)))
  })
  return { layer: Logger.replace(Logger.defaultLogger, logger), lines: Ref.get(lines).pipe(Effect.map(Chunk.toArray)) }
})

/** A follower over `chain` whose applies are recorded in `applied` (as names) and `batches` (one per apply). */
const follower = (dir: string, chain: RegistryChain, over: Partial<FollowDeps<string>> = {}) => {
  const applied: Array<string> = []
  const batches: Array<number> = []
  return makeFollower<string>({
    chain,
    registry: REGISTRY,
    confirmations: 5,
    fromBlock: Option.some(0),
    cursorFile: path.join(dir, "governance.json"),
    apply: (events) =>
      Effect.sync(() => {
        applied.push(...events.map((e) => e.name))
        batches.push(events.length)
      }),
    ...over
  }).pipe(Effect.map((f) => ({ ...f, applied, batches })))
}

/** A second cursor folder inside `dir` (removed with it). */
const tempDirOf = (dir: string) => fs.mkdtempSync(path.join(dir, "other-"))

const withDir = <A, E>(f: (dir: string) => Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(Effect.sync(() => tempDir()), f, (dir) => Effect.sync(() => cleanup(dir)))

describe("ranges", () => {
  it("covers from..to inclusively in ranges of at most max blocks", () => {
    expect(ranges(0, 4999, 2000)).toEqual([[0, 1999], [2000, 3999], [4000, 4999]])
    expect(ranges(7, 7)).toEqual([[7, 7]])
    expect(ranges(8, 7)).toEqual([])
  })
})

describe("the registry follower", () => {
  it.effect("reads only blocks buried under the confirmations, and each event once, in chain order", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const { chain } = scriptedChain([scheduled("v2", 3, 1), scheduled("v1", 3, 0), scheduled("v3", 9)])
        const f = yield* follower(dir, chain)
        yield* f.step(10) // safe = 5: block 9 is not yet buried under 5
        expect(f.applied).toEqual(["v1", "v2"])
        yield* f.step(13)
        expect(f.applied).toEqual(["v1", "v2"])
        yield* f.step(14)
        expect(f.applied).toEqual(["v1", "v2", "v3"])
        yield* f.step(30)
        expect(f.applied).toEqual(["v1", "v2", "v3"])
        expect(Option.map(yield* f.cursor, (c) => c.block)).toEqual(Option.some(25))
      })
    ))

  it.effect("a large catch-up asks for at most MAX_RANGE blocks per call, and applies BATCH_RANGES ranges at a time", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const { chain, state } = scriptedChain([scheduled("v2", 4500)])
        const f = yield* follower(dir, chain)
        yield* f.step(MAX_RANGE * 3 + 4) // safe = 5999
        expect(state.calls).toEqual([[0, 1999], [2000, 3999], [4000, 5999]])
        expect(f.applied).toEqual(["v2"])
        // Events over more than one batch: one apply per batch that has any, in chain order.
        const many = scriptedChain([
          scheduled("a", 10),
          scheduled("b", MAX_RANGE * BATCH_RANGES + 10),
          scheduled("c", 11)
        ])
        const g = yield* follower(tempDirOf(dir), many.chain)
        yield* g.step(MAX_RANGE * BATCH_RANGES * 2 + 5)
        expect([g.applied, g.batches]).toEqual([["a", "c", "b"], [2, 1]])
      })
    ))

  it.effect("without DAEMON_GOVERNANCE_FROM_BLOCK, a new home starts at the head it first sees, and keeps that start", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const { chain } = scriptedChain([scheduled("old", 50), scheduled("new", 101)])
        const f = yield* follower(dir, chain, { fromBlock: Option.none() })
        yield* f.step(100)
        // A restart before anything was buried: the start stays at 100, not the later head.
        const again = yield* follower(dir, chain, { fromBlock: Option.none() })
        yield* again.step(110)
        expect([f.applied, again.applied]).toEqual([[], ["new"]])
      })
    ))

  it.effect("a restart goes on from the cursor: nothing applied twice, nothing skipped", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const { chain, events } = scriptedChain([scheduled("v1", 2)])
        const first = yield* follower(dir, chain)
        yield* first.step(10)
        events.push(scheduled("v2", 12))
        const second = yield* follower(dir, chain)
        yield* second.step(20)
        expect([first.applied, second.applied]).toEqual([["v1"], ["v2"]])
      })
    ))

  it.effect("killed between a batch's apply and its cursor write: the replay hands that batch again, the earlier ones not", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const { chain, events } = scriptedChain([scheduled("v1", 2)])
        const first = yield* follower(dir, chain)
        yield* first.step(10)
        events.push(scheduled("v2", 12, 0), scheduled("v3", 12, 1))
        // The SIGKILL of CrashPoints.GOVERNANCE_APPLIED, here a defect right after the apply.
        const crashing = yield* follower(dir, chain, { afterApply: Effect.die("killed") })
        expect((yield* Effect.exit(crashing.step(20)))._tag).toBe("Failure")
        expect(crashing.applied).toEqual(["v2", "v3"])
        const restarted = yield* follower(dir, chain)
        yield* restarted.step(20)
        // That batch again (GovernanceLive's apply finds it in the plan and does nothing twice), not v1.
        expect(restarted.applied).toEqual(["v2", "v3"])
      })
    ))

  it.effect("a failed apply holds the cursor; the next step applies it and goes on", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const { chain } = scriptedChain([scheduled("v1", 2), scheduled("v2", 3)])
        let locked = true
        const applied: Array<string> = []
        const f = yield* follower(dir, chain, {
          apply: (events) =>
            locked && events.some((e) => e.name === "v2")
              ? Effect.fail("plan locked")
              : Effect.sync(() => void applied.push(...events.map((e) => e.name)))
        })
        expect(yield* Effect.flip(f.step(10))).toBe("plan locked")
        expect(Option.map(yield* f.cursor, (c) => c.block)).toEqual(Option.some(-1))
        locked = false
        yield* f.step(10)
        expect(applied).toEqual(["v1", "v2"])
      })
    ))

  it.effect("the node down: the step fails (retried by the caller) and the cursor stays", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const { chain, state } = scriptedChain([scheduled("v1", 2)])
        const f = yield* follower(dir, chain)
        state.down = true
        const error = yield* Effect.flip(f.step(10))
        expect(typeof error === "string" ? error : error._tag).toBe("NodeUnreachable")
        state.down = false
        yield* f.step(10)
        expect(f.applied).toEqual(["v1"])
      })
    ))

  it.effect("an event reorganised away before its confirmations never counts", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const { chain, events, state } = scriptedChain([scheduled("v2", 8)])
        const f = yield* follower(dir, chain)
        yield* f.step(10) // block 8 is 2 deep: not read
        // The fork that dropped it: blocks 6.. replaced, the event gone.
        events.length = 0
        state.fork = "b"
        yield* f.step(20)
        expect(f.applied).toEqual([])
      })
    ))

  it.effect("a reorganisation deeper than the confirmations is logged loudly and the blocks before it read again", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const logs = yield* captureLogs
        const { chain, events, state } = scriptedChain([scheduled("v1", 2)])
        const f = yield* follower(dir, chain)
        yield* f.step(20) // cursor at 15, hash a-15
        events.push(scheduled("v9", 13))
        state.fork = "b"
        yield* f.step(21).pipe(Effect.provide(logs.layer))
        const errors = (yield* logs.lines).filter((l) => l.startsWith("ERROR"))
        expect(errors).toHaveLength(1)
        expect(errors[0]).toContain("block 15 is no longer the one read (hash a-15, now b-15)")
        expect(errors[0]).toContain("deeper than DAEMON_GOVERNANCE_CONFIRMATIONS (5)")
        // Read again from block 10: the new chain's event at 13 is applied.
        expect(f.applied).toEqual(["v1", "v9"])
      })
    ))

  it.effect("a cursor left by another registry is not used: the new registry is read from the start", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        fs.writeFileSync(
          path.join(dir, "governance.json"),
          JSON.stringify({
            registry: "0x0000000000000000000000000000000000000001",
            block: 500,
            hash: null,
            applied: []
          })
        )
        const { chain } = scriptedChain([scheduled("v1", 2)])
        const logs = yield* captureLogs
        const f = yield* follower(dir, chain).pipe(Effect.provide(logs.layer))
        yield* f.step(10)
        expect(f.applied).toEqual(["v1"])
        expect((yield* logs.lines).some((l) => l.startsWith("WARN") && l.includes("not " + REGISTRY))).toBe(true)
      })
    ))
})
