import * as Either from "effect/Either"
import * as crypto from "node:crypto"

/*
 * Checksums as the plan stores them: `sha256:<64 hex>` or `sha512:<128 hex>`
 * (the seeds' form, and cosmovisor's `?checksum=` value).
 */

export type ChecksumAlgorithm = "sha256" | "sha512"

export interface ParsedChecksum {
  readonly algorithm: ChecksumAlgorithm
  /** Lower-case hex. */
  readonly hex: string
}

const PATTERN = /^(sha256):([0-9a-fA-F]{64})$|^(sha512):([0-9a-fA-F]{128})$/

/** `sha256:<hex>` → its parts, or the problem in operator words. */
export const parseChecksum = (raw: string): Either.Either<ParsedChecksum, string> => {
  const m = PATTERN.exec(raw.trim())
  if (m === null) return Either.left(`${JSON.stringify(raw)} is not sha256:<64 hex> or sha512:<128 hex>`)
  return m[1] !== undefined
    ? Either.right({ algorithm: "sha256", hex: m[2]!.toLowerCase() })
    : Either.right({ algorithm: "sha512", hex: m[4]!.toLowerCase() })
}

export const formatChecksum = (c: ParsedChecksum): string => `${c.algorithm}:${c.hex}`

/** An incremental hash for streaming data through. */
export const makeHasher = (algorithm: ChecksumAlgorithm): crypto.Hash => crypto.createHash(algorithm)

/** Constant-time comparison of two hex digests (lengths are public). */
export const sameDigest = (a: string, b: string): boolean => {
  const x = Buffer.from(a.toLowerCase(), "utf8")
  const y = Buffer.from(b.toLowerCase(), "utf8")
  return x.length === y.length && crypto.timingSafeEqual(x, y)
}
