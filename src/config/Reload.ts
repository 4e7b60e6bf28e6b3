import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as fs from "node:fs"
import * as path from "node:path"
import { Events } from "../events/Events.js"
import { ReloadRequests } from "../platform/ReloadSignal.js"
import { checkRunnable } from "./Checks.js"
import { AppConfig, CONFIG_FILES, describeConfig, loadConfig, type WemixvisorConfig } from "./Config.js"
import { SETTINGS } from "./Keys.js"
import { LogThreshold } from "./LogThreshold.js"

/*
 * Hot reload (ARCHITECTURE §4 "Reload"): the config file is read again when
 * it changes (file events, and a slow poll for filesystems without them) or
 * on SIGHUP. The new configuration is checked as `run` checks it at start;
 * refused as a whole when anything is wrong (`config-invalid`, the running
 * one kept). Otherwise the live settings take effect and the others — what
 * the running services were built around (home, name, the API address, the
 * RPC URLs) — are reported as needing a restart and kept.
 *
 * The running services read AppConfig as a view of the current
 * configuration (LiveConfig.view): a setting read where it is used (the
 * verify timeout at verify, the restart policy at a crash, the hooks at the
 * upgrade) follows a reload without anything restarting. The environment is
 * the one `run` started with: a reload re-reads the file only.
 */

/**
 * The settings a reload changes in place: `config` key → the field(s) that
 * carry it, from SETTINGS (Keys.ts); `wemixvisor_notify` is every channel,
 * however given.
 */
export const LIVE: Readonly<Record<string, ReadonlyArray<keyof WemixvisorConfig>>> = {
  ...Object.fromEntries(
    Object.entries(SETTINGS).flatMap(([name, s]) =>
      s.live === undefined || s.live === "notify" ? [] : [[name.toLowerCase(), [s.live]]]
    )
  ),
  wemixvisor_notify: ["notify"]
}

export interface Reloaded {
  /** The configuration to run with: the new live settings, the rest as before. */
  readonly config: WemixvisorConfig
  /** `config` keys whose new value took effect. */
  readonly changed: ReadonlyArray<string>
  /** `config` keys whose new value waits for a restart of wemixvisor. */
  readonly needsRestart: ReadonlyArray<string>
}

/** What a newly read configuration changes of the running one. */
export const applyReload = (running: WemixvisorConfig, next: WemixvisorConfig): Reloaded => {
  const before = describeConfig(running)
  const after = describeConfig(next)
  const differing = Object.keys(after).filter((k) =>
    // The channels are described with their secrets hidden: a new token alone is a change all the same.
    k === "wemixvisor_notify"
      ? JSON.stringify(running.notify) !== JSON.stringify(next.notify)
      : JSON.stringify(before[k]) !== JSON.stringify(after[k])
  )
  const changed = differing.filter((k) => k in LIVE)
  const live: Partial<Record<keyof WemixvisorConfig, unknown>> = {}
  for (const k of changed) for (const field of LIVE[k]!) live[field] = next[field]
  return {
    config: { ...running, ...live, given: { ...running.given, ...next.given } } as WemixvisorConfig,
    changed,
    needsRestart: differing.filter((k) => !(k in LIVE))
  }
}

export interface LiveConfigService {
  readonly current: Effect.Effect<WemixvisorConfig>
  /** The configuration now and after each reload that changed it. */
  readonly changes: Stream.Stream<WemixvisorConfig>
  /** Reads the file again now, as a change of it would (`trigger` names the cause in the event). */
  readonly reload: (trigger: string) => Effect.Effect<void>
}

export class LiveConfig extends Context.Tag("wemixvisor/LiveConfig")<LiveConfig, LiveConfigService>() {}

/** File events come in bursts (an editor writes, renames, chmods): one reload after they settle. */
export const SETTLE = Duration.millis(300)
/** Where file events do not arrive (some network and container filesystems), a change is seen within this. */
export const FILE_POLL = Duration.seconds(5)

