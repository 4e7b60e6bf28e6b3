/*
 * In-memory stand-ins for the services the orchestrator drives, bound to one
 * "world" (the home: journal file on disk, `current`, binaries, plan, history,
 * the one node process) that outlives a supervisor run, so a test can kill a
 * run at any step and start the next one on the same world.
 */
import {
  Context,
  Deferred,
  Effect,
  Either,
  Exit,
  Layer,
  Logger,
  Option,
  PubSub,
  Queue,
  Ref,
  Scope,
  Stream,
  SubscriptionRef
} from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Backup from "../../src/binaries/Backup.js"
import { BinaryStore } from "../../src/binaries/BinaryStore.js"
import { type PrepareError, Preparer } from "../../src/binaries/Preparer.js"
import { AppConfig, loadConfig, type WemixvisorConfig } from "../../src/config/Config.js"
import {
  BinaryInvalid,
  FileCorrupt,
  type IoError,
  NodeUnreachable,
  type PlanLocked,
  SpawnFailed
} from "../../src/domain/Errors.js"
import { type Height, makeHeight } from "../../src/domain/Height.js"
import { initialNodeStatus, type NodeExit, type NodeStatus } from "../../src/domain/Node.js"
import { schedule } from "../../src/domain/Plan.js"
import type { Target } from "../../src/domain/Target.js"
import { type UpgradeName, UpgradePlan } from "../../src/domain/Upgrade.js"
import { type EventInput, Events } from "../../src/events/Events.js"
import { Governance } from "../../src/governance/Governance.js"
import { Proposals } from "../../src/governance/Proposals.js"
import * as ChainPaceLive from "../../src/height/ChainPaceLive.js"
import { HeightProvider } from "../../src/height/HeightProvider.js"
import { NodeProcess } from "../../src/node/NodeProcess.js"
import * as CrashPoints from "../../src/orchestrator/CrashPoints.js"
import * as Hooks from "../../src/orchestrator/Hooks.js"
import { Orchestrator, type OrchestratorService } from "../../src/orchestrator/Orchestrator.js"
import * as OrchestratorLive from "../../src/orchestrator/OrchestratorLive.js"
import { History, type HistoryEntry, type HistoryRecord } from "../../src/upgrades/History.js"
import { PlanStore } from "../../src/upgrades/PlanStore.js"
import { type PlanSnapshot, UpgradeSource } from "../../src/upgrades/UpgradeSource.js"
import { cleanup, tempDir } from "../support/fixtures.js"

export const name = (s: string) => s as UpgradeName
export const h = (n: number): Height => makeHeight(n)

type Exited = NodeExit & { readonly pid: number; readonly expected: boolean }

export interface World {
  readonly dir: string
  readonly config: WemixvisorConfig
  /** Everything done to the node and `current`, in order: start:<target>, stop, switch:<target>, suspend, resume, reaped. */
  readonly log: Ref.Ref<ReadonlyArray<string>>
  readonly current: Ref.Ref<Target>
  /** Targets whose binary is usable. */
  readonly usable: Ref.Ref<ReadonlySet<Target>>
  /** Targets whose binary cannot be spawned. */
  readonly spawnFails: Ref.Ref<ReadonlySet<Target>>
  readonly plan: Ref.Ref<Either.Either<UpgradePlan, FileCorrupt>>
  /** The plan file was deleted: reads see no file (an empty plan), until a write or a restore. */
  readonly planMissing: Ref.Ref<boolean>
  readonly planWrites: Ref.Ref<number>
  /** Calls of PlanStore.update, written or not. */
  readonly planUpdates: Ref.Ref<number>
  /** While some, PlanStore.update fails with it (a lock held by another writer past PlanStore's wait, a full disk). */
  readonly planUpdateFails: Ref.Ref<Option.Option<PlanLocked | IoError>>
  /** While some, listing the backups fails with it. */
  readonly backupListFails: Ref.Ref<Option.Option<IoError>>
  /** Every line the orchestrator logged, as "<LEVEL> <message>". */
  readonly logs: Array<string>
  readonly snapshots: SubscriptionRef.SubscriptionRef<PlanSnapshot>
  readonly events: Ref.Ref<ReadonlyArray<EventInput>>
  readonly history: Ref.Ref<ReadonlyArray<HistoryRecord>>
  /** The chain head as `eth_blockNumber` answers it; none = RPC down. */
  readonly head: Ref.Ref<Option.Option<Height>>
  readonly heightQueue: Queue.Queue<Height>
  /** The same heights for the ChainPace (a queue has one reader). */
  readonly paceQueue: Queue.Queue<Height>
  /** The node process of this home, whichever run started it. */
  readonly alive: Ref.Ref<Option.Option<{ readonly pid: number; readonly target: Target }>>
  readonly nextPid: Ref.Ref<number>
  /** Breaches of "exactly one node". */
  readonly violations: Ref.Ref<ReadonlyArray<string>>
  /** The fake installer: upgrades it was asked to prepare, in order. */
  readonly prepares: Ref.Ref<ReadonlyArray<string>>
  /** Per upgrade: the failure its preparation ends with (a failed download, a checksum mismatch, …). */
  readonly prepareFails: Ref.Ref<ReadonlyMap<string, PrepareError>>
  /** While some, every preparation waits for it (to see `preparing`, or an upgrade reaching its height mid-download). */
  readonly prepareGate: Ref.Ref<Option.Option<Deferred.Deferred<void>>>
  /** Bytes the backups' file system reports free (the real Backups copy the real data dir). */
  readonly freeSpace: Ref.Ref<number>
  /** DAEMON_DATA_DIR: a folder with a data file the tests can compare. */
  readonly dataDir: string
}

