import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Runner } from "./cli/run.js"

/**
 * The runner of `wemixvisor run` the entry provides: the composition root
 * (main.ts, with everything `run` wires) loaded by a dynamic import, so no
 * other command loads it.
 */
export const layer: Layer.Layer<Runner> = Layer.succeed(
  Runner,
  Runner.of({
    run: (config, nodeArgs) =>
      Effect.flatMap(
        Effect.promise(() => import("./main.js")),
        (main) => main.runSupervisor(config, nodeArgs)
      ).pipe(Effect.asVoid)
  })
)