/** The config files' identity (size, mtime, inode): a change of it is a change of the file. */
const signature = (dir: string) =>
  Effect.sync(() =>
    CONFIG_FILES.map((f) => {
      try {
        const s = fs.statSync(path.join(dir, f))
        return `${f}:${s.size}:${s.mtimeMs}:${s.ino}`
      } catch {
        return `${f}:-`
      }
    }).join(",")
  )

/** A signal for each change of a config file of `dir`: fs.watch events plus the poll. */
export const fileChanges = (dir: string): Stream.Stream<void> => {
  const events = Stream.asyncScoped<void>((emit) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        // Once watching, one signal at once: a change made between the start's read and now is not missed.
        void emit.single(undefined)
        try {
          const names: ReadonlyArray<string> = CONFIG_FILES
          return fs.watch(dir, (_, file) => {
            if (file === null || names.includes(String(file))) void emit.single(undefined)
          }).on("error", () => undefined)
        } catch {
          return undefined // no file events here: the poll sees the change
        }
      }),
      (watcher) => Effect.sync(() => watcher?.close())
    )
  )
  const polled = Stream.repeatEffectWithSchedule(signature(dir), Schedule.spaced(FILE_POLL)).pipe(
    Stream.changes,
    Stream.drop(1),
    Stream.map((): void => undefined)
  )
  return Stream.merge(events, polled)
}

/**
 * The live configuration over `initial` (what `run` started with, already
 * checked), reloaded on every settled change of `changes` and every request
 * of ReloadRequests (SIGHUP). Also provides AppConfig as the live view.
 */
export const layer = (
  initial: WemixvisorConfig,
  changes: Stream.Stream<void> = fileChanges(initial.layout.root)
): Layer.Layer<LiveConfig | AppConfig, never, Events | ReloadRequests> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const events = yield* Events
      const requests = yield* ReloadRequests
      const ref = yield* SubscriptionRef.make(initial)
      let latest = initial
      /** The keys last reported as needing a restart. */
      let reportedPending = ""
      const env = { ...process.env }
      const lock = yield* Effect.makeSemaphore(1)

      const reload = (trigger: string) =>
        lock.withPermits(1)(Effect.gen(function*() {
          const read = yield* loadConfig({
            flags: { DAEMON_HOME: initial.home, DAEMON_NAME: initial.daemonName },
            env
          }).pipe(Effect.tap(checkRunnable), Effect.either)
          if (read._tag === "Left") {
            const reason = read.left.message
            yield* events.publish({
              type: "config-invalid",
              trigger,
              reason,
              message: `${reason}; the running configuration is kept`
            })
            return
          }
          const { changed, config, needsRestart } = applyReload(latest, read.right)
          // A file event that changes nothing new (the same text saved again, the poll seeing a change the
          // file events reported) is not news; a SIGHUP is always answered.
          const pending = needsRestart.join(",")
          if (changed.length === 0 && pending === reportedPending && trigger !== "SIGHUP") return
          reportedPending = pending
          latest = config
          yield* SubscriptionRef.set(ref, config)
          yield* events.publish({
            type: "config-reloaded",
            trigger,
            changed,
            needs_restart: needsRestart,
            message: [
              changed.length === 0 ? "nothing changed" : `now in effect: ${changed.join(", ")}`,
              ...(needsRestart.length === 0 ? [] : [`needs a restart of wemixvisor (kept): ${needsRestart.join(", ")}`])
            ].join("; ")
          })
        }))

      // The log level is asked at each line (cli/logging.ts): from here on, of the live configuration.
      yield* Effect.locallyScoped(LogThreshold, () => latest.logLevel)
      yield* changes.pipe(
        Stream.debounce(SETTLE),
        Stream.runForEach(() => reload("file")),
        Effect.forkScoped
      )
      yield* requests.requests.pipe(Stream.runForEach((r) => reload(r.signal)), Effect.forkScoped)

      // Each property read answers from the configuration current at that moment.
      const view = new Proxy(initial, { get: (_, key) => latest[key as keyof WemixvisorConfig] })
      return Context.make(LiveConfig, { current: SubscriptionRef.get(ref), changes: ref.changes, reload }).pipe(
        Context.add(AppConfig, view)
      )
    })
  )