/** `env` may depend on the world's folder (hook scripts live there). */
export const makeWorld = (env: Record<string, string> | ((dir: string) => Record<string, string>) = {}) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => tempDir("wemixvisor-orch-")),
      (d) => Effect.sync(() => cleanup(d))
    )
    fs.mkdirSync(path.join(dir, "wemixvisor"), { recursive: true })
    const dataDir = path.join(dir, "data")
    fs.mkdirSync(path.join(dataDir, "chaindata"), { recursive: true })
    fs.writeFileSync(path.join(dataDir, "chaindata", "000001.ldb"), "block data as the old binary left it\n")
    const config = yield* loadConfig({
      env: {
        DAEMON_HOME: dir,
        DAEMON_NAME: "gwemix",
        DAEMON_POLL_INTERVAL: "1s",
        DAEMON_VERIFY_MIN_UP: "5s",
        DAEMON_VERIFY_TIMEOUT: "20s",
        WEMIXVISOR_LOG_FORMAT: "json",
        ...(typeof env === "function" ? env(dir) : env)
      }
    })
    const world: World = {
      dir,
      config,
      log: yield* Ref.make<ReadonlyArray<string>>([]),
      current: yield* Ref.make<Target>("genesis"),
      usable: yield* Ref.make<ReadonlySet<Target>>(new Set<Target>(["genesis"])),
      spawnFails: yield* Ref.make<ReadonlySet<Target>>(new Set()),
      plan: yield* Ref.make<Either.Either<UpgradePlan, FileCorrupt>>(Either.right(UpgradePlan.empty)),
      planMissing: yield* Ref.make(false),
      planWrites: yield* Ref.make(0),
      planUpdates: yield* Ref.make(0),
      planUpdateFails: yield* Ref.make(Option.none<PlanLocked | IoError>()),
      backupListFails: yield* Ref.make(Option.none<IoError>()),
      logs: [],
      snapshots: yield* SubscriptionRef.make<PlanSnapshot>({ _tag: "Valid", plan: UpgradePlan.empty }),
      events: yield* Ref.make<ReadonlyArray<EventInput>>([]),
      history: yield* Ref.make<ReadonlyArray<HistoryRecord>>([]),
      head: yield* Ref.make(Option.none<Height>()),
      heightQueue: yield* Queue.unbounded<Height>(),
      paceQueue: yield* Queue.unbounded<Height>(),
      alive: yield* Ref.make(Option.none<{ readonly pid: number; readonly target: Target }>()),
      nextPid: yield* Ref.make(1000),
      violations: yield* Ref.make<ReadonlyArray<string>>([]),
      prepares: yield* Ref.make<ReadonlyArray<string>>([]),
      prepareFails: yield* Ref.make<ReadonlyMap<string, PrepareError>>(new Map()),
      prepareGate: yield* Ref.make(Option.none<Deferred.Deferred<void>>()),
      freeSpace: yield* Ref.make(1e12),
      dataDir
    }
    return world
  })

const append = <A>(ref: Ref.Ref<ReadonlyArray<A>>, a: A) => Ref.update(ref, (xs) => [...xs, a])

