import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { AppConfig, type WemixvisorConfig } from "../config/Config.js"
import type { Height } from "../domain/Height.js"
import type { UpgradeName } from "../domain/Upgrade.js"
import { type BoundedOutcome, describeOutcome, runBounded } from "../platform/BoundedProcess.js"

/*
 * Upgrade hooks (ARCHITECTURE §4, §6). Each run is `<script> <upgrade name> <height>`
 * with DAEMON_HOME, DAEMON_NAME, UPGRADE_NAME and UPGRADE_HEIGHT in its
 * environment, its output in our log, bounded by DAEMON_HOOK_TIMEOUT (the
 * hook's process group gets SIGTERM, then SIGKILL after a short grace).
 *
 * - pre-stop (DAEMON_PRE_STOP): before the node is stopped for an upgrade,
 *   e.g. to hand off block production. Exit 0 is fine; anything else is a
 *   HookFailed the orchestrator logs and publishes, and then it CONTINUES:
 *   the upgrade height is mandatory, the old binary cannot go past it, so a
 *   failed hand-off must not keep the node on the old binary.
 * - pre-upgrade (DAEMON_PRE_UPGRADE): after `switch`, before `start`. Exit 0
 *   continues; 30 fails the upgrade; 31 asks for a retry (up to
 *   DAEMON_PRE_UPGRADE_MAX_RETRIES, then it fails). Any other code, a signal
 *   or a timeout fails the upgrade — unlike cosmovisor, an unknown outcome is
 *   never taken as success.
 */

export type HookName = "pre-stop" | "pre-upgrade"

/** How a hook run ended, when it did not succeed. */
export type HookOutcome = BoundedOutcome | { readonly _tag: "NotRun"; readonly problem: string }

export class HookFailed extends Data.TaggedError("HookFailed")<{
  readonly hook: HookName
  readonly script: string
  /** The last run's outcome. */
  readonly outcome: HookOutcome
  /** How many times the script ran (or was tried). */
  readonly attempts: number
}> {
  override get message() {
    const o = this.outcome
    const what = o._tag === "NotRun"
      ? `could not be run: ${o.problem}`
      : o._tag === "Exited" && o.code === PRE_UPGRADE_FAIL && this.hook === "pre-upgrade"
      ? `exited with code ${PRE_UPGRADE_FAIL} (fail the upgrade)`
      : o._tag === "Exited" && o.code === PRE_UPGRADE_RETRY && this.hook === "pre-upgrade"
      ? `still asked for a retry (code ${PRE_UPGRADE_RETRY}) after ${this.attempts} runs`
      : describeOutcome(o)
    return `${this.hook} hook ${this.script} ${what}`
  }
}

/** Exit codes of the pre-upgrade contract (cosmovisor's). */
export const PRE_UPGRADE_FAIL = 30
export const PRE_UPGRADE_RETRY = 31

export interface HookContext {
  readonly name: UpgradeName
  readonly height: Height
}

export interface HooksService {
  /** Runs DAEMON_PRE_STOP when set (nothing otherwise). A failure is for logging: the upgrade goes on. */
  readonly preStop: (ctx: HookContext) => Effect.Effect<void, HookFailed>
  /** Runs DAEMON_PRE_UPGRADE when set (nothing otherwise); fails the upgrade on anything but a final exit 0. */
  readonly preUpgrade: (ctx: HookContext) => Effect.Effect<void, HookFailed>
}

export class Hooks extends Context.Tag("wemixvisor/Hooks")<Hooks, HooksService>() {}

/** What a hook run needs from the configuration. */
export type HookConfig = Pick<
  WemixvisorConfig,
  "home" | "daemonName" | "preStop" | "preUpgrade" | "preUpgradeMaxRetries" | "hookTimeout"
>

export interface HookOptions {
  /** SIGTERM → SIGKILL for a hook that timed out (default 5s). */
  readonly killGrace?: Duration.DurationInput
  /** Pause between a pre-upgrade exit 31 and the next run (default 1s). */
  readonly retryDelay?: Duration.DurationInput
}

