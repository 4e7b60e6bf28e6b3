import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeHeight } from "../../src/domain/Height.js"
import type { UpgradeName } from "../../src/domain/Upgrade.js"
import { type HookConfig, type HookOptions, make } from "../../src/orchestrator/Hooks.js"
import { captureLogs, sleepRegistered } from "../binaries/support.js"
import { cleanup, isAlive, sleep, tempDir, waitFor, writeScript } from "../support/fixtures.js"

/*
 * Hooks are real scripts. Each run appends a line to `runs` (its args and
 * environment); the exit code of run N is the N-th of `codes`.
 */

const ctx = { name: "v2" as UpgradeName, height: makeHeight(1500) }

const world = Effect.acquireRelease(
  Effect.sync(() => tempDir()),
  (d) => Effect.sync(() => cleanup(d))
)

/** A hook exiting with `codes[n]` on its n-th run (the last code repeats). */
const hook = (dir: string, codes: ReadonlyArray<number>, extra = "") =>
  writeScript(
    path.join(dir, "hook.sh"),
    `#!/bin/sh
echo "$1 $2 home=$DAEMON_HOME name=$DAEMON_NAME upgrade=$UPGRADE_NAME height=$UPGRADE_HEIGHT" >> "${dir}/runs"
n=$(wc -l < "${dir}/runs")
set -- ${codes.join(" ")}
while [ "$n" -gt 1 ] && [ "$#" -gt 1 ]; do shift; n=$((n - 1)); done
${extra}
echo "hook says hello"
echo "hook complains" >&2
exit $1
`
  )

const runs = (dir: string) =>
  fs.existsSync(path.join(dir, "runs")) ? fs.readFileSync(path.join(dir, "runs"), "utf8").trim().split("\n") : []

const config = (dir: string, over: Partial<HookConfig> = {}): HookConfig => ({
  home: dir,
  daemonName: "gwemix",
  preStop: Option.some(path.join(dir, "hook.sh")),
  preUpgrade: Option.some(path.join(dir, "hook.sh")),
  preUpgradeMaxRetries: 2,
  hookTimeout: Duration.seconds(10),
  ...over
})

/** Hook output goes to a captured log: quiet test output. */
const silent = captureLogs().layer

const quick: HookOptions = { retryDelay: "10 millis", killGrace: "300 millis" }

