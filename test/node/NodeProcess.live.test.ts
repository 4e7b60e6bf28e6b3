/*
 * NodeProcess and reapStale with real processes: tiny sh scripts as the node,
 * in a temp home with `genesis/bin/node` and `current -> genesis` made here
 * directly. Grace 200 ms and restart delay 50 ms keep every case short.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as childProcess from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Events from "../../src/events/Events.js"
import * as NodeProcess from "../../src/node/NodeProcess.js"
import { groupMembers, processStartTime } from "../../src/platform/Proc.js"
import { isAlive, pgrep, writeScript } from "../support/fixtures.js"
import { captureLogs, configLayer, type Home, type LogLine, makeHome, recordEvents, until } from "./support.js"

/** The process's own name (/proc/<pid>/comm): what it runs now, after any exec. */
const commOf = (pid: number): string | undefined => {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim()
  } catch {
    return undefined
  }
}

const ARGS = ["--datadir", "/data/with space", "--http", "*"]

const withNode = (h: Home, logs = captureLogs()) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.provide(NodeProcess.layerLive(ARGS)),
    Effect.provide(Layer.merge(Events.layer, configLayer(h.env))),
    Effect.provide(logs.layer)
  )

const readPidFile = (h: Home): unknown => JSON.parse(fs.readFileSync(path.join(h.root, "node.pid"), "utf8"))

