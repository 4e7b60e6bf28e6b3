/*
 * Test artifacts made byte by byte — tar and zip writers independent of the
 * libraries under test, so archives the tools would refuse to create (`../evil`,
 * absolute paths, outward links) can be served — and a local HTTP server.
 */
import { Chunk, Clock, Effect, HashMap, Logger, type LogLevel, TestClock } from "effect"
import * as crypto from "node:crypto"
import * as http from "node:http"
import type * as net from "node:net"
import * as zlib from "node:zlib"

export interface TestEntry {
  readonly name: string
  readonly type?: "file" | "dir" | "symlink" | "hardlink" | "fifo"
  readonly content?: string | Buffer
  readonly linkname?: string
  readonly mode?: number
}

const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, "0") + "\0"

const TAR_TYPE = { file: "0", hardlink: "1", symlink: "2", dir: "5", fifo: "6" } as const

/** A ustar archive (names up to 100 bytes). */
export const makeTar = (entries: ReadonlyArray<TestEntry>): Buffer => {
  const blocks: Array<Buffer> = []
  for (const e of entries) {
    const type = e.type ?? "file"
    const body = type === "file" ? Buffer.from(e.content ?? "") : Buffer.alloc(0)
    const h = Buffer.alloc(512)
    h.write(e.name, 0, 100, "utf8")
    h.write(octal(e.mode ?? (type === "dir" ? 0o755 : 0o644), 8), 100, "latin1")
    h.write(octal(0, 8), 108, "latin1")
    h.write(octal(0, 8), 116, "latin1")
    h.write(octal(body.length, 12), 124, "latin1")
    h.write(octal(Math.floor(Date.now() / 1000), 12), 136, "latin1")
    h.write("        ", 148, "latin1")
    h.write(TAR_TYPE[type], 156, "latin1")
    if (e.linkname !== undefined) h.write(e.linkname, 157, 100, "utf8")
    h.write("ustar\0", 257, "latin1")
    h.write("00", 263, "latin1")
    let sum = 0
    for (const b of h) sum += b
    h.write(octal(sum, 7) + " ", 148, "latin1")
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

export const makeTarGz = (entries: ReadonlyArray<TestEntry>): Buffer => zlib.gzipSync(makeTar(entries))

/** A zip with stored (uncompressed) entries made "on Unix", so modes and symlinks are in the external attributes. */
export const makeZip = (entries: ReadonlyArray<TestEntry>): Buffer => {
  const locals: Array<Buffer> = []
  const centrals: Array<Buffer> = []
  let offset = 0
  for (const e of entries) {
    const type = e.type ?? "file"
    const name = Buffer.from(type === "dir" && !e.name.endsWith("/") ? `${e.name}/` : e.name, "utf8")
    const data = type === "symlink"
      ? Buffer.from(e.linkname ?? "")
      : type === "file"
      ? Buffer.from(e.content ?? "")
      : Buffer.alloc(0)
    const fmt = type === "dir" ? 0o040000 : type === "symlink" ? 0o120000 : type === "fifo" ? 0o010000 : 0o100000
    const mode = fmt | (e.mode ?? (type === "dir" ? 0o755 : type === "symlink" ? 0o777 : 0o644))
    const crc = zlib.crc32(data) >>> 0
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(0x0800, 6)
    local.writeUInt16LE(0, 8)
    local.writeUInt16LE(0, 10)
    local.writeUInt16LE(0x21, 12)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(name.length, 26)
    local.writeUInt16LE(0, 28)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE((3 << 8) | 20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(0x0800, 8)
    central.writeUInt16LE(0, 10)
    central.writeUInt16LE(0, 12)
    central.writeUInt16LE(0x21, 14)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(data.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE((mode << 16) >>> 0, 38)
    central.writeUInt32LE(offset, 42)
    locals.push(local, name, data)
    centrals.push(central, name)
    offset += local.length + name.length + data.length
  }
  const cd = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(cd.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, cd, end])
}

export const sha256 = (b: Buffer | string) => "sha256:" + crypto.createHash("sha256").update(b).digest("hex")
export const sha512 = (b: Buffer | string) => "sha512:" + crypto.createHash("sha512").update(b).digest("hex")

export interface Route {
  readonly body: Buffer
  /** Answer 503 to this many requests first. */
  readonly failFirst?: number
  readonly status?: number
  /** Send the body in pieces of this many bytes, 5 ms apart. */
  readonly chunk?: number
  /** Never answer. */
  readonly hang?: boolean
  /** Send the headers and this many bytes of the body, then nothing more. */
  readonly stallAfter?: number
}

export interface TestServer {
  readonly url: (p: string) => string
  readonly hits: (p: string) => number
  readonly close: () => Promise<void>
}

/** An HTTP server on 127.0.0.1 (a free port) serving `routes`; 404 otherwise. */
export const serve = (routes: Readonly<Record<string, Route>>): Promise<TestServer> =>
  new Promise((resolve, reject) => {
    const hits = new Map<string, number>()
    const server = http.createServer((req, res) => {
      const p = (req.url ?? "/").split("?")[0]!
      const n = (hits.get(p) ?? 0) + 1
      hits.set(p, n)
      const route = routes[p]
      if (route === undefined) {
        res.writeHead(404).end("not found")
        return
      }
      if (route.hang) return
      if (route.stallAfter !== undefined) {
        res.writeHead(200, { "content-length": route.body.length })
        res.write(route.body.subarray(0, route.stallAfter))
        return
      }
      if (n <= (route.failFirst ?? 0)) {
        res.writeHead(503).end("busy")
        return
      }
      res.writeHead(route.status ?? 200, {
        "content-length": route.body.length,
        "content-type": "application/octet-stream"
      })
      const size = route.chunk ?? route.body.length
      const send = (at: number) => {
        if (at + size >= route.body.length) return void res.end(route.body.subarray(at))
        res.write(route.body.subarray(at, at + size))
        setTimeout(() => send(at + size), 5)
      }
      send(0)
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      resolve({
        url: (p) => `http://127.0.0.1:${port}${p}`,
        hits: (p) => hits.get(p) ?? 0,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections()
            server.close(() => r())
          })
      })
    })
  })

export interface LogLine {
  readonly level: LogLevel.LogLevel
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** Replaces the default logger: quiet test output, and logs a test can assert. */
export const captureLogs = () => {
  const lines: Array<LogLine> = []
  const logger = Logger.make<unknown, void>(({ logLevel, message, annotations }) => {
    const parts = Array.isArray(message) ? message : [message]
    lines.push({
      level: logLevel,
      message: parts.map(String).join(" "),
      annotations: Object.fromEntries(HashMap.toEntries(annotations))
    })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/**
 * Waits, in real time (the work is real I/O or a real process), until some
 * fiber has a TestClock sleep ending exactly `ms` from now — the moment a
 * TestClock.adjust can be relied on to wake it.
 */
export const sleepRegistered = (ms: number) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    for (let i = 0; i < 500; i++) {
      if (Chunk.toReadonlyArray(yield* TestClock.sleeps()).includes(now + ms)) return
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
    }
    return yield* Effect.dieMessage(`no sleep of ${ms} ms was registered within 5 s`)
  })
