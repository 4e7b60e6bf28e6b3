import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as FiberMap from "effect/FiberMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as fs from "node:fs"
import { BinaryStore } from "../binaries/BinaryStore.js"
import { Preparer } from "../binaries/Preparer.js"
import { AppConfig } from "../config/Config.js"
import { type FileCorrupt, type IoError, UpgradeConflict, UpgradeNotFound } from "../domain/Errors.js"
import { findUpgrade, pendingUpgrades } from "../domain/Plan.js"
import type { Target } from "../domain/Target.js"
import type { Upgrade, UpgradePlan } from "../domain/Upgrade.js"
import { Events } from "../events/Events.js"
import type { Origin } from "../upgrades/History.js"
import { PlanStore } from "../upgrades/PlanStore.js"
import { isBadInput, isTransient, preparable, reasonOf, toPrepared, toPreparing } from "../upgrades/Preparation.js"
import { PreparationFailed } from "./Errors.js"
import type { Records } from "./Records.js"
import { isFired, type StateRef } from "./State.js"

/*
 * Preparation ahead of the height: every pending upgrade is brought towards
 * `ready` in the background (scheduled → preparing → ready: binary downloaded
 * and verified when it is not in place, executable, version probed), so a
 * download, checksum or binary problem is reported as soon as the upgrade is
 * scheduled. One preparation per upgrade request at a time (a FiberMap keyed
 * by name and created_at): a second caller joins the one under way.
 */

/**
 * How one preparation of an upgrade request ended in this run. A failed one
 * is tried again when the binary on disk changes (the operator put it there
 * or replaced it), or at the height when the failure may have been transient.
 */
export type Ended =
  | { readonly _tag: "Ready"; readonly createdAt: string }
  | {
    readonly _tag: "Failed"
    readonly createdAt: string
    readonly reason: string
    readonly transient: boolean
    readonly badInput: boolean
    /** What the binary on disk looked like then (see `inspect`). */
    readonly binaryKey: string
  }

export interface Preparations {
  /** The plan changed: the next `reconcile` looks at once. */
  readonly planChanged: Effect.Effect<void>
  /**
   * Brings pending upgrades towards `ready`: starts a preparation for each
   * one not prepared in this run, or whose binary changed since a failed
   * attempt; re-checks `ready` ones (a binary removed since is reported).
   * At most once per poll interval unless the plan changed.
   */
  readonly reconcile: (plan: UpgradePlan) => Effect.Effect<void>
  /**
   * Whether `u` can go at its height: waits for a preparation under way;
   * tries once more when it was never prepared in this run, when its binary
   * changed since a failed attempt, or when the failure may have been
   * transient. Some(reason) when it is not ready.
   */
  readonly readyAtHeight: (u: Upgrade) => Effect.Effect<Option.Option<string>>
  /** The version `target` reports, from the cache; a first ask starts a probe in the background (status never waits for one). */
  readonly versionOf: (target: Target) => Effect.Effect<string | null>
  /** `upgrade prepare` over the API: joins a preparation under way, else runs one; its end is recorded with `origin`. */
  readonly prepare: (
    name: string,
    origin: Origin
  ) => Effect.Effect<Upgrade, PreparationFailed | UpgradeNotFound | UpgradeConflict | FileCorrupt | IoError>
}

const keyOf = (u: Pick<Upgrade, "name" | "created_at">) => `${u.name}\u0000${u.created_at}`

const failed = (
  u: Pick<Upgrade, "created_at">,
  reason: string,
  more: Partial<Extract<Ended, { _tag: "Failed" }>> = {}
): Ended => ({
  _tag: "Failed",
  createdAt: u.created_at,
  reason,
  transient: false,
  badInput: false,
  binaryKey: "",
  ...more
})