describe("pre-upgrade hook", () => {
  it.scopedLive("exit 0 → continue; runs with name and height, the environment, its output in the log", () =>
    Effect.gen(function*() {
      const dir = yield* world
      hook(dir, [0])
      const logs = captureLogs()
      yield* make(config(dir), quick).preUpgrade(ctx).pipe(Effect.provide(logs.layer))
      expect(runs(dir)).toEqual([`v2 1500 home=${dir} name=gwemix upgrade=v2 height=1500`])
      const said = logs.lines.filter((l) => l.annotations.hook === "pre-upgrade")
      expect(said.map((l) => [l.message, l.annotations.stream, l.level.label])).toEqual([
        ["hook says hello", "stdout", "INFO"],
        ["hook complains", "stderr", "WARN"]
      ])
    }).pipe(Effect.provide(silent)))

  it.scopedLive("exit 30 → the upgrade fails at once (no retry)", () =>
    Effect.gen(function*() {
      const dir = yield* world
      hook(dir, [30])
      const e = yield* Effect.flip(make(config(dir), quick).preUpgrade(ctx))
      expect(e).toMatchObject({
        _tag: "HookFailed",
        hook: "pre-upgrade",
        outcome: { _tag: "Exited", code: 30 },
        attempts: 1
      })
      expect(e.message).toBe(`pre-upgrade hook ${path.join(dir, "hook.sh")} exited with code 30 (fail the upgrade)`)
      expect(runs(dir)).toHaveLength(1)
    }).pipe(Effect.provide(silent)))

  it.scopedLive("exit 31 → retried: 31, 31, 0 with two retries allowed succeeds after three runs", () =>
    Effect.gen(function*() {
      const dir = yield* world
      hook(dir, [31, 31, 0])
      yield* make(config(dir), quick).preUpgrade(ctx)
      expect(runs(dir)).toHaveLength(3)
    }).pipe(Effect.provide(silent)))

  it.scopedLive("exit 31 beyond DAEMON_PRE_UPGRADE_MAX_RETRIES → fails, with the runs counted", () =>
    Effect.gen(function*() {
      const dir = yield* world
      hook(dir, [31])
      const e = yield* Effect.flip(make(config(dir), quick).preUpgrade(ctx))
      expect(e).toMatchObject({ outcome: { _tag: "Exited", code: 31 }, attempts: 3 })
      expect(e.message).toContain("still asked for a retry (code 31) after 3 runs")
      expect(runs(dir)).toHaveLength(3)

      fs.rmSync(path.join(dir, "runs"))
      const none = yield* Effect.flip(make(config(dir, { preUpgradeMaxRetries: 0 }), quick).preUpgrade(ctx))
      expect(none.attempts).toBe(1)
      expect(runs(dir)).toHaveLength(1)
    }).pipe(Effect.provide(silent)))

  it.scopedLive("any other code fails the upgrade (unknown never means success), without retrying", () =>
    Effect.gen(function*() {
      const dir = yield* world
      for (const code of [1, 2, 29, 32, 42, 255]) {
        fs.rmSync(path.join(dir, "runs"), { force: true })
        hook(dir, [code])
        const e = yield* Effect.flip(make(config(dir), quick).preUpgrade(ctx))
        expect(e.outcome).toEqual({ _tag: "Exited", code })
        expect(e.message).toContain(`exited with code ${code}`)
        expect(runs(dir)).toHaveLength(1)
      }
    }).pipe(Effect.provide(silent)))

  it.scopedLive("killed by a signal, or not runnable at all → fails", () =>
    Effect.gen(function*() {
      const dir = yield* world
      hook(dir, [0], "kill -KILL $$")
      const e = yield* Effect.flip(make(config(dir), quick).preUpgrade(ctx))
      expect(e.outcome).toEqual({ _tag: "Signaled", signal: "SIGKILL" })
      expect(e.message).toContain("was killed by SIGKILL")

      const missing = yield* Effect.flip(
        make(config(dir, { preUpgrade: Option.some(path.join(dir, "nope.sh")) }), quick).preUpgrade(ctx)
      )
      expect(missing.outcome._tag).toBe("NotRun")
      expect(missing.message).toContain("could not be run")
      const plain = path.join(dir, "plain.sh")
      fs.writeFileSync(plain, "#!/bin/sh\nexit 0\n", { mode: 0o644 })
      const notExec = yield* Effect.flip(make(config(dir, { preUpgrade: Option.some(plain) }), quick).preUpgrade(ctx))
      expect(notExec.message).toContain("EACCES")
    }).pipe(Effect.provide(silent)))

  it.scopedLive("a hanging hook is bounded by DAEMON_HOOK_TIMEOUT: fails, and its child is gone", () =>
    Effect.gen(function*() {
      const dir = yield* world
      hook(dir, [0], `sleep 60 &\necho $! > "${dir}/child"\nwait`)
      const started = Date.now()
      const e = yield* Effect.flip(make(config(dir, { hookTimeout: Duration.millis(400) }), quick).preUpgrade(ctx))
      expect(Date.now() - started).toBeLessThan(3000)
      expect(e.outcome).toEqual({ _tag: "TimedOut", after: Duration.millis(400) })
      expect(e.message).toContain("did not finish within 400ms and was killed")
      expect(e.attempts).toBe(1)
      expect(isAlive(Number(fs.readFileSync(path.join(dir, "child"), "utf8")))).toBe(false)
    }).pipe(Effect.provide(silent)))

  it.effect("retries are spaced by the retry delay (TestClock)", () =>
    Effect.gen(function*() {
      const dir = yield* world
      hook(dir, [31, 0])
      const fiber = yield* Effect.fork(
        make(config(dir, { preUpgradeMaxRetries: 1, hookTimeout: Duration.minutes(1) }), { retryDelay: "7 seconds" })
          .preUpgrade(ctx)
      )
      // The hook is a real process: wait in real time until it ran and the retry's sleep is registered.
      yield* Effect.promise(() => waitFor("first run", () => runs(dir).length === 1))
      yield* sleepRegistered(7000)
      yield* TestClock.adjust("6999 millis")
      yield* Effect.promise(() => sleep(150))
      expect(runs(dir)).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      expect(runs(dir)).toHaveLength(2)
    }).pipe(Effect.scoped, Effect.provide(silent)))
})

describe("pre-stop hook", () => {
  it.scopedLive("exit 0 → ok; non-zero → a HookFailed for the orchestrator to log and go on", () =>
    Effect.gen(function*() {
      const dir = yield* world
      hook(dir, [0, 3])
      const hooks = make(config(dir), quick)
      yield* hooks.preStop(ctx)
      const e = yield* Effect.flip(hooks.preStop(ctx))
      expect(e).toMatchObject({
        _tag: "HookFailed",
        hook: "pre-stop",
        outcome: { _tag: "Exited", code: 3 },
        attempts: 1
      })
      expect(runs(dir)).toEqual([
        `v2 1500 home=${dir} name=gwemix upgrade=v2 height=1500`,
        `v2 1500 home=${dir} name=gwemix upgrade=v2 height=1500`
      ])
    }).pipe(Effect.provide(silent)))

  it.scopedLive("a hanging pre-stop hook that ignores SIGTERM is killed after the grace; nothing it started survives", () =>
    Effect.gen(function*() {
      const dir = yield* world
      hook(dir, [0], `trap '' TERM\nsleep 60 &\necho $! > "${dir}/child"\nwhile :; do sleep 1; done`)
      const started = Date.now()
      const e = yield* Effect.flip(make(config(dir, { hookTimeout: Duration.millis(300) }), quick).preStop(ctx))
      const took = Date.now() - started
      expect(took).toBeGreaterThanOrEqual(600 - 50)
      expect(took).toBeLessThan(3000)
      expect(e.outcome._tag).toBe("TimedOut")
      expect(e.message).toContain("pre-stop hook")
      expect(isAlive(Number(fs.readFileSync(path.join(dir, "child"), "utf8")))).toBe(false)
    }).pipe(Effect.provide(silent)))

  it.scopedLive("no hook configured → nothing runs", () =>
    Effect.gen(function*() {
      const dir = yield* world
      hook(dir, [1])
      const hooks = make(config(dir, { preStop: Option.none(), preUpgrade: Option.none() }), quick)
      yield* hooks.preStop(ctx)
      yield* hooks.preUpgrade(ctx)
      expect(runs(dir)).toEqual([])
    }).pipe(Effect.provide(silent)))
})
