import { Effect } from "effect"
import type { WemixvisorConfig } from "../config/Config.js"
import { runSupervisor } from "../main.js"

export const run = (config: WemixvisorConfig, nodeArgs: ReadonlyArray<string>) => runSupervisor(config, nodeArgs).pipe(Effect.asVoid)