describe("NodeProcess with real processes", () => {
  it.scopedLive(
    "passes the args through, records node.pid, and stop leaves nothing behind",
    () =>
      Effect.gen(function*() {
        const h = yield* makeHome(`printf '%s\\n' "$@" > "@HOME@/args.txt"\nexec sleep @MARKER@\n`)
        yield* Effect.gen(function*() {
          const node = yield* NodeProcess.NodeProcess
          yield* node.start
          const { pid, state } = yield* node.status
          expect(state).toBe("running")
          yield* until("args.txt", () => h.lines("args.txt").length === ARGS.length)
          expect(h.lines("args.txt")).toEqual(ARGS)
          expect(readPidFile(h)).toEqual({ pid, pgid: pid, start_time: processStartTime(pid!) })
          expect(pgrep(`sleep ${h.marker}`)).toEqual([pid])

          yield* node.stop
          expect(isAlive(pid!)).toBe(false)
          expect(groupMembers(pid!)).toEqual([])
          expect(fs.existsSync(path.join(h.root, "node.pid"))).toBe(false)
          expect(yield* node.status).toMatchObject({ state: "stopped", pid: null, lastExit: { signal: "SIGTERM" } })
        }).pipe(withNode(h))
      }),
    20_000
  )

  it.scopedLive(
    "start runs whatever `current` points at now",
    () =>
      Effect.gen(function*() {
        const h = yield* makeHome(`echo genesis >> "@HOME@/versions.log"\nexec sleep @MARKER@\n`)
        writeScript(
          path.join(h.root, "upgrades", "v2", "bin", "node"),
          `echo v2 >> "${h.home}/versions.log"\nexec sleep ${h.marker}\n`
        )
        yield* Effect.gen(function*() {
          const node = yield* NodeProcess.NodeProcess
          const events = yield* recordEvents
          yield* node.start
          expect((yield* events.next("node-started")).binary).toBe(
            path.join(fs.realpathSync(h.root), "genesis", "bin", "node")
          )
          yield* until("genesis to start", () => h.lines("versions.log").length === 1)
          yield* node.stop
          fs.symlinkSync(path.join("upgrades", "v2"), path.join(h.root, "current.tmp"))
          fs.renameSync(path.join(h.root, "current.tmp"), path.join(h.root, "current"))
          yield* node.start
          expect((yield* events.next("node-started")).binary).toBe(
            path.join(fs.realpathSync(h.root), "upgrades", "v2", "bin", "node")
          )
          yield* until("v2 to start", () => h.lines("versions.log").length === 2)
          expect(h.lines("versions.log")).toEqual(["genesis", "v2"])
        }).pipe(withNode(h))
      }),
    20_000
  )

  it.scopedLive(
    "a crash is restarted",
    () =>
      Effect.gen(function*() {
        const h = yield* makeHome(
          `echo run >> "@HOME@/runs.log"\n[ "$(wc -l < "@HOME@/runs.log")" -ge 2 ] || exit 3\nexec sleep @MARKER@\n`
        )
        yield* Effect.gen(function*() {
          const node = yield* NodeProcess.NodeProcess
          const events = yield* recordEvents
          yield* node.start
          const first = yield* events.next("node-started")
          expect(yield* events.next("node-exited")).toMatchObject({
            pid: first.pid,
            code: 3,
            signal: null,
            expected: false
          })
          expect((yield* events.next("node-restarting")).restarts).toBe(1)
          const second = yield* events.next("node-started")
          expect(yield* node.status).toMatchObject({ state: "running", pid: second.pid, restarts: 1 })
          expect(h.lines("runs.log")).toHaveLength(2)
          expect(pgrep(`sleep ${h.marker}`)).toEqual([second.pid])
        }).pipe(withNode(h))
      }),
    20_000
  )

  it.scopedLive(
    "a crash loop ends in error while the supervisor stays up",
    () => {
      const logs = captureLogs()
      return Effect.gen(function*() {
        const h = yield* makeHome(`echo run >> "@HOME@/runs.log"\nexit 1\n`)
        yield* Effect.gen(function*() {
          const node = yield* NodeProcess.NodeProcess
          const events = yield* recordEvents
          yield* node.start
          const error = yield* events.next("node-error")
          expect(error.reason).toContain("exited with code 1 after 3 restarts")
          // 1 start + DAEMON_MAX_RESTARTS=3 restarts, then no more.
          yield* Effect.sleep("400 millis")
          expect(h.lines("runs.log")).toHaveLength(4)
          expect(yield* node.status).toMatchObject({ state: "error", pid: null, restarts: 3, reason: error.reason })
          expect(logs.lines.some((l: LogLine) => l.level._tag === "Error" && l.message.includes(error.reason))).toBe(
            true
          )
          expect(fs.existsSync(path.join(h.root, "node.pid"))).toBe(false)
        }).pipe(withNode(h, logs))
      })
    },
    20_000
  )

  it.scopedLive(
    "a node that ignores SIGTERM is SIGKILLed after the grace period",
    () =>
      Effect.gen(function*() {
        const h = yield* makeHome(`trap '' TERM\necho ready > "@HOME@/ready"\nwhile :; do sleep 0.05; done\n`)
        yield* Effect.gen(function*() {
          const node = yield* NodeProcess.NodeProcess
          yield* node.start
          const { pid } = yield* node.status
          yield* until("the node to set its trap", () => fs.existsSync(h.file("ready")))
          const t0 = Date.now()
          yield* node.stop
          const took = Date.now() - t0
          expect(took).toBeGreaterThanOrEqual(190)
          expect(took).toBeLessThan(3000)
          expect(groupMembers(pid!)).toEqual([])
          expect(isAlive(pid!)).toBe(false)
          expect((yield* node.status).lastExit).toEqual({ code: null, signal: "SIGKILL" })
        }).pipe(withNode(h))
      }),
    20_000
  )

  it.scopedLive(
    "no grandchild survives stop (sleep & sleep)",
    () =>
      Effect.gen(function*() {
        const h = yield* makeHome(`sleep @MARKER@ &\nsleep @MARKER@\n`)
        yield* Effect.gen(function*() {
          const node = yield* NodeProcess.NodeProcess
          yield* node.start
          yield* until("both sleeps", () => pgrep(`sleep ${h.marker}`).length === 2)
          yield* node.stop
          expect(pgrep(`sleep ${h.marker}`)).toEqual([])
        }).pipe(withNode(h))
      }),
    20_000
  )

  it.scopedLive(
    "no grandchild survives a leader that exits by itself",
    () =>
      Effect.gen(function*() {
        // The background sleep gets no signal from anyone when its parent exits 0.
        const h = yield* makeHome(`sleep @MARKER@ &\necho started > "@HOME@/ready"\nexit 0\n`, {
          DAEMON_MAX_RESTARTS: "0"
        })
        yield* Effect.gen(function*() {
          const node = yield* NodeProcess.NodeProcess
          yield* node.start
          yield* node.changes.pipe(
            Stream.filter((s) => s.state === "error"),
            Stream.runHead
          )
          expect(fs.existsSync(h.file("ready"))).toBe(true)
          expect(pgrep(`sleep ${h.marker}`)).toEqual([])
        }).pipe(withNode(h))
      }),
    20_000
  )

  it.scopedLive(
    "a binary that cannot be executed fails start with SpawnFailed",
    () =>
      Effect.gen(function*() {
        const h = yield* makeHome(`exit 0\n`)
        fs.chmodSync(path.join(h.root, "genesis", "bin", "node"), 0o644)
        yield* Effect.gen(function*() {
          const node = yield* NodeProcess.NodeProcess
          const error = yield* Effect.flip(node.start)
          expect(error._tag).toBe("SpawnFailed")
          expect(error.message).toContain("EACCES")
          expect((yield* node.status).state).toBe("error")
        }).pipe(withNode(h))
      }),
    20_000
  )
})

