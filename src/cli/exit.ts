import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { type ErrorKind, kindOf } from "../domain/Errors.js"

/*
 * Exit codes (ARCHITECTURE §5): 0 ok; 1 operational failure; 2 bad usage or bad
 * input — @effect/cli's ValidationError and config errors included. runMain's
 * default teardown exits 1 for everything, so the codes are chosen here, once,
 * by the kind of failure each error says it is (src/domain/Errors.ts).
 */

/** 2: the request itself is wrong (input, usage, config, it contradicts the plan or the home); 1: something failed on the way. */
export const exitCodes: { readonly [K in ErrorKind]: 1 | 2 } = {
  input: 2,
  conflict: 2,
  missing: 2,
  unauthorized: 2,
  forbidden: 2,
  "too-large": 2,
  unsupported: 2,
  unavailable: 1,
  operational: 1
}

export const exitCodeOf = (error: unknown): 1 | 2 =>
  ValidationError.isValidationError(error) ? 2 : exitCodes[kindOf(error)]

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