/** The pause between pre-upgrade runs that asked for a retry: spaced, `retries` times at most. */
export const preUpgradeRetry = (retries: number, delay: Duration.DurationInput) =>
  Schedule.spaced(delay).pipe(Schedule.intersect(Schedule.recurs(retries)))

/** Asked-for-a-retry, as a typed signal inside the retry loop. */
class RetryRequested extends Data.TaggedError("RetryRequested")<{ readonly attempt: number }> {}

export const make = (config: HookConfig, options: HookOptions = {}): HooksService => {
  const grace = options.killGrace ?? "5 seconds"
  const retryDelay = options.retryDelay ?? "1 second"

  /** One run of a script; how it ended, or why it could not start. */
  const runOnce = (hook: HookName, script: string, ctx: HookContext, attempt: number) =>
    Effect.gen(function*() {
      yield* Effect.logInfo(
        `running ${hook} hook ${script} ${ctx.name} ${ctx.height}${attempt > 1 ? ` (attempt ${attempt})` : ""}`
      )
      const result = yield* runBounded({
        file: script,
        args: [ctx.name, String(ctx.height)],
        env: {
          DAEMON_HOME: config.home,
          DAEMON_NAME: config.daemonName,
          UPGRADE_NAME: ctx.name,
          UPGRADE_HEIGHT: String(ctx.height)
        },
        timeout: config.hookTimeout,
        grace,
        keepBytes: 0,
        onLine: (stream, line) =>
          (stream === "stderr" ? Effect.logWarning(line) : Effect.logInfo(line)).pipe(
            Effect.annotateLogs({ hook, stream })
          )
      }).pipe(
        Effect.map((r): HookOutcome => r.outcome),
        Effect.catchTag("SpawnFailed", (e) =>
          Effect.succeed<HookOutcome>({
            _tag: "NotRun",
            problem: e.cause instanceof Error ? e.cause.message : String(e.cause)
          }))
      )
      yield* Effect.logInfo(
        `${hook} hook ${result._tag === "NotRun" ? `could not be run: ${result.problem}` : describeOutcome(result)}`
      )
      return result
    }).pipe(Effect.withSpan(`Hooks.${hook}`, { attributes: { script, attempt } }))

  return Hooks.of({
    preStop: (ctx) =>
      Option.match(config.preStop, {
        onNone: () => Effect.void,
        onSome: (script) =>
          Effect.flatMap(runOnce("pre-stop", script, ctx, 1), (outcome): Effect.Effect<void, HookFailed> =>
            outcome._tag === "Exited" && outcome.code === 0
              ? Effect.void
              : Effect.fail(new HookFailed({ hook: "pre-stop", script, outcome, attempts: 1 })))
      }),

    preUpgrade: (ctx) =>
      Option.match(config.preUpgrade, {
        onNone: () => Effect.void,
        onSome: (script) => {
          let attempts = 0
          const attempt: Effect.Effect<void, HookFailed | RetryRequested> = Effect.suspend(() => {
            attempts++
            const n = attempts
            return Effect.flatMap(
              runOnce("pre-upgrade", script, ctx, n),
              (outcome): Effect.Effect<void, HookFailed | RetryRequested> =>
                outcome._tag === "Exited" && outcome.code === 0
                  ? Effect.void
                  : outcome._tag === "Exited" && outcome.code === PRE_UPGRADE_RETRY
                  ? Effect.fail(new RetryRequested({ attempt: n }))
                  : Effect.fail(new HookFailed({ hook: "pre-upgrade", script, outcome, attempts: n }))
            )
          })
          return attempt.pipe(
            Effect.retry({
              schedule: preUpgradeRetry(config.preUpgradeMaxRetries, retryDelay),
              while: (e) => e._tag === "RetryRequested"
            }),
            Effect.catchTag("RetryRequested", (e) =>
              Effect.fail(
                new HookFailed({
                  hook: "pre-upgrade",
                  script,
                  outcome: { _tag: "Exited", code: PRE_UPGRADE_RETRY },
                  attempts: e.attempt
                })
              ))
          )
        }
      })
  })
}

export const layer: Layer.Layer<Hooks, never, AppConfig> = Layer.effect(Hooks, Effect.map(AppConfig, (c) => make(c)))
