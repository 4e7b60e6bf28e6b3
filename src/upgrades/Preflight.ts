import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { type FreeSpace } from "../binaries/Backup.js"
import { backupFindings } from "../binaries/BackupRoom.js"
import { BinaryStore } from "../binaries/BinaryStore.js"
import { makeHasher, parseChecksum, sameDigest } from "../binaries/Checksum.js"
import { selectSource } from "../binaries/Sources.js"
import { probeVersion } from "../binaries/VersionProbe.js"
import { type Finding, runnableFindings } from "../config/Checks.js"
import type { WemixvisorConfig } from "../config/Config.js"
import { type FileCorrupt, type IoError, UpgradeConflict, UpgradeNotFound } from "../domain/Errors.js"
import { etaText } from "../domain/Eta.js"
import { findUpgrade } from "../domain/Plan.js"
import { finding, onFailureText, type PreflightFinding, type PreflightResult, verdictOf } from "../domain/Preflight.js"
import type { StatusObject } from "../domain/Status.js"
import { failurePolicy, isPending, type Upgrade, type UpgradeName } from "../domain/Upgrade.js"
import { nodeFindings } from "../height/NodeCheck.js"
import * as PauseMarker from "./PauseMarker.js"
import { PlanStore } from "./PlanStore.js"

/*
 * `upgrade check <name>` (domain/Preflight.ts): what would stop a pending
 * upgrade if its height were reached now, gathered from the home's files, the
 * configuration and the node — by the CLI locally and by the running
 * supervisor for RPC CheckUpgrade and REST GET /api/v1/upgrades/:name/check,
 * so both say the same thing. The checks are the ones the upgrade itself
 * makes (BinaryStore.validate, the version probe) and `config check`'s
 * (config/Checks.ts, binaries/BackupRoom.ts, height/NodeCheck.ts), worded
 * for the one upgrade. Nothing is written.
 */

export interface PreflightInputs {
  /** The configuration in force (the running supervisor's live view, or the CLI's). */
  readonly config: WemixvisorConfig
  /** The running supervisor's status (ETA, pauses); none when none answers. */
  readonly status: Option.Option<StatusObject>
  /** A `wemixvisor run` holds this home (its run.lock), answering or not. */
  readonly supervised: boolean
  /** The manifest key binaries are picked for (default: this machine's). */
  readonly platform?: string
  /** Bound on the version probe (default 5 s: a check must not hang on a probe). */
  readonly probeTimeout?: Duration.DurationInput
}

export type PreflightError = UpgradeNotFound | UpgradeConflict | FileCorrupt | IoError

/** A `config check` finding as a preflight one: its errors are problems. */
const fromCheck = (f: Finding): PreflightFinding =>
  finding(f.check, f.level === "error" ? "problem" : f.level, f.message)

