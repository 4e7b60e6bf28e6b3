import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { BinaryInvalid, HomeExists, IoError, UpgradeConflict } from "../domain/Errors.js"
import type { Layout } from "../domain/Layout.js"
import type { Target } from "../domain/Target.js"
import type { UpgradeName } from "../domain/Upgrade.js"

/* The service tag; its implementation is BinaryStoreLive.ts. */

/**
 * The on-disk layout of binaries (ARCHITECTURE §3): genesis/, upgrades/<name>/,
 * and the `current` link, switched atomically (temp link + rename) so a crash
 * never leaves it missing.
 */
export interface BinaryStoreService {
  readonly layout: Layout
  /**
   * Creates the layout and copies the genesis binary; refuses an existing home
   * unless `force`; never moves a `current` that names a usable binary. A
   * broken one (dangling, or naming no target) is pointed at genesis: its old
   * text is returned then (null otherwise), for the caller to say so.
   */
  readonly init: (
    genesisBinary: string,
    force: boolean
  ) => Effect.Effect<string | null, HomeExists | BinaryInvalid | IoError>
  /** What `current` points at. Fails when the home has no layout (run `init`). */
  readonly current: Effect.Effect<Target, IoError>
  /** Points `current` at `target`, atomically. */
  readonly switchTo: (target: Target) => Effect.Effect<void, IoError>
  /** Checks the target's binary exists, is a regular file and is executable. */
  readonly validate: (target: Target) => Effect.Effect<void, BinaryInvalid>
  /** Copies a local binary in as `upgrades/<name>/bin/$DAEMON_NAME`; refuses to overwrite a different one. */
  readonly place: (name: UpgradeName, source: string) => Effect.Effect<void, BinaryInvalid | UpgradeConflict | IoError>
}

export class BinaryStore extends Context.Tag("wemixvisor/BinaryStore")<BinaryStore, BinaryStoreService>() {}
