import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { BinaryStore } from "../binaries/BinaryStore.js"
import { AppConfig } from "../config/Config.js"

export const init = (binary: string, force: boolean) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const store = yield* BinaryStore
    yield* store.init(binary, force)
    const current = yield* store.current
    yield* Console.log(`✓ Initialized ${config.layout.root} (current -> ${current})`)
  })
