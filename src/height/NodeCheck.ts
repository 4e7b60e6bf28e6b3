import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { type Finding, ok, warning } from "../config/Checks.js"
import type { WemixvisorConfig } from "../config/Config.js"
import { readChainId, readHead } from "./Rpc.js"

/*
 * The node's RPC as `config check` and `upgrade check` see it: does it
 * answer, and is its chain id DAEMON_CHAIN_ID's. Unreachable is a warning
 * here, not an error: the node may simply be stopped while the operator
 * checks the configuration (`run` starts it), and `run` itself does not need
 * it to start (`upgrade check` makes it a problem: an upgrade needs it). With
 * DAEMON_CHAIN_ID set, the chain id then cannot be verified: a second warning
 * says so. A node that answers with another chain id is an error: upgrades
 * would be refused.
 */

export interface NodeFindings {
  /** Whether the RPC answered (eth_blockNumber). */
  readonly answers: boolean
  /** The RPC's finding first (check DAEMON_RPC_URL), then the chain id's (DAEMON_CHAIN_ID), if any. */
  readonly findings: ReadonlyArray<Finding>
  /** Why it does not answer (null when it does). */
  readonly reason: string | null
}

export const nodeFindings = (c: Pick<WemixvisorConfig, "rpcUrl" | "chainId">): Effect.Effect<NodeFindings> =>
  Effect.gen(function*() {
    const head = yield* Effect.either(readHead(c.rpcUrl))
    if (Either.isLeft(head)) {
      return {
        answers: false,
        reason: head.left.reason,
        findings: [
          warning(
            "DAEMON_RPC_URL",
            `RPC ${c.rpcUrl} does not answer (${head.left.reason}): the node may be stopped; check again once it runs`
          ),
          ...Option.match(c.chainId, {
            onNone: () => [],
            onSome: (id) => [
              warning("DAEMON_CHAIN_ID", `DAEMON_CHAIN_ID=${id}: not verified, the RPC does not answer`)
            ]
          })
        ]
      }
    }
    const answers = ok("DAEMON_RPC_URL", `RPC ${c.rpcUrl} answers (head ${head.right})`)
    const chainId = yield* Effect.either(readChainId(c.rpcUrl))
    if (Either.isLeft(chainId)) {
      return {
        answers: true,
        reason: null,
        findings: [answers, warning("DAEMON_CHAIN_ID", `eth_chainId could not be read: ${chainId.left.reason}`)]
      }
    }
    const actual = chainId.right
    return {
      answers: true,
      reason: null,
      findings: [
        answers,
        Option.match(c.chainId, {
          onNone: () => ok("DAEMON_CHAIN_ID", `eth_chainId is ${actual} (DAEMON_CHAIN_ID is not set: not checked)`),
          onSome: (id): Finding =>
            id === actual
              ? ok("DAEMON_CHAIN_ID", `eth_chainId is ${actual}, as DAEMON_CHAIN_ID`)
              : {
                level: "error",
                check: "DAEMON_CHAIN_ID",
                message:
                  `eth_chainId is ${actual}, DAEMON_CHAIN_ID is ${id}: DAEMON_RPC_URL is not the node of that chain; upgrades would be refused`
              }
        })
      ]
    }
  })
