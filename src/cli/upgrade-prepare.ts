import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import { make as makeBinaryStore } from "../binaries/BinaryStore.js"
import type { PrepareTarget } from "../binaries/Preparer.js"
import { make as makePreparer } from "../binaries/PreparerLive.js"
import type { WemixvisorConfig } from "../config/Config.js"

/*
 * The download half of `upgrade prepare`, in its own chunk: only this command
 * loads the HTTP client.
 */

export const prepareBinary = (config: WemixvisorConfig, upgrade: PrepareTarget) =>
  Effect.flatMap(makePreparer(config, makeBinaryStore(config.layout)), (p) => p.prepare(upgrade)).pipe(
    Effect.provide(NodeHttpClient.layer)
  )
