import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"

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

/** One read of the node's chain id, given up after CHAIN_ID_TIMEOUT. */
const readWithin = (read: ChainIdReader, rpcUrl: string) =>
  read(rpcUrl).pipe(
    Effect.timeoutFail({
      duration: CHAIN_ID_TIMEOUT,
      onTimeout: () => ({ message: `no answer within ${Duration.format(CHAIN_ID_TIMEOUT)}` })
    })
  )

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
  return readWithin(read, rpcUrl).pipe(
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

/**
 * How the start check asks again while the node does not answer (it may
 * still be starting, or replaying a journal): every 2 s, for 2 minutes.
 */
export const START_CHECK_RETRY = Schedule.spaced("2 seconds").pipe(Schedule.upTo("2 minutes"))

/**
 * The start check: with DAEMON_CHAIN_ID set, one warning as soon as the node
 * first answers another chain id, so a wrong network shows at `run`'s start,
 * not first at an upgrade's height. It never fails: a node that does not
 * answer within `retry` is given up on silently (debug level) — the guard at
 * the upgrade's height still checks.
 */
export const warnOnMismatchAtStart = (
  expected: Option.Option<number>,
  rpcUrl: string,
  read: ChainIdReader = readChainIdLive,
  retry: Schedule.Schedule<unknown, { readonly message: string }> = START_CHECK_RETRY
): Effect.Effect<void> => {
  if (Option.isNone(expected)) return Effect.void
  return readWithin(read, rpcUrl).pipe(
    Effect.retry(retry),
    Effect.flatMap((actual) =>
      actual === expected.value
        ? Effect.void
        : Effect.logWarning(
          `DAEMON_CHAIN_ID is ${expected.value} but the node at ${rpcUrl} reports chain id ${actual}: every upgrade will be refused until they agree`
        )
    ),
    Effect.catchAll((e) => Effect.logDebug(`chain id not checked at start (${e.message}); upgrades still check it`))
  )
}
