import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type { NodeUnreachable } from "../domain/Errors.js"
import type { Height } from "../domain/Height.js"
import type { RpcRead } from "./RpcErrors.js"

/*
 * The service tag lives here, apart from its implementation
 * (HeightProviderLive.ts), so what depends on it does not load viem.
 */

/**
 * The chain head as seen through the node's JSON-RPC (ARCHITECTURE §1).
 *
 * `heights` never fails and never ends: transient RPC errors and a node that
 * is down (restarting, upgrading) are retried on a Schedule. It emits strictly
 * increasing heights; a lower head (reorg, a restarted dev chain) is logged and
 * published as `height-reorg` and emitted only once the chain passes the
 * highest height already seen, so it never triggers anything by itself.
 *
 * `head` is one direct `eth_blockNumber` (no cache, no monotonic filter): what
 * verify and `upgrade schedule` compare against.
 */
export interface HeightProviderService {
  /** Shared: every subscriber sees the same sequence from one poller/subscription. */
  readonly heights: Stream.Stream<Height>
  /** The highest height seen so far, if any (for status). */
  readonly latest: Effect.Effect<Option.Option<Height>>
  readonly head: Effect.Effect<Height, NodeUnreachable>
  /**
   * Every failed RPC read (polls, direct reads, the subscription) by kind,
   * and the first read that answers after failures (metrics). Absent in
   * layers that read no RPC.
   */
  readonly rpcReads?: Stream.Stream<RpcRead>
}

export class HeightProvider extends Context.Tag("wemixvisor/HeightProvider")<HeightProvider, HeightProviderService>() {}
