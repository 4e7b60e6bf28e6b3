import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { SpawnFailed } from "../domain/Errors.js"
import type { NodeExit, NodePidFile } from "../domain/Node.js"
import { type ChildHandle, Spawner } from "./Spawner.js"

/*
 * A fake Spawner for tests: processes that exist only in memory, whose exits
 * the test decides and whose signals are recorded with the (Test)Clock time.
 * Used with TestClock to check every timing rule of NodeProcess without a
 * real process or a real sleep.
 */

export interface FakeBehavior {
  /** SIGTERM is ignored (`trap '' TERM`); only SIGKILL ends the process. */
  readonly ignoreTerm?: boolean
  /** Other members of the group (a `sleep &`) outlive the leader's own exit until a signal reaches them. */
  readonly lingering?: boolean
}

export interface SentSignal {
  readonly signal: NodeJS.Signals
  /** Clock time in ms when the signal was delivered. */
  readonly at: number
}

export interface FakeChild {
  readonly pid: number
  readonly file: string
  readonly args: ReadonlyArray<string>
  /** Signals delivered to the group (none are recorded once the group is gone, like ESRCH). */
  readonly signals: Effect.Effect<ReadonlyArray<SentSignal>>
  /** The leader exits on its own: a crash, or a clean exit nobody asked for. */
  readonly exit: (exit: NodeExit) => Effect.Effect<void>
  /** The leader exits with `code` (default 1). */
  readonly crash: (code?: number) => Effect.Effect<void>
  readonly leaderAlive: Effect.Effect<boolean>
  readonly groupAlive: Effect.Effect<boolean>
}

export interface TestSpawnerService {
  /** Every process spawned so far, oldest first (failed spawns are not processes). */
  readonly children: Effect.Effect<ReadonlyArray<FakeChild>>
  /** Spawn calls so far, failed ones included. */
  readonly attempts: Effect.Effect<number>
  /** Waits until the n-th process (1-based) has been spawned and returns it. */
  readonly awaitChild: (n: number) => Effect.Effect<FakeChild>
  /** How processes spawned from now on behave. */
  readonly setBehavior: (behavior: FakeBehavior) => Effect.Effect<void>
  /** The next `count` spawns fail as if the binary were missing (ENOENT). */
  readonly failSpawns: (count: number) => Effect.Effect<void>
  /**
   * A node a previous supervisor left running: not among `children`, found
   * by `adopt` through the node.pid record returned (start time = its pid)
   * while it lives.
   */
  readonly leaveRunning: (
    behavior?: FakeBehavior
  ) => Effect.Effect<{ readonly record: NodePidFile; readonly child: FakeChild }>
}

export class TestSpawner extends Context.Tag("wemixvisor/TestSpawner")<TestSpawner, TestSpawnerService>() {}

// Above any pid_max Linux allows (2^22), so a fake pid never names a real process.
const FIRST_FAKE_PID = 5_000_000
const FIRST_ORPHAN_PID = 6_000_000

const makeChild = (pid: number, file: string, args: ReadonlyArray<string>, behavior: FakeBehavior) =>
  Effect.gen(function*() {
    const exited = yield* Deferred.make<NodeExit>()
    const signals = yield* Ref.make<ReadonlyArray<SentSignal>>([])
    // [leader alive, other members alive]
    const alive = yield* Ref.make<readonly [boolean, boolean]>([true, behavior.lingering === true])

    const leaderExit = (exit: NodeExit) =>
      Effect.gen(function*() {
        const [leader, members] = yield* Ref.get(alive)
        if (!leader) return
        yield* Ref.set(alive, [false, members])
        yield* Deferred.succeed(exited, exit)
      })

    const deliver = (signal: NodeJS.Signals) =>
      Effect.gen(function*() {
        const [leader, members] = yield* Ref.get(alive)
        if (!leader && !members) return
        const at = yield* Clock.currentTimeMillis
        yield* Ref.update(signals, (s) => [...s, { signal, at }])
        if (signal === "SIGTERM" && behavior.ignoreTerm === true) return
        if (signal === "SIGTERM" || signal === "SIGKILL") {
          yield* Ref.set(alive, [leader, false])
          yield* leaderExit({ code: null, signal })
        }
      })

    const child: FakeChild = {
      pid,
      file,
      args,
      signals: Ref.get(signals),
      exit: leaderExit,
      crash: (code = 1) => leaderExit({ code, signal: null }),
      leaderAlive: Effect.map(Ref.get(alive), ([leader]) => leader),
      groupAlive: Effect.map(Ref.get(alive), ([leader, members]) => leader || members)
    }
    const handle: ChildHandle = {
      pid,
      pgid: pid,
      exit: Deferred.await(exited),
      signalGroup: deliver,
      groupAlive: child.groupAlive
    }
    return { child, handle }
  })

/** Provides the fake as the Spawner, and its controls as TestSpawner. */
export const layer: Layer.Layer<Spawner | TestSpawner> = Layer.effectContext(
  Effect.gen(function*() {
    const children = yield* SubscriptionRef.make<ReadonlyArray<FakeChild>>([])
    const attempts = yield* Ref.make(0)
    const behavior = yield* Ref.make<FakeBehavior>({})
    const failures = yield* Ref.make(0)
    const orphans = yield* Ref.make<ReadonlyArray<{ readonly child: FakeChild; readonly handle: ChildHandle }>>([])

    const spawner = Spawner.of({
      spawn: (file, args) =>
        Effect.gen(function*() {
          const n = yield* Ref.updateAndGet(attempts, (a) => a + 1)
          const fail = yield* Ref.modify(failures, (f) => [f > 0, Math.max(0, f - 1)] as const)
          if (fail) {
            const cause = Object.assign(new Error(`spawn ${file} ENOENT`), { code: "ENOENT" })
            return yield* new SpawnFailed({ path: file, cause })
          }
          const { child, handle } = yield* makeChild(FIRST_FAKE_PID + n, file, args, yield* Ref.get(behavior))
          yield* SubscriptionRef.update(children, (c) => [...c, child])
          return handle
        }),
      adopt: (record) =>
        Effect.gen(function*() {
          const found = (yield* Ref.get(orphans)).find((o) =>
            o.child.pid === record.pid && String(o.child.pid) === record.start_time
          )
          if (found === undefined || !(yield* found.child.leaderAlive)) return Option.none()
          return Option.some(found.handle)
        })
    })

    const control = TestSpawner.of({
      children: SubscriptionRef.get(children),
      attempts: Ref.get(attempts),
      awaitChild: (n) =>
        children.changes.pipe(
          Stream.filter((c) => c.length >= n),
          Stream.runHead,
          // `changes` never ends, so there is always a head.
          Effect.map((c) => Option.getOrThrow(c)[n - 1]!)
        ),
      setBehavior: (b) => Ref.set(behavior, b),
      failSpawns: (count) => Ref.set(failures, count),
      leaveRunning: (b = {}) =>
        Effect.gen(function*() {
          const pid = FIRST_ORPHAN_PID + (yield* Ref.get(orphans)).length + 1
          const made = yield* makeChild(pid, "(started by a previous supervisor)", [], b)
          yield* Ref.update(orphans, (o) => [...o, made])
          return { record: { pid, pgid: pid, start_time: String(pid) }, child: made.child }
        })
    })

    return Context.make(Spawner, spawner).pipe(Context.add(TestSpawner, control))
  })
)
