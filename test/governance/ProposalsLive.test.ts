/*
 * The live proposal tracker against a real anvil (test/support/fixtures.ts)
 * with an OpenZeppelin Governor owning the registry through a timelock
 * (test/support/governance.ts): one proposal driven from created through
 * its vote, success and the timelock to executed, another defeated, a third
 * that does not call the registry ignored; then a restart that shows the
 * list at once and scans nothing again. Every wait is on the tracker's own
 * events or file, never a sleep.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Exit, Layer, Logger, Ref, Schedule, Scope, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Address, createPublicClient, createWalletClient, type Hex, http, keccak256, stringToHex } from "viem"
import { anvil as anvilChain } from "viem/chains"
import { layer as configLayer } from "../../src/config/Config.js"
import type { Height } from "../../src/domain/Height.js"
import { Events, layer as eventsLayer, type WemixvisorEvent } from "../../src/events/Events.js"
import { Proposals } from "../../src/governance/Proposals.js"
import * as ProposalsLive from "../../src/governance/ProposalsLive.js"
import { HeightProvider } from "../../src/height/HeightProvider.js"
import { layer as heightLayer } from "../../src/height/HeightProviderLive.js"
import { cleanup, freePort, startAnvil, tempDir, waitFor } from "../support/fixtures.js"
import {
  blockNumber,
  deployer,
  deployGovernance,
  governorArtifact,
  increaseTime,
  mine,
  mineToEnd,
  type Proposal as KitProposal,
  proposeCancel,
  proposeSchedule,
  revert,
  snapshot,
  tokenSupply,
  vote
} from "../support/governance.js"

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const scopedDir = Effect.acquireRelease(
  Effect.sync(() => tempDir("wemixvisor-proposals-")),
  (dir) => Effect.sync(() => cleanup(dir))
)

/** A Governor write from the deployer, waited for (the kit proposes and votes; queue and execute are ours, one at a time). */
const governorWrite = (url: string, governor: Address, functionName: string, args: ReadonlyArray<unknown>) =>
  promise(async () => {
    const transport = http(url, { retryCount: 0 })
    const wallet = createWalletClient({ chain: anvilChain, transport })
    const hash = await wallet.writeContract({
      address: governor,
      abi: governorArtifact.abi,
      functionName,
      args,
      account: deployer,
      chain: anvilChain
    })
    const receipt = await createPublicClient({ chain: anvilChain, transport }).waitForTransactionReceipt({
      hash,
      pollingInterval: 50
    })
    if (receipt.status !== "success") throw new Error(`${functionName} reverted`)
  })

/** anvil with a Governor, the config, heights and events for a tracker, and the tracker's events as they come. */
const setup = Effect.gen(function*() {
  const dir = yield* scopedDir
  const port = yield* promise(freePort)
  yield* Effect.acquireRelease(
    promise(() => startAnvil({ port, dataDir: dir, blockTime: 0.2 })),
    (a) => promise(() => a.stop())
  )
  const url = `http://127.0.0.1:${port}`
  const gov = yield* promise(() => deployGovernance(url, { votingDelay: 1, votingPeriod: 30, timelockDelay: 60 }))
  const home = path.join(dir, "home")
  // `run` has made the layout by the time the tracker starts.
  fs.mkdirSync(path.join(home, "wemixvisor"), { recursive: true })

  // The config, the heights and the events, shared by both runs of the tracker below.
  const base = yield* Layer.build(
    heightLayer.pipe(
      Layer.provideMerge(eventsLayer),
      Layer.provideMerge(configLayer({
        env: {
          DAEMON_HOME: home,
          DAEMON_NAME: "anvil",
          DAEMON_RPC_URL: url,
          DAEMON_POLL_INTERVAL: "50ms",
          DAEMON_GOVERNANCE_GOVERNOR: gov.governor,
          DAEMON_GOVERNANCE_REGISTRY: gov.registry
        }
      }))
    )
  ).pipe(Effect.orDie)
  const seen = yield* Ref.make(Chunk.empty<WemixvisorEvent>())
  yield* (yield* Context.get(base, Events).subscribe).pipe(
    Stream.filter((e) => e.type.startsWith("proposal-")),
    Stream.runForEach((e) => Ref.update(seen, Chunk.append(e))),
    Effect.forkScoped
  )
  const all = Effect.map(Ref.get(seen), Chunk.toReadonlyArray)
  const ofId = (id: bigint) => Effect.map(all, (es) => es.filter((e) => "id" in e && e.id === id.toString()))
  /** Waits for `type` about proposal `id` (the tracker's own signal). */
  const said = (id: bigint, type: WemixvisorEvent["type"]) =>
    promise(() =>
      waitFor(
        `${type} for ${id}`,
        () => Effect.runSync(ofId(id)).find((e) => e.type === type),
        20_000,
        20
      )
    )

  const start = (scope: Scope.Scope) =>
    Layer.buildWithScope(ProposalsLive.layer, scope).pipe(
      Effect.provide(base),
      Effect.map((ctx) => Context.get(ctx, Proposals))
    )
  const file = path.join(home, "wemixvisor", "proposals.json")
  return { url, gov, all, ofId, said, start, file }
})

