import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as net from "node:net"
import type { Readable, Writable } from "node:stream"

/*
 * The node's stdout/stderr pass through wemixvisor on their way to ours.
 *
 * The node must never wait for whoever reads our output (a stalled terminal,
 * a slow log shipper, `| less`): a node blocked in write(2) stops importing
 * blocks. So the node's pipe is always read at once, and what our destination
 * has not taken yet is held in a bounded buffer (the destination's own write
 * queue, measured by `writableLength`). When that is full, whole lines are
 * dropped and counted — never part of a line, so what reaches the reader is
 * always a sequence of complete lines.
 *
 * The hot path is one comparison and one write per chunk: chunks go out as
 * they came (a line may straddle two chunks), and lines are only looked at
 * while the destination is behind. This is plain Node stream code on purpose:
 * it runs per chunk at hundreds of MB/s; the Effect side (ChildHandle,
 * `reportDrops`) only reads its counters.
 *
 * Limits worth knowing: Node writes to a pipe or socket asynchronously (the
 * usual case: journald, docker, `| tee`), which is what makes the buffer
 * bounded and the node independent of the reader. To a terminal or a regular
 * file, Node writes synchronously: there a write that blocks (a terminal
 * paused with Ctrl-S) blocks wemixvisor itself, as it always did. And on
 * stderr, our own log lines share the destination with the node's: one can
 * land right after a node line cut at a chunk edge (never while dropping).
 */

const NL = 0x0a
const NEWLINE = Buffer.from("\n")

export interface ForwardOptions {
  /** Bytes a destination that does not keep up may hold before lines are dropped. */
  readonly maxBuffer: number
  /**
   * How far past `maxBuffer` a line already begun at the destination may go
   * to be finished. A longer line is ended there with a newline and the rest
   * of it dropped. So the destination never holds more than maxBuffer + maxLine.
   */
  readonly maxLine: number
}

/**
 * 8 MiB per stream (0.1 s of a node logging 80 MB/s: enough for a reader that
 * keeps up on average but is descheduled now and then on a busy machine),
 * plus one line of up to 64 KiB being finished.
 */
export const defaultForwardOptions: ForwardOptions = { maxBuffer: 8 * 1024 * 1024, maxLine: 64 * 1024 }

export interface Forwarder {
  /** Lines dropped so far (a line cut short counts once). */
  readonly dropped: () => number
  /** Resolves once the source has ended (or closed) and everything read was handed to the destination. */
  readonly done: Promise<void>
  /** Stops reading: the source is destroyed. What the destination already holds stays there. */
  readonly close: () => void
}

/** The line logic, fed chunk by chunk by one of the two readers below. */
const makeForwarder = (
  destination: Writable,
  { maxBuffer, maxLine }: ForwardOptions,
  onDrop: () => void,
  /** The chunks handed to `push` are reused by the reader: copy what is kept (written). */
  copy: boolean
) => {
  let dropped = 0
  /** The destination holds the start of a line whose rest must come next. */
  let midLine = false
  /** The source is inside a line that is being dropped. */
  let dropping = false

  const write = copy ? (bytes: Buffer) => destination.write(Buffer.from(bytes)) : (bytes: Buffer) => destination.write(bytes)

  const send = (bytes: Buffer) => {
    write(bytes)
    midLine = bytes[bytes.length - 1] !== NL
  }

  /** Drops chunk[from..]: its complete lines are counted now, a trailing partial one when it ends. */
  const dropFrom = (chunk: Buffer, from: number) => {
    if (from >= chunk.length) return
    for (let i = chunk.indexOf(NL, from); i !== -1; i = chunk.indexOf(NL, i + 1)) dropped++
    dropping = chunk[chunk.length - 1] !== NL
  }

  /** The destination is behind (or we are dropping): forward whole lines while they fit, drop the rest. */
  const behind = (chunk: Buffer) => {
    const open = destination.writable
    if (!open && midLine) {
      // The destination failed in the middle of a line: the rest of that line is lost with it.
      midLine = false
      dropping = true
    }
    let from = 0
    if (dropping) {
      const nl = chunk.indexOf(NL)
      if (nl === -1) return
      dropped++
      dropping = false
      from = nl + 1
    } else if (midLine) {
      // Finish the line the destination already has the start of, or nothing after it could follow cleanly.
      const nl = chunk.indexOf(NL)
      const end = nl === -1 ? chunk.length : nl + 1
      if (destination.writableLength + end <= maxBuffer + maxLine) {
        send(end === chunk.length ? chunk : chunk.subarray(0, end))
        if (midLine) return
      } else {
        // Too long to finish now: end it here; the rest of it is dropped and counted when it ends.
        send(NEWLINE)
        if (nl === -1) {
          dropping = true
          return
        }
        dropped++
      }
      from = end
    }
    if (from >= chunk.length) return
    const room = open ? maxBuffer - destination.writableLength : 0
    if (chunk.length - from <= room) {
      send(from === 0 ? chunk : chunk.subarray(from))
      return
    }
    if (room > 0) {
      const last = chunk.lastIndexOf(NL, from + room - 1)
      if (last >= from) {
        send(chunk.subarray(from, last + 1))
        from = last + 1
      }
    }
    dropFrom(chunk, from)
  }

  const push = (chunk: Buffer) => {
    // Hot path: the destination keeps up, so the chunk goes out as it is.
    if (!dropping && destination.writableLength + chunk.length <= maxBuffer && destination.writable) {
      write(chunk)
      midLine = chunk[chunk.length - 1] !== NL
      return
    }
    const before = dropped
    behind(chunk)
    if (dropped !== before) onDrop()
  }

  const end = () => {
    // A last line without its newline is ended, so whatever is written next (our log, the next node) starts a line.
    if (midLine && destination.writable) destination.write(NEWLINE)
    midLine = false
    if (dropping) {
      dropped++
      dropping = false
      onDrop()
    }
  }

  return { push, end, dropped: () => dropped }
}