const recordHistory = (w: { readonly history: Ref.Ref<ReadonlyArray<HistoryRecord>> }, e: HistoryEntry) =>
  append(w.history, {
    time: e.time ?? "t",
    name: e.name,
    step: e.step,
    result: e.result,
    ...(e.detail !== undefined ? { detail: e.detail } : {}),
    ...(e.door !== undefined ? { door: e.door } : {}),
    ...(e.peer !== undefined ? { peer: e.peer } : {})
  })

// -- world controls -----------------------------------------------------------

/** Sets the plan as an operator's write would, and lets the UpgradeSource see it. */
export const setPlan = (w: World, plan: UpgradePlan) =>
  Ref.set(w.plan, Either.right(plan)).pipe(
    Effect.zipRight(Ref.set(w.planMissing, false)),
    Effect.zipRight(SubscriptionRef.set(w.snapshots, { _tag: "Valid", plan }))
  )

/** `rm upgrade-plan.json`, as the UpgradeSource then reports it. */
export const deletePlan = (w: World) =>
  Ref.set(w.plan, Either.right(UpgradePlan.empty)).pipe(
    Effect.zipRight(Ref.set(w.planMissing, true)),
    Effect.zipRight(SubscriptionRef.set(w.snapshots, { _tag: "Missing" }))
  )

export const readPlan = (w: World) => Ref.get(w.plan).pipe(Effect.map(Either.getOrElse(() => UpgradePlan.empty)))

export const scheduleUpgrade = (
  w: World,
  n: string,
  height: number,
  opts: {
    readonly binary?: boolean
    readonly url?: string
    readonly createdAt?: string
    readonly onFailure?: "rollback" | "halt"
  } = {}
) =>
  Effect.gen(function*() {
    const plan = yield* readPlan(w)
    const sources = opts.url === undefined
      ? {}
      : { binaries: { any: opts.url }, checksums: { any: `sha256:${"ab".repeat(32)}` } }
    const policy = opts.onFailure === undefined ? {} : { onFailure: opts.onFailure }
    const r = schedule(plan, { name: name(n), height: h(height), ...sources, ...policy }, {
      head: undefined,
      force: true,
      now: opts.createdAt ?? "2026-01-01T00:00:00.000Z"
    })
    if (Either.isLeft(r)) return yield* Effect.die(r.left)
    if (opts.binary !== false) yield* Ref.update(w.usable, (s) => new Set([...s, name(n)]))
    yield* setPlan(w, r.right.plan)
  })

export const corruptPlan = (w: World) =>
  Effect.gen(function*() {
    const error = new FileCorrupt({ path: w.config.layout.plan, problem: "not JSON (Unexpected token)" })
    yield* Ref.set(w.plan, Either.left(error))
    yield* SubscriptionRef.set(w.snapshots, { _tag: "Corrupt", error })
  })

export const upgradeOf = (w: World, n: string) =>
  readPlan(w).pipe(Effect.map((p) => p.upgrades.find((u) => u.name === n)))

/** A new head: `eth_blockNumber` answers it and the height stream emits it. */
export const pushHeight = (w: World, n: number) =>
  Ref.set(w.head, Option.some(h(n))).pipe(
    Effect.zipRight(Queue.offer(w.heightQueue, h(n))),
    Effect.zipRight(Queue.offer(w.paceQueue, h(n)))
  )

export const setHead = (w: World, n: number | null) => Ref.set(w.head, n === null ? Option.none() : Option.some(h(n)))

export const journalText = (w: World): string | undefined => {
  try {
    return fs.readFileSync(w.config.layout.journal, "utf8")
  } catch {
    return undefined
  }
}

export const eventTypes = (w: World) => Ref.get(w.events).pipe(Effect.map((es) => es.map((e) => e.type)))

// -- yielding -------------------------------------------------------------------

/** Lets every other fiber run (a macrotask turn), without moving the clock. */
export const turn = Effect.promise(() => new Promise<void>((r) => setImmediate(r)))

export const settle = Effect.repeatN(turn, 30)

/** A few real milliseconds (hooks and backups do real I/O and run real processes). */
export const realPause = Effect.promise(() => new Promise<void>((r) => setTimeout(r, 5)))

/**
 * Yields until `check` holds (no clock movement); dies naming `what` if it
 * never does. Patient in real time too (up to ~10 s), for real processes and
 * file I/O.
 */
