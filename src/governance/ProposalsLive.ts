import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import { BaseError, ContractFunctionRevertedError, type Hex, type PublicClient } from "viem"
import { AppConfig } from "../config/Config.js"
import type { IoError, NodeUnreachable } from "../domain/Errors.js"
import { Proposal } from "../domain/Proposal.js"
import { type EventInput, Events } from "../events/Events.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { blockHash, makeHttpClient, unreachable } from "../height/Rpc.js"
import { readJsonIfExists, writeJsonAtomic } from "../platform/Files.js"
import { ranges } from "./Follow.js"
import { GOVERNOR_ABI, PROPOSAL_CREATED } from "./GovernorAbi.js"
import { stepEachHead } from "./Heads.js"
import { Proposals } from "./Proposals.js"
import * as Track from "./ProposalTrack.js"
import { LOGS_TIMEOUT } from "./Registry.js"

/*
 * The live proposal tracker (ARCHITECTURE §10): on each new head (at most
 * once a block; a slow step sees only the latest head after it) it reads the
 * Governor's ProposalCreated logs since its cursor, keeps the proposals that
 * call the registry, and reads the state and votes of those not final yet.
 * It is display only — the registry's events, through the governance source,
 * are what schedule — so it reads up to the head with no confirmations; a
 * reorganisation under its cursor rewinds it, and a proposal the chain no
 * longer knows is dropped. Everything is kept in proposals.json, so a
 * restart shows the list at once and does not scan again. A failed step is
 * retried on a Schedule, said once per outage, and never fatal.
 */

/** How far back a reorganisation under the cursor rewinds: deeper than any the chains we follow see. */
const REWIND = 64

/** proposals.json: the Governor and registry it is for, the last block read (with its hash), the proposals. */
const ProposalsFile = Schema.Struct({
  governor: Schema.String,
  registry: Schema.String,
  block: Schema.Number,
  hash: Schema.NullOr(Schema.String),
  proposals: Schema.Array(Proposal)
})
type ProposalsFile = typeof ProposalsFile.Type

/** What the tracker asks of the chain. */
interface GovernorChain {
  readonly created: (from: number, to: number) => Effect.Effect<ReadonlyArray<Track.Created>, NodeUnreachable>
  readonly blockHash: (n: number) => Effect.Effect<Option.Option<string>, NodeUnreachable>
  /** The Governor's reading of `id` at `head`; none when it reverts (a proposal a reorganisation took away). */
  readonly read: (id: bigint, head: number) => Effect.Effect<Option.Option<Track.Reading>, NodeUnreachable>
}

/** A call the contract refused (a revert), as opposed to a node that did not answer. */
const reverted = (e: unknown): boolean =>
  e instanceof BaseError && e.walk((x) => x instanceof ContractFunctionRevertedError) !== null

const chainOf = (
  logsClient: PublicClient,
  client: PublicClient,
  url: string,
  governor: `0x${string}`
): GovernorChain => {
  const call = <A>(f: () => Promise<A>): Effect.Effect<Option.Option<A>, NodeUnreachable> =>
    Effect.tryPromise({ try: f, catch: (e) => e }).pipe(
      Effect.map(Option.some),
      Effect.catchAll((e) => (reverted(e) ? Effect.succeed(Option.none()) : Effect.fail(unreachable(url)(e))))
    )
  const at = { address: governor, abi: GOVERNOR_ABI } as const
  return {
    created: (from, to) =>
      Effect.tryPromise({
        try: () =>
          logsClient.getLogs({
            address: governor,
            event: PROPOSAL_CREATED,
            fromBlock: BigInt(from),
            toBlock: BigInt(to),
            strict: true
          }),
        catch: unreachable(url)
      }).pipe(Effect.map((logs) =>
        logs.flatMap((log): ReadonlyArray<Track.Created> =>
          log.blockNumber === null ? [] : [{
            id: log.args.proposalId,
            proposer: log.args.proposer,
            targets: log.args.targets,
            calldatas: log.args.calldatas as ReadonlyArray<Hex>,
            voteStart: log.args.voteStart,
            voteEnd: log.args.voteEnd,
            description: log.args.description,
            block: Number(log.blockNumber)
          }]
        )
      )),
    blockHash: (n) => blockHash(client, url, n),
    read: (id, head) =>
      Effect.gen(function*() {
        const [state, votes, snapshot, deadline] = yield* Effect.all([
          call(() => client.readContract({ ...at, functionName: "state", args: [id] })),
          call(() => client.readContract({ ...at, functionName: "proposalVotes", args: [id] })),
          call(() => client.readContract({ ...at, functionName: "proposalSnapshot", args: [id] })),
          call(() => client.readContract({ ...at, functionName: "proposalDeadline", args: [id] }))
        ], { concurrency: "unbounded" })
        if (Option.isNone(state) || Option.isNone(votes) || Option.isNone(snapshot) || Option.isNone(deadline)) {
          return Option.none()
        }
        // quorum(t) reverts until t is in the past: null before then, as the Schema says.
        const quorum = head > Number(snapshot.value)
          ? yield* call(() => client.readContract({ ...at, functionName: "quorum", args: [snapshot.value] }))
          : Option.none<bigint>()
        return Option.some({
          state: state.value,
          votes: votes.value,
          snapshot: snapshot.value,
          deadline: deadline.value,
          quorum: Option.getOrNull(quorum)
        })
      })
  }
}