/** Resolves once `source` has ended or closed (a read error ends it like an EOF; 'close' follows). */
const ended = (source: Readable, then: () => void): Promise<void> =>
  new Promise((resolve) => {
    let finished = false
    const finish = () => {
      if (finished) return
      finished = true
      then()
      resolve()
    }
    source.once("end", finish)
    source.once("close", finish)
    source.on("error", () => {})
  })

/**
 * Forwards `source` to `destination` until the source ends, never applying
 * backpressure to the source. The caller owns `destination` and must keep an
 * 'error' listener on it (a closed stdout must not crash us); once it is no
 * longer writable, everything is dropped (and counted).
 */
export const forward = (
  source: Readable,
  destination: Writable,
  options: ForwardOptions = defaultForwardOptions,
  /** Called after lines were dropped (at most once per chunk). */
  onDrop: () => void = () => {}
): Forwarder => {
  const f = makeForwarder(destination, options, onDrop, false)
  source.on("data", f.push)
  const done = ended(source, () => {
    source.off("data", f.push)
    f.end()
  })
  return { dropped: f.dropped, done, close: () => source.destroy() }
}

/**
 * `forward` from the read end of a pipe (it takes the descriptor over),
 * read into one buffer used again for every read. The stream reader
 * allocates a 64 KiB buffer per read instead, and while lines are dropped
 * those are all garbage, freed only when V8 gets round to it: wemixvisor's
 * peak RSS in the slow-reader run of scripts/bench-logs.mjs was 138 MB that
 * way, 120 MB this way. Here only what is forwarded is copied, and dropping
 * allocates nothing.
 */
export const forwardFd = (
  fd: number,
  destination: Writable,
  options: ForwardOptions = defaultForwardOptions,
  onDrop: () => void = () => {}
): Forwarder => {
  const f = makeForwarder(destination, options, onDrop, true)
  // `onread` works for any socket (Node's net.Socket constructor); @types/node declares it for connect() only.
  const opts: net.SocketConstructorOpts & { readonly onread: net.OnReadOpts } = {
    fd,
    readable: true,
    writable: false,
    onread: {
      buffer: Buffer.allocUnsafe(64 * 1024),
      callback: (n, buffer) => {
        f.push(Buffer.from(buffer.buffer, buffer.byteOffset, n))
        return true
      }
    }
  }
  const source = new net.Socket(opts)
  const done = ended(source, f.end)
  return { dropped: f.dropped, done, close: () => source.destroy() }
}

/** Lines of a node's output dropped so far, per stream. */
export interface OutputDrops {
  readonly stdout: number
  readonly stderr: number
}

/** What `reportDrops` watches: a node process's output (src/node/Spawner.ts ChildHandle). */
export interface DropCounter {
  readonly droppedLines: Effect.Effect<OutputDrops>
  /** Waits until more than `seen` lines in total have been dropped. */
  readonly awaitDropped: (seen: number) => Effect.Effect<void>
}

/** At most one warning per this interval while lines are being dropped. */
export const dropReportInterval: Duration.Duration = Duration.seconds(10)

const describeDrops = (d: OutputDrops) => `stdout ${d.stdout}, stderr ${d.stderr}`

/**
 * Warns when lines of the node's output are dropped: at once for the first
 * ones, then at most once per `every` while more are — how many since the
 * last warning, and the total. Sleeps only after a drop, so a node whose
 * output keeps flowing costs no timer at all. Runs until interrupted; fork it
 * in the scope of the process whose output it watches.
 */
export const reportDrops = (output: DropCounter, every: Duration.DurationInput = dropReportInterval): Effect.Effect<never> =>
  Effect.suspend(() => {
    let reported = 0
    const report = Effect.gen(function* () {
      yield* output.awaitDropped(reported)
      const now = yield* output.droppedLines
      const total = now.stdout + now.stderr
      yield* Effect.logWarning(
        `dropped ${total - reported} lines of the node's output: wemixvisor's stdout/stderr is read more slowly ` +
          `than the node writes, and the node is never made to wait (${total} dropped so far: ${describeDrops(now)}; ` +
          `reported at most every ${Duration.format(every)})`
      ).pipe(Effect.annotateLogs({ dropped_stdout: now.stdout, dropped_stderr: now.stderr }))
      reported = total
      yield* Effect.sleep(every)
    })
    return Effect.forever(report)
  })

/** The final word on one node process's output, once its pipes are closed: the total dropped, if any. */
export const reportDropTotal = (pid: number, drops: OutputDrops): Effect.Effect<void> =>
  drops.stdout + drops.stderr === 0
    ? Effect.void
    : Effect.logWarning(
        `node (pid ${pid}): ${drops.stdout + drops.stderr} lines of its output were dropped in total (${describeDrops(drops)}) ` +
          `because wemixvisor's stdout/stderr was read more slowly than the node wrote`
      ).pipe(Effect.annotateLogs({ pid, dropped_stdout: drops.stdout, dropped_stderr: drops.stderr, dropped_total: true }))