const callArgs = (p: KitProposal) => [p.targets, p.values, p.calldatas, keccak256(stringToHex(p.description))]

describe("ProposalsLive (real anvil, OpenZeppelin Governor)", () => {
  it.scopedLive(
    "created → vote → succeeded → queued → executed, another defeated, one not ours ignored; a restart rescans nothing",
    () =>
      Effect.gen(function*() {
        const { all, file, gov, ofId, said, start, url } = yield* setup
        const first = yield* Scope.make()
        const tracker = yield* start(first)
        // Started before any proposal: it reads from the head on, and there is nothing yet.
        expect(yield* tracker.list).toEqual([])
        yield* promise(() => waitFor("proposals.json", () => fs.existsSync(file), 10_000, 20))

        // 1: schedule v2, voted for, passed, queued, executed.
        const p1 = yield* promise(() => proposeSchedule(gov, "v2", 100_000, "{\"binaries\":{}}"))
        const created = yield* said(p1.id, "proposal-created")
        expect(created).toMatchObject({ names: ["v2"], actions: "schedule v2 at 100000" })
        const [listed] = yield* tracker.list
        expect(listed).toMatchObject({
          id: p1.id.toString(),
          proposer: deployer.address,
          description: p1.description,
          actions: [{ kind: "schedule", name: "v2", height: 100_000, info: "{\"binaries\":{}}" }],
          votes: { for: "0", against: "0", abstain: "0" }
        })
        expect(["pending", "active"]).toContain(listed!.state)

        yield* promise(() => vote(gov, p1.id, "for"))
        const votes = yield* said(p1.id, "proposal-vote")
        // quorum: 4% of the supply, at the snapshot (past by the time a vote could be cast)
        expect(votes).toMatchObject({
          for: tokenSupply.toString(),
          against: "0",
          abstain: "0",
          quorum: (tokenSupply * 4n / 100n).toString()
        })
        yield* promise(() => mineToEnd(gov, p1.id))
        yield* said(p1.id, "proposal-succeeded")
        expect((yield* tracker.list)[0]!.state).toBe("succeeded")
        yield* governorWrite(url, gov.governor, "queue", callArgs(p1))
        yield* said(p1.id, "proposal-queued")
        yield* promise(() => increaseTime(url, gov.timelockDelay + 1))
        yield* governorWrite(url, gov.governor, "execute", callArgs(p1))
        yield* said(p1.id, "proposal-executed")

        // Not ours: a proposal that does not call the registry.
        yield* governorWrite(url, gov.governor, "propose", [[gov.token], [0n], ["0x" as Hex], "not ours"])

        // 2: cancel v2, voted against, defeated.
        const p2 = yield* promise(() => proposeCancel(gov, "v2"))
        yield* said(p2.id, "proposal-created")
        yield* promise(() => vote(gov, p2.id, "against"))
        yield* said(p2.id, "proposal-vote")
        yield* promise(() => mineToEnd(gov, p2.id))
        yield* said(p2.id, "proposal-defeated")

        expect((yield* ofId(p1.id)).map((e) => e.type)).toEqual([
          "proposal-created",
          "proposal-vote",
          "proposal-succeeded",
          "proposal-queued",
          "proposal-executed"
        ])
        expect((yield* ofId(p2.id)).map((e) => e.type)).toEqual([
          "proposal-created",
          "proposal-vote",
          "proposal-defeated"
        ])
        const final = yield* tracker.list
        expect(final.map((p) => [p.id, p.state])).toEqual([[p2.id.toString(), "defeated"], [
          p1.id.toString(),
          "executed"
        ]])
        expect(final[0]).toMatchObject({
          actions: [{ kind: "cancel", name: "v2" }],
          votes: { for: "0", against: tokenSupply.toString(), abstain: "0" }
        })

        // A restart: the list at once, from proposals.json; the next step reads on from its cursor, announcing nothing.
        yield* Scope.close(first, Exit.void)
        const events = (yield* all).length
        const cursor = (JSON.parse(fs.readFileSync(file, "utf8")) as { block: number }).block
        const second = yield* Scope.make()
        const again = yield* start(second)
        expect(yield* again.list).toEqual(final)
        yield* promise(() =>
          waitFor(
            "a step after the restart",
            () => (JSON.parse(fs.readFileSync(file, "utf8")) as { block: number }).block > cursor,
            10_000,
            20
          )
        )
        expect((yield* all).length).toBe(events)
        yield* Scope.close(second, Exit.void)
      }),
    90_000
  )

  it.scopedLive(
    "a reorganisation that takes a proposal away: the cursor rewinds, the proposal is dropped, nothing crashes",
    () =>
      Effect.gen(function*() {
        const { file, gov, said, start, url } = yield* setup
        const tracker = yield* start(yield* Effect.scope)
        // Its first step (from the head) before anything is proposed.
        yield* promise(() => waitFor("proposals.json", () => fs.existsSync(file), 10_000, 20))
        const before = yield* promise(() => snapshot(url))
        const p = yield* promise(() => proposeSchedule(gov, "v3", 200_000, ""))
        yield* said(p.id, "proposal-created")
        expect((yield* tracker.list).map((x) => x.id)).toEqual([p.id.toString()])
        // The chain goes back before the proposal and grows past where it was, without it.
        const head = yield* promise(() => blockNumber(url))
        yield* promise(() => revert(url, before))
        yield* promise(async () => mine(url, Number(head - (await blockNumber(url))) + 3))
        yield* promise(() =>
          waitFor("the proposal dropped", () => Effect.runSync(tracker.list).length === 0, 20_000, 20)
        )
        // …and the tracker goes on: a new proposal after the reorganisation is seen.
        const q = yield* promise(() => proposeCancel(gov, "v3"))
        yield* said(q.id, "proposal-created")
        expect((yield* tracker.list).map((x) => x.id)).toEqual([q.id.toString()])
      }),
    90_000
  )

  /** The tracker on `env` with heights 1, 2, 3… every 50 ms (no node behind them), its log lines captured. */
  const offline = (env: Record<string, string>) =>
    Effect.gen(function*() {
      const home = yield* scopedDir
      const lines = yield* Ref.make<ReadonlyArray<string>>([])
      const logger = Logger.make(({ logLevel, message }) => {
        const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
        Effect.runSync(Ref.update(lines, (ls) => [...ls, `${logLevel.label} ${text}`]))
      })
      const heights = HeightProvider.of({
        heights: Stream.iterate(1, (n) => n + 1).pipe(
          Stream.map((n) => n as Height),
          Stream.schedule(Schedule.spaced("50 millis"))
        ),
        latest: Effect.succeedNone,
        head: Effect.die("not read here")
      })
      const ctx = yield* Layer.build(
        ProposalsLive.layer.pipe(
          Layer.provide(Layer.succeed(HeightProvider, heights)),
          Layer.provide(eventsLayer),
          Layer.provide(configLayer({ env: { DAEMON_HOME: home, DAEMON_NAME: "anvil", ...env } })),
          Layer.provide(Logger.replace(Logger.defaultLogger, logger))
        )
      ).pipe(Effect.orDie)
      return { tracker: Context.get(ctx, Proposals), lines: Ref.get(lines) }
    })

  it.scopedLive("off without both a Governor and a registry: an empty list, and no reads", () =>
    Effect.gen(function*() {
      const registry = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
      for (const env of [{}, { DAEMON_GOVERNANCE_REGISTRY: registry }, { DAEMON_GOVERNANCE_GOVERNOR: registry }]) {
        const { lines, tracker } = yield* offline({ DAEMON_RPC_URL: "http://127.0.0.1:9", ...env })
        expect(yield* tracker.list).toEqual([])
        expect(yield* lines).toEqual([])
      }
    }))

  it.scopedLive(
    "a node that does not answer: retried on the Schedule, then said as a warning; never fatal",
    () =>
      Effect.gen(function*() {
        const port = yield* promise(freePort)
        const { lines, tracker } = yield* offline({
          DAEMON_RPC_URL: `http://127.0.0.1:${port}`,
          DAEMON_GOVERNANCE_GOVERNOR: "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9",
          DAEMON_GOVERNANCE_REGISTRY: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        })
        // The first step asks the node for the head's logs; after its retries (10 s), the outage is said.
        const warnings = lines.pipe(Effect.map((ls) => ls.filter((l) => l.startsWith("WARN"))))
        const warned = yield* promise(() =>
          waitFor("the outage said", () => Effect.runSync(warnings).length > 0 && Effect.runSync(warnings), 30_000, 50)
        )
        expect(warned).toHaveLength(1)
        expect(warned[0]).toMatch(/^WARN proposals: .*trying again at the next block$/)
        expect(yield* tracker.list).toEqual([])
      }),
    60_000
  )
})
