import * as Effect from "effect/Effect"
import type { WemixvisorConfig } from "../config/Config.js"
import { runSupervisor } from "../main.js"

export const run = (config: WemixvisorConfig, nodeArgs: ReadonlyArray<string>) => runSupervisor(config, nodeArgs).pipe(Effect.asVoid)
