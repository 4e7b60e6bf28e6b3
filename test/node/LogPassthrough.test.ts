/*
 * The forwarder (src/node/LogPassthrough.ts) between in-process streams, and
 * its drop reports on the TestClock. The same code with real processes and
 * real pipes: LogPassthrough.live.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream, SubscriptionRef, TestClock } from "effect"
import { PassThrough, Writable } from "node:stream"
import { forward, type OutputDrops, reportDrops, reportDropTotal } from "../../src/node/LogPassthrough.js"
import { captureLogs } from "./support.js"

const line = (i: number) => `line ${i} ${"x".repeat(i % 37)}\n`
const lines = (n: number) => Array.from({ length: n }, (_, i) => line(i)).join("")

/** Cuts `text` into chunks of varying sizes, so lines straddle chunks. */
const chunks = (text: string, sizes: ReadonlyArray<number> = [1, 7, 64, 333, 4096, 13]): Array<Buffer> => {
  const buf = Buffer.from(text)
  const out: Array<Buffer> = []
  for (let at = 0, k = 0; at < buf.length; k++) {
    const size = sizes[k % sizes.length]!
    out.push(buf.subarray(at, at + size))
    at += size
  }
  return out
}

/** A destination that takes nothing until `release`: everything written waits in its queue (writableLength). */
const stalled = () => {
  const taken: Array<Buffer> = []
  const pending: Array<() => void> = []
  const dest = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, done) {
      taken.push(chunk)
      pending.push(done)
    }
  })
  const release = () => {
    // Each callback lets the next queued write through; keep going until the queue is empty.
    while (pending.length > 0) pending.shift()!()
  }
  const drain = async () => {
    while (dest.writableLength > 0 || pending.length > 0) {
      release()
      await new Promise((r) => setImmediate(r))
    }
  }
  return { dest, text: () => Buffer.concat(taken).toString(), drain }
}

/** Every received line must be one of the lines written, whole, in order; returns their numbers. */
const numbersOf = (text: string): Array<number> => {
  expect(text === "" || text.endsWith("\n")).toBe(true)
  const got = text.split("\n").slice(0, -1)
  const numbers = got.map((l) => Number(/^line (\d+) /.exec(l)?.[1] ?? NaN))
  got.forEach((l, k) => expect(`${l}\n`).toBe(line(numbers[k]!)))
  for (let k = 1; k < numbers.length; k++) expect(numbers[k]!).toBeGreaterThan(numbers[k - 1]!)
  return numbers
}

const feed = async (source: PassThrough, parts: ReadonlyArray<Buffer>) => {
  for (const part of parts) source.write(part)
  source.end()
}

