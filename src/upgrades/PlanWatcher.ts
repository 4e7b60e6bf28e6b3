import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as fs from "node:fs"
import * as path from "node:path"
import { type InvalidInput, IoError } from "../domain/Errors.js"
import type { Height } from "../domain/Height.js"
import type { Layout } from "../domain/Layout.js"
import { alreadyScheduled, findUpgrade, schedule, type ScheduleRequest } from "../domain/Plan.js"
import { UpgradePlan } from "../domain/Upgrade.js"
import type { EventInput, Events } from "../events/Events.js"
import * as Cadence from "../platform/Cadence.js"
import { isErrno } from "../platform/Errno.js"
import { type DropInProblem, parseDropIn } from "./DropIn.js"
import { type HistoryService, scheduleDetail } from "./History.js"
import { encodePlan } from "./PlanFile.js"
import type { PlanStoreService } from "./PlanStore.js"
import type { PlanSnapshot, UpgradeSourceService } from "./UpgradeSource.js"

/*
 * The UpgradeSource implementation: one checker per layer, woken by file
 * events on the wemixvisor folder (FileSystem.watch) and by a poll at
 * DAEMON_POLL_INTERVAL (file events go missing on some filesystems and around
 * atomic renames). Each check
 * merges a stable drop-in and then re-reads the plan; snapshots go to a
 * SubscriptionRef, so every subscriber starts from the latest one.
 */

export interface UpgradeSourceDeps {
  readonly layout: Layout
  /** Read at each poll (a reload changes it). */
  readonly pollInterval: Cadence.Period
  readonly store: PlanStoreService
  readonly events: Context.Tag.Service<Events>
  /** The highest chain head seen, if any: the drop-in's height must be above it. */
  readonly latestHeight: Effect.Effect<Option.Option<Height>>
  /**
   * The checks every door applies to binary sources (Operations.checkSources:
   * downloads allowed, a checksum, a binary for this platform), returning the
   * request with its maps normalized; absent: none.
   */
  readonly vetSources?: (req: ScheduleRequest) => Effect.Effect<ScheduleRequest, InvalidInput>
  /** Where a merged drop-in is recorded (step `schedule`, door `drop-in`). */
  readonly history: HistoryService
}

export interface UpgradeSourceOptions {
  /** File events on top of the poll; off only to test the poll fallback alone. */
  readonly watch: boolean
}

/** The poll fallback: a check every interval whatever file events report. */
export const planPoll = (interval: Cadence.Period) => Cadence.spaced(interval)

/*
 * Both files are looked at every poll and are usually absent (no drop-in, no
 * plan yet): `throwIfNoEntry: false` answers that without building an Error
 * with its stack trace each time.
 */

/** The plan file's identity for "has it changed?": inode, size, times; "absent"; undefined when it cannot be read. */
const statKey = (file: string): string | undefined => {
  try {
    const st = fs.statSync(file, { throwIfNoEntry: false })
    return st === undefined ? "absent" : `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`
  } catch {
    return undefined
  }
}

const snapshotKey = (s: PlanSnapshot): string =>
  s._tag === "Valid"
    ? `valid ${JSON.stringify(encodePlan(s.plan))}`
    : s._tag === "Missing"
    ? "missing"
    : `corrupt ${s.error.message}`

const problemOf = (s: Extract<PlanSnapshot, { _tag: "Corrupt" }>): string =>
  s.error._tag === "FileCorrupt" ? s.error.problem : s.error.message

/**
 * `upgrade-scheduled` / `upgrade-cancelled` for what changed between two
 * valid plans. Announced from the plan itself, not by whoever wrote it, so a
 * change made through any door — the CLI writing the file, the API, the
 * drop-in — is announced exactly once by the running supervisor. The
 * orchestrator's own status changes (upgrading, done, failed, a reason) are
 * neither.
 */
