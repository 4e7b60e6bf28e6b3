import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { freeSpaceLive } from "../binaries/Backup.js"
import { AppConfig } from "../config/Config.js"
import type { ErrorKind } from "../domain/Errors.js"
import { PreflightResult, preflightText } from "../domain/Preflight.js"
import type { StatusObject } from "../domain/Status.js"
import { lockHolder } from "../platform/LockFile.js"
import { decodeName } from "../upgrades/Operations.js"
import { preflight } from "../upgrades/Preflight.js"
import { safeText } from "./upgrade-format.js"
import { liveStatus, remoteOf, requireHome } from "./upgrade.js"

/*
 * `wemixvisor upgrade check <name> [--json] [--remote URL]` (issue #18 item 6):
 * would the pending upgrade go through if its height were reached now. A line
 * per finding (ok / warning / problem) and the verdict; exit 0 go, 1 NO GO,
 * 2 bad input (no such upgrade, one no longer waiting for its height, bad
 * flags). Locally from the home's files, the configuration and the node, with
 * the ETA of the running supervisor when one answers; with --remote the
 * running supervisor checks (RPC CheckUpgrade) with the same code
 * (upgrades/Preflight.ts). Nothing is written.
 */

/** The check found a problem: exit 1, the lines above say which. */
export class PreflightNoGo extends Data.TaggedError("PreflightNoGo")<{
  readonly name: string
  readonly problems: number
}> {
  get kind(): ErrorKind {
    return "unavailable"
  }
  override get message() {
    return `upgrade check: '${this.name}' would not go through now: ${this.problems} problem${
      this.problems === 1 ? "" : "s"
    } (the problem lines)`
  }
}

/** A check probes the binary and measures the data dir for the backup: longer than a status, bounded all the same. */
export const CHECK_TIMEOUT = Duration.minutes(2)

const remoteModule = Effect.promise(() => import("./upgrade-remote.js"))

export const check = (o: { readonly name: string; readonly json: boolean; readonly remote: Option.Option<string> }) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const name = yield* decodeName(o.name)
    const remote = yield* remoteOf(config, o.remote)
    const result = Option.isSome(remote)
      ? yield* Effect.flatMap(
        remoteModule,
        (m) => m.call(remote.value, (client) => client.CheckUpgrade({ name }), CHECK_TIMEOUT)
      )
      : yield* Effect.gen(function*() {
        yield* requireHome
        const supervised = lockHolder(config.layout.runLock) !== undefined
        const status: Option.Option<StatusObject> = yield* liveStatus(config, Option.none())
        return yield* preflight(name, { config, status, supervised }).pipe(Effect.provide(freeSpaceLive))
      })
    yield* Console.log(
      o.json
        ? JSON.stringify(Schema.encodeSync(PreflightResult)(result), null, 2)
        : preflightText(result, safeText)
    )
    if (!result.go) {
      return yield* new PreflightNoGo({
        name: result.name,
        problems: result.findings.filter((f) => f.level === "problem").length
      })
    }
  })
