import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { WemixvisorConfig } from "../config/Config.js"
import type { BinaryInvalid, ConfigInvalid, HomeLocked, InvalidInput, IoError, SpawnFailed } from "../domain/Errors.js"

/*
 * `wemixvisor run`'s implementation, as the command tree sees it: a runner
 * passed in by the entry (bin.ts, through ../Runner.ts), which loads the
 * composition root (main.ts) only when `run` is the command. The CLI never
 * imports the composition root.
 */

export type RunError = InvalidInput | ConfigInvalid | HomeLocked | BinaryInvalid | IoError | SpawnFailed

export interface RunnerService {
  /** Supervises the node until interrupted (SIGTERM/SIGINT). */
  readonly run: (config: WemixvisorConfig, nodeArgs: ReadonlyArray<string>) => Effect.Effect<void, RunError>
}

export class Runner extends Context.Tag("wemixvisor/cli/Runner")<Runner, RunnerService>() {}
