import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

/*
 * Exit codes (DESIGN §4): 0 ok; 1 operational failure; 2 bad usage or bad
 * input — @effect/cli's ValidationError and config errors included. runMain's
 * default teardown exits 1 for everything, so the tags are mapped here, once.
 */

const BAD_INPUT = new Set([
  "ConfigInvalid",
  "InvalidInput",
  "HomeExists",
  "BinaryInvalid",
  "HomeLocked",
  "UpgradeNotFound",
  "UpgradeConflict",
  // The request cannot work on this machine with this configuration (not a network or disk problem).
  "DownloadRefused",
  "NoBinaryForPlatform"
])

export const exitCodeOf = (error: unknown): 1 | 2 => {
  if (ValidationError.isValidationError(error)) return 2
  if (typeof error === "object" && error !== null && "_tag" in error && BAD_INPUT.has(String(error._tag))) return 2
  return 1
}

/** One line for the operator: the error's own message, no stack. */
export const describeError = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : JSON.stringify(error)

/**
 * Prints a failure on stderr (ValidationErrors are printed by @effect/cli
 * itself) and turns it into the exit code. Interruption (SIGINT/SIGTERM) is a
 * clean exit.
 */
export const teardown = <E, A>(exit: Exit.Exit<E, A>, onExit: (code: number) => void) => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return onExit(0)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (!ValidationError.isValidationError(error)) process.stderr.write(`error: ${describeError(error)}\n`)
    return onExit(exitCodeOf(error))
  }
  process.stderr.write(`internal error (a bug, please report it):\n${Cause.pretty(exit.cause)}\n`)
  onExit(1)
}

