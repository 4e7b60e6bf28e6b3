import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { AppConfig, type WemixvisorConfig } from "../config/Config.js"
import type { Target } from "../domain/Target.js"
import { BinaryStore, type BinaryStoreService } from "./BinaryStore.js"
import { type DownloadOptions, type Installed, installUpgradeBinary } from "./Download.js"
import { type Prepared, Preparer, type PreparerService, type PrepareTarget } from "./Preparer.js"
import { defaultProbeTimeout, probeVersion } from "./VersionProbe.js"

/*
 * The Preparer (Preparer.ts): validate, download + verify + place when the
 * binary is not in place, validate again, probe.
 */

export interface PreparerOptions {
  /** Retries and timeouts of downloads (defaults: Download.ts). */
  readonly download?: DownloadOptions
  /** Bound on one version probe (default 10s). */
  readonly probeTimeout?: Duration.DurationInput
  /** The manifest key to pick binaries for (default: this machine's). */
  readonly platform?: string
}

type PreparerConfig = Pick<WemixvisorConfig, "layout" | "versionArgs" | "allowDownloadBinaries" | "unsafeSkipChecksum">

export const make = (
  config: PreparerConfig,
  binaries: BinaryStoreService,
  options: PreparerOptions = {}
): Effect.Effect<PreparerService, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<HttpClient.HttpClient>()
    const policy = {
      allowDownloadBinaries: config.allowDownloadBinaries,
      unsafeSkipChecksum: config.unsafeSkipChecksum
    }
    const timeout = options.probeTimeout ?? defaultProbeTimeout

    const probe = (target: Target) =>
      config.versionArgs.length === 0
        ? Effect.succeed(null)
        : probeVersion(config.layout.binary(target), config.versionArgs, timeout).pipe(
          Effect.map((v): string | null => v)
        )

    const prepare = (upgrade: PrepareTarget) =>
      Effect.gen(function*() {
        const inPlace = yield* Effect.either(binaries.validate(upgrade.name))
        let installed: Installed | null = null
        if (Either.isLeft(inPlace)) {
          // Nothing to fetch it from: the operator puts it there (the reason says where).
          if (Object.keys(upgrade.binaries).length === 0) return yield* Effect.fail(inPlace.left)
          installed = yield* installUpgradeBinary(
            policy,
            config.layout,
            upgrade,
            options.platform,
            options.download ?? {}
          ).pipe(
            Effect.provide(context)
          )
          yield* binaries.validate(upgrade.name)
        }
        const version = yield* probe(upgrade.name).pipe(
          Effect.catchTag("VersionProbeFailed", (e) =>
            e.cannotRun === true
              ? Effect.fail(e)
              : Effect.logWarning(
                `${e.message}; the version stays unknown (set DAEMON_VERSION_ARGS to the binary's version command, or empty to skip the probe)`
              ).pipe(
                Effect.as(null)
              ))
        )
        return { path: config.layout.binary(upgrade.name), version, installed } satisfies Prepared
      }).pipe(Effect.withSpan("Preparer.prepare", { attributes: { name: upgrade.name } }))

    return Preparer.of({
      prepare,
      version: (target) =>
        probe(target).pipe(
          Effect.catchAll((e) => Effect.logDebug(`version of ${target} unknown: ${e.message}`).pipe(Effect.as(null)))
        )
    })
  })

/** Live: downloads through the HttpClient in context (`@effect/platform-node/NodeHttpClient`). */
export const layer: Layer.Layer<Preparer, never, AppConfig | BinaryStore | HttpClient.HttpClient> = Layer.effect(
  Preparer,
  Effect.gen(function*() {
    return yield* make(yield* AppConfig, yield* BinaryStore)
  })
)
