import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { BinaryInvalid } from "../domain/Errors.js"
import type { Target } from "../domain/Target.js"
import type { UpgradeName } from "../domain/Upgrade.js"
import type { Installed, InstallError } from "./Download.js"
import type { NoBinaryForPlatform, VersionProbeFailed } from "./Errors.js"
import type { BinarySources } from "./Sources.js"

/*
 * Preparing an upgrade's binary ahead of its height (ARCHITECTURE §3, §6): the
 * binary is put in place (downloaded, verified against its checksum and
 * unpacked when it is not there yet), checked to be an executable file, and
 * probed with `<binary> $DAEMON_VERSION_ARGS`. Everything that can go wrong
 * with a binary goes wrong here, long before the height, where there is time
 * to fix it.
 *
 * The probe is advisory except for one verdict: a binary that cannot run on
 * this machine at all (another architecture, a missing interpreter) is not
 * usable. A probe that runs and fails — a node without a version command, one
 * that hangs — only leaves the version unknown.
 *
 * The service tag lives here, apart from its implementation (PreparerLive.ts),
 * so what depends on it does not load the HTTP client and archive libraries.
 */

/** What preparation established. */
export interface Prepared {
  /** `upgrades/<name>/bin/$DAEMON_NAME`. */
  readonly path: string
  /** The probe's first line; null when DAEMON_VERSION_ARGS is empty or the probe did not say. */
  readonly version: string | null
  /** The download that put it there; null when it was in place already. */
  readonly installed: Installed | null
}

export type PrepareError = InstallError | NoBinaryForPlatform | BinaryInvalid | VersionProbeFailed

/** The upgrade fields preparation reads. */
export interface PrepareTarget extends BinarySources {
  readonly name: UpgradeName
}

export interface PreparerService {
  /** Makes the upgrade's binary usable, or says why it is not. Never leaves a half-placed binary. */
  readonly prepare: (upgrade: PrepareTarget) => Effect.Effect<Prepared, PrepareError>
  /** The version a target's binary reports; null when DAEMON_VERSION_ARGS is empty or the probe fails. */
  readonly version: (target: Target) => Effect.Effect<string | null>
}

export class Preparer extends Context.Tag("wemixvisor/Preparer")<Preparer, PreparerService>() {}
