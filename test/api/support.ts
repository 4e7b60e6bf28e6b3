/*
 * The API server over a real home (PlanStore, BinaryStore, Events and the
 * plan watcher are the live ones) with the two services that need a node
 * replaced: HeightProvider (heights and head from Refs) and Orchestrator
 * (status, paused, halted from Refs). Requests go over real HTTP.
 */
import { Context, Effect, Layer, Logger, LogLevel, Option, Ref, Stream, SubscriptionRef } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { PrepareError } from "../../src/api/Handlers.js"
import * as Server from "../../src/api/Server.js"
import * as BinaryStore from "../../src/binaries/BinaryStoreLive.js"
import { AppConfig, loadConfig } from "../../src/config/Config.js"
import { NodeUnreachable, type UpgradeConflict, UpgradeNotFound } from "../../src/domain/Errors.js"
import { type Height, makeHeight } from "../../src/domain/Height.js"
import type { Proposal } from "../../src/domain/Proposal.js"
import type { StatusObject } from "../../src/domain/Status.js"
import type { Upgrade } from "../../src/domain/Upgrade.js"
import * as Events from "../../src/events/Events.js"
import { Proposals } from "../../src/governance/Proposals.js"
import * as ChainHead from "../../src/height/ChainHeadLive.js"
import * as ChainPaceLive from "../../src/height/ChainPaceLive.js"
import { HeightProvider } from "../../src/height/HeightProvider.js"
import { type NodeRestarted, Orchestrator } from "../../src/orchestrator/Orchestrator.js"
import type { Origin } from "../../src/upgrades/History.js"
import * as History from "../../src/upgrades/HistoryLive.js"
import * as Operations from "../../src/upgrades/OperationsLive.js"
import * as PlanStore from "../../src/upgrades/PlanStoreLive.js"
import * as UpgradeSource from "../../src/upgrades/UpgradeSourceLive.js"
import { cleanup, freePort, tempDir, waitFor, writeScript } from "../support/fixtures.js"

export const idleStatus: StatusObject = {
  supervisor: "running",
  home: "/srv/node",
  supervisor_pid: 4141,
  current_height: null,
  block_interval_seconds: null,
  head_age_seconds: null,
  node_state: "running",
  node_pid: 4242,
  restarts: 0,
  current: "genesis",
  version: null,
  pending_upgrade: null,
  pending: [],
  upgrading: false,
  in_progress: null,
  last: null,
  paused: null,
  upgrades_paused: null,
  plan_problem: null,
  proposals: [],
  governance: null
}

/** `s` as the world's supervisor serves it: with its home and pid. */
export const served = (w: ApiWorld, s: StatusObject): StatusObject => ({
  ...s,
  home: w.home,
  supervisor_pid: process.pid
})

export interface ApiWorld {
  readonly home: string
  readonly base: string
  /** The token the server requires: the one given, or the one it generated into the home's api.token. */
  readonly token: string
  readonly planFile: string
  /** eth_blockNumber: none = the node does not answer. */
  readonly head: Ref.Ref<Option.Option<Height>>
  /** The height stream (each `Some` set is a new height). */
  readonly heights: SubscriptionRef.SubscriptionRef<Option.Option<Height>>
  readonly status: Ref.Ref<StatusObject>
  readonly paused: Ref.Ref<string | null>
  readonly halted: Ref.Ref<string | null>
  /** What the orchestrator's `prepare` does (default: UpgradeNotFound); each call is logged in `prepared`. */
  readonly prepare: Ref.Ref<PrepareFake>
  readonly prepared: Ref.Ref<ReadonlyArray<{ readonly name: string; readonly origin: Origin }>>
  /** What the orchestrator's `restartNode` does (default: the node runs again as pid 4343). */
  readonly restart: Ref.Ref<RestartFake>
  /** Every restart, pause and resume the orchestrator was asked for, in order. */
  readonly controls: Ref.Ref<ReadonlyArray<ControlCall>>
  readonly events: Context.Tag.Service<Events.Events>
  /** What the Proposals service tracks (default: none), as the REST route and ListProposals answer it. */
  readonly proposals: Ref.Ref<ReadonlyArray<Proposal>>
}

export type RestartFake = (origin: Origin) => Effect.Effect<NodeRestarted, UpgradeConflict>

export interface ControlCall {
  readonly op: "restart" | "pause" | "resume"
  readonly origin: Origin
  readonly reason?: string | null
}

export type PrepareFake = (name: string, origin: Origin) => Effect.Effect<Upgrade, PrepareError>

export interface ApiOptions {
  readonly token?: string
  /** WEMIXVISOR_STALL_AFTER: /health's bound on a head that does not move. */
  readonly stallAfter?: string
  readonly head?: number
  /** WEMIXVISOR_API_ADDR for a free port; default 127.0.0.1:<port>. */
  readonly addr?: (port: number) => string
  /** More environment (WEMIXVISOR_API_CORS, …). */
  readonly env?: Record<string, string>
}

