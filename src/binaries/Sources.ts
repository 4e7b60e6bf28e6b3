import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { InvalidInput } from "../domain/Errors.js"
import { jsonProblem } from "../platform/Files.js"
import { parseChecksum } from "./Checksum.js"
import { NoBinaryForPlatform } from "./Errors.js"

/*
 * Where an upgrade's binary comes from: a map platform → URL, plus a map
 * platform → checksum, as the plan stores them (ARCHITECTURE §3). Three ways in:
 *   --binaries URL --checksum sha256:<hex>            one URL, any platform (the seeds' form; --url is an alias)
 *   --binaries '{"linux/amd64":"URL",…}' --checksums '{"linux/amd64":"sha256:…",…}'
 *   a drop-in whose info is cosmovisor's {"binaries":{"linux/amd64":"URL?checksum=sha256:…"}}
 * Platform keys are Go's (`linux/amd64`, `linux/arm64`), which is what release
 * manifests use; `any` matches every machine.
 */

export interface BinarySources {
  readonly binaries: Readonly<Record<string, string>>
  readonly checksums: Readonly<Record<string, string>>
}

/** The key for machines a manifest does not single out. */
export const ANY_PLATFORM = "any"

const PLATFORM_KEY = /^[a-z0-9]+\/[a-z0-9_]+$/

/** Node's arch names → Go's, which manifests use (`x64` → `amd64`). */
const GO_ARCH: Readonly<Record<string, string>> = {
  x64: "amd64",
  arm64: "arm64",
  ia32: "386",
  arm: "arm",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64"
}

/** `linux/amd64` for (`linux`, `x64`): the manifest key of a Node platform and arch. */
export const platformKey = (platform: string, arch: string): string => `${platform}/${GO_ARCH[arch] ?? arch}`

/** This machine's manifest key. */
export const currentPlatform = (): string => platformKey(process.platform, process.arch)

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** URLs wemixvisor can fetch: http(s), and file:// for artifacts staged on a local or mounted disk. */
const checkUrl = (field: string, raw: string): Either.Either<string, InvalidInput> => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return Either.left(new InvalidInput({ field, problem: `${JSON.stringify(raw)} is not a URL` }))
  }
  if (url.protocol !== "http:" && url.protocol !== "https:" && url.protocol !== "file:") {
    return Either.left(
      new InvalidInput({ field, problem: `${url.protocol} URLs are not supported (use http, https or file)` })
    )
  }
  return Either.right(raw)
}

const checkPlatform = (field: string, key: string): Either.Either<string, InvalidInput> =>
  key === ANY_PLATFORM || PLATFORM_KEY.test(key)
    ? Either.right(key)
    : Either.left(
      new InvalidInput({
        field,
        problem: `${JSON.stringify(key)} is not a platform (use e.g. linux/amd64, linux/arm64 or any)`
      })
    )

/**
 * Splits cosmovisor's `url?checksum=algo:hex` into the URL without that
 * parameter (the artifact's address) and the checksum. A URL without one
 * stays as it is.
 */
export const splitChecksumParam = (
  field: string,
  raw: string
): Either.Either<{ readonly url: string; readonly checksum: string | undefined }, InvalidInput> => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return Either.left(new InvalidInput({ field, problem: `${JSON.stringify(raw)} is not a URL` }))
  }
  const checksum = url.searchParams.get("checksum")
  if (checksum === null) return Either.right({ url: raw, checksum: undefined })
  if (Either.isLeft(parseChecksum(checksum))) {
    return Either.left(
      new InvalidInput({
        field,
        problem: `checksum ${JSON.stringify(checksum)} is not sha256:<64 hex> or sha512:<128 hex>`
      })
    )
  }
  url.searchParams.delete("checksum")
  return Either.right({ url: url.toString(), checksum })
}

/**
 * Checks a platform → URL map and its checksums as the API receives them:
 * platform keys, http/https/file URLs, checksum syntax, and no checksum for
 * a platform that has no URL. A URL may carry its checksum as `?checksum=`.
 */
export const validateSources = (
  binaries: Readonly<Record<string, string>>,
  checksums: Readonly<Record<string, string>>
): Either.Either<BinarySources, InvalidInput> =>
  Either.gen(function*() {
    const outBinaries: Record<string, string> = {}
    const outChecksums: Record<string, string> = {}
    for (const [key, raw] of Object.entries(binaries)) {
      const field = `binaries.${key}`
      yield* checkPlatform(field, key)
      const split = yield* splitChecksumParam(field, raw)
      outBinaries[key] = yield* checkUrl(field, split.url)
      if (split.checksum !== undefined) outChecksums[key] = split.checksum.toLowerCase()
    }
    for (const [key, raw] of Object.entries(checksums)) {
      const field = `checksums.${key}`
      yield* checkPlatform(field, key)
      if (!(key in outBinaries)) {
        return yield* Either.left(new InvalidInput({ field, problem: "there is no binary URL for this platform" }))
      }
      const parsed = yield* Either.mapLeft(parseChecksum(raw), (problem) => new InvalidInput({ field, problem }))
      const normalized = `${parsed.algorithm}:${parsed.hex}`
      const fromUrl = outChecksums[key]
      if (fromUrl !== undefined && fromUrl !== normalized) {
        return yield* Either.left(
          new InvalidInput({ field, problem: "differs from the checksum in the URL's ?checksum=" })
        )
      }
      outChecksums[key] = normalized
    }
    return { binaries: outBinaries, checksums: outChecksums }
  })