const OFF = Proposals.of({ list: Effect.succeed([]) })

export const layer: Layer.Layer<Proposals, never, AppConfig | HeightProvider | Events> = Layer.scoped(
  Proposals,
  Effect.gen(function*() {
    const config = yield* AppConfig
    if (Option.isNone(config.governanceGovernor) || Option.isNone(config.governanceRegistry)) return OFF
    const governor = config.governanceGovernor.value
    const registry = config.governanceRegistry.value
    const heights = yield* HeightProvider
    const events = yield* Events
    const file = config.layout.proposals
    const chain = chainOf(
      yield* Effect.orDie(makeHttpClient(config.rpcUrl, undefined, LOGS_TIMEOUT)),
      yield* Effect.orDie(makeHttpClient(config.rpcUrl)),
      config.rpcUrl,
      governor
    )

    // A file that cannot be read, or is for another Governor or registry: said, and read afresh (nothing here decides).
    const stored = yield* readJsonIfExists(ProposalsFile, file).pipe(
      Effect.tapError((e) => Effect.logError(`proposals: ${e.message}; reading the Governor afresh`)),
      Effect.orElseSucceed(() => Option.none<ProposalsFile>()),
      Effect.map(Option.filter((f) => f.governor === governor && f.registry === registry))
    )
    const state = yield* Ref.make<ProposalsFile | undefined>(Option.getOrUndefined(stored))
    const save = (next: ProposalsFile): Effect.Effect<void, IoError> =>
      Effect.zipRight(writeJsonAtomic(file, next), Ref.set(state, next))
    const now = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

    const step = (head: number): Effect.Effect<void, NodeUnreachable | IoError> =>
      Effect.gen(function*() {
        let at = yield* Ref.get(state)
        if (at === undefined) {
          const first = Option.getOrElse(config.governanceFromBlock, () => head)
          at = { governor, registry, block: first - 1, hash: null, proposals: [] }
          // Kept before the first save, so a retried first step starts from the same block and says so once.
          yield* Ref.set(state, at)
          yield* Effect.logInfo(`proposals: reading the Governor ${governor} from block ${first}`)
        }
        if (at.hash !== null) {
          const hash = yield* chain.blockHash(at.block)
          if (Option.getOrNull(hash) !== at.hash) {
            const back = Math.max(-1, at.block - REWIND)
            yield* Effect.logWarning(
              `proposals: block ${at.block} was reorganised away; reading the Governor again from block ${back + 1}`
            )
            at = { ...at, block: back, hash: null }
          }
        }
        // New proposals, keyed by id: a block read twice (after a rewind) adds nothing twice. Saved once, after
        // their first reading: a step that fails half-way is read again whole, and its proposal-created still said.
        const known = new Map(at.proposals.map((p) => [p.id, p]))
        const fresh = new Set<string>()
        const t = yield* now
        for (const [from, to] of ranges(at.block + 1, head)) {
          for (const c of yield* chain.created(from, to)) {
            const p = Track.fromCreated(c, registry, t)
            if (p !== undefined && !known.has(p.id)) {
              known.set(p.id, p)
              fresh.add(p.id)
            }
          }
          const hash = yield* chain.blockHash(to)
          at = { ...at, block: to, hash: Option.getOrNull(hash), proposals: [...known.values()] }
        }

        const open = [...known.values()].filter((p) => fresh.has(p.id) || !Track.isFinal(p.state))
        const readings = yield* Effect.forEach(open, (p) => chain.read(BigInt(p.id), head), { concurrency: 8 })
        const said: Array<EventInput> = []
        open.forEach((p, i) => {
          const r = readings[i]!
          if (Option.isNone(r)) {
            // The Governor does not know it (any more): its creation was reorganised away.
            known.delete(p.id)
            return
          }
          const next = Track.applyReading(p, r.value, t)
          said.push(...Track.transitions(fresh.has(p.id) ? undefined : p, next))
          known.set(p.id, next)
        })
        const dropped = open.filter((p) => !known.has(p.id))
        for (const p of dropped) {
          yield* Effect.logWarning(`proposals: the Governor no longer knows proposal ${p.id}: dropped`)
        }
        yield* save({ ...at, proposals: [...known.values()] })
        yield* Effect.forEach(said, events.publish, { discard: true })
      })

    const lastHead = yield* Ref.make(-1)
    // Once a block: a head seen already (or a lower one, a reorg's) waits for the next new one.
    const onceABlock = (head: number) =>
      Effect.flatMap(
        Ref.get(lastHead),
        (last) => head <= last ? Effect.void : Effect.zipRight(step(head), Ref.set(lastHead, head))
      )
    yield* Effect.forkScoped(
      stepEachHead(heights.heights, onceABlock, "proposals", yield* Ref.make<string | null>(null))
    )

    return Proposals.of({
      list: Effect.map(Ref.get(state), (s) => (s === undefined ? [] : Track.newestFirst(s.proposals)))
    })
  })
)
