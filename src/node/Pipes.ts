import * as Effect from "effect/Effect"
import * as childProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { isAlive } from "../platform/Proc.js"

/*
 * Real pipes for the node's stdout and stderr.
 *
 * Node's stdio "pipe" is a socketpair(2) (libuv), and a write(2) to a unix
 * socket costs the writer about twice what one to a pipe does: a node that
 * logs line by line (one write per record, as Go loggers do) wrote its log at
 * half the speed (measured while writing scripts/bench-logs.mjs). Node has no
 * pipe(2), so a FIFO does: made in a private temp folder, both ends opened,
 * unlinked at once — from then on it is an anonymous pipe like any other.
 */

/** Both ends of one pipe, as file descriptors (close-on-exec, as Node opens every file). */
export interface PipeEnds {
  readonly read: number
  readonly write: number
}

export const closeQuietly = (fd: number) => {
  try {
    fs.closeSync(fd)
  } catch {
    // already closed
  }
}

export const closePipe = (ends: PipeEnds) => {
  closeQuietly(ends.read)
  closeQuietly(ends.write)
}

const FOLDER_PREFIX = "wemixvisor-pipe-"

/**
 * A wemixvisor killed between mkfifo and the unlink leaves its folder behind;
 * folders are named after the pid that made them and removed once it is gone.
 */
const sweepStale = () => {
  try {
    for (const entry of fs.readdirSync(os.tmpdir())) {
      if (!entry.startsWith(FOLDER_PREFIX)) continue
      const pid = Number(entry.slice(FOLDER_PREFIX.length).split("-")[0])
      if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue
      fs.rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true })
    }
  } catch {
    // Not ours to remove, or gone meanwhile: harmless leftovers either way.
  }
}

/**
 * `count` pipes, or undefined when they cannot be made here (no mkfifo, no
 * writable temp folder): the caller then falls back to Node's stdio "pipe".
 */
export const openPipes = (count: number): Effect.Effect<ReadonlyArray<PipeEnds> | undefined> =>
  Effect.async<ReadonlyArray<PipeEnds> | undefined>((resume) => {
    sweepStale()
    let dir: string
    try {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), `${FOLDER_PREFIX}${process.pid}-`))
    } catch {
      resume(Effect.succeed(undefined))
      return
    }
    const paths = Array.from({ length: count }, (_, i) => path.join(dir, String(i)))
    let interrupted = false
    childProcess.execFile("mkfifo", ["-m", "600", ...paths], (error) => {
      const ends: Array<PipeEnds> = []
      try {
        if (error !== null || interrupted) return resume(Effect.succeed(undefined))
        for (const fifo of paths) {
          // The read end first and non-blocking, so opening the write end finds a reader and does not wait.
          const read = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
          try {
            ends.push({ read, write: fs.openSync(fifo, fs.constants.O_WRONLY) })
          } catch (e) {
            closeQuietly(read)
            throw e
          }
        }
        resume(Effect.succeed(ends))
      } catch {
        ends.forEach(closePipe)
        resume(Effect.succeed(undefined))
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })
    return Effect.sync(() => {
      interrupted = true
    })
  })
