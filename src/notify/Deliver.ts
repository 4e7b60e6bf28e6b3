import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { createHmac } from "node:crypto"
import { type Channel, scrub } from "../config/Channels.js"
import { NotifyFailed } from "../domain/Errors.js"
import { emailOf, type Notice, type Origin, payloadOf } from "./Message.js"

/*
 * One attempt at sending one notice to one channel. Retries, queues and
 * counting are the Notifier's (NotifierLive.ts); this only talks to the
 * service, within ATTEMPT_TIMEOUT, and says why it failed in words free of
 * the channel's secrets.
 */

/** One attempt's bound: a receiver that accepts the connection and never answers costs this, no more. */
export const ATTEMPT_TIMEOUT = Duration.seconds(10)

/** `X-Wemixvisor-Signature: sha256=<hex HMAC-SHA256 of the body>` with the webhook's secret. */
export const SIGNATURE_HEADER = "x-wemixvisor-signature"
export const signatureOf = (secret: string, body: string) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`

const failed = (c: Channel, reason: string) => new NotifyFailed({ channel: c.name, reason: scrub(c, reason) })

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "failed"

/** POSTs `text` (JSON) to `url`; the webhook signs that same text, so it is serialised once, by the caller. */
const post = (c: Channel, url: string, text: string, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const request = HttpClientRequest.post(url).pipe(
      HttpClientRequest.setHeaders(headers),
      HttpClientRequest.bodyText(text, "application/json")
    )
    const response = yield* client.execute(request).pipe(
      Effect.mapError((e) => failed(c, e.reason === "Transport" ? firstLine(e.cause ?? e) : e.message))
    )
    const answer = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
    if (response.status < 200 || response.status > 299) {
      return yield* failed(c, `HTTP ${response.status}${answer === "" ? "" : `: ${answer.slice(0, 200)}`}`)
    }
    // Telegram answers 200 with {"ok":false} for some refusals.
    if (c.kind === "telegram" && !/"ok"\s*:\s*true/.test(answer)) {
      return yield* failed(c, `Telegram did not accept the message: ${answer.slice(0, 200)}`)
    }
  })

/**
 * SMTP with nodemailer (loaded only when an e-mail channel sends).
 * smtps:// is TLS from the start; smtp:// upgrades with STARTTLS when the
 * server offers it, and must when the URL carries a password (never sent in
 * clear).
 */
const mail = (c: Extract<Channel, { kind: "email" }>, n: Notice, o: Origin) =>
  Effect.gen(function*() {
    const nodemailer = yield* Effect.promise(() => import("nodemailer"))
    const url = new URL(c.smtp)
    const timeout = Duration.toMillis(ATTEMPT_TIMEOUT)
    const transport = nodemailer.createTransport({
      host: url.hostname,
      port: url.port === "" ? (url.protocol === "smtps:" ? 465 : 587) : Number(url.port),
      secure: url.protocol === "smtps:",
      requireTLS: url.protocol === "smtp:" && url.password !== "",
      ...(url.username === ""
        ? {}
        : { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }),
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout
    })
    const { subject, text } = emailOf(n, o)
    yield* Effect.acquireUseRelease(
      Effect.succeed(transport),
      (t) =>
        Effect.tryPromise({
          try: () => t.sendMail({ from: c.from, to: [...c.to], subject, text }),
          catch: (e) => failed(c, firstLine(e))
        }),
      (t) => Effect.sync(() => t.close())
    )
  })

/** Sends `n` to `c` once. */
export const deliver = (
  c: Channel,
  n: Notice,
  o: Origin
): Effect.Effect<void, NotifyFailed, HttpClient.HttpClient> => {
  const attempt = (() => {
    switch (c.kind) {
      case "webhook": {
        const text = JSON.stringify(payloadOf(c, n, o))
        const headers: Record<string, string> = c.secret === null
          ? {}
          : { [SIGNATURE_HEADER]: signatureOf(c.secret, text) }
        return post(c, c.url, text, headers)
      }
      case "slack":
      case "discord":
        return post(c, c.url, JSON.stringify(payloadOf(c, n, o)))
      case "telegram":
        return post(c, `${c.api.replace(/\/$/, "")}/bot${c.token}/sendMessage`, JSON.stringify(payloadOf(c, n, o)))
      case "email":
        return mail(c, n, o)
    }
  })()
  return attempt.pipe(
    Effect.timeoutFail({
      duration: ATTEMPT_TIMEOUT,
      onTimeout: () => failed(c, `no answer within ${Duration.format(ATTEMPT_TIMEOUT)}`)
    })
  )
}