export const waitUntil = (what: string, check: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2500; i++) {
      if (yield* check) return
      yield* i < 500 ? turn : realPause
    }
    return yield* Effect.dieMessage(`never happened: ${what}`)
  })

// -- one supervisor run ---------------------------------------------------------

export interface Run {
  readonly orchestrator: OrchestratorService
  readonly nodeStatus: SubscriptionRef.SubscriptionRef<NodeStatus>
  /** Makes the node process exit on its own (a crash). */
  readonly crashNode: (code: number) => Effect.Effect<void>
  /** Completed when the crash hook was reached. */
  readonly crashed: Deferred.Deferred<string>
  /** Closes the run as a SIGKILL would: its fibers stop; then `run` reaps the node left behind. */
  readonly kill: Effect.Effect<void>
  readonly close: Effect.Effect<void>
}

const fakeNode = (
  w: World,
  status: SubscriptionRef.SubscriptionRef<NodeStatus>,
  exits: PubSub.PubSub<Exited>,
  suspended: Ref.Ref<boolean>
) => {
  const exit = (expected: boolean, code: number | null, signal: string | null) =>
    Effect.gen(function*() {
      const a = yield* Ref.get(w.alive)
      if (Option.isNone(a)) return
      yield* Ref.set(w.alive, Option.none())
      yield* PubSub.publish(exits, { pid: a.value.pid, code, signal, expected })
      const lastExit = { code, signal }
      if (expected) {
        yield* SubscriptionRef.update(status, (s) => ({ ...s, state: "stopped" as const, pid: null, lastExit }))
      } else if (yield* Ref.get(suspended)) {
        yield* SubscriptionRef.update(status, (s) => ({ ...s, state: "crashed" as const, pid: null, lastExit }))
      } else {
        // Restart policy (not what is tested here): straight back up.
        yield* SubscriptionRef.update(
          status,
          (s) => ({ ...s, state: "crashed" as const, pid: null, lastExit, restarts: s.restarts + 1 })
        )
        yield* start(true).pipe(
          Effect.catchAll((e) =>
            SubscriptionRef.update(status, (s) => ({ ...s, state: "error" as const, reason: e.message }))
          )
        )
      }
    })
  const start = (restart: boolean): Effect.Effect<void, SpawnFailed> =>
    Effect.gen(function*() {
      const target = yield* Ref.get(w.current)
      yield* append(w.log, `${restart ? "restart" : "start"}:${target}`)
      const a = yield* Ref.get(w.alive)
      if (Option.isSome(a)) {
        yield* append(w.violations, `start:${target} while pid ${a.value.pid} (${a.value.target}) is alive`)
      }
      if ((yield* Ref.get(w.spawnFails)).has(target)) {
        return yield* new SpawnFailed({ path: w.config.layout.binary(target), cause: new Error("exec format error") })
      }
      const pid = yield* Ref.getAndUpdate(w.nextPid, (n) => n + 1)
      yield* Ref.set(w.alive, Option.some({ pid, target }))
      yield* SubscriptionRef.update(status, (s) => ({ ...s, state: "running" as const, pid, reason: null }))
    })
  return {
    crash: (code: number) => exit(false, code, null),
    service: NodeProcess.of({
      start: start(false),
      stop: append(w.log, "stop").pipe(Effect.zipRight(exit(true, null, "SIGTERM"))),
      status: SubscriptionRef.get(status),
      changes: status.changes,
      exits: Stream.fromPubSub(exits),
      suspendRestarts: Ref.set(suspended, true).pipe(Effect.zipRight(append(w.log, "suspend"))),
      resumeRestarts: Ref.set(suspended, false).pipe(Effect.zipRight(append(w.log, "resume")))
    })
  }
}

