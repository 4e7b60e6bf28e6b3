import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { make as makeBinaryStore } from "../binaries/BinaryStore.js"
import type { WemixvisorConfig } from "../config/Config.js"

export const init = (config: WemixvisorConfig, binary: string, force: boolean) =>
  Effect.gen(function* () {
    const store = makeBinaryStore(config.layout)
    yield* store.init(binary, force)
    const current = yield* store.current
    yield* Console.log(`✓ Initialized ${config.layout.root} (current -> ${current})`)
  })