/** An artifact URL that names an archive: its checksum is the archive's, not the binary's. */
const ARCHIVE_URL = /\.(tar\.gz|tgz|tar|zip)([?#]|$)/i

const hashFile = (file: string, algorithm: "sha256" | "sha512") =>
  Effect.tryPromise(async () => {
    const hash = makeHasher(algorithm)
    for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) hash.update(chunk)
    return hash.digest("hex")
  })

const short = (hex: string) => `${hex.slice(0, 12)}…`

/** The binary: in place and executable, its checksum when one was given for this platform, the version it reports. */
const binaryFindings = (
  u: Upgrade,
  config: WemixvisorConfig,
  inputs: PreflightInputs
): Effect.Effect<ReadonlyArray<PreflightFinding>, never, BinaryStore> =>
  Effect.gen(function*() {
    const binaries = yield* BinaryStore
    const file = config.layout.binary(u.name)
    const source = selectSource(u.name, u, inputs.platform)
    const valid = yield* Effect.either(binaries.validate(u.name))
    if (Either.isLeft(valid)) {
      const missing = valid.left.problem === "does not exist"
      const fix = missing && Either.isRight(source)
        ? `not downloaded yet${
          u.status === "preparing" ? " (a preparation is under way)" : ""
        }: 'wemixvisor upgrade prepare ${u.name}' downloads and checks it now`
        : `put the new binary there (chmod +x), or schedule '${u.name}' again with --binary`
      return [finding("binary", "problem", `binary ${file} ${valid.left.problem}: ${fix}`)]
    }
    const out: Array<PreflightFinding> = [finding("binary", "ok", `binary ${file}: in place and executable`)]
    if (Either.isRight(source) && source.right.checksum !== undefined) {
      const given = source.right.checksum
      const parsed = parseChecksum(given)
      if (Either.isRight(parsed)) {
        const actual = yield* Effect.either(hashFile(file, parsed.right.algorithm))
        if (Either.isLeft(actual)) {
          out.push(
            finding("checksum", "warning", `the checksum of ${file} could not be computed: ${actual.left.message}`)
          )
        } else if (sameDigest(actual.right, parsed.right.hex)) {
          out.push(
            finding(
              "checksum",
              "ok",
              `binary matches the checksum given for ${source.right.platform} (${given.slice(0, 19)}…)`
            )
          )
        } else if (ARCHIVE_URL.test(source.right.url)) {
          out.push(finding(
            "checksum",
            "warning",
            `the checksum given for ${source.right.platform} is the archive's (${source.right.url}): the binary in place cannot be compared with it`
          ))
        } else {
          out.push(finding(
            "checksum",
            "problem",
            `binary ${file} does not match the checksum given for ${source.right.platform} (${parsed.right.algorithm}:${
              short(parsed.right.hex)
            }, it hashes to ${
              short(actual.right)
            }): it is not the binary that was scheduled; remove it and run 'wemixvisor upgrade prepare ${u.name}'`
          ))
        }
      }
    }
    if (config.versionArgs.length === 0) {
      out.push(finding("version", "ok", "version not probed (DAEMON_VERSION_ARGS is empty)"))
    } else {
      const version = yield* Effect.either(
        probeVersion(file, config.versionArgs, inputs.probeTimeout ?? Duration.seconds(5))
      )
      out.push(
        Either.isRight(version)
          ? finding("version", "ok", `version: the new binary reports ${JSON.stringify(version.right)}`)
          : version.left.cannotRun === true
          ? finding("version", "problem", `${version.left.message}: the new binary cannot run on this machine`)
          : finding(
            "version",
            "warning",
            `version unknown: ${version.left.message} (the upgrade still goes; set DAEMON_VERSION_ARGS to its version command)`
          )
      )
    }
    return out
  })

/** Hooks, verify timings, backup room, the node's RPC and chain id: `config check`'s findings for the upgrade. */
const configFindings = (config: WemixvisorConfig): Effect.Effect<ReadonlyArray<PreflightFinding>, never, FreeSpace> =>
  Effect.gen(function*() {
    const [runnable, backup, node] = yield* Effect.all([
      runnableFindings(config),
      backupFindings(config),
      nodeFindings(config)
    ], { concurrency: "unbounded" })
    const hooks = Option.isNone(config.preStop) && Option.isNone(config.preUpgrade)
      ? [finding("hooks", "ok", "no hooks set (DAEMON_PRE_STOP, DAEMON_PRE_UPGRADE)")]
      : []
    // An upgrade needs the node's RPC (the height, the head at stop, verify): not answering is a problem here.
    const rpc = node.findings.map((f, i) =>
      i === 0 && !node.answers
        ? finding(
          f.check,
          "problem",
          `RPC ${config.rpcUrl} does not answer (${node.reason}): without it the upgrade can neither fire nor verify the new binary; is the node running?`
        )
        : fromCheck(f)
    )
    // A bad value the CLI set aside to run this command (Config.runOnly): the supervisor refuses to start with it.
    const ignored = config.ignored.map((e) => finding(e.variable, "problem", `${e.message}; \`run\` refuses it`))
    return [...ignored, ...runnable.map(fromCheck), ...hooks, ...backup.map(fromCheck), ...rpc]
  })

/** Whether something holds every upgrade back: the operator's pause, a corrupt journal or plan, no supervisor. */
const holdFindings = (
  config: WemixvisorConfig,
  inputs: PreflightInputs
): Effect.Effect<ReadonlyArray<PreflightFinding>> =>
  Effect.gen(function*() {
    const paused = (by: string, since: string, reason: string | null) =>
      finding(
        "paused",
        "problem",
        `upgrades are PAUSED by ${by} since ${since}${
          reason !== null ? ` (${reason})` : ""
        }: none fires until 'wemixvisor upgrade resume'`
      )
    if (Option.isSome(inputs.status)) {
      const s = inputs.status.value
      const out: Array<PreflightFinding> = [
        finding("supervisor", "ok", `wemixvisor run is supervising ${s.home} (pid ${s.supervisor_pid ?? "?"})`)
      ]
      if (s.upgrades_paused !== null) {
        out.push(paused(s.upgrades_paused.by, s.upgrades_paused.since, s.upgrades_paused.reason))
      }
      if (s.paused !== null) out.push(finding("paused", "problem", `${s.paused}: no upgrade fires until that is fixed`))
      if (s.plan_problem !== null) out.push(finding("plan", "warning", s.plan_problem))
      return out
    }
    const out: Array<PreflightFinding> = [
      inputs.supervised
        ? finding("supervisor", "warning", "the running wemixvisor did not answer: its ETA and pauses are unknown")
        : finding(
          "supervisor",
          "warning",
          `no 'wemixvisor run' is running on ${config.home}: nothing fires the upgrade until one runs`
        )
    ]
    const marker = yield* Effect.either(PauseMarker.read(config.layout))
    if (Either.isRight(marker) && Option.isSome(marker.right)) {
      out.push(paused(marker.right.value.by, marker.right.value.since, marker.right.value.reason))
    } else if (Either.isLeft(marker)) {
      out.push(finding("paused", "warning", `the pause marker could not be read: ${marker.left.message}`))
    }
    return out
  })

/** The ETA the running supervisor estimates for `u`, or unknown. */
const etaOf = (u: Upgrade, inputs: PreflightInputs) => {
  const pending = Option.flatMap(inputs.status, (s) => Option.fromNullable(s.pending.find((p) => p.name === u.name)))
  const eta = Option.match(pending, {
    onNone: () => ({ eta: null, eta_seconds: null }),
    onSome: (p) => ({ eta: p.eta, eta_seconds: p.eta_seconds })
  })
  const head = Option.flatMap(inputs.status, (s) => Option.fromNullable(s.current_height))
  const at = `height ${u.height}${Option.isSome(head) ? `, head ${head.value}` : ""}`
  const words = etaText(eta)
  const message = words === "unknown"
    ? `ETA unknown (${at}): ${
      Option.isSome(inputs.status)
        ? "the supervisor has not measured the block interval yet"
        : "only a running wemixvisor measures the block interval"
    }`
    : `ETA ${words} (${at})`
  return { ...eta, finding: finding("eta", "ok", message) }
}

/**
 * The check of the pending upgrade `name`. Fails with UpgradeNotFound for an
 * unknown name and UpgradeConflict for one no longer waiting for its height.
 */
export const preflight = (
  name: UpgradeName,
  inputs: PreflightInputs
): Effect.Effect<PreflightResult, PreflightError, PlanStore | BinaryStore | FreeSpace> =>
  Effect.gen(function*() {
    const { config } = inputs
    const plan = yield* Effect.flatMap(PlanStore, (store) => store.read)
    const u = findUpgrade(plan, name)
    if (u === undefined) return yield* new UpgradeNotFound({ name })
    if (!isPending(u.status) || u.status === "upgrading") {
      return yield* new UpgradeConflict({
        name,
        problem: `is ${u.status}; only an upgrade waiting for its height can be checked`
      })
    }
    const [binary, checks, hold] = yield* Effect.all([
      binaryFindings(u, config, inputs),
      configFindings(config),
      holdFindings(config, inputs)
    ], { concurrency: "unbounded" })
    const eta = etaOf(u, inputs)
    // What runs before it: the pending upgrade just below it, else what `current` points at now.
    const before = plan.upgrades
      .filter((p) => p.name !== u.name && isPending(p.status) && p.height < u.height)
      .sort((a, b) => b.height - a.height)[0]
    const from = before?.name ??
      (yield* Effect.flatMap(BinaryStore, (b) => b.current).pipe(
        Effect.map((t): string => t),
        Effect.orElseSucceed(() => "the previous binary")
      ))
    const policy = failurePolicy(u, config.onUpgradeFailure)
    const onFailure = onFailureText(policy, from)
    const policyFrom = u.on_failure !== undefined ? "this upgrade's on_failure" : "DAEMON_ON_UPGRADE_FAILURE"
    return verdictOf({
      name: u.name,
      height: u.height,
      findings: [
        ...binary,
        ...checks,
        ...hold,
        eta.finding,
        finding("on_failure", "ok", `on failure: ${onFailure} (${policyFrom}=${policy})`)
      ],
      eta: eta.eta,
      eta_seconds: eta.eta_seconds,
      on_failure: onFailure
    })
  })
