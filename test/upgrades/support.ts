/*
 * Layers and helpers shared by the upgrades tests: a home in a temp folder, the
 * live config over it, and a HeightProvider whose `latest` is a Ref (the height
 * source is not under test here, so nothing pretends to be an RPC).
 */
import { Duration, Effect, Layer, Option, Ref, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { AppConfig, loadConfig } from "../../src/config/Config.js"
import { NodeUnreachable } from "../../src/domain/Errors.js"
import type { Height } from "../../src/domain/Height.js"
import { HeightProvider } from "../../src/height/HeightProvider.js"
import { cleanup, sleep, tempDir } from "../support/fixtures.js"

/** A temp DAEMON_HOME with its wemixvisor folder, removed with the scope. */
export const tempHome = Effect.acquireRelease(
  Effect.sync(() => {
    const home = tempDir("wemixvisor-upgrades-")
    fs.mkdirSync(path.join(home, "wemixvisor"), { recursive: true })
    return home
  }),
  (home) => Effect.sync(() => cleanup(home))
)

/** Downloads are allowed (the drop-ins carry binary URLs); `env` overrides. */
export const configLayer = (
  home: string,
  pollInterval = "50ms",
  env: Record<string, string> = {}
): Layer.Layer<AppConfig> =>
  Layer.effect(
    AppConfig,
    loadConfig({
      env: {
        DAEMON_HOME: home,
        DAEMON_NAME: "gwemix",
        DAEMON_POLL_INTERVAL: pollInterval,
        WEMIXVISOR_LOG_FORMAT: "json",
        DAEMON_ALLOW_DOWNLOAD_BINARIES: "true",
        ...env
      }
    })
  ).pipe(Layer.orDie)

/** HeightProvider with `latest` read from `ref`; no height has been seen while it holds none. */
export const heightLayer = (ref: Ref.Ref<Option.Option<Height>>): Layer.Layer<HeightProvider> =>
  Layer.succeed(HeightProvider, {
    heights: Stream.never,
    latest: Ref.get(ref),
    head: Ref.get(ref).pipe(
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.fail(new NodeUnreachable({ url: "test", cause: "no head yet" })),
          onSome: Effect.succeed
        })
      )
    )
  })

/**
 * Polls `check` until it yields a value, or dies naming `what`. It waits for
 * real I/O (files, fs.watch), so it waits in real time, also under TestClock.
 */
export const eventually = <A, E, R>(
  what: string,
  check: Effect.Effect<A | undefined | false, E, R>,
  timeout: Duration.DurationInput = "5 seconds"
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(timeout)
    for (;;) {
      const v = yield* check
      if (v !== undefined && v !== false) return v
      if (Date.now() > deadline) {
        return yield* Effect.dieMessage(`timed out after ${Duration.format(timeout)} waiting for ${what}`)
      }
      yield* Effect.promise(() => sleep(20))
    }
  })

/** Writes a file the way the CLI does: temp file + rename. */
export const writeAtomically = (file: string, text: string) => {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, text)
  fs.renameSync(tmp, file)
}

export const readJson = (file: string): unknown => JSON.parse(fs.readFileSync(file, "utf8"))
