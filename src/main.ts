import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { checkExposure } from "./api/Auth.js"
import * as Api from "./api/Server.js"
import * as Backups from "./binaries/Backup.js"
import { BinaryStore, type BinaryStoreService } from "./binaries/BinaryStore.js"
import * as BinaryStoreLive from "./binaries/BinaryStoreLive.js"
import * as Preparer from "./binaries/PreparerLive.js"
import { checkRunnable } from "./config/Checks.js"
import { AppConfig, type WemixvisorConfig } from "./config/Config.js"
import * as LiveConfig from "./config/Reload.js"
import { HomeLocked, InvalidInput, SpawnFailed } from "./domain/Errors.js"
import type { NodePidFile } from "./domain/Node.js"
import * as Events from "./events/Events.js"
import * as Governance from "./governance/GovernanceLive.js"
import * as ProposalsLive from "./governance/ProposalsLive.js"
import * as ChainHead from "./height/ChainHeadLive.js"
import * as ChainPace from "./height/ChainPaceLive.js"
import * as HeightProvider from "./height/HeightProviderLive.js"
import * as Metrics from "./metrics/MetricsLive.js"
import * as NodeProcess from "./node/NodeProcess.js"
import * as Notifier from "./notify/NotifierLive.js"
import * as CrashPoints from "./orchestrator/CrashPoints.js"
import * as Hooks from "./orchestrator/Hooks.js"
import * as Orchestrator from "./orchestrator/OrchestratorLive.js"
import { acquireLock } from "./platform/LockFile.js"
import * as ReloadSignal from "./platform/ReloadSignal.js"
import * as History from "./upgrades/HistoryLive.js"
import * as Operations from "./upgrades/OperationsLive.js"
import * as PlanStore from "./upgrades/PlanStoreLive.js"
import * as UpgradeSource from "./upgrades/UpgradeSourceLive.js"
import * as Warnings from "./warnings/WarningsLive.js"

/*
 * The composition root of `run`: the one place its live layers are wired
 * together (the local CLI's is cli/Local.ts). Tests build their own
 * combinations from the same modules.
 */

/**
 * Every service `run` needs, wired. The Orchestrator starts the node itself,
 * after replaying the journal of an upgrade a previous run left unfinished;
 * a node left running by a previous run (`adoptable`) is adopted by that start.
 */
export const SupervisorLive = (
  nodeArgs: ReadonlyArray<string>,
  adoptable: Option.Option<NodePidFile> = Option.none()
) => {
  const plan = UpgradeSource.layer.pipe(Layer.provideMerge(PlanStore.layer))
  // The chain's pace (block interval, head age) follows the HeightProvider's heights.
  const heights = ChainPace.layer.pipe(Layer.provideMerge(HeightProvider.layer))
  const services = Layer.mergeAll(NodeProcess.layerLive(nodeArgs, adoptable), heights, History.layer)
  // The operator's operations (API): the chain head read through the HeightProvider's connections.
  const operations = Operations.layer.pipe(Layer.provide(ChainHead.fromHeightProvider))
  // Upgrade preparation and safety (issue #5): downloads over HTTP, data backups on the real disk, hooks.
  const safety = Layer.mergeAll(
    Preparer.layer.pipe(Layer.provide(NodeHttpClient.layer)),
    Backups.layer.pipe(Layer.provide(Backups.freeSpaceLive)),
    Hooks.layer
  )
  // The API and the warnings (node-stalled, upgrade-soon, height-passed-blind) read the orchestrator's status.
  return Layer.merge(Api.layer, Warnings.layer).pipe(
    // Test-only fault injection is chosen here, and only here: WEMIXVISOR_TEST_CRASH_AT (CrashPoints.ts).
    Layer.provideMerge(Orchestrator.layer.pipe(Layer.provide(CrashPoints.layerFromEnv))),
    // The Governor's proposals that call the registry (DAEMON_GOVERNANCE_GOVERNOR): the API and the status show them.
    Layer.provideMerge(ProposalsLive.layer),
    // Upgrades decided on chain (DAEMON_GOVERNANCE_REGISTRY): applied through the operations, as any door's;
    // the status shows its cursor.
    Layer.provideMerge(Governance.layerWith(CrashPoints.governanceCrashFromEnv())),
    // Before the Orchestrator, so the notifications and the metrics see every event from the node's first start on.
    Layer.provideMerge(Notifier.layer.pipe(Layer.provide(NodeHttpClient.layer))),
    Layer.provideMerge(Metrics.layer),
    Layer.provideMerge(safety),
    Layer.provideMerge(operations),
    Layer.provideMerge(plan),
    Layer.provideMerge(services),
    // From here up, AppConfig is the live view of the configuration, and the log level follows it (config/Reload.ts).
    Layer.provideMerge(Layer.unwrapEffect(Effect.map(AppConfig, (c) => LiveConfig.layer(c)))),
    Layer.provideMerge(Events.layer)
  )
}