describe("reapStale", () => {
  /** A process the way a killed supervisor leaves its node: detached, its own group, a wrapper that exec'd. */
  const spawnDetached = (script: string) => {
    const child = childProcess.spawn("/bin/sh", ["-c", script], { detached: true, stdio: "ignore" })
    return child.pid!
  }

  const writePidFile = (h: Home, record: unknown) => {
    fs.writeFileSync(path.join(h.root, "node.pid"), typeof record === "string" ? record : JSON.stringify(record))
  }

  const reap = (h: Home, logs = captureLogs()) =>
    NodeProcess.reapStale.pipe(Effect.provide(configLayer(h.env)), Effect.provide(logs.layer))

  it.scopedLive(
    "stops a node left running by a killed supervisor",
    () =>
      Effect.gen(function*() {
        const h = yield* makeHome(`exit 0\n`)
        const pid = spawnDetached(`exec sleep ${h.marker}`)
        yield* until("the stale node", () => pgrep(`sleep ${h.marker}`).includes(pid))
        writePidFile(h, { pid, pgid: pid, start_time: processStartTime(pid) })
        yield* reap(h)
        expect(isAlive(pid)).toBe(false)
        expect(pgrep(`sleep ${h.marker}`)).toEqual([])
        expect(fs.existsSync(path.join(h.root, "node.pid"))).toBe(false)
      }),
    20_000
  )

  it.scopedLive(
    "SIGKILLs a stale node that ignores SIGTERM after the grace period",
    () =>
      Effect.gen(function*() {
        const h = yield* makeHome(`exit 0\n`)
        const pid = spawnDetached(`trap '' TERM; exec sleep ${h.marker}`)
        // `sleep` itself, not the shell before its trap: the shell's command line names `sleep <marker>` too,
        // and a SIGTERM before the trap would end it at once.
        yield* until("the stale node, SIGTERM ignored", () => commOf(pid) === "sleep")
        writePidFile(h, { pid, pgid: pid, start_time: processStartTime(pid) })
        const t0 = Date.now()
        yield* reap(h)
        expect(Date.now() - t0).toBeGreaterThanOrEqual(190)
        expect(isAlive(pid)).toBe(false)
        expect(fs.existsSync(path.join(h.root, "node.pid"))).toBe(false)
      }),
    20_000
  )

  it.scopedLive(
    "stops what is left of the old node's group when its leader is already gone",
    () =>
      Effect.gen(function*() {
        const h = yield* makeHome(`exit 0\n`)
        // The pause lets us read the leader's start time before it exits.
        const pid = spawnDetached(`sleep ${h.marker} & sleep 0.3; exit 0`)
        const startTime = processStartTime(pid)
        yield* until("the leader to exit, leaving its child", () =>
          !isAlive(pid) && pgrep(`sleep ${h.marker}`).length === 1)
        writePidFile(h, { pid, pgid: pid, start_time: startTime })
        yield* reap(h)
        expect(pgrep(`sleep ${h.marker}`)).toEqual([])
        expect(groupMembers(pid)).toEqual([])
        expect(fs.existsSync(path.join(h.root, "node.pid"))).toBe(false)
      }),
    20_000
  )

  it.scopedLive(
    "leaves a process alone whose start time does not match (pid reused)",
    () =>
      Effect.gen(function*() {
        const h = yield* makeHome(`exit 0\n`)
        const pid = spawnDetached(`exec sleep ${h.marker}`)
        yield* until("the other process", () => pgrep(`sleep ${h.marker}`).includes(pid))
        writePidFile(h, { pid, pgid: pid, start_time: "1" })
        yield* reap(h)
        yield* Effect.sleep("300 millis")
        expect(isAlive(pid)).toBe(true)
        expect(fs.existsSync(path.join(h.root, "node.pid"))).toBe(false)
      }),
    20_000
  )

  it.scopedLive(
    "removes node.pid naming a dead process, and a corrupt one (logged)",
    () =>
      Effect.gen(function*() {
        const h = yield* makeHome(`exit 0\n`)
        const dead = childProcess.spawnSync("/bin/sh", ["-c", "echo $$"], { encoding: "utf8" })
        const pid = Number(dead.stdout.trim())
        writePidFile(h, { pid, pgid: pid, start_time: "12345" })
        yield* reap(h)
        expect(fs.existsSync(path.join(h.root, "node.pid"))).toBe(false)

        writePidFile(h, "{ not json")
        const logs = captureLogs()
        yield* reap(h, logs)
        expect(fs.existsSync(path.join(h.root, "node.pid"))).toBe(false)
        expect(logs.lines.some((l) => l.message.includes("node.pid is corrupt"))).toBe(true)

        // No file: nothing to do.
        yield* reap(h)
      }),
    20_000
  )
})
