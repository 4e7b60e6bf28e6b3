import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { checkExposure } from "./api/Auth.js"
import * as Api from "./api/Server.js"
import * as Backups from "./binaries/Backup.js"
import * as BinaryStore from "./binaries/BinaryStore.js"
import * as Preparer from "./binaries/PreparerLive.js"
import { checkRunnable } from "./config/Checks.js"
import { AppConfig, type WemixvisorConfig } from "./config/Config.js"
import { HomeLocked, InvalidInput } from "./domain/Errors.js"
import * as Events from "./events/Events.js"
import * as HeightProvider from "./height/HeightProvider.js"
import * as NodeProcess from "./node/NodeProcess.js"
import * as Hooks from "./orchestrator/Hooks.js"
import * as CrashPoints from "./orchestrator/CrashPoints.js"
import * as Orchestrator from "./orchestrator/OrchestratorLive.js"
import { acquireLock } from "./platform/LockFile.js"
import * as History from "./upgrades/History.js"
import * as PlanStore from "./upgrades/PlanStore.js"
import * as UpgradeSource from "./upgrades/UpgradeSource.js"

/*
 * The composition root: the one place live layers are wired together.
 * Tests build their own combinations from the same modules.
 */

/**
 * Every service `run` needs, wired. The Orchestrator starts the node itself,
 * after replaying the journal of an upgrade a previous run left unfinished.
 */
export const SupervisorLive = (nodeArgs: ReadonlyArray<string>) => {
  const plan = UpgradeSource.layer.pipe(Layer.provideMerge(PlanStore.layer))
  const services = Layer.mergeAll(NodeProcess.layerLive(nodeArgs), HeightProvider.layer, BinaryStore.layer, History.layer)
  // Upgrade preparation and safety (issue #5): downloads over HTTP, data backups on the real disk, hooks.
  const safety = Layer.mergeAll(
    Preparer.layer.pipe(Layer.provide(NodeHttpClient.layer)),
    Backups.layer.pipe(Layer.provide(Backups.freeSpaceLive)),
    Hooks.layer
  )
  return Api.layer.pipe(
    // Test-only fault injection is chosen here, and only here: WEMIXVISOR_TEST_CRASH_AT (CrashPoints.ts).
    Layer.provideMerge(Orchestrator.layer.pipe(Layer.provide(CrashPoints.layerFromEnv))),
    Layer.provideMerge(safety),
    Layer.provideMerge(plan),
    Layer.provideMerge(services),
    Layer.provideMerge(Events.layer)
  )
}

/**
 * `wemixvisor run`: one supervisor per home (run.lock), a node left behind by
 * a killed predecessor is stopped first, then everything runs until the
 * program is interrupted (SIGTERM/SIGINT), which stops the node gracefully.
 */
export const runSupervisor = (config: WemixvisorConfig, nodeArgs: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const store = BinaryStore.make(config.layout)
    yield* store.current.pipe(
      Effect.mapError(
        () =>
          new InvalidInput({
            field: "DAEMON_HOME",
            problem: `${config.layout.root} has no current binary; run 'wemixvisor init <genesis-binary>' first`
          })
      )
    )
    yield* checkExposure(config)
    yield* checkRunnable(config)
    yield* acquireLock(config.layout.runLock, (pid) => new HomeLocked({ path: config.layout.runLock, pid }))
    yield* NodeProcess.reapStale
    yield* Effect.logInfo("wemixvisor running").pipe(
      Effect.annotateLogs({ home: config.home, binary: config.layout.currentBinary, pid: process.pid })
    )
    return yield* Layer.launch(SupervisorLive(nodeArgs))
  }).pipe(Effect.scoped, Effect.provideService(AppConfig, config))
