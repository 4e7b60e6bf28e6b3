import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Queue, Stream, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { AppConfig, describeConfig, loadConfig } from "../../src/config/Config.js"
import * as Reload from "../../src/config/Reload.js"
import * as Events from "../../src/events/Events.js"
import { ReloadRequests } from "../../src/platform/ReloadSignal.js"
import { cleanup, tempDir } from "../support/fixtures.js"

/*
 * Hot reload (config/Reload.ts): a burst of file events is one reload once
 * it settles (TestClock); an invalid file is refused whole; live settings
 * change in the AppConfig view, the others wait for a restart.
 */

const home = () => {
  const h = tempDir()
  fs.mkdirSync(path.join(h, "wemixvisor"))
  return h
}
const write = (h: string, text: string) => fs.writeFileSync(path.join(h, "wemixvisor", "config.toml"), text)
const load = (h: string) => loadConfig({ env: { DAEMON_HOME: h, DAEMON_NAME: "gw" } })

/** The layer over signals the test sends (file changes, SIGHUPs), and the events it publishes. */
const harness = (h: string) =>
  Effect.gen(function*() {
    const files = yield* Queue.unbounded<void>()
    const hups = yield* Queue.unbounded<{ readonly signal: "SIGHUP" }>()
    const initial = yield* load(h)
    const events = yield* Layer.build(Events.layer)
    const stream = yield* Events.Events.pipe(Effect.flatMap((e) => e.subscribe), Effect.provide(events))
    const seen: Array<Events.WemixvisorEvent> = []
    yield* Stream.runForEach(stream, (e) => Effect.sync(() => seen.push(e))).pipe(Effect.forkScoped)
    const ctx = yield* Layer.build(
      Reload.layer(initial, Stream.fromQueue(files)).pipe(
        Layer.provide(Layer.succeed(ReloadRequests, { requests: Stream.fromQueue(hups) })),
        Layer.provide(Layer.succeedContext(events))
      )
    )
    // Let the layer's fibers subscribe before the test sends anything.
    yield* TestClock.adjust(Duration.zero)
    return { files, hups, seen, view: ctx.pipe((c) => c.unsafeMap.get(AppConfig.key) as typeof initial) }
  })

const settle = Effect.gen(function*() {
  yield* TestClock.adjust(Reload.SETTLE)
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
})

describe("configuration reload", () => {
  it.scoped("a burst of file events is one reload after it settles; live settings change in the view", () => {
    const h = home()
    return Effect.gen(function*() {
      write(h, "daemon_max_restarts = 3\n")
      const { files, seen, view } = yield* harness(h)
      write(h, "daemon_max_restarts = 7\ndaemon_rpc_url = \"http://127.0.0.1:1\"\n")
      for (let i = 0; i < 3; i++) {
        yield* Queue.offer(files, undefined)
        yield* TestClock.adjust(Duration.millis(100))
      }
      expect(seen.filter((e) => e.type === "config-reloaded")).toEqual([])
      yield* settle
      const reloaded = seen.filter((e) => e.type === "config-reloaded")
      expect(reloaded).toMatchObject([
        { trigger: "file", changed: ["daemon_max_restarts"], needs_restart: ["daemon_rpc_url"] }
      ])
      expect([view.maxRestarts, view.rpcUrl]).toEqual([7, "http://127.0.0.1:8588"])
    }).pipe(Effect.ensuring(Effect.sync(() => cleanup(h))))
  })

  it.scoped("an invalid file is refused as a whole; SIGHUP reloads at once and always answers", () => {
    const h = home()
    return Effect.gen(function*() {
      write(h, "daemon_max_restarts = 3\n")
      const { files, hups, seen, view } = yield* harness(h)
      write(h, "daemon_max_restarts = 9\ndaemon_verify_min_up = \"10m\"\n")
      yield* Queue.offer(files, undefined)
      yield* settle
      expect(seen.map((e) => e.type)).toEqual(["config-invalid"])
      expect(seen[0]).toMatchObject({ reason: expect.stringContaining("DAEMON_VERIFY_MIN_UP") })
      expect(view.maxRestarts).toBe(3)

      write(h, "daemon_max_restarts = 3\n")
      yield* Queue.offer(hups, { signal: "SIGHUP" })
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      expect(seen.at(-1)).toMatchObject({ type: "config-reloaded", trigger: "SIGHUP", changed: [], needs_restart: [] })
    }).pipe(Effect.ensuring(Effect.sync(() => cleanup(h))))
  })

  it.scoped("a file event that changes nothing publishes nothing", () => {
    const h = home()
    return Effect.gen(function*() {
      write(h, "daemon_max_restarts = 3\n")
      const { files, seen } = yield* harness(h)
      yield* Queue.offer(files, undefined)
      yield* settle
      expect(seen).toEqual([])
    }).pipe(Effect.ensuring(Effect.sync(() => cleanup(h))))
  })
})

describe("applyReload", () => {
  it("the live keys are the ones SETTINGS marks live (the list ARCHITECTURE §4 gives)", () => {
    expect(Object.keys(Reload.LIVE).sort()).toEqual([
      "daemon_backup",
      "daemon_backup_keep",
      "daemon_chain_id",
      "daemon_hook_timeout",
      "daemon_max_restarts",
      "daemon_on_upgrade_failure",
      "daemon_poll_interval",
      "daemon_pre_stop",
      "daemon_pre_upgrade",
      "daemon_pre_upgrade_max_retries",
      "daemon_restart_delay",
      "daemon_restart_max_delay",
      "daemon_restart_window",
      "daemon_shutdown_grace",
      "daemon_upgrade_delay",
      "daemon_verify_min_up",
      "daemon_verify_progress",
      "daemon_verify_timeout",
      "wemixvisor_log_level",
      "wemixvisor_notify",
      "wemixvisor_notify_coalesce"
    ])
  })

  it("takes the live keys, keeps the others and names both", () => {
    const h = home()
    try {
      write(h, "daemon_verify_timeout = \"1m\"\ndaemon_poll_interval = \"300ms\"\n")
      const before = Effect.runSync(load(h))
      write(
        h,
        "daemon_verify_timeout = \"2m\"\ndaemon_poll_interval = \"2s\"\nwemixvisor_api_addr = \"127.0.0.1:9\"\n"
          + "wemixvisor_log_level = \"debug\"\n"
      )
      const r = Reload.applyReload(before, Effect.runSync(load(h)))
      expect([r.changed, r.needsRestart]).toEqual([
        ["daemon_poll_interval", "daemon_verify_timeout", "wemixvisor_log_level"],
        ["wemixvisor_api_addr"]
      ])
      expect([
        Duration.toMillis(r.config.verifyTimeout),
        Duration.toMillis(r.config.pollInterval),
        r.config.apiAddr,
        r.config.logLevel
      ]).toEqual([
        120_000,
        2_000,
        "127.0.0.1:8590",
        "debug"
      ])
      for (const key of Object.keys(Reload.LIVE)) {
        expect(Object.keys(describeConfig(before))).toContain(key)
      }
    } finally {
      cleanup(h)
    }
  })
})
