import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { localApiUrl as apiUrlOf } from "../api/Auth.js"
import { clientToken } from "../api/Token.js"
import { Preparer } from "../binaries/Preparer.js"
import { parseBinaryFlags } from "../binaries/Sources.js"
import { AppConfig, type WemixvisorConfig } from "../config/Config.js"
import { type ErrorKind, InvalidInput, type IoError, UpgradeConflict, UpgradeNotFound } from "../domain/Errors.js"
import type { Height } from "../domain/Height.js"
import { cliWorded, findUpgrade } from "../domain/Plan.js"
import type { OperatorPause, StatusObject } from "../domain/Status.js"
import { lockHolder } from "../platform/LockFile.js"
import { History, type Origin, readHistory } from "../upgrades/History.js"
import * as Journal from "../upgrades/Journal.js"
import {
  decodeHeightArg,
  decodeName,
  decodeOnFailureArg,
  listOf,
  Operations,
  type ScheduleCommand
} from "../upgrades/Operations.js"
import * as PauseMarker from "../upgrades/PauseMarker.js"
import { PlanStore } from "../upgrades/PlanStore.js"
import { preparable, reasonOf, toPrepared, toPreparing } from "../upgrades/Preparation.js"
import {
  cancelledLine,
  historyJson,
  historyText,
  listJson,
  listText,
  pauseText,
  preparedLine,
  proposalsJson,
  proposalsText,
  safeText,
  scheduledLine,
  statusJson,
  statusText,
  withEtas
} from "./upgrade-format.js"

/*
 * `wemixvisor upgrade …` (ARCHITECTURE §5). Locally the commands go through the
 * same Operations and PlanStore as the API (lock + atomic write), wired by
 * Local.ts; a running `run` sees the change within a poll interval and
 * announces it. With --remote / WEMIXVISOR_API_URL they are sent over RPC
 * instead.
 *
 * This module stays light: the RPC client is loaded only by the commands that
 * use it, through a dynamic import (the node's RPC and the downloader are
 * loaded by Local.ts's services on first use).
 */

/**
 * Local commands need an initialised home: on one without a layout, a plan
 * written there would be supervised by nothing, and a list would say "No
 * upgrades scheduled" about a home that is not one.
 */
export const requireHome = Effect.flatMap(AppConfig, (config) => {
  const initialised = (() => {
    try {
      fs.lstatSync(config.layout.current)
      return true
    } catch {
      return false
    }
  })()
  return initialised
    ? Effect.void
    : Effect.fail(
      new InvalidInput({
        field: "DAEMON_HOME",
        problem: `${config.layout.root} has no current binary; run 'wemixvisor init <genesis-binary>' first`
      })
    )
})

/** What the local commands record in the history as their door (over --remote, the server records `rpc`). */
const CLI: Origin = { door: "cli" }

/** The API to call instead of writing locally: --remote, else WEMIXVISOR_API_URL. */
export const remoteOf = (config: WemixvisorConfig, flag: Option.Option<string>) =>
  Effect.gen(function*() {
    const url = Option.orElse(flag, () => config.apiUrl)
    if (Option.isNone(url)) return Option.none()
    const ok = (() => {
      try {
        return ["http:", "https:"].includes(new URL(url.value).protocol)
      } catch {
        return false
      }
    })()
    if (!ok) {
      return yield* new InvalidInput({
        field: "--remote",
        problem: `${JSON.stringify(url.value)} is not an http(s) URL`
      })
    }
    return Option.some(remoteWith(config, url.value))
  })

/** A remote call with the token this home's CLI sends: WEMIXVISOR_API_TOKEN, else the home's api.token. */
const remoteWith = (config: WemixvisorConfig, url: string) => {
  const token = clientToken(config)
  return {
    url,
    token: Option.map(token, (t) => t.token),
    tokenSource: Option.match(token, { onNone: () => "WEMIXVISOR_API_TOKEN", onSome: (t) => t.source })
  }
}

const remoteModule = Effect.promise(() => import("./upgrade-remote.js"))

/** Only `status` runs the binary (child_process); `list` and the rest need not load it. */
const versionProbe = Effect.promise(() => import("../binaries/VersionProbe.js"))

/** The head check could not be made (exit 1): the node did not answer. */
export class HeadUnknown extends Data.TaggedError("HeadUnknown")<{ readonly problem: string }> {
  get kind(): ErrorKind {
    return "unavailable"
  }
  override get message() {
    return `cannot check the height against the chain head: ${this.problem} (use --force to schedule it anyway)`
  }
}