/** Builds the server; fails as `run` would (e.g. ConfigInvalid for an exposed address without a token). */
export const buildApi = (opts: ApiOptions = {}) =>
  Effect.gen(function*() {
    const home = yield* Effect.acquireRelease(
      Effect.sync(() => tempDir("wemixvisor-api-")),
      (d) => Effect.sync(() => cleanup(d))
    )
    const port = yield* Effect.promise(() => freePort())
    const config = yield* loadConfig({
      env: {
        DAEMON_HOME: home,
        DAEMON_NAME: "gwemix",
        DAEMON_POLL_INTERVAL: "50ms",
        WEMIXVISOR_API_ADDR: opts.addr?.(port) ?? `127.0.0.1:${port}`,
        WEMIXVISOR_LOG_FORMAT: "json",
        // Schedules carry binary URLs: allowed, as on a supervisor that may download them.
        DAEMON_ALLOW_DOWNLOAD_BINARIES: "true",
        ...(opts.token !== undefined ? { WEMIXVISOR_API_TOKEN: opts.token } : {}),
        ...(opts.stallAfter !== undefined ? { WEMIXVISOR_STALL_AFTER: opts.stallAfter } : {}),
        ...opts.env
      }
    }).pipe(Effect.orDie)
    const genesis = writeScript(path.join(home, "gwemix-v1"), "exec sleep 1000\n")
    yield* BinaryStore.make(config.layout).init(genesis, false).pipe(Effect.orDie)

    const head = yield* Ref.make(Option.fromNullable(opts.head).pipe(Option.map(makeHeight)))
    const heights = yield* SubscriptionRef.make(Option.none<Height>())
    const status = yield* Ref.make(idleStatus)
    const paused = yield* Ref.make<string | null>(null)
    const halted = yield* Ref.make<string | null>(null)
    const prepare = yield* Ref.make<PrepareFake>((name) => Effect.fail(new UpgradeNotFound({ name })))
    const prepared = yield* Ref.make<ReadonlyArray<{ readonly name: string; readonly origin: Origin }>>([])
    const restart = yield* Ref.make<RestartFake>(() => Effect.succeed({ state: "running", pid: 4343, reason: null }))
    const controls = yield* Ref.make<ReadonlyArray<ControlCall>>([])
    const proposals = yield* Ref.make<ReadonlyArray<Proposal>>([])
    const control = (call: ControlCall) => Ref.update(controls, (xs) => [...xs, call])

    const heightLayer = Layer.succeed(HeightProvider, {
      heights: heights.changes.pipe(Stream.filterMap((h) => h)),
      latest: SubscriptionRef.get(heights),
      head: Ref.get(head).pipe(
        Effect.flatMap(
          Option.match({
            onNone: () =>
              Effect.fail(new NodeUnreachable({ url: config.rpcUrl, cause: new Error("connection refused") })),
            onSome: Effect.succeed
          })
        )
      )
    })
    const orchestratorLayer = Layer.succeed(Orchestrator, {
      // The supervisor's identity is this world's (this process serves the home), whatever a test sets.
      status: Effect.map(Ref.get(status), (s) => ({ ...s, home, supervisor_pid: process.pid })),
      paused: Ref.get(paused),
      halted: Ref.get(halted),
      // A real orchestrator's prepare is exercised end to end (test/e2e/prepare.test.ts); here, what a test sets.
      prepare: (name, origin) =>
        Ref.update(prepared, (xs) => [...xs, { name, origin }]).pipe(
          Effect.zipRight(Ref.get(prepare)),
          Effect.flatMap((f) => f(name, origin))
        ),
      // The real ones are exercised in test/orchestrator/Controls.test.ts; here, what the API makes of them.
      restartNode: (origin) =>
        control({ op: "restart", origin }).pipe(Effect.zipRight(Ref.get(restart)), Effect.flatMap((f) => f(origin))),
      pause: (reason, origin) =>
        Effect.gen(function*() {
          yield* control({ op: "pause", origin, reason })
          const p = { since: "2026-12-03T00:00:00.000Z", by: origin.door, reason }
          yield* Ref.update(status, (s) => ({ ...s, upgrades_paused: p }))
          return p
        }),
      resume: (origin) =>
        Effect.gen(function*() {
          yield* control({ op: "resume", origin })
          const was = (yield* Ref.get(status)).upgrades_paused
          yield* Ref.update(status, (s) => ({ ...s, upgrades_paused: null }))
          return was
        }),
      operatorPause: Effect.map(Ref.get(status), (s) => s.upgrades_paused)
    })
    const base = Layer.mergeAll(
      Events.layer,
      PlanStore.layer,
      BinaryStore.layer,
      History.layer,
      ChainPaceLive.layer.pipe(Layer.provideMerge(heightLayer)),
      orchestratorLayer,
      Layer.succeed(Proposals, { list: Ref.get(proposals) })
    ).pipe(
      Layer.provideMerge(Layer.succeed(AppConfig, config))
    )
    const server = Layer.mergeAll(
      Server.layer,
      UpgradeSource.layer
    ).pipe(
      Layer.provideMerge(Operations.layer.pipe(Layer.provide(ChainHead.fromHeightProvider))),
      Layer.provideMerge(base),
      Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
    )
    const ctx = yield* Layer.build(server)
    return {
      ctx,
      port,
      home,
      config,
      head,
      heights,
      status,
      paused,
      halted,
      prepare,
      prepared,
      restart,
      controls,
      proposals
    }
  })