export const planChangeEvents = (prev: UpgradePlan, next: UpgradePlan): ReadonlyArray<EventInput> => {
  const out: Array<EventInput> = []
  for (const u of next.upgrades) {
    const before = findUpgrade(prev, u.name)
    if (u.status === "scheduled") {
      const isNew = before === undefined ||
        before.created_at !== u.created_at ||
        before.height !== u.height ||
        before.status === "cancelled" ||
        before.status === "failed" ||
        before.status === "done"
      if (isNew) out.push({ type: "upgrade-scheduled", name: u.name, height: u.height })
    } else if (u.status === "cancelled" && before !== undefined && before.status !== "cancelled") {
      out.push({ type: "upgrade-cancelled", name: u.name })
    }
  }
  return out
}

/** What a drop-in looked like at one check: stable once the same for a whole poll interval. */
interface Sighting {
  readonly key: string
  readonly text: string
  readonly since: number
}

const look = (file: string): Effect.Effect<Option.Option<{ readonly key: string; readonly text: string }>, IoError> =>
  Effect.try({
    try: () => {
      const st = fs.statSync(file, { throwIfNoEntry: false })
      if (st === undefined) return Option.none()
      try {
        const text = fs.readFileSync(file, "utf8")
        return Option.some({ key: `${st.ino}:${st.size}:${st.mtimeMs}:${text}`, text })
      } catch (e) {
        // Renamed away (merged, refused) between the two calls.
        if (isErrno(e, "ENOENT")) return Option.none()
        throw e
      }
    },
    catch: (cause) => new IoError({ op: "read", path: file, cause })
  })

/**
 * Renames the drop-in only if it still holds what was processed: a file
 * replaced in the meantime is a new request and waits for its own turn.
 */
const consume = (file: string, text: string, suffix: ".merged" | ".invalid") =>
  Effect.try({
    try: () => {
      if (fs.readFileSync(file, "utf8") !== text) return false
      fs.renameSync(file, file + suffix)
      return true
    },
    catch: (cause) => new IoError({ op: `rename to ${path.basename(file)}${suffix}`, path: file, cause })
  })