/** Where the binary comes from, the info, what a failure does: `upgrade schedule`'s options, and `fleet schedule|roll`'s. */
export interface ScheduleFlags {
  /** A URL, or a JSON map platform → URL. */
  readonly binaries: Option.Option<string>
  /** Alias of --binaries (the seeds'). */
  readonly url: Option.Option<string>
  readonly checksum: Option.Option<string>
  readonly checksums: Option.Option<string>
  readonly info: Option.Option<string>
  readonly onFailure: Option.Option<string>
}

export interface ScheduleOptions extends ScheduleFlags {
  readonly name: string
  readonly height: string
  readonly binary: Option.Option<string>
  readonly force: boolean
  readonly remote: Option.Option<string>
}

/** ScheduleFlags checked and decoded (bad input: InvalidInput, nothing sent or written), in ScheduleRequest's words. */
export const decodeScheduleFlags = (o: ScheduleFlags) =>
  Effect.gen(function*() {
    const onFailure = Option.isSome(o.onFailure) ? yield* decodeOnFailureArg(o.onFailure.value) : undefined
    const sources = yield* parseBinaryFlags({
      binaries: Option.getOrUndefined(o.binaries),
      url: Option.getOrUndefined(o.url),
      checksum: Option.getOrUndefined(o.checksum),
      checksums: Option.getOrUndefined(o.checksums)
    })
    return {
      ...(Object.keys(sources.binaries).length === 0
        ? {}
        : { binaries: sources.binaries, checksums: sources.checksums }),
      ...(Option.isSome(o.info) ? { info: o.info.value } : {}),
      ...(onFailure !== undefined ? { onFailure } : {})
    }
  })

/** Decoded flags in the API's words (ScheduleUpgradePayload: `on_failure`). */
export const payloadOf = ({ onFailure, ...rest }: Effect.Effect.Success<ReturnType<typeof decodeScheduleFlags>>) => ({
  ...rest,
  ...(onFailure !== undefined ? { on_failure: onFailure } : {})
})

export const schedule = (o: ScheduleOptions) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    // Checked here first, so a remote call never carries what the server would refuse.
    const name = yield* decodeName(o.name)
    const height: Height = yield* decodeHeightArg(o.height)
    const flags = yield* decodeScheduleFlags(o)
    const remote = yield* remoteOf(config, o.remote)
    const upgrade = yield* Option.match(remote, {
      onSome: (r) =>
        Option.isSome(o.binary)
          ? Effect.fail(
            new InvalidInput({
              field: "--binary",
              problem:
                `copies a local file, which a remote wemixvisor cannot read; put it at upgrades/${name}/bin/${config.daemonName} on that machine, or run this command there without --remote`
            })
          )
          : Effect.flatMap(
            remoteModule,
            (m) => m.call(r, (client) => client.ScheduleUpgrade({ name, height, force: o.force, ...payloadOf(flags) }))
          ).pipe(
            // The server words the override for API callers; this one types --force.
            Effect.catchTag("UpgradeConflict", (e) => Effect.fail(cliWorded(e)))
          ),
      onNone: () =>
        Effect.flatMap(Effect.zipRight(requireHome, Operations), (ops) => {
          const cmd: ScheduleCommand = {
            name,
            height,
            force: o.force,
            ...flags,
            ...(Option.isSome(o.binary) ? { binary: o.binary.value } : {})
          }
          return ops.schedule(cmd, CLI)
        })
    })
    yield* Console.log(scheduledLine(upgrade))
    const why = yield* pausedNow(config, remote)
    if (why !== null) {
      yield* Console.error(`warning: ${safeText(why)}; '${name}' does not fire at its height until that is fixed`)
    }
  }).pipe(
    Effect.catchTag("NodeUnreachable", (e) => Effect.fail(new HeadUnknown({ problem: e.message })))
  )

/**
 * `upgrade list`: the plan, each pending upgrade with the ETA the running
 * supervisor estimates (its status; remote, or this home's). Without one
 * answering, the ETA is unknown: only a running supervisor measures the
 * block interval.
 */
