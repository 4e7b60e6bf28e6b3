import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { AppConfig } from "../config/Config.js"
import { ChainHead } from "./ChainHead.js"
import { HeightProvider } from "./HeightProvider.js"

/**
 * One-shot: each read is its own `eth_blockNumber` to DAEMON_RPC_URL, the
 * RPC code (viem) loaded on the first read — a command that never asks for
 * the head (`upgrade list`) never loads it. What the local CLI uses.
 */
export const layer: Layer.Layer<ChainHead, never, AppConfig> = Layer.effect(
  ChainHead,
  Effect.map(AppConfig, (config) =>
    ChainHead.of({
      head: Effect.flatMap(
        Effect.promise(() => import("./Rpc.js")),
        (rpc) => rpc.readHead(config.rpcUrl)
      )
    }))
)

/** The running HeightProvider's `head` (its connections, no second client): what `run` uses. */
export const fromHeightProvider: Layer.Layer<ChainHead, never, HeightProvider> = Layer.effect(
  ChainHead,
  Effect.map(HeightProvider, (heights) => ChainHead.of({ head: heights.head }))
)
