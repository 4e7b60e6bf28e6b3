import { Either, Schema } from "effect"
import { Height } from "../domain/Height.js"
import type { ScheduleRequest } from "../domain/Plan.js"
import { Checksum, Platform, UpgradeName } from "../domain/Upgrade.js"
import { formatParseError } from "./PlanFile.js"

/*
 * upgrade-info.json, the drop-in (DESIGN §2): `name`, `height`, `info` (text or
 * an object, stored as JSON text), optional `binaries` and `checksums`; unknown
 * fields (cosmovisor's `time`, …) are ignored; a missing `info` is "". `info` may carry cosmovisor's
 * `{"binaries":{"linux/amd64":"<url>?checksum=sha256:<hex>"}}`; those URLs
 * become binaries and their checksums, unless the file names them itself.
 */

const Binaries = Schema.Record({ key: Platform, value: Schema.String })
const Checksums = Schema.Record({ key: Platform, value: Checksum })

const DropInFile = Schema.Struct({
  name: UpgradeName,
  height: Height,
  info: Schema.optional(Schema.Union(Schema.String, Schema.Record({ key: Schema.String, value: Schema.Unknown }))),
  binaries: Schema.optional(Binaries),
  checksums: Schema.optional(Checksums)
})

/** Why a drop-in was refused, under the name events should carry. */
export interface DropInProblem {
  /** The upgrade's name when the file has a valid one, else the file's name. */
  readonly name: string
  readonly reason: string
}

const CosmovisorInfo = Schema.Struct({ binaries: Schema.Record({ key: Platform, value: Schema.String }) })

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
 * Splits cosmovisor's `url?checksum=algo:hex` into the URL (without the
 * checksum parameter, so a downloader sees the artifact's address) and the
 * checksum. A URL without one stays as it is.
 */
const splitChecksum = (
  platform: string,
  raw: string
): Either.Either<{ readonly url: string; readonly checksum: string | undefined }, string> => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return Either.left(`info.binaries["${platform}"]: not a URL`)
  }
  const checksum = url.searchParams.get("checksum")
  if (checksum === null) return Either.right({ url: raw, checksum: undefined })
  if (!Schema.is(Checksum)(checksum)) {
    return Either.left(`info.binaries["${platform}"]: checksum ${JSON.stringify(checksum)} is not sha256:<64 hex> or sha512:<128 hex>`)
  }
  url.searchParams.delete("checksum")
  return Either.right({ url: url.toString(), checksum })
}

/** Binaries and checksums carried by cosmovisor's info form, if `info` has one. */
const cosmovisorBinaries = (
  info: unknown
): Either.Either<{ binaries: Record<string, string>; checksums: Record<string, string> }, string> => {
  const binaries: Record<string, string> = {}
  const checksums: Record<string, string> = {}
  const obj = infoObject(info)
  if (typeof obj !== "object" || obj === null || !("binaries" in obj)) return Either.right({ binaries, checksums })
  const decoded = Schema.decodeUnknownEither(CosmovisorInfo, { onExcessProperty: "ignore" })(obj)
  if (Either.isLeft(decoded)) return Either.left(`info.${formatParseError(decoded.left)}`)
  for (const [platform, raw] of Object.entries(decoded.right.binaries)) {
    const split = splitChecksum(platform, raw)
    if (Either.isLeft(split)) return Either.left(split.left)
    binaries[platform] = split.right.url
    if (split.right.checksum !== undefined) checksums[platform] = split.right.checksum
  }
  return Either.right({ binaries, checksums })
}

/** The drop-in's text as a schedule request, or why it is refused. */
export const parseDropIn = (fileName: string, text: string): Either.Either<ScheduleRequest, DropInProblem> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return Either.left({ name: fileName, reason: `not JSON (${(e as Error).message})` })
  }
  const rawName = typeof json === "object" && json !== null && "name" in json ? json.name : undefined
  const name = Schema.is(UpgradeName)(rawName) ? rawName : fileName
  const decoded = Schema.decodeUnknownEither(DropInFile, { errors: "all", onExcessProperty: "ignore" })(json)
  if (Either.isLeft(decoded)) return Either.left({ name, reason: formatParseError(decoded.left) })
  const file = decoded.right
  const fromInfo = cosmovisorBinaries(file.info)
  if (Either.isLeft(fromInfo)) return Either.left({ name, reason: fromInfo.left })
  const info = file.info === undefined ? "" : typeof file.info === "string" ? file.info : JSON.stringify(file.info)
  // The file's own maps win over what `info` carries, platform by platform.
  const binaries = { ...fromInfo.right.binaries, ...file.binaries }
  const checksums = { ...fromInfo.right.checksums, ...file.checksums }
  return Either.right({ name: file.name, height: file.height, info, binaries, checksums })
}