export const makeUpgradeSource = (
  deps: UpgradeSourceDeps,
  options: UpgradeSourceOptions = { watch: true }
): Effect.Effect<UpgradeSourceService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { events, layout, store } = deps
    const dropInName = path.basename(layout.dropIn)

    const readPlanFile: Effect.Effect<PlanSnapshot> = store.readFile.pipe(
      Effect.map(
        Option.match({
          onNone: (): PlanSnapshot => ({ _tag: "Missing" }),
          onSome: (plan): PlanSnapshot => ({ _tag: "Valid", plan })
        })
      ),
      Effect.catchAll((error) => Effect.succeed<PlanSnapshot>({ _tag: "Corrupt", error }))
    )
    // Every poll used to read, decode and re-encode the whole plan, which grows
    // by one upgrade per upgrade ever scheduled (scripts/soak.mjs: 2.6 % → 4.8 %
    // of a core at 300 ms after 1000 upgrades). The file is only ever replaced
    // by rename (new inode) or edited by hand (new size or mtime), so an
    // unchanged stat means an unchanged plan.
    const lastRead = yield* Ref.make<{ readonly stat: string; readonly snap: PlanSnapshot } | undefined>(undefined)
    const readSnapshot: Effect.Effect<PlanSnapshot> = Effect.gen(function*() {
      const stat = statKey(layout.plan)
      const last = yield* Ref.get(lastRead)
      if (stat !== undefined && last !== undefined && last.stat === stat) return last.snap
      const snap = yield* readPlanFile
      yield* Ref.set(lastRead, stat === undefined ? undefined : { stat, snap })
      return snap
    })

    // plan-invalid once per distinct problem, not once per poll.
    const reported = yield* Ref.make<string | undefined>(undefined)
    const report = (snap: PlanSnapshot) =>
      Effect.gen(function*() {
        const last = yield* Ref.get(reported)
        if (snap._tag !== "Corrupt") {
          if (last !== undefined) {
            yield* Ref.set(reported, undefined)
            yield* Effect.logInfo(
              `${layout.plan} ${snap._tag === "Valid" ? "is valid again" : "is no longer corrupt: it was removed"}`
            )
          }
          return
        }
        const reason = problemOf(snap)
        if (reason === last) return
        yield* Ref.set(reported, reason)
        yield* events.publish({ type: "plan-invalid", path: snap.error.path, reason })
      })

    const initial = yield* readSnapshot
    yield* report(initial)
    const snapshots = yield* SubscriptionRef.make(initial)
    const lastKey = yield* Ref.make(snapshotKey(initial))
    // The last valid plan, across corrupt spells: changes are announced against it.
    // No file yet announces like an empty plan: whatever is scheduled into it is new.
    const lastValid = yield* Ref.make(
      initial._tag === "Valid"
        ? Option.some(initial.plan)
        : initial._tag === "Missing"
        ? Option.some(UpgradePlan.empty)
        : Option.none<UpgradePlan>()
    )
    const publish = (snap: PlanSnapshot) =>
      Effect.gen(function*() {
        yield* report(snap)
        if (snap === (yield* SubscriptionRef.get(snapshots))) return
        const key = snapshotKey(snap)
        if (key === (yield* Ref.get(lastKey))) return
        yield* Ref.set(lastKey, key)
        if (snap._tag === "Valid") {
          const prev = yield* Ref.getAndSet(lastValid, Option.some(snap.plan))
          // Announced before subscribers see the plan, so `upgrade-scheduled` precedes `upgrade-started`.
          if (Option.isSome(prev)) {
            yield* Effect.forEach(planChangeEvents(prev.value, snap.plan), events.publish, { discard: true })
          }
        }
        yield* SubscriptionRef.set(snapshots, snap)
      })

    const reject = (text: string, problem: DropInProblem) =>
      Effect.gen(function*() {
        if (!(yield* consume(layout.dropIn, text, ".invalid"))) return
        yield* Effect.logError(`${layout.dropIn} refused: ${problem.reason} (renamed to ${dropInName}.invalid)`)
        yield* events.publish({ type: "upgrade-problem", name: problem.name, reason: problem.reason })
      })

    const merge = (text: string, asWritten: ScheduleRequest) =>
      Effect.gen(function*() {
        const vetted = deps.vetSources === undefined
          ? Either.right(asWritten)
          : yield* Effect.either(deps.vetSources(asWritten))
        if (Either.isLeft(vetted)) {
          yield* reject(text, { name: asWritten.name, reason: `${vetted.left.field}: ${vetted.left.problem}` })
          return false
        }
        const req = vetted.right
        const head = Option.getOrUndefined(yield* deps.latestHeight)
        const now = DateTime.formatIso(yield* DateTime.now)
        const outcome = yield* store
          .update((plan) => {
            if (alreadyScheduled(plan, req)) return Effect.succeed([undefined, plan] as const)
            return Effect.map(
              schedule(plan, req, { head, force: false, now, forceHint: "" }),
              (r) => [r.upgrade, r.plan] as const
            )
          })
          .pipe(Effect.either)
        if (Either.isRight(outcome)) {
          const scheduled = outcome.right
          if (scheduled !== undefined) {
            yield* deps.history.append({
              name: scheduled.name,
              step: "schedule",
              result: "ok",
              detail: scheduleDetail(scheduled),
              door: "drop-in"
            }).pipe(Effect.catchAll((e) => Effect.logWarning(`upgrade history not written: ${e.message}`)))
          }
          if (!(yield* consume(layout.dropIn, text, ".merged"))) return true
          // `upgrade-scheduled` comes from the plan change itself (planChangeEvents), as for every other door.
          if (scheduled !== undefined) {
            yield* Effect.logInfo(`${layout.dropIn}: upgrade '${req.name}' merged into the plan`)
          } else {
            // Merged before a crash, renamed only now: nothing new to announce.
            yield* Effect.logInfo(`${layout.dropIn}: upgrade '${req.name}' was already in the plan`)
          }
          return true
        }
        const error = outcome.left
        if (error._tag === "UpgradeConflict") {
          yield* reject(text, { name: req.name, reason: error.problem })
          return false
        }
        // The plan cannot be read or locked right now: keep the drop-in and retry on a later check.
        yield* Effect.logWarning(`${layout.dropIn} not merged yet: ${error.message}`)
        return false
      })

    // Consumes the drop-in once it has been unchanged for a whole poll interval;
    // true when the plan changed.
    const sighting = yield* Ref.make<Option.Option<Sighting>>(Option.none())
    const processDropIn = Effect.gen(function*() {
      const seen = yield* look(layout.dropIn)
      if (Option.isNone(seen)) {
        yield* Ref.set(sighting, Option.none())
        return false
      }
      const now = yield* Clock.currentTimeMillis
      const prev = yield* Ref.get(sighting)
      if (Option.isNone(prev) || prev.value.key !== seen.value.key) {
        yield* Ref.set(sighting, Option.some({ ...seen.value, since: now }))
        return false
      }
      if (now - prev.value.since < Duration.toMillis(Cadence.periodNow(deps.pollInterval))) return false
      const { text } = seen.value
      return yield* Either.match(parseDropIn(dropInName, text), {
        onLeft: (problem) => reject(text, problem).pipe(Effect.as(false)),
        onRight: (req) => merge(text, req)
      })
    })

    // File events are an optimisation over the poll. A watcher that cannot
    // start (no folder yet, no inotify) or that fails is started again a poll
    // interval later; the poll sees every change meanwhile, and any made before
    // the first watcher is up.
    const watched = new Set([path.basename(layout.plan), dropInName])
    const wake = yield* Queue.sliding<void>(1)
    const fileEvents = Stream.unwrap(Effect.map(FileSystem.FileSystem, (files) => files.watch(layout.root))).pipe(
      Stream.filter((event) => watched.has(path.basename(event.path))),
      Stream.provideLayer(NodeFileSystem.layer)
    )
    const watchFiles = Stream.runForEach(fileEvents, () => Queue.offer(wake, undefined)).pipe(
      Effect.catchAllCause((cause) =>
        Effect.logDebug(`no file events for ${layout.root} for now; the poll carries on`, cause)
      )
    )

    // A drop-in that cannot be read (a directory of that name, no permission) is said once, and
    // again only when what is wrong changes: not on every poll, forever.
    const dropInWarned = yield* Ref.make<string | undefined>(undefined)
    const warnDropIn = (message: string) =>
      Effect.flatMap(
        Ref.getAndSet(dropInWarned, message),
        (last) => (last === message ? Effect.void : Effect.logWarning(message))
      )

    // Nearly every check finds the plan as it was and no drop-in: two stat calls say so.
    const nothingNew = Effect.zipWith(
      Ref.get(lastRead),
      Ref.get(sighting),
      (last, seen) =>
        last !== undefined &&
        Option.isNone(seen) &&
        statKey(layout.plan) === last.stat &&
        statKey(layout.dropIn) === "absent"
    )

    const check = Effect.gen(function*() {
      // Nothing new includes "no drop-in": a problem with one that comes back is news again.
      if (yield* nothingNew) return yield* Ref.set(dropInWarned, undefined)
      let snap = yield* readSnapshot
      // A corrupt plan leaves the drop-in in place until the plan is fixed.
      if (snap._tag !== "Corrupt") {
        const merged = yield* processDropIn.pipe(
          Effect.tap(() => Ref.set(dropInWarned, undefined)),
          Effect.catchAll((e) => warnDropIn(`${layout.dropIn}: ${e.message}`).pipe(Effect.as(false)))
        )
        if (merged) snap = yield* readSnapshot
      }
      yield* publish(snap)
    }).pipe(
      // Never let one bad check end the watcher: the node must keep its upgrade source.
      Effect.catchAllCause((cause) => Effect.logError("upgrade source check failed", cause))
    )

    if (options.watch) yield* Cadence.repeat(watchFiles, planPoll(deps.pollInterval)).pipe(Effect.forkScoped)
    yield* check
    // The poll and file events wake one checker, so checks never overlap.
    yield* Cadence.repeat(Queue.offer(wake, undefined), planPoll(deps.pollInterval)).pipe(Effect.forkScoped)
    yield* Queue.take(wake).pipe(Effect.zipRight(check), Effect.forever, Effect.forkScoped)

    return { plans: snapshots.changes }
  })