export const setupApi = (opts: ApiOptions = {}) =>
  Effect.gen(function*() {
    const {
      ctx,
      port,
      home,
      config,
      head,
      heights,
      status,
      paused,
      halted,
      prepare,
      prepared,
      restart,
      controls,
      proposals
    } = yield* Effect.orDie(buildApi(opts))
    const baseUrl = `http://127.0.0.1:${port}`
    yield* Effect.promise(() =>
      waitFor("the API to listen", () => fetch(`${baseUrl}/health`).then(() => true, () => false), 10_000)
    )
    return {
      home,
      base: baseUrl,
      token: opts.token ?? fs.readFileSync(config.layout.apiToken, "utf8").trim(),
      planFile: config.layout.plan,
      head,
      heights,
      status,
      paused,
      halted,
      prepare,
      prepared,
      restart,
      controls,
      proposals,
      events: Context.get(ctx, Events.Events)
    } satisfies ApiWorld
  })

export const planText = (
  w: ApiWorld
): string | undefined => (fs.existsSync(w.planFile) ? fs.readFileSync(w.planFile, "utf8") : undefined)

export interface HttpResult {
  readonly status: number
  readonly body: unknown
  readonly headers: globalThis.Headers
}

/** One real HTTP request (with the world's token unless `token` says otherwise: null sends none); the body parsed as JSON when it is JSON. */
export const request = (
  w: ApiWorld,
  method: string,
  route: string,
  opts: { readonly body?: string | object; readonly token?: string | null; readonly headers?: Record<string, string> } =
    {}
): Effect.Effect<HttpResult> =>
  Effect.promise(async () => {
    const token = opts.token === undefined ? w.token : opts.token
    const res = await fetch(`${w.base}${route}`, {
      method,
      headers: {
        ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
        ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
        ...opts.headers
      },
      ...(opts.body !== undefined
        ? { body: typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body) }
        : {})
    })
    const text = await res.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // not JSON
    }
    return { status: res.status, body, headers: res.headers }
  })

const TOKENS = 10n ** 18n
/** `n` tokens in the Governor's units (18 decimals), as a decimal string. */
export const tokens = (n: number): string => ((BigInt(Math.round(n * 100)) * TOKENS) / 100n).toString()

/** Tracked proposals, newest first, as the Proposals service lists them: one of each kind a test needs. */
export const sampleProposals: ReadonlyArray<Proposal> = [
  {
    id: "98765432109876543210987654321098765432109876543210",
    proposer: "0x1111111111111111111111111111111111111111",
    description: "Cancel v1\nIt was scheduled by mistake",
    actions: [{ kind: "cancel", name: "v1" }],
    state: "pending",
    votes: { for: "0", against: "0", abstain: "0" },
    quorum: null,
    vote_start: 2000,
    vote_end: 2100,
    created_block: 1990,
    updated_at: "2026-12-04T00:00:02.000Z"
  },
  {
    id: "12345678901234567890123456789012345678901234567890",
    proposer: "0x2222222222222222222222222222222222222222",
    description: "Upgrade to v2",
    actions: [{ kind: "schedule", name: "v2", height: 1500000, info: "gwemix v2" }],
    state: "active",
    votes: { for: tokens(62), against: tokens(3.456), abstain: tokens(1) },
    quorum: tokens(100),
    vote_start: 1000,
    vote_end: 1200,
    created_block: 990,
    updated_at: "2026-12-04T00:00:01.000Z"
  },
  {
    id: "555",
    proposer: "0x3333333333333333333333333333333333333333",
    description: "Upgrade to v0",
    actions: [{ kind: "schedule", name: "v0", height: 500, info: "" }],
    state: "executed",
    votes: { for: tokens(150), against: "0", abstain: "0" },
    quorum: tokens(100),
    vote_start: 100,
    vote_end: 200,
    created_block: 90,
    updated_at: "2026-12-04T00:00:00.000Z"
  }
]
