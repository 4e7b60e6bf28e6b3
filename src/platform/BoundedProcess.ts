import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type { SpawnFailed } from "../domain/Errors.js"
import { groupAlive, type ProcessExit, spawnGroupLeader, terminateGroup } from "./ProcessGroup.js"

/*
 * A short-lived helper process (a hook, a `--version` probe) bounded in time.
 * It runs in its own process group (spawnGroupLeader), so when time is up —
 * or when it exits leaving a `sleep &` behind — one kill(-pgid) reaches
 * everything it started: SIGTERM, a grace period, then SIGKILL until the
 * group is gone. Nothing it started outlives the run.
 */

export type OutputStream = "stdout" | "stderr"

export interface BoundedRunOptions {
  readonly file: string
  readonly args: ReadonlyArray<string>
  /** Added to (and overriding) this process's environment. */
  readonly env?: Readonly<Record<string, string>>
  readonly timeout: Duration.DurationInput
  /** SIGTERM → SIGKILL, on timeout or for leftovers after an exit. */
  readonly grace: Duration.DurationInput
  /** Each output line as it arrives (e.g. to the log). */
  readonly onLine?: (stream: OutputStream, line: string) => Effect.Effect<void>
  /** Bytes of each stream kept for the result; the rest is dropped (default 64 KiB). */
  readonly keepBytes?: number
}

/** How the run ended. */
export type BoundedOutcome =
  | { readonly _tag: "Exited"; readonly code: number }
  | { readonly _tag: "Signaled"; readonly signal: string }
  | { readonly _tag: "TimedOut"; readonly after: Duration.Duration }

export interface BoundedResult {
  readonly outcome: BoundedOutcome
  readonly stdout: string
  readonly stderr: string
}

export const describeOutcome = (o: BoundedOutcome): string => {
  switch (o._tag) {
    case "Exited":
      return `exited with code ${o.code}`
    case "Signaled":
      return `was killed by ${o.signal}`
    case "TimedOut":
      return `did not finish within ${Duration.format(o.after)} and was killed`
  }
}

/** Longest line handed to `onLine`; a binary blob on stdout must not become one giant log line. */
const MAX_LINE = 4096

interface Spawned {
  readonly pid: number
  readonly exited: Effect.Effect<ProcessExit>
  /** Both output pipes closed (everything holding them is gone). */
  readonly closed: Effect.Effect<void>
  readonly output: (stream: OutputStream) => string
}

const spawn = (
  opts: BoundedRunOptions,
  lines: Queue.Queue<readonly [OutputStream, string] | null>
): Effect.Effect<Spawned, SpawnFailed> =>
  Effect.map(
    spawnGroupLeader(opts.file, opts.args, { output: "pipe", ...(opts.env ? { env: opts.env } : {}) }),
    (child) => {
      const keep = opts.keepBytes ?? 65_536
      const kept: Record<OutputStream, string> = { stdout: "", stderr: "" }
      const partial: Record<OutputStream, string> = { stdout: "", stderr: "" }
      const collect = (stream: OutputStream) => (chunk: Buffer) => {
        const text = chunk.toString("utf8")
        if (kept[stream].length < keep) kept[stream] += text.slice(0, keep - kept[stream].length)
        const parts = (partial[stream] + text).split("\n")
        partial[stream] = parts.pop() ?? ""
        if (partial[stream].length > MAX_LINE) {
          parts.push(partial[stream])
          partial[stream] = ""
        }
        for (const line of parts) Queue.unsafeOffer(lines, [stream, line.replace(/\r$/, "").slice(0, MAX_LINE)])
      }
      const flush = (stream: OutputStream) => () => {
        if (partial[stream] !== "") Queue.unsafeOffer(lines, [stream, partial[stream].slice(0, MAX_LINE)])
        partial[stream] = ""
      }
      // Paused streams keep what arrived before these listeners; nothing is lost.
      child.stdout!.on("data", collect("stdout")).once("end", flush("stdout"))
      child.stderr!.on("data", collect("stderr")).once("end", flush("stderr"))
      return { pid: child.pid, exited: child.exit, closed: child.closed, output: (s) => kept[s] }
    }
  )

/** The group's leftovers after the leader is done: SIGTERM, grace, SIGKILL; nothing when the group is already gone. */
const reapGroup = (pid: number, grace: Duration.DurationInput) =>
  Effect.flatMap(groupAlive(pid), (alive) => (alive ? terminateGroup(pid, grace) : Effect.void))

/**
 * Runs `file args` to completion or until `timeout`, whichever is first.
 * Fails only when the file cannot be executed at all; every way it can end
 * is in the result's `outcome`.
 */
export const runBounded = (opts: BoundedRunOptions): Effect.Effect<BoundedResult, SpawnFailed> =>
  Effect.scoped(
    Effect.gen(function*() {
      const lines = yield* Queue.unbounded<readonly [OutputStream, string] | null>()
      const child = yield* Effect.acquireRelease(spawn(opts, lines), (c) => reapGroup(c.pid, opts.grace))
      const onLine = opts.onLine ?? (() => Effect.void)
      const printer = yield* Effect.fork(
        Queue.take(lines).pipe(
          Effect.flatMap((item) => (item === null ? Effect.succeed(true) : Effect.as(onLine(item[0], item[1]), false))),
          Effect.repeat({ until: (done) => done })
        )
      )
      const exit = yield* child.exited.pipe(Effect.timeoutOption(opts.timeout))
      let outcome: BoundedOutcome
      if (Option.isNone(exit)) {
        yield* terminateGroup(child.pid, opts.grace)
        outcome = { _tag: "TimedOut", after: Duration.decode(opts.timeout) }
      } else {
        // Clean up what it left running, so its pipes close and nothing outlives the run.
        yield* reapGroup(child.pid, opts.grace)
        const { code, signal } = exit.value
        outcome = code !== null ? { _tag: "Exited", code } : { _tag: "Signaled", signal: signal ?? "an unknown signal" }
      }
      // The pipes close once every holder is gone; bounded in case a holder escaped the group (setsid).
      yield* child.closed.pipe(Effect.timeoutOption("1 second"))
      yield* Queue.offer(lines, null)
      yield* printer.await
      return { outcome, stdout: child.output("stdout"), stderr: child.output("stderr") }
    })
  )