export const list = (o: { readonly json: boolean; readonly remote: Option.Option<string> }) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const remote = yield* remoteOf(config, o.remote)
    const upgrades = Option.isSome(remote)
      ? yield* Effect.flatMap(remoteModule, (m) => m.call(remote.value, (client) => client.ListUpgrades()))
      : listOf(yield* Effect.zipRight(requireHome, Effect.flatMap(PlanStore, (store) => store.read)))
    const live = yield* liveStatus(config, remote)
    const etas = new Map(Option.match(live, { onNone: () => [], onSome: (s) => s.pending }).map((u) => [u.name, u]))
    const rows = withEtas(upgrades, etas)
    // The operator's pause: the supervisor's word, else this home's marker (what a `run` starting now holds to).
    const pause = Option.isSome(live)
      ? live.value.upgrades_paused
      : Option.isSome(remote)
      ? null
      : Option.getOrNull(yield* Effect.orElseSucceed(PauseMarker.read(config.layout), () => Option.none()))
    yield* Console.log(o.json ? listJson(rows) : listText(rows, pause))
  })

/** The running supervisor's status — remote, or this home's — none when none answers. */
export const liveStatus = (
  config: WemixvisorConfig,
  remote: Option.Option<ReturnType<typeof remoteWith>>
): Effect.Effect<Option.Option<StatusObject>> => {
  if (Option.isSome(remote)) {
    return Effect.flatMap(
      remoteModule,
      (m) => m.call(remote.value, (client) => client.GetStatus(), Duration.seconds(5))
    ).pipe(Effect.option)
  }
  const holder = lockHolder(config.layout.runLock)
  return holder !== undefined ? supervisorStatus(config, holder) : Effect.succeed(Option.none())
}

export const cancel = (o: { readonly name: Option.Option<string>; readonly remote: Option.Option<string> }) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const remote = yield* remoteOf(config, o.remote)
    const upgrade = Option.isSome(remote)
      ? yield* Effect.flatMap(
        remoteModule,
        (m) =>
          m.call(remote.value, (client) => client.CancelUpgrade(Option.isSome(o.name) ? { name: o.name.value } : {}))
      )
      : yield* Effect.flatMap(Effect.zipRight(requireHome, Operations), (ops) => ops.cancel(o.name, CLI))
    yield* Console.log(cancelledLine(upgrade))
  })

/** Where a `run` on this home serves its API, as a URL this machine can reach. */
const localApiUrl = (config: WemixvisorConfig) => apiUrlOf(config.apiAddr)

/**
 * The status the `run` holding this home's run.lock (pid `holder`) reports
 * over its API; none (with a warning) when it does not answer — or when what
 * answers on that address is another home's supervisor (two homes configured
 * on one port): its node and plan are not this home's.
 */
const supervisorStatus = (config: WemixvisorConfig, holder: number): Effect.Effect<Option.Option<StatusObject>> =>
  Effect.flatMap(remoteModule, (m) =>
    // Short: the files answer the question too, if less completely.
    m.call(remoteWith(config, localApiUrl(config)), (client) => client.GetStatus(), Duration.seconds(5))).pipe(
      Effect.flatMap((s) =>
        s.home === config.home && (holder <= 0 || s.supervisor_pid === holder)
          ? Effect.succeed(s)
          : Effect.fail({
            message: `the API at ${localApiUrl(config)} is served by another wemixvisor (home ${s.home}, pid ${
              s.supervisor_pid ?? "?"
            }), not by this home's (pid ${holder > 0 ? holder : "?"}); check WEMIXVISOR_API_ADDR`
          })
      ),
      Effect.tapError((e) =>
        Effect.logWarning(`the running wemixvisor did not answer (${e.message}); showing what the files say`)
      ),
      Effect.option
    )

/**
 * Why upgrades are paused, as `schedule` warns about it: the running
 * supervisor's word (remote, or this home's), else a corrupt journal here.
 * A question that cannot be answered is no warning (never a failure).
 */
const pausedNow = (
  config: WemixvisorConfig,
  remote: Option.Option<ReturnType<typeof remoteWith>>
): Effect.Effect<string | null> =>
  Effect.gen(function*() {
    const live = yield* liveStatus(config, remote)
    if (Option.isSome(live)) return live.value.paused
    if (Option.isSome(remote)) return null
    const journal = yield* Effect.either(Journal.make(config.layout.journal).read)
    return Either.isLeft(journal) ? `upgrades paused: ${journal.left.message}` : null
  })

