/*
 * The node's output through NodeProcess with real processes and real pipes
 * (Spawner.layerWith): nothing lost when the destination keeps up; the node
 * never blocked when it does not (lines dropped whole, counted, reported);
 * and stop not held up by a process that keeps the pipe open.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import { PassThrough, type Writable } from "node:stream"
import * as Events from "../../src/events/Events.js"
import * as NodeProcess from "../../src/node/NodeProcess.js"
import * as Spawner from "../../src/node/Spawner.js"
import { pgrep } from "../support/fixtures.js"
import { captureLogs, configLayer, type Home, makeHome, until } from "./support.js"

/** `count` numbered lines of ~80 bytes from awk (block-buffered: lines straddle the pipe's chunks). */
const awkLines = (count: number, tag: string, redirect = "") =>
  `awk 'BEGIN { for (i = 0; i < ${count}; i++) printf "${tag} %07d the quick brown fox jumps over the lazy dog %d\\n", i, i * 7 }' ${redirect}`

const expectedLine = (tag: string, i: number) => `${tag} ${String(i).padStart(7, "0")} the quick brown fox jumps over the lazy dog ${i * 7}`

const withOutput =
  (h: Home, output: Spawner.NodeOutput, logs = captureLogs()) =>
  <A, E, R>(self: Effect.Effect<A, E, R>) =>
    self.pipe(
      Effect.provide(NodeProcess.layer([]).pipe(Layer.provide(Spawner.layerWith(output)))),
      Effect.provide(Layer.merge(Events.layer, configLayer(h.env))),
      Effect.provide(logs.layer)
    )

/** Everything a stream holds once it is ended, as text. */
const collect = async (stream: PassThrough): Promise<string> => {
  stream.end()
  const parts: Array<Buffer> = []
  for await (const part of stream) parts.push(part as Buffer)
  return Buffer.concat(parts).toString()
}

/** The line numbers of `text`, each line checked to be exactly one the node wrote, in order. */
const numbered = (text: string, tag: string): Array<number> => {
  expect(text === "" || text.endsWith("\n")).toBe(true)
  const numbers: Array<number> = []
  const wrong: Array<string> = []
  for (const l of text.split("\n").slice(0, -1)) {
    const i = Number(l.slice(tag.length + 1, tag.length + 8))
    const inOrder = numbers.length === 0 || i > numbers[numbers.length - 1]!
    if (l !== expectedLine(tag, i) || !inOrder) wrong.push(l)
    numbers.push(i)
  }
  expect(wrong.slice(0, 5)).toEqual([])
  return numbers
}

const fileStream = (file: string): Promise<Writable> =>
  new Promise((resolve, reject) => {
    const s = fs.createWriteStream(file)
    s.once("open", () => resolve(s))
    s.once("error", reject)
  })

const closeStream = (s: Writable): Promise<void> => new Promise((resolve) => s.end(resolve))

describe("the node's output through wemixvisor", () => {
  it.scopedLive(
    "loses nothing when the destination keeps up (stdout and stderr, every line whole and in order)",
    () =>
      Effect.gen(function* () {
        const n = 200_000
        const h = yield* makeHome(`${awkLines(n, "out")} &\n${awkLines(n / 4, "err", "1>&2")}\nwait\necho done > "@HOME@/done"\nexec sleep @MARKER@\n`)
        const out = yield* Effect.promise(() => fileStream(h.file("stdout.log")))
        const err = yield* Effect.promise(() => fileStream(h.file("stderr.log")))
        const logs = captureLogs()
        yield* Effect.gen(function* () {
          const node = yield* NodeProcess.NodeProcess
          yield* node.start
          yield* until("the node to finish writing", () => fs.existsSync(h.file("done")), 20_000)
          // Stop closes the pipes after forwarding their last bytes.
          yield* node.stop
        }).pipe(withOutput(h, { stdout: out, stderr: err }, logs))
        yield* Effect.promise(() => Promise.all([closeStream(out), closeStream(err)]))
        expect(numbered(fs.readFileSync(h.file("stdout.log"), "utf8"), "out")).toEqual(Array.from({ length: n }, (_, i) => i))
        expect(numbered(fs.readFileSync(h.file("stderr.log"), "utf8"), "err")).toHaveLength(n / 4)
        expect(logs.lines.filter((l) => l.message.includes("dropped"))).toEqual([])
      }),
    30_000
  )

  it.scopedLive(
    "never blocks the node when nobody reads: whole lines dropped, counted and reported, memory bounded",
    () =>
      Effect.gen(function* () {
        const n = 100_000
        const maxBuffer = 256 * 1024
        const maxLine = 4 * 1024
        const h = yield* makeHome(`${awkLines(n, "out")}\necho done > "@HOME@/done"\nexec sleep @MARKER@\n`)
        // A reader that reads nothing until the end: the node's ~8 MB could never fit in a pipe, let alone this buffer.
        const stalled = new PassThrough({ highWaterMark: 1024 })
        let peak = 0
        const logs = captureLogs()
        yield* Effect.gen(function* () {
          const node = yield* NodeProcess.NodeProcess
          yield* node.start
          yield* until(
            "the node to finish writing while its output is not read",
            () => {
              peak = Math.max(peak, stalled.writableLength)
              return fs.existsSync(h.file("done"))
            },
            20_000
          )
          yield* until("the drop warning", () => logs.lines.some((l) => l.message.includes("lines of the node's output")))
          yield* node.stop
        }).pipe(
          withOutput(h, { stdout: stalled, stderr: new PassThrough(), forward: { maxBuffer, maxLine }, flushTimeout: "10 millis" }, logs)
        )
        expect(peak).toBeLessThanOrEqual(maxBuffer + maxLine)

        const warning = logs.lines.find((l) => l.message.includes("lines of the node's output"))!
        expect(warning.level._tag).toBe("Warning")
        const total = logs.lines.find((l) => l.message.includes("dropped in total"))
        expect(total?.level._tag).toBe("Warning")
        const dropped = Number(/: (\d+) lines of its output were dropped in total \(stdout (\d+), stderr 0\)/.exec(total!.message)?.[2])

        const received = numbered(yield* Effect.promise(() => collect(stalled)), "out")
        expect(received.length).toBeGreaterThan(0)
        expect(dropped).toBeGreaterThan(n / 2)
        expect(received.length + dropped).toBe(n)
      }),
    30_000
  )

  it.scopedLive(
    "a process that left the node's group but holds its pipe does not hold up stop",
    () =>
      Effect.gen(function* () {
        // setsid: a new session and group, out of reach of the group's signals; it keeps the pipe open.
        const h = yield* makeHome(`setsid sleep @MARKER@ &\necho up\nexec sleep @MARKER@\n`)
        const out = new PassThrough()
        yield* Effect.gen(function* () {
          const node = yield* NodeProcess.NodeProcess
          yield* node.start
          yield* until("both sleeps", () => pgrep(`sleep ${h.marker}`).length === 2)
          const t0 = Date.now()
          yield* node.stop
          // The grace period is not even needed (sleep exits on SIGTERM); the 1 s bound on the pipe is the wait.
          expect(Date.now() - t0).toBeLessThan(3_000)
          expect((yield* node.status).state).toBe("stopped")
        }).pipe(withOutput(h, { stdout: out, stderr: new PassThrough() }))
        expect(yield* Effect.promise(() => collect(out))).toBe("up\n")
        // The escaped sleep is still there (makeHome's cleanup kills it): it was never ours to stop.
        expect(pgrep(`sleep ${h.marker}`)).toHaveLength(1)
      }),
    30_000
  )
})
