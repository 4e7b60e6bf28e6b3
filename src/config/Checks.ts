import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { ConfigInvalid } from "../domain/Errors.js"
import { errnoOf } from "../platform/Errno.js"
import type { WemixvisorConfig } from "./Config.js"

/*
 * What can only fail at the upgrade height, refused when `run` starts (and by
 * `config`) instead: a hook that is not there, verify timings that can never
 * pass. Each value is fine on its own, so loadConfig cannot see these.
 */

/** A hook script must exist, be a file and be executable by us. */
const checkHook = (variable: string, file: Option.Option<string>): Effect.Effect<void, ConfigInvalid> =>
  Option.match(file, {
    onNone: () => Effect.void,
    onSome: (f) =>
      Effect.suspend(() => {
        const problem = (() => {
          try {
            if (!fs.statSync(f).isFile()) return "is not a file"
            fs.accessSync(f, fs.constants.X_OK)
            return undefined
          } catch (e) {
            const code = errnoOf(e)
            return code === "ENOENT"
              ? "does not exist"
              : code === "EACCES"
              ? "is not executable (chmod +x it)"
              : String(e)
          }
        })()
        return problem === undefined
          ? Effect.void
          : Effect.fail(
            new ConfigInvalid({ variable, value: f, problem: `${problem}; the upgrade would fail at its height` })
          )
      })
  })

export const checkRunnable = (c: WemixvisorConfig): Effect.Effect<void, ConfigInvalid> =>
  Effect.gen(function*() {
    if (Duration.greaterThanOrEqualTo(c.verifyMinUp, c.verifyTimeout)) {
      return yield* new ConfigInvalid({
        variable: "DAEMON_VERIFY_MIN_UP",
        value: c.given.DAEMON_VERIFY_MIN_UP ?? Duration.format(c.verifyMinUp),
        problem: `must be shorter than DAEMON_VERIFY_TIMEOUT (${
          c.given.DAEMON_VERIFY_TIMEOUT ?? Duration.format(c.verifyTimeout)
        }): verify could never pass, and every upgrade would roll back`
      })
    }
    yield* checkHook("DAEMON_PRE_STOP", c.preStop)
    yield* checkHook("DAEMON_PRE_UPGRADE", c.preUpgrade)
  })