const worldLayers = (w: World, node: Context.Tag.Service<NodeProcess>) => {
  const read = Ref.get(w.plan).pipe(Effect.flatMap(Either.match({ onLeft: Effect.fail, onRight: Effect.succeed })))
  const planStore = PlanStore.of({
    read,
    readFile: Effect.flatMap(
      Ref.get(w.planMissing),
      (missing) => (missing ? Effect.succeedNone : Effect.map(read, Option.some))
    ),
    restore: (plan) =>
      Effect.gen(function*() {
        yield* Ref.update(w.planUpdates, (n) => n + 1)
        const fails = yield* Ref.get(w.planUpdateFails)
        if (Option.isSome(fails)) return yield* Effect.fail(fails.value)
        if (!(yield* Ref.get(w.planMissing))) return false
        yield* Ref.update(w.planWrites, (n) => n + 1)
        yield* setPlan(w, plan)
        return true
      }),
    update: (f) =>
      Effect.gen(function*() {
        yield* Ref.update(w.planUpdates, (n) => n + 1)
        const fails = yield* Ref.get(w.planUpdateFails)
        if (Option.isSome(fails)) return yield* Effect.fail(fails.value)
        const current = yield* Ref.get(w.plan)
        if (Either.isLeft(current)) return yield* Effect.fail(current.left)
        const [a, next] = yield* f(current.right)
        if (next !== current.right) {
          yield* Ref.update(w.planWrites, (n) => n + 1)
          yield* setPlan(w, next)
        }
        return a
      })
  })
  const binaryStore = BinaryStore.of({
    layout: w.config.layout,
    init: () => Effect.succeed(null),
    current: Ref.get(w.current),
    switchTo: (target) => Ref.set(w.current, target).pipe(Effect.zipRight(append(w.log, `switch:${target}`))),
    validate: (target) =>
      Ref.get(w.usable).pipe(
        Effect.flatMap((s) =>
          s.has(target)
            ? Effect.void
            : Effect.fail(new BinaryInvalid({ path: w.config.layout.binary(target), problem: "does not exist" }))
        )
      ),
    place: () => Effect.void
  })
  const heights = HeightProvider.of({
    heights: Stream.fromQueue(w.heightQueue),
    latest: Effect.succeed(Option.none()),
    head: Ref.get(w.head).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () =>
            Effect.fail(new NodeUnreachable({ url: w.config.rpcUrl, cause: new Error("connection refused") })),
          onSome: Effect.succeed
        })
      )
    )
  })
  // The fake installer: a binary with sources that is not usable yet is "downloaded" (made usable).
  const preparer = Preparer.of({
    prepare: (u) =>
      Effect.gen(function*() {
        yield* append(w.prepares, u.name)
        const gate = yield* Ref.get(w.prepareGate)
        if (Option.isSome(gate)) yield* Deferred.await(gate.value)
        const file = w.config.layout.binary(u.name)
        const fail = (yield* Ref.get(w.prepareFails)).get(u.name)
        const usable = (yield* Ref.get(w.usable)).has(u.name)
        if (!usable && Object.keys(u.binaries).length === 0) {
          return yield* new BinaryInvalid({ path: file, problem: "does not exist" })
        }
        if (fail !== undefined) {
          return yield* Effect.fail(fail)
        }
        if (!usable) yield* Ref.update(w.usable, (s) => new Set([...s, u.name]))
        const url = u.binaries.any ?? Object.values(u.binaries)[0] ?? ""
        return {
          path: file,
          version: `gwemix ${u.name}`,
          installed: usable
            ? null
            : { path: file, url, checksum: u.checksums.any ?? null, kind: "binary" as const, bytes: 1 }
        }
      }),
    version: (target) => Effect.succeed(`gwemix ${target}`)
  })
  const backups = Layer.effect(
    Backup.Backups,
    Effect.gen(function*() {
      const real = yield* Backup.make({
        dataDir: w.dataDir,
        backupsDir: w.config.layout.backups,
        root: w.config.layout.root,
        keep: w.config.backupKeep,
        margin: () => 0
      })
      // The real copies, logged with the node's steps so a test sees their order.
      return Backup.Backups.of({
        ...real,
        list: Ref.get(w.backupListFails).pipe(
          Effect.flatMap(Option.match({ onNone: () => real.list, onSome: Effect.fail }))
        ),
        create: (u) => real.create(u).pipe(Effect.tap((b) => append(w.log, `backup:${b.id}`))),
        restore: (b) => real.restore(b).pipe(Effect.tap(() => append(w.log, `restore:${b.id}`)))
      })
    })
  ).pipe(Layer.provide(Layer.succeed(Backup.FreeSpace, Backup.FreeSpace.of({ available: () => Ref.get(w.freeSpace) }))))
  return Layer.mergeAll(
    Layer.succeed(Preparer, preparer),
    backups,
    // Real hook runs (real scripts); the pause between retries follows the TestClock.
    Layer.succeed(Hooks.Hooks, Hooks.make(w.config, { retryDelay: "1 second", killGrace: "200 millis" })),
    Layer.succeed(AppConfig, w.config),
    Layer.succeed(Events, Events.of({ publish: (e) => append(w.events, e), subscribe: Effect.succeed(Stream.empty) })),
    Layer.succeed(NodeProcess, node),
    Layer.succeed(HeightProvider, heights),
    ChainPaceLive.layer.pipe(
      Layer.provide(Layer.succeed(HeightProvider, { ...heights, heights: Stream.fromQueue(w.paceQueue) }))
    ),
    Layer.succeed(BinaryStore, binaryStore),
    Layer.succeed(PlanStore, planStore),
    Layer.succeed(UpgradeSource, UpgradeSource.of({ plans: w.snapshots.changes })),
    // No Governor: no proposals tracked (the status's `proposals` is empty).
    Layer.succeed(Proposals, Proposals.of({ list: Effect.succeed([]) })),
    Layer.succeed(Governance, Governance.of({ state: Effect.succeed(null) })),
    Layer.succeed(
      History,
      History.of({
        append: (e) => recordHistory(w, e),
        appendAll: (es) => Effect.forEach(es, (e) => recordHistory(w, e), { discard: true }),
        read: Ref.get(w.history)
      })
    )
  )
}

