import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { JournalStep } from "../upgrades/Journal.js"

/*
 * Test-only fault injection. The orchestrator calls `reached(step, phase)` at
 * each point of an upgrade where a supervisor killed right there must recover
 * from the journal: `journaled` = right after the journal write for <step>;
 * `applied` = right after the step's action, before the next journal write
 * (for `done`: after the plan/history bookkeeping, before the journal is
 * removed; for `backup`: once the backup exists and its path is journaled; for
 * `pre-stop`: after the hook, whatever its outcome; for `rollback`: after
 * stop/switch back/restore/start).
 *
 * The live layer does nothing. Only the composition root (src/main.ts) picks
 * `layerFromEnv`, where WEMIXVISOR_TEST_CRASH_AT="<step>:<phase>" makes the
 * supervisor SIGKILL itself at that point, so end-to-end tests can prove the
 * journal replay with the built CLI. Operators never set it.
 */

export type CrashPhase = "journaled" | "applied"
export interface CrashPoint {
  readonly step: JournalStep
  readonly phase: CrashPhase
}
export type CrashHook = (step: JournalStep, phase: CrashPhase) => Effect.Effect<void>

export interface CrashPointsService {
  readonly reached: CrashHook
}

export class CrashPoints extends Context.Tag("wemixvisor/CrashPoints")<CrashPoints, CrashPointsService>() {}

/** Live: no fault is injected anywhere. */
export const layer: Layer.Layer<CrashPoints> = Layer.succeed(
  CrashPoints,
  CrashPoints.of({ reached: () => Effect.void })
)

/** Tests: a given hook (one that freezes a run at a point, as the SIGKILL would). */
export const layerOf = (reached: CrashHook): Layer.Layer<CrashPoints> =>
  Layer.succeed(CrashPoints, CrashPoints.of({ reached }))

const crashSteps: ReadonlyArray<JournalStep> = JournalStep.literals

export const parseCrashAt = (raw: string): Either.Either<CrashPoint, string> => {
  const [step, phase, ...rest] = raw.split(":")
  if (rest.length === 0 && crashSteps.includes(step as JournalStep) && (phase === "journaled" || phase === "applied")) {
    return Either.right({ step: step as JournalStep, phase })
  }
  return Either.left(
    `WEMIXVISOR_TEST_CRASH_AT=${JSON.stringify(raw)}: expected <step>:<journaled|applied>, step one of ${
      crashSteps.join(", ")
    }`
  )
}

/**
 * The governance source's point (governance/Follow.ts `afterApply`): an
 * event applied to the plan, its cursor not yet written — the replay that
 * must apply nothing twice.
 */
export const GOVERNANCE_APPLIED = "governance:applied"

const killSelf: Effect.Effect<never> = Effect.sync(() => process.kill(process.pid, "SIGKILL")).pipe(
  Effect.zipRight(Effect.never)
)

/** The governance source's hook: SIGKILL at GOVERNANCE_APPLIED when WEMIXVISOR_TEST_CRASH_AT names it. */
export const governanceCrashFromEnv = (
  raw: string | undefined = process.env.WEMIXVISOR_TEST_CRASH_AT
): Effect.Effect<void> => raw === GOVERNANCE_APPLIED ? killSelf : Effect.void

/** Nothing unless WEMIXVISOR_TEST_CRASH_AT is set; a bad value is a defect (a test typo must not pass silently). */
export const crashHookFromEnv = (raw: string | undefined): Effect.Effect<CrashHook> => {
  if (raw === undefined || raw === "" || raw === GOVERNANCE_APPLIED) return Effect.succeed(() => Effect.void)
  return Either.match(parseCrashAt(raw), {
    onLeft: (problem) => Effect.dieMessage(problem),
    onRight: (at) =>
      Effect.succeed<CrashHook>((step, phase) => step === at.step && phase === at.phase ? killSelf : Effect.void)
  })
}

/** WEMIXVISOR_TEST_CRASH_AT, read once at layer build. */
export const layerFromEnv: Layer.Layer<CrashPoints> = Layer.effect(
  CrashPoints,
  Effect.suspend(() => crashHookFromEnv(process.env.WEMIXVISOR_TEST_CRASH_AT)).pipe(
    Effect.map((reached) => CrashPoints.of({ reached }))
  )
)
