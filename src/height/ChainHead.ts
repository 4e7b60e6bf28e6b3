import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { NodeUnreachable } from "../domain/Errors.js"
import type { Height } from "../domain/Height.js"

/*
 * The chain head read now — not the last height seen: what a new upgrade's
 * height must be above, and what a status shows. The tag lives here, apart
 * from its layers (ChainHeadLive.ts), so what depends on it loads no RPC code.
 */

export interface ChainHeadService {
  /** One uncached `eth_blockNumber`. */
  readonly head: Effect.Effect<Height, NodeUnreachable>
}

export class ChainHead extends Context.Tag("wemixvisor/ChainHead")<ChainHead, ChainHeadService>() {}