/** The schedule command's binary options, as typed. */
export interface BinaryFlags {
  /** A URL, or a JSON map platform → URL. */
  readonly binaries?: string | undefined
  /** Alias of `binaries` (the seeds'). */
  readonly url?: string | undefined
  /** The checksum of a single URL. */
  readonly checksum?: string | undefined
  /** A JSON map platform → checksum, for a map of URLs. */
  readonly checksums?: string | undefined
}

const StringMapJson = Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.String }))

const parseJsonMap = (field: string, text: string): Either.Either<Record<string, string>, InvalidInput> =>
  Schema.decodeUnknownEither(StringMapJson)(text).pipe(
    Either.mapLeft((e) => {
      let where = field
      const problem = jsonProblem(e, (inner) => {
        const key = ParseResult.ArrayFormatter.formatErrorSync(inner)[0]?.path[0]
        if (key === undefined) return "expected a JSON object like {\"linux/amd64\": \"…\"}"
        where = `${field}.${String(key)}`
        return "expected a string"
      })
      return new InvalidInput({ field: where, problem })
    })
  )

/**
 * `--binaries` (or `--url`), `--checksum`, `--checksums` → the plan's maps.
 * A single URL is stored under `any`; a JSON object is a per-platform map.
 * No flags at all → empty maps.
 */
export const parseBinaryFlags = (flags: BinaryFlags): Either.Either<BinarySources, InvalidInput> =>
  Either.gen(function*() {
    if (flags.binaries !== undefined && flags.url !== undefined && flags.binaries !== flags.url) {
      return yield* Either.left(new InvalidInput({ field: "url", problem: "give --binaries or --url, not both" }))
    }
    const given = flags.binaries ?? flags.url
    if (given === undefined || given.trim() === "") {
      if (flags.checksum !== undefined || flags.checksums !== undefined) {
        const field = flags.checksum !== undefined ? "checksum" : "checksums"
        return yield* Either.left(new InvalidInput({ field, problem: "a checksum needs a binary URL (--binaries)" }))
      }
      return { binaries: {}, checksums: {} }
    }
    if (/^[[{]/.test(given.trim())) {
      if (flags.checksum !== undefined) {
        return yield* Either.left(
          new InvalidInput({
            field: "checksum",
            problem:
              `a single --checksum goes with a single URL; give --checksums '{"linux/amd64":"sha256:…"}' for a map`
          })
        )
      }
      const binaries = yield* parseJsonMap("binaries", given)
      const checksums = flags.checksums === undefined ? {} : yield* parseJsonMap("checksums", flags.checksums)
      return yield* validateSources(binaries, checksums)
    }
    if (flags.checksums !== undefined) {
      return yield* Either.left(
        new InvalidInput({
          field: "checksums",
          problem: "--checksums goes with a JSON map of URLs; use --checksum for a single URL"
        })
      )
    }
    // A single URL is stored under `any`; errors name the flags the operator typed.
    return yield* validateSources(
      { [ANY_PLATFORM]: given.trim() },
      flags.checksum === undefined ? {} : { [ANY_PLATFORM]: flags.checksum.trim() }
    ).pipe(
      Either.mapLeft((e) =>
        new InvalidInput({ field: e.field.startsWith("checksums.") ? "checksum" : "binaries", problem: e.problem })
      )
    )
  })

/** `info` as an object, or as JSON text holding one (cosmovisor writes it either way). */
const infoObject = (info: unknown): unknown => {
  if (typeof info !== "string") return info
  try {
    return JSON.parse(info)
  } catch {
    return undefined
  }
}

/**
 * Binaries and checksums carried by cosmovisor's `info` form
 * (`{"binaries":{"linux/amd64":"url?checksum=sha256:…"}}`), empty when `info`
 * has none. Errors name the field as `info.binaries["linux/amd64"]`.
 */
export const fromCosmovisorInfo = (info: unknown): Either.Either<BinarySources, InvalidInput> => {
  const binaries: Record<string, string> = {}
  const checksums: Record<string, string> = {}
  const obj = infoObject(info)
  if (!isObject(obj) || !("binaries" in obj)) return Either.right({ binaries, checksums })
  if (!isObject(obj.binaries)) {
    return Either.left(
      new InvalidInput({
        field: "info.binaries",
        problem: "expected an object like {\"linux/amd64\": \"<url>?checksum=sha256:<hex>\"}"
      })
    )
  }
  for (const [platform, raw] of Object.entries(obj.binaries)) {
    const field = `info.binaries["${platform}"]`
    if (typeof raw !== "string") return Either.left(new InvalidInput({ field, problem: "expected a URL string" }))
    const split = splitChecksumParam(field, raw)
    if (Either.isLeft(split)) return Either.left(split.left)
    binaries[platform] = split.right.url
    if (split.right.checksum !== undefined) checksums[platform] = split.right.checksum
  }
  return Either.right({ binaries, checksums })
}

/** The binary an upgrade offers this platform. */
export interface BinarySource {
  /** The manifest key that matched: the platform itself, or `any`. */
  readonly platform: string
  readonly url: string
  readonly checksum: string | undefined
}

/** Picks the platform's URL (and checksum), falling back to `any`. */
export const selectSource = (
  name: string,
  sources: BinarySources,
  platform: string = currentPlatform()
): Either.Either<BinarySource, NoBinaryForPlatform> => {
  for (const key of [platform, ANY_PLATFORM]) {
    const url = sources.binaries[key]
    if (url !== undefined) return Either.right({ platform: key, url, checksum: sources.checksums[key] })
  }
  return Either.left(new NoBinaryForPlatform({ name, platform, available: Object.keys(sources.binaries) }))
}
