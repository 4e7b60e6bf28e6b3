import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/*
 * The chain-id guard: an upgrade planned for one network must not run on a
 * node of another (a config copied between homes, a testnet plan on a
 * mainnet node). Checked just before the upgrade touches the node, against
 * DAEMON_CHAIN_ID; without it, nothing is checked.
 */

/** Reads the node's `eth_chainId` at `rpcUrl`. */
export type ChainIdReader = (rpcUrl: string) => Effect.Effect<number, { readonly message: string }>

/** The live reader: Rpc.ts (and viem) loaded only when a guard runs, not with the orchestrator. */
export const readChainIdLive: ChainIdReader = (rpcUrl) =>
  Effect.flatMap(Effect.promise(() => import("../height/Rpc.js")), (m) => m.readChainId(rpcUrl))

/** How long the guard waits for the node's answer before it lets the upgrade go on unchecked. */
export const CHAIN_ID_TIMEOUT = Duration.seconds(10)

/**
 * Why the upgrade must not run: the node reports another chain than
 * `expected`. None: it may — ids match, none is configured, or the node
 * could not be asked. An unreachable RPC does not block the upgrade: at its
 * height the old binary may well have stopped answering (the very reason
 * for the upgrade), and refusing then would leave the node stuck on a binary
 * that cannot go on; the guard catches a wrong network, which a node that
 * once answered would have shown — so it warns and lets the upgrade run.
 */
export const chainMismatch = (
  expected: Option.Option<number>,
  rpcUrl: string,
  read: ChainIdReader = readChainIdLive
): Effect.Effect<Option.Option<string>> => {
  if (Option.isNone(expected)) return Effect.succeed(Option.none())
  return read(rpcUrl).pipe(
    Effect.timeoutFail({
      duration: CHAIN_ID_TIMEOUT,
      onTimeout: () => ({ message: `no answer within ${Duration.format(CHAIN_ID_TIMEOUT)}` })
    }),
    Effect.map((actual) =>
      actual === expected.value
        ? Option.none<string>()
        : Option.some(`node reports chain id ${actual}, DAEMON_CHAIN_ID is ${expected.value}`)
    ),
    Effect.catchAll((e) =>
      Effect.as(
        Effect.logWarning(`chain id could not be checked (${e.message}); the upgrade goes on unchecked`),
        Option.none<string>()
      )
    )
  )
}
