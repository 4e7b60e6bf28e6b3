import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { fromCosmovisorInfo } from "../binaries/Sources.js"
import { Height } from "../domain/Height.js"
import type { ScheduleRequest } from "../domain/Plan.js"
import { Checksum, OnFailure, Platform, UpgradeName } from "../domain/Upgrade.js"
import { jsonProblem } from "../platform/Files.js"
import { formatParseError } from "./PlanFile.js"

/*
 * upgrade-info.json, the drop-in (ARCHITECTURE §3): `name`, `height`, `info` (text or
 * an object, stored as JSON text), optional `binaries`, `checksums` and `on_failure`
 * (rollback | halt: this upgrade's failure policy); unknown
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
  checksums: Schema.optional(Checksums),
  /** rollback | halt; absent = follow DAEMON_ON_UPGRADE_FAILURE. */
  on_failure: Schema.optional(OnFailure)
})

/** Why a drop-in was refused, under the name events should carry. */
export interface DropInProblem {
  /** The upgrade's name when the file has a valid one, else the file's name. */
  readonly name: string
  readonly reason: string
}

const DropInJson = Schema.parseJson(DropInFile)
/** Just the name, for a refusal: the upgrade's when the file has a valid one. */
const NameOnlyJson = Schema.parseJson(Schema.Struct({ name: UpgradeName }))

/** The drop-in's text as a schedule request, or why it is refused. */
export const parseDropIn = (fileName: string, text: string): Either.Either<ScheduleRequest, DropInProblem> => {
  const decoded = Schema.decodeUnknownEither(DropInJson, { errors: "all", onExcessProperty: "ignore" })(text)
  if (Either.isLeft(decoded)) {
    const name = Option.match(Schema.decodeUnknownOption(NameOnlyJson)(text), {
      onNone: () => fileName,
      onSome: (f) => f.name
    })
    return Either.left({ name, reason: jsonProblem(decoded.left, formatParseError) })
  }
  const file = decoded.right
  const fromInfo = fromCosmovisorInfo(file.info)
  if (Either.isLeft(fromInfo)) {
    return Either.left({ name: file.name, reason: `${fromInfo.left.field}: ${fromInfo.left.problem}` })
  }
  const info = file.info === undefined ? "" : typeof file.info === "string" ? file.info : JSON.stringify(file.info)
  // The file's own maps win over what `info` carries, platform by platform.
  const binaries = { ...fromInfo.right.binaries, ...file.binaries }
  const checksums = { ...fromInfo.right.checksums, ...file.checksums }
  return Either.right({
    name: file.name,
    height: file.height,
    info,
    binaries,
    checksums,
    ...(file.on_failure !== undefined ? { onFailure: file.on_failure } : {})
  })
}
