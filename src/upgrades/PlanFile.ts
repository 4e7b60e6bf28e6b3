import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { FileCorrupt, IoError, PlanLocked } from "../domain/Errors.js"
import type { Layout } from "../domain/Layout.js"
import { UpgradePlan } from "../domain/Upgrade.js"
import { jsonProblem, mkdirp, readTextIfExists, writeJsonAtomic } from "../platform/Files.js"
import { acquireLock } from "../platform/LockFile.js"
import type { PlanStoreService } from "./PlanStore.js"

/*
 * upgrade-plan.json on disk: decoding with errors an operator can act on, the
 * canonical encoding, and the PlanStore implementation (lock, read, apply,
 * write only on change). Imports the PlanStore module for types only, so the
 * public module can build its layer from here without an import cycle.
 */

/** How long `update` waits for another writer's upgrade-plan.lock before PlanLocked. */
export const planLockTimeout = Duration.seconds(5)

/**
 * Poll the lock file; bounded, so a wedged writer yields PlanLocked rather than a hang.
 * The one retry policy on the plan lock: callers take PlanLocked as final and do not retry around it.
 */
export const planLockRetry = Schedule.spaced("50 millis").pipe(Schedule.upTo(planLockTimeout))

/** `["upgrades", 0, "reason"]` → `upgrades[0].reason`. */
const formatPath = (p: ReadonlyArray<PropertyKey>): string =>
  p.reduce<string>(
    (acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc === "" ? String(k) : `${acc}.${String(k)}`),
    ""
  )

/**
 * One line naming the field and what is wrong with it. A literal union (the
 * status) reports every accepted value at once instead of one issue per member.
 */
export const formatParseError = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const byPath = new Map<string, Array<string>>()
  for (const issue of issues) {
    const key = formatPath(issue.path)
    byPath.set(key, [...(byPath.get(key) ?? []), issue.message])
  }
  return [...byPath.entries()]
    .map(([where, messages]) => {
      const expected = messages.map((m) => /^Expected (.+), actual (.+)$/.exec(m))
      const message = messages.length > 1 && expected.every((m) => m !== null)
        ? `expected one of ${expected.map((m) => m![1]).join(", ")}, actual ${expected[0]![2]}`
        : messages.join("; ")
      return where === "" ? message : `${where}: ${message}`
    })
    .join("; ")
}

const PlanJson = Schema.parseJson(UpgradePlan)

/** Parses and validates the plan file's text; unknown keys are ignored. */
export const decodePlan = (file: string, text: string): Either.Either<UpgradePlan, FileCorrupt> =>
  Schema.decodeUnknownEither(PlanJson, { errors: "all", onExcessProperty: "ignore" })(text).pipe(
    Either.mapLeft((e) => new FileCorrupt({ path: file, problem: jsonProblem(e, formatParseError) }))
  )

/** The plan as it is written: snake_case keys in ARCHITECTURE §3's order, heights as numbers. */
export const encodePlan = (plan: UpgradePlan): typeof UpgradePlan.Encoded => Schema.encodeSync(UpgradePlan)(plan)

/** Structural equality through the encoding: two plans are equal when they would be written the same. */
export const samePlan = (a: UpgradePlan, b: UpgradePlan): boolean =>
  a === b || JSON.stringify(encodePlan(a)) === JSON.stringify(encodePlan(b))

/** The plan file; none when there is none. */
export const readPlanFile = (file: string): Effect.Effect<Option.Option<UpgradePlan>, FileCorrupt | IoError> =>
  readTextIfExists(file).pipe(
    Effect.flatMap(
      Option.match({
        onNone: () => Effect.succeedNone,
        onSome: (text) => Effect.asSome(decodePlan(file, text))
      })
    )
  )

export const readPlan = (file: string): Effect.Effect<UpgradePlan, FileCorrupt | IoError> =>
  readPlanFile(file).pipe(Effect.map(Option.getOrElse(() => UpgradePlan.empty)))

/**
 * The PlanStore over `layout`. In-process writers queue on a semaphore; other
 * processes (the CLI next to a running supervisor) are kept out by the O_EXCL
 * lock file, polled on `planLockRetry`.
 */
export const makePlanStore = (layout: Layout): Effect.Effect<PlanStoreService> =>
  Effect.gen(function*() {
    const writers = yield* Effect.makeSemaphore(1)

    // Each attempt is its own acquireRelease, so only a successful one registers
    // the release and the wait between attempts stays interruptible.
    const lock = acquireLock(layout.planLock, (pid) => new PlanLocked({ path: layout.planLock, pid })).pipe(
      Effect.retry({ schedule: planLockRetry, while: (e) => e._tag === "PlanLocked" })
    )

    const read = readPlan(layout.plan).pipe(Effect.withSpan("PlanStore.read"))

    const update = <A, E>(f: (plan: UpgradePlan) => Effect.Effect<readonly [A, UpgradePlan], E>) =>
      Effect.gen(function*() {
        yield* mkdirp(path.dirname(layout.plan))
        yield* lock
        const before = yield* readPlan(layout.plan)
        const [result, after] = yield* f(before)
        // ARCHITECTURE §3: rewritten only when an upgrade changes.
        if (!samePlan(before, after)) yield* writeJsonAtomic(layout.plan, encodePlan(after))
        return result
      }).pipe(Effect.scoped, writers.withPermits(1), Effect.withSpan("PlanStore.update"))

    const restore = (plan: UpgradePlan) =>
      Effect.gen(function*() {
        yield* mkdirp(path.dirname(layout.plan))
        yield* lock
        const there = yield* Effect.try({
          try: () => fs.existsSync(layout.plan),
          catch: (cause) => new IoError({ op: "stat", path: layout.plan, cause })
        })
        if (there) return false
        yield* writeJsonAtomic(layout.plan, encodePlan(plan))
        return true
      }).pipe(Effect.scoped, writers.withPermits(1), Effect.withSpan("PlanStore.restore"))

    return { read, readFile: readPlanFile(layout.plan).pipe(Effect.withSpan("PlanStore.readFile")), update, restore }
  })
