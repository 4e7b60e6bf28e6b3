import * as Schema from "effect/Schema"

/**
 * A block height. JSON numbers everywhere (ARCHITECTURE §3); chain heights stay far
 * below 2^53, and anything above MAX_SAFE_INTEGER is refused rather than
 * rounded, so no height ever loses precision.
 */
export const Height = Schema.Number.pipe(
  // Before `int`: Schema.int means a *safe* integer, so a height past 2^53 would be told it is not whole.
  Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER, {
    message: () => `a height must be at most ${Number.MAX_SAFE_INTEGER}`
  }),
  Schema.int({ message: () => "a height must be a whole number" }),
  Schema.nonNegative({ message: () => "a height must not be negative" }),
  Schema.brand("Height")
)
export type Height = typeof Height.Type

export const makeHeight = Schema.decodeSync(Height)

/** Heights from viem arrive as bigint; refuse rather than round one that does not fit. */
export const heightFromBigInt = (n: bigint): Height | undefined =>
  n >= 0n && n <= BigInt(Number.MAX_SAFE_INTEGER) ? (Number(n) as Height) : undefined

/** A height typed on a command line or in a form: digits only, no sign, no exponent. */
export const HeightFromString = Schema.String.pipe(
  Schema.pattern(/^[0-9]+$/, { message: () => "a height must be a non-negative whole number" }),
  Schema.compose(Schema.NumberFromString),
  Schema.compose(Height)
)