/** Status from the files and the node's RPC, without the supervisor's memory. */
const fileStatus = (config: WemixvisorConfig, holder: number | undefined) =>
  Effect.gen(function*() {
    const ops = yield* Operations
    return yield* ops.localStatus({
      // What `current` reports, when DAEMON_VERSION_ARGS makes it say (short: a status must not hang on a probe).
      version: (target) =>
        config.versionArgs.length === 0
          ? Effect.succeed(null)
          : Effect.flatMap(
            versionProbe,
            (m) => m.probeVersion(config.layout.binary(target), config.versionArgs, Duration.seconds(5))
          ).pipe(
            Effect.map((v): string | null => v),
            Effect.orElseSucceed(() => null)
          ),
      supervisor: holder === undefined ? "not-running" : "running",
      supervisorPid: holder !== undefined && holder > 0 ? holder : null
    })
  }).pipe(
    Effect.catchTag("IoError", (e): Effect.Effect<never, IoError | InvalidInput> =>
      e.path === config.layout.current
        ? Effect.fail(
          new InvalidInput({
            field: "DAEMON_HOME",
            problem: `${config.layout.root} has no current binary; run 'wemixvisor init <genesis-binary>' first`
          })
        )
        : Effect.fail(e))
  )

/**
 * ARCHITECTURE §5 status. With a supervisor running on this home, its own status
 * (over its API); without one — or when its API does not answer — what the
 * files and the node's RPC say.
 */
export const status = (o: { readonly json: boolean; readonly remote: Option.Option<string> }) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const remote = yield* remoteOf(config, o.remote)
    let result: StatusObject
    if (Option.isSome(remote)) {
      result = yield* Effect.flatMap(remoteModule, (m) => m.call(remote.value, (client) => client.GetStatus()))
    } else {
      const holder = lockHolder(config.layout.runLock)
      const live = holder !== undefined ? yield* supervisorStatus(config, holder) : Option.none<StatusObject>()
      result = Option.isSome(live) ? live.value : yield* fileStatus(config, holder)
    }
    yield* Console.log(o.json ? statusJson(result) : statusText(result))
  })

/**
 * `upgrade prepare <name>`: makes a pending upgrade's binary ready now —
 * downloaded and verified when it is not in place, executable, probed —
 * and records the outcome in the plan (`ready`, or `scheduled` with the
 * reason). Exit 0 ready; 1 when the download or a check failed; 2 when the
 * request cannot work here (unknown or finished upgrade, downloads
 * disabled, no checksum, no binary for this platform).
 */
export const prepare = (o: { readonly name: string; readonly remote: Option.Option<string> }) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const name = yield* decodeName(o.name)
    const remote = yield* remoteOf(config, o.remote)
    if (Option.isSome(remote)) {
      const u = yield* Effect.flatMap(
        remoteModule,
        (m) => m.call(remote.value, (client) => client.PrepareUpgrade({ name }), m.PREPARE_TIMEOUT)
      )
      yield* Console.log(preparedLine(u, null, null))
      return
    }
    yield* requireHome
    const store = yield* PlanStore
    const plan = yield* store.read
    const u = findUpgrade(plan, name)
    if (u === undefined) return yield* new UpgradeNotFound({ name })
    if (preparable(plan, u) === undefined) {
      return yield* new UpgradeConflict({
        name,
        problem: `is ${u.status}; only an upgrade waiting for its height can be prepared`
      })
    }
    const now = Effect.map(DateTime.now, DateTime.formatIso)
    yield* store.update((p) => Effect.map(now, (at) => [undefined, toPreparing(p, u, at)] as const))
    const result = yield* Effect.either(Effect.flatMap(Preparer, (p) => p.prepare(u)))
    const reason = Either.isLeft(result) ? reasonOf(result.left) : null
    yield* store.update((p) => Effect.map(now, (at) => [undefined, toPrepared(p, u, reason, at)] as const))
    const history = yield* History
    const detail = Either.isLeft(result)
      ? reasonOf(result.left)
      : [
        ...(result.right.version !== null ? [`version ${JSON.stringify(result.right.version)}`] : []),
        ...(result.right.installed !== null
          ? [
            `downloaded from ${result.right.installed.url} (${
              result.right.installed.checksum ?? "checksum NOT verified"
            })`
          ]
          : [])
      ].join("; ")
    yield* history
      .append({
        name,
        step: "prepare",
        result: Either.isLeft(result) ? "failed" : "ok",
        ...(detail !== "" ? { detail } : {}),
        door: CLI.door
      })
      .pipe(Effect.catchAll((e) => Effect.logWarning(`upgrade history not written: ${e.message}`)))
    if (Either.isLeft(result)) return yield* Effect.fail(result.left)
    const after = findUpgrade(yield* store.read, name) ?? u
    yield* Console.log(preparedLine(after, result.right.version, result.right.installed))
  })

