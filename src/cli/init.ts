import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { BinaryStore } from "../binaries/BinaryStore.js"
import { AppConfig } from "../config/Config.js"
import { HomeLocked } from "../domain/Errors.js"
import { lockHolder } from "../platform/LockFile.js"

export const init = (binary: string, force: boolean) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const store = yield* BinaryStore
    // A running supervisor's node runs genesis/bin (or may switch back to it): never replaced under it.
    const holder = lockHolder(config.layout.runLock)
    if (holder !== undefined) {
      return yield* new HomeLocked({ path: config.layout.runLock, pid: holder })
    }
    const repointed = yield* store.init(binary, force)
    if (repointed !== null) {
      yield* Effect.logWarning(`current pointed at ${repointed}, which has no usable binary; it points at genesis now`)
    }
    const current = yield* store.current
    yield* Console.log(`✓ Initialized ${config.layout.root} (current -> ${current})`)
  })