describe("forward", () => {
  it("passes everything through, unchanged, to a destination that keeps up", async () => {
    const source = new PassThrough()
    const received: Array<Buffer> = []
    const dest = new Writable({
      write(chunk: Buffer, _enc, done) {
        received.push(chunk)
        done()
      }
    })
    const text = lines(20_000)
    const f = forward(source, dest, { maxBuffer: 64 * 1024, maxLine: 1024 })
    await feed(source, chunks(text))
    await f.done
    expect(Buffer.concat(received).toString()).toBe(text)
    expect(f.dropped()).toBe(0)
  })

  it("holds at most maxBuffer (+ one line) for a stalled destination, then drops whole lines and counts them", async () => {
    const source = new PassThrough()
    const { dest, text, drain } = stalled()
    const maxBuffer = 10_000
    const maxLine = 100
    let drops = 0
    let peak = 0
    const f = forward(source, dest, { maxBuffer, maxLine }, () => drops++)
    const n = 5_000
    for (const part of chunks(lines(n))) {
      source.write(part)
      await new Promise((r) => setImmediate(r))
      peak = Math.max(peak, dest.writableLength)
    }
    source.end()
    await f.done
    expect(peak).toBeLessThanOrEqual(maxBuffer + maxLine)
    expect(peak).toBeGreaterThan(maxBuffer / 2)
    expect(f.dropped()).toBeGreaterThan(0)
    expect(drops).toBeGreaterThan(0)
    await drain()
    const got = numbersOf(text())
    expect(got.length + f.dropped()).toBe(n)
  })

  it("resumes with whole lines once the destination catches up", async () => {
    const source = new PassThrough()
    const { dest, text, drain } = stalled()
    const f = forward(source, dest, { maxBuffer: 2_000, maxLine: 100 })
    for (const part of chunks(lines(1_000))) source.write(part)
    await new Promise((r) => setImmediate(r))
    const droppedWhileStalled = f.dropped()
    expect(droppedWhileStalled).toBeGreaterThan(0)
    await drain()
    // Caught up: the next lines go through, none dropped, and the line cut at a chunk edge is not left half-written.
    for (const part of chunks(Array.from({ length: 50 }, (_, i) => line(1_000 + i)).join(""))) {
      source.write(part)
      await new Promise((r) => setImmediate(r))
      await drain()
    }
    source.end()
    await f.done
    expect(f.dropped()).toBe(droppedWhileStalled)
    const got = numbersOf(text())
    expect(got.slice(-50)).toEqual(Array.from({ length: 50 }, (_, i) => 1_000 + i))
    expect(got.length + f.dropped()).toBe(1_050)
  })

  it("cuts a line too long to finish while the destination is full, and drops its rest", async () => {
    const source = new PassThrough()
    const { dest, text, drain } = stalled()
    const f = forward(source, dest, { maxBuffer: 1_000, maxLine: 200 })
    source.write(Buffer.from("a".repeat(900)))
    source.write(Buffer.from("b".repeat(50_000)))
    source.write(Buffer.from("c".repeat(100) + "\nshort\n"))
    await new Promise((r) => setImmediate(r))
    expect(dest.writableLength).toBeLessThanOrEqual(1_200)
    await drain()
    source.write(Buffer.from("after\n"))
    source.end()
    await f.done
    await drain()
    const got = text().split("\n")
    // The long line, cut: its start, a newline, never its rest glued to anything.
    expect(got[0]!).toMatch(/^a{900}b*$/)
    expect(got[0]!.length).toBeLessThanOrEqual(1_200)
    // The lines after it fit again (the cut line took only what was within maxLine).
    expect(got.slice(1)).toEqual(["short", "after", ""])
    expect(f.dropped()).toBe(1)
  })

  it("ends a last line that has no newline, so what follows starts a line", async () => {
    const source = new PassThrough()
    const received: Array<Buffer> = []
    const dest = new Writable({
      write(chunk: Buffer, _enc, done) {
        received.push(chunk)
        done()
      }
    })
    const f = forward(source, dest)
    await feed(source, [Buffer.from("one\ntw"), Buffer.from("o")])
    await f.done
    expect(Buffer.concat(received).toString()).toBe("one\ntwo\n")
  })

  it("drops (and counts) everything once the destination has failed, without throwing", async () => {
    const source = new PassThrough()
    const dest = new Writable({
      write(_chunk, _enc, done) {
        done(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }))
      }
    })
    dest.on("error", () => {})
    const f = forward(source, dest)
    source.write(Buffer.from("first\n"))
    await new Promise((r) => setImmediate(r))
    expect(dest.destroyed).toBe(true)
    await feed(source, [Buffer.from("a\nb\nc")])
    await f.done
    expect(f.dropped()).toBe(3)
  })
})

describe("reportDrops", () => {
  /** A DropCounter the test drives. */
  const counter = Effect.gen(function* () {
    const drops = yield* SubscriptionRef.make<OutputDrops>({ stdout: 0, stderr: 0 })
    return {
      drop: (stdout: number, stderr = 0) => SubscriptionRef.update(drops, (d) => ({ stdout: d.stdout + stdout, stderr: d.stderr + stderr })),
      output: {
        droppedLines: SubscriptionRef.get(drops),
        awaitDropped: (seen: number) =>
          drops.changes.pipe(
            Stream.filter((d) => d.stdout + d.stderr > seen),
            Stream.runHead,
            Effect.asVoid
          )
      }
    }
  })

  it.effect("warns at once on the first drop, then at most once per interval, with the counts", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const c = yield* counter
      const fiber = yield* Effect.fork(reportDrops(c.output, "10 seconds"))
      yield* TestClock.adjust("1 minute")
      expect(logs.lines).toEqual([])

      yield* c.drop(5)
      yield* TestClock.adjust("1 millis")
      expect(logs.lines.map((l) => l.message)).toHaveLength(1)
      expect(logs.lines[0]!.level._tag).toBe("Warning")
      expect(logs.lines[0]!.message).toContain("dropped 5 lines")
      expect(logs.lines[0]!.message).toContain("stdout 5, stderr 0")

      // More drops within the interval: reported together when it is over, not before.
      yield* c.drop(3)
      yield* c.drop(0, 4)
      yield* TestClock.adjust("9 seconds")
      expect(logs.lines).toHaveLength(1)
      yield* TestClock.adjust("1 second")
      expect(logs.lines).toHaveLength(2)
      expect(logs.lines[1]!.message).toContain("dropped 7 lines")
      expect(logs.lines[1]!.message).toContain("12 dropped so far: stdout 8, stderr 4")

      // Quiet: nothing more is said.
      yield* TestClock.adjust("10 minutes")
      expect(logs.lines).toHaveLength(2)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("the total at exit is logged only when something was dropped", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      yield* reportDropTotal(42, { stdout: 0, stderr: 0 })
      expect(logs.lines).toEqual([])
      yield* reportDropTotal(42, { stdout: 10, stderr: 2 })
      expect(logs.lines).toHaveLength(1)
      expect(logs.lines[0]!.message).toContain("node (pid 42): 12 lines of its output were dropped in total (stdout 10, stderr 2)")
    }).pipe(Effect.provide(logs.layer))
  })
})