/** What `upgrade history` shows without --limit (with --json: every entry). */
export const DEFAULT_HISTORY_LIMIT = 50

/**
 * `upgrade history`: the audit trail from the files (upgrade-history.jsonl
 * and its rotated files, oldest first; no supervisor needed), the last
 * `limit` entries, those of one upgrade with --name.
 */
export const history = (o: {
  readonly json: boolean
  readonly name: Option.Option<string>
  readonly limit: Option.Option<number>
}) =>
  Effect.gen(function*() {
    const name = Option.isSome(o.name) ? Option.some(yield* decodeName(o.name.value)) : Option.none<string>()
    if (Option.isSome(o.limit) && o.limit.value < 1) {
      return yield* new InvalidInput({
        field: "--limit",
        problem: `must be a whole number of entries, at least 1 (got ${o.limit.value})`
      })
    }
    yield* requireHome
    const limit = Option.orElse(o.limit, () => (o.json ? Option.none() : Option.some(DEFAULT_HISTORY_LIMIT)))
    const page = yield* Effect.flatMap(History, (h) => readHistory(h, { name, limit }))
    yield* Console.log(
      o.json ? historyJson(page.records) : historyText(page.records, page.earlier, Option.getOrUndefined(name))
    )
  })

// ---------------------------------------------------------------------------
// Manual controls: `node restart`, `upgrade pause`, `upgrade resume`

/** No `wemixvisor run` holds this home (exit 1): there is no node to restart, no supervisor to ask. */
export class SupervisorNotRunning extends Data.TaggedError("SupervisorNotRunning")<{
  readonly home: string
  readonly what: string
}> {
  get kind(): ErrorKind {
    return "unavailable"
  }
  override get message() {
    return `no \`wemixvisor run\` is running on ${this.home}: ${this.what} (or give --remote / WEMIXVISOR_API_URL)`
  }
}

/**
 * The supervisor to send a control to: --remote / WEMIXVISOR_API_URL, else
 * the `run` holding this home's run.lock, on its API address (none when no
 * `run` holds it). The local one is checked to be this home's, as
 * `upgrade status` checks it: restarting another home's node would be worse
 * than refusing.
 */
const supervisorOf = (config: WemixvisorConfig, flag: Option.Option<string>) =>
  Effect.gen(function*() {
    const remote = yield* remoteOf(config, flag)
    if (Option.isSome(remote)) return Option.some(remote.value)
    const holder = lockHolder(config.layout.runLock)
    if (holder === undefined) return Option.none()
    const local = remoteWith(config, localApiUrl(config))
    const s = yield* Effect.flatMap(remoteModule, (m) => m.call(local, (client) => client.GetStatus()))
    if (s.home !== config.home || (holder > 0 && s.supervisor_pid !== holder)) {
      return yield* new InvalidInput({
        field: "WEMIXVISOR_API_ADDR",
        problem: `the API at ${local.url} is served by another wemixvisor (home ${s.home}, pid ${
          s.supervisor_pid ?? "?"
        }), not by this home's (pid ${holder > 0 ? holder : "?"})`
      })
    }
    return Option.some(local)
  })

/**
 * `node restart`: the running supervisor stops the node gracefully and
 * starts it again (out of \`error\` too). Exit 0 running; 1 when it could
 * not be started (or no supervisor runs); 2 while an upgrade has the node.
 */
export const nodeRestart = (o: { readonly remote: Option.Option<string> }) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const target = yield* supervisorOf(config, o.remote)
    if (Option.isNone(target)) {
      return yield* new SupervisorNotRunning({
        home: config.home,
        what: "the node is restarted by the supervisor that runs it; start it with `wemixvisor run`"
      })
    }
    // A graceful stop waits up to DAEMON_SHUTDOWN_GRACE, then the start: more than a schedule may take.
    const r = yield* Effect.flatMap(remoteModule, (m) =>
      m.call(target.value, (client) => client.RestartNode(), Duration.sum(config.shutdownGrace, m.REMOTE_TIMEOUT)))
    if (r.state !== "running") {
      return yield* new NodeNotStarted({ state: r.state, reason: r.reason })
    }
    yield* Console.log(`✓ Node restarted (pid ${r.pid ?? "?"})`)
  })

/** `node restart` stopped the node but could not start it again (exit 1): it is in \`error\`. */
export class NodeNotStarted extends Data.TaggedError("NodeNotStarted")<{
  readonly state: string
  readonly reason: string | null
}> {
  get kind(): ErrorKind {
    return "operational"
  }
  override get message() {
    return `the node was stopped but is ${this.state} now${
      this.reason !== null ? `: ${safeText(this.reason)}` : ""
    } (see the wemixvisor log)`
  }
}