/**
 * `wemixvisor run`: one supervisor per home (run.lock); a node left running
 * by a killed predecessor is adopted (no upgrade in flight) or stopped first
 * (mid-upgrade, for the journal's replay); then everything runs until the
 * program is interrupted (SIGTERM/SIGINT), which stops the node gracefully.
 * SIGHUP is never fatal (platform/ReloadSignal.ts), from the first instant.
 * A home whose `current` has no usable binary is refused (exit 1): nothing
 * could run, and a supervisor that stays up with its node in `error` looks
 * healthy to systemd. A binary that disappears later is supervised as usual
 * (a failed restart is a crash; the restart policy decides).
 */
export const runSupervisor = (config: WemixvisorConfig, nodeArgs: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const reload = yield* Layer.build(ReloadSignal.layer)
    const store = yield* BinaryStore
    yield* store.current.pipe(
      Effect.mapError((e) => {
        const link = currentLinkText(config)
        return new InvalidInput({
          field: "DAEMON_HOME",
          problem: link === undefined
            ? `${config.layout.root} has no current binary; run 'wemixvisor init <genesis-binary>' first`
            : `${config.layout.current} ${e.cause instanceof Error ? e.cause.message : "cannot be read"}; ${REPAIR}`
        })
      })
    )
    yield* usableBinary(store, config)
    yield* checkExposure(config)
    yield* checkRunnable(config)
    yield* acquireLock(config.layout.runLock, (pid) => new HomeLocked({ path: config.layout.runLock, pid }))
    const adoptable = yield* NodeProcess.reapOrAdopt
    // Names read as others (Cosmovisor's env, an older config file's keys): said once, to be renamed at leisure.
    for (const note of config.notes) yield* Effect.logWarning(note)
    yield* Effect.logInfo("wemixvisor running").pipe(
      Effect.annotateLogs({ home: config.home, binary: config.layout.currentBinary, pid: process.pid })
    )
    return yield* Layer.launch(SupervisorLive(nodeArgs, adoptable)).pipe(Effect.provide(reload))
  }).pipe(Effect.scoped, Effect.provide(BinaryStoreLive.layer), Effect.provideService(AppConfig, config))

/** How an operator repairs a broken `current`: init --force points it at genesis (and says so). */
const REPAIR = "run 'wemixvisor init --force <genesis-binary>' to point current at genesis"

/** The text of the `current` link, or undefined when there is none. */
const currentLinkText = (config: WemixvisorConfig): string | undefined => {
  try {
    return fs.readlinkSync(config.layout.current)
  } catch {
    return undefined
  }
}

/** `current`'s binary exists and is executable, or `run` fails (exit 1) naming it. */
const usableBinary = (store: BinaryStoreService, config: WemixvisorConfig) =>
  Effect.flatMap(store.current, (target) =>
    store.validate(target).pipe(
      Effect.mapError(
        (e) =>
          new SpawnFailed({
            path: config.layout.currentBinary,
            cause: new Error(
              `current -> ${target}, and ${e.message}; there is no node to supervise (restore it, or ${REPAIR})`
            )
          })
      )
    ))
