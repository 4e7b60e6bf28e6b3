import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { BinaryStore } from "../binaries/BinaryStore.js"
import { AppConfig } from "../config/Config.js"
import { CONFIG_FILES } from "../config/ConfigFile.js"
import { networkConfigToml, type NetworkName } from "../config/Networks.js"
import { ConfigInvalid, HomeLocked } from "../domain/Errors.js"
import { writeFileAtomic } from "../platform/Files.js"
import { lockHolder } from "../platform/LockFile.js"

/**
 * The config file `--network` may write, checked before anything is written:
 * an existing one is the operator's, kept unless `--force`; and even then only
 * a config.toml is replaced — a config.yaml or .json next to the new file
 * would be two files, which the reader refuses.
 */
const checkConfigFile = (root: string, network: NetworkName, force: boolean) =>
  Effect.gen(function*() {
    for (const file of CONFIG_FILES) {
      const where = path.join(root, file)
      if (!fs.existsSync(where)) continue
      if (force && file === "config.toml") continue
      return yield* new ConfigInvalid({
        variable: "--network",
        value: network,
        problem: force
          ? `${where} exists: remove it first (--force replaces only a config.toml, never leaving two config files)`
          : `${where} exists: remove it, or pass --force to replace it`
      })
    }
  })

export const init = (binary: string, force: boolean, network: Option.Option<NetworkName> = Option.none()) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const store = yield* BinaryStore
    // A running supervisor's node runs genesis/bin (or may switch back to it): never replaced under it.
    const holder = lockHolder(config.layout.runLock)
    if (holder !== undefined) {
      return yield* new HomeLocked({ path: config.layout.runLock, pid: holder })
    }
    if (Option.isSome(network)) yield* checkConfigFile(config.layout.root, network.value, force)
    const repointed = yield* store.init(binary, force)
    if (repointed !== null) {
      yield* Effect.logWarning(`current pointed at ${repointed}, which has no usable binary; it points at genesis now`)
    }
    const current = yield* store.current
    yield* Console.log(`✓ Initialized ${config.layout.root} (current -> ${current})`)
    if (Option.isSome(network)) {
      const file = path.join(config.layout.root, "config.toml")
      yield* writeFileAtomic(file, networkConfigToml(network.value))
      yield* Console.log(`✓ Wrote ${file} for ${network.value}`)
    }
  })