/**
 * `upgrade proposals [--json]`: the governance proposals the running
 * supervisor tracks (DAEMON_GOVERNANCE_GOVERNOR), every state, newest first.
 * Asked over its API (this home's `run`, or --remote / WEMIXVISOR_API_URL);
 * with none running, exit 1: the tracker is the supervisor's, and an empty
 * list would read as "nothing coming" when nobody is looking.
 */
export const proposals = (o: { readonly json: boolean; readonly remote: Option.Option<string> }) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const target = yield* supervisorOf(config, o.remote)
    if (Option.isNone(target)) {
      return yield* new SupervisorNotRunning({
        home: config.home,
        what:
          "governance proposals are tracked by a running `wemixvisor run` with DAEMON_GOVERNANCE_GOVERNOR set, not read from the files"
      })
    }
    const l = yield* Effect.flatMap(remoteModule, (m) => m.call(target.value, (client) => client.ListProposals()))
    yield* Console.log(o.json ? proposalsJson(l.proposals) : proposalsText(l.proposals))
  })

/**
 * `upgrade pause [--reason]`: no upgrade fires until `upgrade resume`. Sent
 * to the running supervisor; with none running, the marker is written here,
 * and the next `run` holds upgrades from its first tick.
 */
export const pause = (o: { readonly reason: Option.Option<string>; readonly remote: Option.Option<string> }) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const handlers = yield* Effect.promise(() => import("../api/Handlers.js"))
    const reason = yield* handlers.decodePauseReason(Option.getOrUndefined(o.reason)).pipe(
      Effect.mapError((e) => new InvalidInput({ field: "--reason", problem: e.problem }))
    )
    const target = yield* supervisorOf(config, o.remote)
    const p = Option.isSome(target)
      ? yield* Effect.flatMap(
        remoteModule,
        (m) => m.call(target.value, (client) => client.PauseUpgrades(reason !== null ? { reason } : {}))
      )
      : yield* pauseHere(config, reason)
    yield* Console.log(`✓ Upgrades ${pauseText(p)}`)
  })

/** The pause written by this CLI with no supervisor running: the marker, and the history line. */
const pauseHere = (config: WemixvisorConfig, reason: string | null) =>
  Effect.gen(function*() {
    yield* requireHome
    const was = yield* PauseMarker.read(config.layout)
    const since = Option.isSome(was) ? was.value.since : DateTime.formatIso(yield* DateTime.now)
    const p = { since, by: PauseMarker.byOf(CLI), reason }
    yield* PauseMarker.write(config.layout, p)
    yield* recordHere({
      name: "(upgrades)",
      step: "pause",
      result: "ok",
      ...(reason !== null ? { detail: reason } : {})
    })
    return p
  })

const recordHere = (entry: { name: string; step: string; result: "ok"; detail?: string }) =>
  Effect.flatMap(History, (h) => h.append({ ...entry, door: CLI.door })).pipe(
    Effect.catchAll((e) => Effect.logWarning(`upgrade history not written: ${e.message}`))
  )

/**
 * `upgrade resume`: lifts the operator's pause; an upgrade whose height
 * passed meanwhile fires at once. A pause of wemixvisor's own (a corrupt
 * plan or journal) is not lifted by this: it is said, with what lifts it.
 */
export const resume = (o: { readonly remote: Option.Option<string> }) =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const target = yield* supervisorOf(config, o.remote)
    let was: OperatorPause | null
    if (Option.isSome(target)) {
      was = (yield* Effect.flatMap(remoteModule, (m) => m.call(target.value, (client) => client.ResumeUpgrades())))
        .resumed
    } else {
      yield* requireHome
      was = Option.getOrNull(yield* PauseMarker.read(config.layout))
      yield* PauseMarker.remove(config.layout)
      if (was !== null) yield* recordHere({ name: "(upgrades)", step: "resume", result: "ok" })
    }
    yield* Console.log(
      was === null
        ? "Upgrades were not paused by an operator; nothing to resume"
        : `✓ Upgrades resumed (they were ${pauseText(was).replace(/: none fires until .*$/, "")})`
    )
    const still = yield* pausedNow(config, Option.isSome(target) ? Option.some(target.value) : Option.none())
    if (still !== null) yield* Console.error(`warning: upgrades are still held by wemixvisor: ${safeText(still)}`)
  })