export const make = (
  state: StateRef,
  records: Records
): Effect.Effect<Preparations, never, AppConfig | Events | BinaryStore | Preparer | PlanStore | Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* AppConfig
    const events = yield* Events
    const binaries = yield* BinaryStore
    const preparer = yield* Preparer
    const plans = yield* PlanStore
    const { updatePlan } = records

    /** Preparations under way; a caller that stops waiting (an RPC client gone) leaves them to finish. */
    const running = yield* FiberMap.make<string, Ended, never>()
    const ended = yield* Ref.make<ReadonlyMap<string, Ended>>(new Map())
    /** Version probes under way, per target. */
    const probes = yield* FiberMap.make<Target, void, never>()
    /** Versions probed, per target (null: unknown); filled by preparation and, for `current`, on demand. */
    const versions = yield* Ref.make<ReadonlyMap<Target, string | null>>(new Map())
    const problems = yield* Ref.make<ReadonlyMap<string, string>>(new Map())
    const changed = yield* Ref.make(false)
    const lastCheck = yield* Ref.make(Number.NEGATIVE_INFINITY)
    // One background preparation (download) at a time: they share the disk and the link.
    const prepareLock = yield* Effect.makeSemaphore(1)

    const attemptOf = (u: Pick<Upgrade, "name" | "created_at">) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.option(FiberMap.get(running, keyOf(u)))
        if (Option.isSome(fiber)) return { _tag: "Running" as const, fiber: fiber.value }
        return (yield* Ref.get(ended)).get(keyOf(u))
      })
    const setEnded = (u: Pick<Upgrade, "name" | "created_at">, e: Ended) =>
      Ref.update(ended, (m) => new Map(m).set(keyOf(u), e))

    /** `upgrade-problem` once per distinct reason (a re-check finding the same problem stays quiet). */
    const reportProblem = (name: string, reason: string) =>
      Effect.gen(function*() {
        const seen = yield* Ref.get(problems)
        if (seen.get(name) === reason) return
        yield* Ref.set(problems, new Map(seen).set(name, reason))
        yield* events.publish({ type: "upgrade-problem", name, reason })
      })
    const clearProblem = (name: string) =>
      Ref.update(problems, (m) => {
        const next = new Map(m)
        next.delete(name)
        return next
      })

    /**
     * The upgrade's binary as it is on disk now: usable or why not, and a key
     * that changes when the file does (put in place, replaced, chmod-ed).
     */
    const inspect = (u: Upgrade) =>
      Effect.gen(function*() {
        const check = yield* Effect.either(binaries.validate(u.name))
        let id = "absent"
        try {
          const st = fs.statSync(config.layout.binary(u.name))
          id = `${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}`
        } catch {
          // not there: "absent"
        }
        return { check, key: `${Either.isRight(check) ? "usable" : check.left.problem}|${id}` }
      })

    const hasSources = (u: Upgrade) => Object.keys(u.binaries).length > 0

    /** `u` cannot be used as it is: `scheduled` with the reason (written only when it changes) and one upgrade-problem. */
    const unusable = (u: Upgrade, reason: string, key: string) =>
      Effect.gen(function*() {
        yield* setEnded(u, failed(u, reason, { binaryKey: key }))
        if (u.status !== "scheduled" || u.reason !== reason) {
          yield* updatePlan((plan, now) => [undefined, toPrepared(plan, u, reason, now)] as const).pipe(
            Effect.catchAll((e) =>
              Effect.logWarning(`the problem of ${u.name} is not recorded in the plan: ${e.message}`)
            )
          )
        }
        yield* reportProblem(u.name, reason)
      })

    /** preparing → the Preparer → ready, or scheduled with the reason; each announced. */
    const prepareOnce = (u: Upgrade): Effect.Effect<Ended> =>
      Effect.gen(function*() {
        const marked = yield* updatePlan((plan, now) =>
          [preparable(plan, u) !== undefined, toPreparing(plan, u, now)] as const
        ).pipe(
          Effect.either
        )
        if (Either.isRight(marked) && !marked.right) return failed(u, "cancelled or replaced")
        if (Either.isLeft(marked)) {
          yield* Effect.logWarning(
            `preparing ${u.name}: the plan could not be updated (${marked.left.message}); preparing all the same`
          )
        }
        yield* events.publish({ type: "upgrade-preparing", name: u.name })
        const result = yield* Effect.either(preparer.prepare(u))
        const { key } = yield* inspect(u)
        const reason = Either.isLeft(result) ? reasonOf(result.left) : null
        yield* updatePlan((plan, now) => [undefined, toPrepared(plan, u, reason, now)] as const).pipe(
          Effect.catchAll((e) =>
            Effect.logWarning(`the preparation of ${u.name} is not recorded in the plan: ${e.message}`)
          )
        )
        if (Either.isLeft(result)) {
          yield* reportProblem(u.name, reasonOf(result.left))
          return failed(u, reasonOf(result.left), {
            transient: isTransient(result.left),
            badInput: isBadInput(result.left),
            binaryKey: key
          })
        }
        const p = result.right
        yield* Ref.update(versions, (m) => new Map(m).set(u.name, p.version))
        yield* clearProblem(u.name)
        yield* events.publish({ type: "upgrade-ready", name: u.name })
        const from = p.installed === null
          ? ""
          : `; downloaded from ${p.installed.url} (${p.installed.checksum ?? "checksum NOT verified"})`
        yield* Effect.logInfo(
          `upgrade ${u.name} is ready: ${p.path}${p.version !== null ? ` reports "${p.version}"` : ""}${from}`
        )
        const ready: Ended = { _tag: "Ready", createdAt: u.created_at }
        return ready
      }).pipe(Effect.withSpan("Orchestrator.prepare", { attributes: { name: u.name } }))

    /**
     * One preparation of `u`, recorded before its fiber ends. Background ones
     * go one at a time; one for an upgrade at its height (`urgent`) does not
     * queue behind another upgrade's download.
     */
    const attempt = (u: Upgrade, urgent: boolean) =>
      (urgent ? prepareOnce(u) : prepareLock.withPermits(1)(prepareOnce(u))).pipe(
        Effect.catchAllDefect((defect) =>
          Effect.logError(`preparing ${u.name}: unexpected defect`, defect).pipe(
            Effect.as(failed(u, "internal error while preparing (see the log)", { transient: true }))
          )
        ),
        Effect.tap((e) => setEnded(u, e))
      )

    /** Starts a preparation of `u` unless one is under way. */
    const start = (u: Upgrade, urgent = false) =>
      FiberMap.run(running, keyOf(u), attempt(u, urgent), { onlyIfMissing: true })

    /** How the preparation of `u` under way ends, or of one started now. */
    const outcome = (u: Upgrade, urgent = false): Effect.Effect<Ended> =>
      Effect.gen(function*() {
        yield* start(u, urgent)
        const fiber = yield* Effect.option(FiberMap.get(running, keyOf(u)))
        if (Option.isSome(fiber)) return yield* Fiber.join(fiber.value)
        // It ended already; it recorded how before its fiber ended.
        const e = (yield* Ref.get(ended)).get(keyOf(u))
        return e ?? (yield* Effect.dieMessage(`the preparation of ${u.name} ended without an outcome`))
      })

    const reconcile = (plan: UpgradePlan) =>
      Effect.gen(function*() {
        const planChanged = yield* Ref.getAndSet(changed, false)
        const now = yield* Clock.currentTimeMillis
        if (!planChanged && now - (yield* Ref.get(lastCheck)) < Duration.toMillis(config.pollInterval)) return
        yield* Ref.set(lastCheck, now)
        const { fired } = yield* SubscriptionRef.get(state)
        for (const u of pendingUpgrades(plan)) {
          if (u.status === "upgrading" || isFired(fired, u)) continue
          const a = yield* attemptOf(u)
          if (a?._tag === "Running") continue
          const { check, key } = yield* inspect(u)
          const binaryChanged = a?._tag === "Failed" && a.binaryKey !== key
          if (u.status === "ready" && a?._tag !== "Failed") {
            if (Either.isLeft(check)) yield* unusable(u, reasonOf(check.left), key)
            continue
          }
          if (a?._tag === "Ready" && Either.isRight(check)) {
            // Prepared, but the plan says otherwise (a write that failed, another writer): say ready again.
            yield* updatePlan((p, at) => [undefined, toPrepared(p, u, null, at)] as const).pipe(
              Effect.catchAll((e) =>
                Effect.logWarning(
                  `upgrade ${u.name} is ready but the plan could not say so: ${e.message}; trying again at the next check`
                )
              )
            )
            continue
          }
          if (a === undefined || a._tag === "Ready" || binaryChanged) {
            // Nothing to download it from: the operator puts it in place, and a later check sees it.
            if (Either.isLeft(check) && !hasSources(u)) yield* unusable(u, reasonOf(check.left), key)
            else yield* start(u)
          }
        }
      })

    const readyAtHeight = (u: Upgrade): Effect.Effect<Option.Option<string>> =>
      Effect.gen(function*() {
        const found = yield* attemptOf(u)
        let a: Ended | undefined
        if (found?._tag === "Running") {
          yield* Effect.logInfo(
            `upgrade ${u.name} reached its height while being prepared; waiting for the preparation to end`
          )
          a = yield* Fiber.join(found.fiber)
        } else {
          a = found
        }
        const { check, key } = yield* inspect(u)
        if (Either.isRight(check) && (a?._tag === "Ready" || (a === undefined && u.status === "ready"))) {
          return Option.none()
        }
        if (a?._tag === "Failed" && !a.transient && a.binaryKey === key) return Option.some(a.reason)
        if (Either.isLeft(check) && !hasSources(u)) return Option.some(reasonOf(check.left))
        const e = yield* outcome(u, true)
        return e._tag === "Ready" ? Option.none() : Option.some(e.reason)
      })

    const versionOf = (target: Target) =>
      Effect.gen(function*() {
        const known = yield* Ref.get(versions)
        if (known.has(target)) return known.get(target) ?? null
        yield* FiberMap.run(
          probes,
          target,
          preparer.version(target).pipe(Effect.flatMap((v) => Ref.update(versions, (m) => new Map(m).set(target, v)))),
          { onlyIfMissing: true }
        )
        return null
      })

    const prepare = (name: string, origin: Origin) =>
      Effect.gen(function*() {
        const plan = yield* plans.read
        const u = findUpgrade(plan, name)
        if (u === undefined) return yield* new UpgradeNotFound({ name })
        if (preparable(plan, u) === undefined || isFired((yield* SubscriptionRef.get(state)).fired, u)) {
          return yield* new UpgradeConflict({
            name,
            problem: `is ${u.status}; only an upgrade waiting for its height can be prepared`
          })
        }
        const e = yield* outcome(u)
        if (e._tag === "Failed") {
          yield* records.record(name, "prepare", "failed", e.reason, origin)
          return yield* new PreparationFailed({ name, reason: e.reason, badInput: e.badInput })
        }
        const version = (yield* Ref.get(versions)).get(u.name)
        yield* records.record(
          name,
          "prepare",
          "ok",
          typeof version === "string" ? `version ${JSON.stringify(version)}` : undefined,
          origin
        )
        return findUpgrade(yield* plans.read, name) ?? u
      })

    return { planChanged: Ref.set(changed, true), reconcile, readyAtHeight, versionOf, prepare }
  })
