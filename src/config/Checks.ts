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
 *
 * Each check is a finding, so `config check` can print them all; `run` and
 * `config` stop at the first error (checkRunnable).
 */

export type FindingLevel = "ok" | "warning" | "error"

/** One thing `config check` looked at, as one line. */
export interface Finding {
  readonly level: FindingLevel
  /** What was checked: a variable (`DAEMON_PRE_UPGRADE`) or a subject (`rpc`, `backup`). */
  readonly check: string
  readonly message: string
  /** An error's reason as `run` would fail with it (its message is the line). */
  readonly error?: ConfigInvalid
}

export const ok = (check: string, message: string): Finding => ({ level: "ok", check, message })
export const warning = (check: string, message: string): Finding => ({ level: "warning", check, message })
/** An error finding worded exactly as `run` words the failure (`invalid X="…": …`). */
export const invalid = (error: ConfigInvalid): Finding => ({
  level: "error",
  check: error.variable,
  message: error.message,
  error
})

/** Why `file` cannot be run by us, or undefined when it can: it must exist, be a file and be executable. */
export const notExecutable = (file: string): string | undefined => {
  try {
    if (!fs.statSync(file).isFile()) return "is not a file"
    fs.accessSync(file, fs.constants.X_OK)
    return undefined
  } catch (e) {
    const code = errnoOf(e)
    return code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not executable (chmod +x it)" : String(e)
  }
}

/** A hook script, when one is set. */
const hookFindings = (variable: string, file: Option.Option<string>): ReadonlyArray<Finding> =>
  Option.match(file, {
    onNone: () => [],
    onSome: (f) => {
      const problem = notExecutable(f)
      return [
        problem === undefined
          ? ok(variable, `${variable}=${f}: an executable file`)
          : invalid(
            new ConfigInvalid({ variable, value: f, problem: `${problem}; the upgrade would fail at its height` })
          )
      ]
    }
  })

const verifyFinding = (c: WemixvisorConfig): Finding => {
  const minUp = c.given.DAEMON_VERIFY_MIN_UP ?? Duration.format(c.verifyMinUp)
  const timeout = c.given.DAEMON_VERIFY_TIMEOUT ?? Duration.format(c.verifyTimeout)
  return Duration.greaterThanOrEqualTo(c.verifyMinUp, c.verifyTimeout)
    ? invalid(
      new ConfigInvalid({
        variable: "DAEMON_VERIFY_MIN_UP",
        value: minUp,
        problem:
          `must be shorter than DAEMON_VERIFY_TIMEOUT (${timeout}): verify could never pass, and every upgrade would roll back`
      })
    )
    : ok("DAEMON_VERIFY_MIN_UP", `DAEMON_VERIFY_MIN_UP=${minUp} is shorter than DAEMON_VERIFY_TIMEOUT=${timeout}`)
}

/** Every runnable check, errors and all, in the order `run` makes them. Reads the file system (the hooks). */
export const runnableFindings = (c: WemixvisorConfig): Effect.Effect<ReadonlyArray<Finding>> =>
  Effect.sync(() => [
    verifyFinding(c),
    ...hookFindings("DAEMON_PRE_STOP", c.preStop),
    ...hookFindings("DAEMON_PRE_UPGRADE", c.preUpgrade)
  ])

/** Fails with the first error among `findings`, as `run` reports it. */
export const firstError = (findings: ReadonlyArray<Finding>): Effect.Effect<void, ConfigInvalid> => {
  const error = findings.find((f) => f.error !== undefined)?.error
  return error === undefined ? Effect.void : Effect.fail(error)
}

/** `run` and `config`: the first check that fails, or nothing. */
export const checkRunnable = (c: WemixvisorConfig): Effect.Effect<void, ConfigInvalid> =>
  Effect.flatMap(runnableFindings(c), firstError)