const captureLogs = (w: World) =>
  Logger.make(({ logLevel, message }) => {
    w.logs.push(`${logLevel.label} ${(Array.isArray(message) ? message : [message]).map(String).join(" ")}`)
  })

/** Starts a supervisor run on `w`; `crashAt` ("<step>:<phase>") freezes it there, as WEMIXVISOR_TEST_CRASH_AT kills it. */
export const startRun = (w: World, opts: { readonly crashAt?: string } = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const crashed = yield* Deferred.make<string>()
    const hook: CrashPoints.CrashHook = (step, phase) =>
      `${step}:${phase}` === opts.crashAt
        ? Deferred.succeed(crashed, `${step}:${phase}`).pipe(Effect.zipRight(Effect.never))
        : Effect.void
    const status = yield* SubscriptionRef.make<NodeStatus>(initialNodeStatus)
    const exits = yield* PubSub.unbounded<Exited>()
    const node = fakeNode(w, status, exits, yield* Ref.make(false))
    const ctx = yield* Layer.buildWithScope(
      OrchestratorLive.layer.pipe(
        Layer.provide(CrashPoints.layerOf(hook)),
        Layer.provide(worldLayers(w, node.service)),
        Layer.provide(Logger.add(captureLogs(w)))
      ),
      scope
    )
    const close = Scope.close(scope, Exit.void)
    yield* Effect.addFinalizer(() => close)
    const run: Run = {
      orchestrator: Context.get(ctx, Orchestrator),
      nodeStatus: status,
      crashNode: node.crash,
      crashed,
      close,
      kill: Effect.gen(function*() {
        yield* close
        // What `run` does at its next start (NodeProcess.reapStale): the node left behind is stopped.
        if (Option.isSome(yield* Ref.get(w.alive))) {
          yield* Ref.set(w.alive, Option.none())
          yield* append(w.log, "reaped")
        }
      })
    }
    return run
  })

/** A run whose node is up (recovery and the initial start are done). */
export const startRunning = (w: World, opts: { readonly crashAt?: string } = {}) =>
  Effect.gen(function*() {
    const run = yield* startRun(w, opts)
    yield* waitUntil(
      "the node is running",
      SubscriptionRef.get(run.nodeStatus).pipe(Effect.map((s) => s.state === "running"))
    )
    return run
  })

// ---------------------------------------------------------------------------
// Views of a world for assertions (shared by the orchestrator suites)

export const log = (w: World) => Ref.get(w.log)
export const statusOf = (w: World, n: string) => upgradeOf(w, n).pipe(Effect.map((u) => u?.status))
/**
 * Writes journal.json as a killed run would have left it: v2 at height 100
 * from genesis, head 100 at stop, unless `entry` says otherwise.
 */
export const writeJournal = (w: World, entry: Record<string, unknown>) =>
  fs.writeFileSync(
    w.config.layout.journal,
    JSON.stringify({
      name: "v2",
      height: 100,
      from: "genesis",
      head_at_stop: 100,
      started_at: "2026-01-01T00:00:00.000Z",
      reason: null,
      ...entry
    })
  )

export const journal = (w: World) => {
  const text = journalText(w)
  return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>)
}
export const alive = (w: World) =>
  Ref.get(w.alive).pipe(Effect.map(Option.map((a) => a.target)), Effect.map(Option.getOrNull))
