/*
 * `wemixvisor notify test` (issue #14 item 4): one test message to every
 * configured channel and a line per channel, exit 1 when one was not
 * delivered, exit 2 when none is configured. The HTTP channels run in
 * process against real receivers; e-mail runs the built CLI against a real
 * SMTP server with STARTTLS and a password (NODE_EXTRA_CA_CERTS makes it
 * trust the test's certificate, as an operator's CA bundle would).
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { createHmac } from "node:crypto"
import { cleanup, cliBin, tempDir } from "../support/fixtures.js"
import { type HttpReceiver, startHttpReceiver, startSmtpReceiver } from "../support/receivers.js"
import { makeHome, removeHomes, runCli } from "./support.js"

afterAll(removeHomes)

let rx: HttpReceiver
beforeEach(async () => {
  rx = await startHttpReceiver("{\"ok\":true}")
})
afterEach(() => rx.close())

/** The built CLI as a process: e-mail needs its own environment (the CA). */
const spawnCli = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    // None of ours from this process (the in-process tests set some).
    const base = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith("DAEMON_") && !k.startsWith("WEMIXVISOR_"))
    )
    const child = spawn(process.execPath, [cliBin, ...args], { env: { ...base, ...env } })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c) => (stdout += c))
    child.stderr.on("data", (c) => (stderr += c))
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

describe("notify test", () => {
  it.live("no channel configured: exit 2, saying how to configure one", () =>
    Effect.gen(function*() {
      const h = makeHome()
      const r = yield* runCli(["notify", "test"], h.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/no notification channel is configured \(set WEMIXVISOR_NOTIFY_WEBHOOK/)
    }))

  it.live("every channel gets the test message; a line each; exit 0", () =>
    Effect.gen(function*() {
      const h = makeHome({
        WEMIXVISOR_NOTIFY_WEBHOOK: `${rx.url}/hook`,
        WEMIXVISOR_NOTIFY_WEBHOOK_SECRET: "k3y",
        WEMIXVISOR_NOTIFY_SLACK: `${rx.url}/services/T/B/SLACKSECRET`,
        WEMIXVISOR_NOTIFY_TELEGRAM: "bot7:TGSECRET:-42",
        WEMIXVISOR_NOTIFY_TELEGRAM_API: rx.url
      })
      const r = yield* runCli(["notify", "test"], h.env)
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout.split("\n").filter(Boolean)).toEqual([
        `✓ webhook (webhook, ${rx.url}/… (signed)): delivered`,
        `✓ slack (slack, ${rx.url}/…): delivered`,
        `✓ telegram (telegram, chat -42 via ${rx.url}/): delivered`
      ])
      expect(r.stdout + r.stderr).not.toMatch(/SLACKSECRET|TGSECRET|k3y/)
      expect(rx.posted.map((p) => p.url).sort()).toEqual([
        "/bot7:TGSECRET/sendMessage",
        "/hook",
        "/services/T/B/SLACKSECRET"
      ])
      const hook = rx.posted.find((p) => p.url === "/hook")!
      expect(hook.json).toMatchObject({ type: "notify-test", home: h.home })
      expect(hook.headers["x-wemixvisor-signature"]).toBe(
        `sha256=${createHmac("sha256", "k3y").update(hook.body).digest("hex")}`
      )
    }))

  it.live("a channel that fails is named with why; the others still get theirs; exit 1", () =>
    Effect.gen(function*() {
      const down = yield* Effect.promise(() => startHttpReceiver())
      yield* Effect.promise(() => down.close())
      const h = makeHome({
        WEMIXVISOR_NOTIFY_SLACK: `${rx.url}/services/T/B/X`,
        WEMIXVISOR_NOTIFY_DISCORD: `${down.url}/api/webhooks/1/DISCORDSECRET`
      })
      const r = yield* runCli(["notify", "test"], h.env)
      expect(r.code).toBe(1)
      expect(r.stdout).toContain(`✓ slack (slack, ${rx.url}/…): delivered`)
      expect(r.stdout).toMatch(
        /✗ discord \(discord, http:\/\/127\.0\.0\.1:\d+\/…\): NOT delivered: connect ECONNREFUSED/
      )
      expect(r.stderr).toMatch(/discord failed: 1 of 2 channels did not take the test message/)
      expect(r.stdout + r.stderr).not.toContain("DISCORDSECRET")
      expect(rx.posted).toHaveLength(1)
    }))

  it.live("e-mail over STARTTLS with a password; a refused login is reported (exit 1)", () =>
    Effect.gen(function*() {
      const dir = tempDir("wemixvisor-smtp-")
      const smtp = yield* Effect.acquireRelease(
        Effect.promise(() => startSmtpReceiver(dir)),
        (s) => Effect.promise(() => s.close()).pipe(Effect.ensuring(Effect.sync(() => cleanup(dir))))
      )
      const h = makeHome()
      const env = (pass: string) => ({
        ...h.env,
        NODE_EXTRA_CA_CERTS: smtp.caFile,
        WEMIXVISOR_LOG_FORMAT: "json",
        WEMIXVISOR_NOTIFY_SMTP: `smtp://ops:${pass}@127.0.0.1:${smtp.port}`,
        WEMIXVISOR_NOTIFY_EMAIL_TO: "oncall@example.com, lead@example.com",
        WEMIXVISOR_NOTIFY_EMAIL_FROM: "node1@example.com"
      })
      const ok = yield* Effect.promise(() => spawnCli(["notify", "test"], env("correct%20horse")))
      expect(ok.code, ok.stderr).toBe(0)
      expect(ok.stdout).toContain(
        `✓ email (email, oncall@example.com, lead@example.com via smtp://ops:…@127.0.0.1:${smtp.port}): delivered`
      )
      const [mail] = smtp.mails
      expect(mail).toMatchObject({
        from: "node1@example.com",
        to: ["oncall@example.com", "lead@example.com"],
        user: "ops",
        secure: true
      })
      expect(mail!.raw).toMatch(/^Subject: \[wemixvisor\] .*: notify-test$/m)
      expect(mail!.raw).toContain("event: notify-test")

      const refused = yield* Effect.promise(() => spawnCli(["notify", "test"], env("wrong-password")))
      expect(refused.code).toBe(1)
      expect(refused.stdout).toMatch(/✗ email .*: NOT delivered: Invalid login: 535/)
      expect(refused.stdout + refused.stderr).not.toContain("wrong-password")
      expect(smtp.mails).toHaveLength(1)
    }).pipe(Effect.scoped))
})
