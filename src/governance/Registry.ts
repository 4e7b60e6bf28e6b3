import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Agent } from "node:http"
import { parseAbiItem, type PublicClient, toEventSelector } from "viem"
import type { NodeUnreachable } from "../domain/Errors.js"
import { blockHash, codeAt, makeHttpClient, unreachable } from "../height/Rpc.js"

/*
 * The registry on chain, through viem (ARCHITECTURE §10): its two events,
 * read with getLogs in block ranges, and the block hashes the follower
 * checks for a reorganisation. Any contract that emits these two events is
 * a source: the reference registry (contracts/UpgradeRegistry.sol), a
 * multisig, a chain's system contract.
 */

export const UPGRADE_SCHEDULED = parseAbiItem("event UpgradeScheduled(string name, uint64 height, string info)")
export const UPGRADE_CANCELLED = parseAbiItem("event UpgradeCancelled(string name)")
/** The topics a registry's logs start with: what `config check` looks for. */
export const REGISTRY_TOPICS = [toEventSelector(UPGRADE_SCHEDULED), toEventSelector(UPGRADE_CANCELLED)] as const

/** Where an event sits on chain. */
export interface LogPosition {
  readonly block: number
  readonly logIndex: number
  readonly tx: string
}

export type RegistryEvent =
  | LogPosition & {
    readonly _tag: "Scheduled"
    readonly name: string
    readonly height: bigint
    readonly info: string
  }
  | LogPosition & { readonly _tag: "Cancelled"; readonly name: string }

/** What the follower asks of the chain; the live one is `chainOf`, tests script their own. */
export interface RegistryChain {
  /** The registry's events in blocks `from`..`to` (inclusive), in the node's order (Follow.ts sorts them). */
  readonly logs: (from: number, to: number) => Effect.Effect<ReadonlyArray<RegistryEvent>, NodeUnreachable>
  /** The hash of block `n`; none when the chain has no such block (yet, or any more). */
  readonly blockHash: (n: number) => Effect.Effect<Option.Option<string>, NodeUnreachable>
  /** The registry's code (`0x` when there is no contract at the address). */
  readonly code: Effect.Effect<string, NodeUnreachable>
}

/** A getLogs over thousands of blocks takes a node longer than a head read. */
export const LOGS_TIMEOUT = Duration.seconds(30)

/** The live chain at `rpcUrl`, over `agent`'s kept-alive connections. */
export const chainOf = (
  rpcUrl: string,
  registry: `0x${string}`,
  agent?: Agent
): Effect.Effect<RegistryChain, NodeUnreachable> =>
  Effect.map(makeHttpClient(rpcUrl, agent, LOGS_TIMEOUT), (client) => live(client, rpcUrl, registry))

const live = (client: PublicClient, rpcUrl: string, registry: `0x${string}`): RegistryChain => ({
  logs: (from, to) =>
    Effect.tryPromise({
      try: () =>
        client.getLogs({
          address: registry,
          events: [UPGRADE_SCHEDULED, UPGRADE_CANCELLED],
          fromBlock: BigInt(from),
          toBlock: BigInt(to),
          strict: true
        }),
      catch: unreachable(rpcUrl)
    }).pipe(
      Effect.map((logs) =>
        logs.flatMap((log): ReadonlyArray<RegistryEvent> => {
          if (log.blockNumber === null || log.logIndex === null || log.transactionHash === null) return []
          const at = { block: Number(log.blockNumber), logIndex: log.logIndex, tx: log.transactionHash }
          return log.eventName === "UpgradeScheduled"
            ? [{ _tag: "Scheduled", ...at, name: log.args.name, height: log.args.height, info: log.args.info }]
            : [{ _tag: "Cancelled", ...at, name: log.args.name }]
        })
      )
    ),
  blockHash: (n) => blockHash(client, rpcUrl, n),
  code: codeAt(client, rpcUrl, registry)
})
