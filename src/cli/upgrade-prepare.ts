import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Layer from "effect/Layer"
import type { BinaryStore } from "../binaries/BinaryStore.js"
import type { Preparer } from "../binaries/Preparer.js"
import * as PreparerLive from "../binaries/PreparerLive.js"
import type { AppConfig } from "../config/Config.js"

/*
 * The download half of `upgrade prepare`, in its own chunk: only this command
 * loads the HTTP client (Local.ts builds it on first use).
 */

export const layer: Layer.Layer<Preparer, never, AppConfig | BinaryStore> = PreparerLive.layer.pipe(
  Layer.provide(NodeHttpClient.layer)
)
