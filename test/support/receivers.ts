/*
 * Real receivers for notification tests, each on a free loopback port:
 * an HTTP server that records what it is posted (and can answer 500, hang,
 * or be closed to refuse connections), and an SMTP server (npm smtp-server)
 * with STARTTLS on a self-signed certificate and a password.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import type * as net from "node:net"
import * as path from "node:path"
import { SMTPServer } from "smtp-server"

export interface Posted {
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
  readonly json: unknown
}

export type Mode = "ok" | "fail" | "hang"

export interface HttpReceiver {
  readonly url: string
  readonly port: number
  readonly posted: Array<Posted>
  /** ok: 200 (with `answer`); fail: 500; hang: the request is read and never answered. */
  mode: Mode
  answer: string
  /** Resolves once `n` requests have arrived. */
  readonly waitFor: (n: number, timeoutMs?: number) => Promise<ReadonlyArray<Posted>>
  /** Requests held unanswered (mode hang) whose client is still waiting: their connection is open. */
  readonly unanswered: () => number
  readonly close: () => Promise<void>
}

export const startHttpReceiver = async (answer = "ok"): Promise<HttpReceiver> => {
  const posted: Array<Posted> = []
  const waiters: Array<() => boolean> = []
  const sockets = new Set<net.Socket>()
  const held = new Set<http.ServerResponse>()
  const receiver: HttpReceiver = {
    url: "",
    port: 0,
    posted,
    mode: "ok",
    answer,
    waitFor: (n, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (posted.length >= n) {
            clearTimeout(timer)
            resolve(posted)
            return true
          }
          return false
        }
        const timer = setTimeout(
          () => reject(new Error(`${posted.length} of ${n} requests arrived in ${timeoutMs} ms`)),
          timeoutMs
        )
        if (!check()) waiters.push(check)
      }),
    unanswered: () => held.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
  const server = http.createServer((req, res) => {
    let body = ""
    req.setEncoding("utf8")
    req.on("data", (c: string) => (body += c))
    req.on("end", () => {
      let json: unknown = undefined
      try {
        json = JSON.parse(body)
      } catch {
        // not JSON: recorded as text
      }
      posted.push({ url: req.url ?? "", headers: req.headers, body, json })
      for (const w of waiters.splice(0)) if (!w()) waiters.push(w)
      if (receiver.mode === "hang") {
        // Closed by the client (its timeout) or by close(): no longer waiting.
        if (!res.socket?.destroyed) held.add(res)
        res.on("close", () => held.delete(res))
        return
      }
      res.statusCode = receiver.mode === "fail" ? 500 : 200
      res.end(receiver.mode === "fail" ? "receiver failing on purpose" : receiver.answer)
    })
  })
  server.on("connection", (s) => {
    sockets.add(s)
    s.on("close", () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as net.AddressInfo).port
  return Object.assign(receiver, { port, url: `http://127.0.0.1:${port}` })
}

export interface Mail {
  readonly from: string
  readonly to: ReadonlyArray<string>
  readonly raw: string
  readonly user: string | undefined
  readonly secure: boolean
}

export interface SmtpReceiver {
  readonly port: number
  readonly mails: Array<Mail>
  /** The certificate, for NODE_EXTRA_CA_CERTS (the client trusts it like a real CA's). */
  readonly caFile: string
  readonly waitFor: (n: number, timeoutMs?: number) => Promise<ReadonlyArray<Mail>>
  readonly close: () => Promise<void>
}

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl in `dir`. */
export const makeCertificate = (dir: string) => {
  const key = path.join(dir, "smtp.key")
  const cert = path.join(dir, "smtp.crt")
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost"
  ], { stdio: "ignore" })
  return { key, cert }
}

/** SMTP with STARTTLS and AUTH (PLAIN/LOGIN) for `user`/`pass`; every other login is refused. */
export const startSmtpReceiver = async (
  dir: string,
  { user = "ops", pass = "correct horse" }: { user?: string; pass?: string } = {}
): Promise<SmtpReceiver> => {
  const { cert, key } = makeCertificate(dir)
  const mails: Array<Mail> = []
  const waiters: Array<() => boolean> = []
  const server = new SMTPServer({
    key: fs.readFileSync(key),
    cert: fs.readFileSync(cert),
    authMethods: ["PLAIN", "LOGIN"],
    // No AUTH before STARTTLS: the password never crosses in clear.
    allowInsecureAuth: false,
    logger: false,
    onAuth: (auth, _session, cb) =>
      auth.username === user && auth.password === pass
        ? cb(null, { user: auth.username })
        : cb(new Error("Invalid username or password")),
    onData: (stream, session, cb) => {
      let raw = ""
      stream.setEncoding("utf8")
      stream.on("data", (c: string) => (raw += c))
      stream.on("end", () => {
        mails.push({
          from: session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          user: typeof session.user === "string" ? session.user : undefined,
          secure: session.secure
        })
        for (const w of waiters.splice(0)) if (!w()) waiters.push(w)
        cb()
      })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.server.address() as net.AddressInfo).port
  return {
    port,
    mails,
    caFile: cert,
    waitFor: (n, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${mails.length} of ${n} mails in ${timeoutMs} ms`)), timeoutMs)
        const check = () => {
          if (mails.length < n) return false
          clearTimeout(timer)
          resolve(mails)
          return true
        }
        if (!check()) waiters.push(check)
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
