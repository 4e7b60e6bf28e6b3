/*
 * One delivery attempt (src/notify/Deliver.ts) against real HTTP servers on
 * loopback ports: the payload each service documents, the webhook's HMAC
 * signature, and the failures — a 500, a receiver that never answers (the
 * attempt's bound, on the TestClock), a refused connection — each said in
 * words free of the channel's secrets. E-mail is tested through the CLI
 * (test/cli/notify.test.ts), which can be told to trust the test's certificate.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { createHmac } from "node:crypto"
import { afterEach, beforeEach } from "vitest"
import { type Channel, parseChannels } from "../../src/config/Channels.js"
import type { WemixvisorEvent } from "../../src/events/Events.js"
import { deliver, SIGNATURE_HEADER } from "../../src/notify/Deliver.js"
import { type HttpReceiver, startHttpReceiver } from "../support/receivers.js"

let rx: HttpReceiver
beforeEach(async () => {
  rx = await startHttpReceiver("{\"ok\":true}")
})
afterEach(() => rx.close())

const origin = { host: "node1", home: "/srv/wemix" }
const event: WemixvisorEvent = {
  type: "upgrade-failed",
  time: "2026-12-03T02:14:00.000Z",
  name: "v2",
  reason: "verify: the node exited with code 1"
}
const channel = (env: Record<string, string>): Channel =>
  Either.getOrThrow(parseChannels((n) => env[n], [], "node1"))[0]!
const send = (c: Channel) => deliver(c, { event, repeats: 0 }, origin).pipe(Effect.provide(NodeHttpClient.layer))

describe("deliver", () => {
  it.live("webhook: the event as JSON with home and host, signed with HMAC-SHA256 of the body", () =>
    Effect.gen(function*() {
      yield* send(channel({ WEMIXVISOR_NOTIFY_WEBHOOK: `${rx.url}/hook`, WEMIXVISOR_NOTIFY_WEBHOOK_SECRET: "s3cret" }))
      const [p] = rx.posted
      expect(p!.url).toBe("/hook")
      expect(p!.headers["content-type"]).toMatch(/^application\/json/)
      expect(p!.json).toEqual({ ...event, home: "/srv/wemix", host: "node1", severity: "error", repeats: 0 })
      const expected = `sha256=${createHmac("sha256", "s3cret").update(p!.body).digest("hex")}`
      expect(p!.headers[SIGNATURE_HEADER]).toBe(expected)
    }))

  it.live("webhook without a secret: no signature header", () =>
    Effect.gen(function*() {
      yield* send(channel({ WEMIXVISOR_NOTIFY_WEBHOOK: rx.url }))
      expect(rx.posted[0]!.headers[SIGNATURE_HEADER]).toBeUndefined()
    }))

  it.live("Slack: text and blocks; Discord: content and embeds; Telegram: chat_id and text at /bot<token>/sendMessage", () =>
    Effect.gen(function*() {
      yield* send(channel({ WEMIXVISOR_NOTIFY_SLACK: `${rx.url}/services/T/B/X` }))
      yield* send(channel({ WEMIXVISOR_NOTIFY_DISCORD: `${rx.url}/api/webhooks/1/t` }))
      yield* send(
        channel({ WEMIXVISOR_NOTIFY_TELEGRAM: "bot42:tok-en:-100777", WEMIXVISOR_NOTIFY_TELEGRAM_API: rx.url })
      )
      const [slack, discord, telegram] = rx.posted
      const line = "[node1 /srv/wemix] upgrade v2 FAILED: verify: the node exited with code 1"
      expect(slack!.json).toMatchObject({
        text: line,
        blocks: [{ type: "section", text: { type: "mrkdwn" } }, { type: "context" }]
      })
      expect(discord!.json).toMatchObject({
        content: line,
        embeds: [{
          title: "upgrade-failed",
          description: line,
          timestamp: event.time,
          footer: { text: "node1 /srv/wemix" }
        }]
      })
      expect(telegram!.url).toBe("/bot42:tok-en/sendMessage")
      expect(telegram!.json).toEqual({ chat_id: "-100777", text: line, disable_web_page_preview: true })
    }))

  it.live("a receiver answering 500 fails the attempt with the status", () =>
    Effect.gen(function*() {
      rx.mode = "fail"
      const r = yield* Effect.either(send(channel({ WEMIXVISOR_NOTIFY_SLACK: `${rx.url}/services/T/B/SECRETXYZ` })))
      expect(Either.isLeft(r) && r.left.reason).toBe("HTTP 500: receiver failing on purpose")
    }))

  it.live("Telegram's {ok:false} is a failure", () =>
    Effect.gen(function*() {
      rx.answer = "{\"ok\":false,\"description\":\"Bad Request: chat not found\"}"
      const r = yield* Effect.either(
        send(channel({ WEMIXVISOR_NOTIFY_TELEGRAM: "bot42:tok-en:-1", WEMIXVISOR_NOTIFY_TELEGRAM_API: rx.url }))
      )
      expect(Either.isLeft(r) && r.left.reason).toMatch(/did not accept the message.*chat not found/)
    }))

  it.live("a refused connection says so, without the URL's secret path", () =>
    Effect.gen(function*() {
      const url = `${rx.url}/services/T/B/SECRETXYZ`
      yield* Effect.promise(() => rx.close())
      const r = yield* Effect.either(send(channel({ WEMIXVISOR_NOTIFY_SLACK: url })))
      expect(Either.isLeft(r)).toBe(true)
      if (Either.isLeft(r)) {
        expect(r.left.message).toMatch(/notification to slack failed: .*ECONNREFUSED/)
        expect(r.left.message).not.toContain("SECRETXYZ")
      }
    }))

  it.scoped("a receiver that never answers: the attempt ends at its bound (TestClock)", () =>
    Effect.gen(function*() {
      rx.mode = "hang"
      const attempt = yield* Effect.fork(Effect.either(send(channel({ WEMIXVISOR_NOTIFY_DISCORD: rx.url }))))
      // The request is in: the receiver holds it.
      yield* Effect.promise(() => rx.waitFor(1))
      yield* TestClock.adjust("9 seconds")
      expect(yield* Fiber.poll(attempt)).toMatchObject({ _tag: "None" })
      yield* TestClock.adjust("1 second")
      const r = yield* Fiber.join(attempt)
      expect(Either.isLeft(r) && r.left.reason).toBe("no answer within 10s")
    }))
})
