/*
 * Notifications end to end: the built CLI's `run` supervising a real anvil,
 * with all five channels configured at once (a signed webhook, Slack,
 * Discord, Telegram through WEMIXVISOR_NOTIFY_TELEGRAM_API, e-mail over
 * STARTTLS with a password), each pointed at a real receiver on loopback
 * (test/support/receivers.ts). Every channel must get what the event stream
 * said, once, in the payload its service documents; a receiver that never
 * answers must hold back nothing but its own channel.
 *
 * "Exactly once" is read after three signals, never after a pause: the
 * receivers hold the messages, the supervisor's own count
 * (wemixvisor_notifications_total{result="delivered"}) equals what each
 * receiver holds — so no send is still under way or being retried — and the
 * supervisor has exited, so nothing more can come.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { createHmac } from "node:crypto"
import * as os from "node:os"
import { cleanup, tempDir, waitFor } from "../support/fixtures.js"
import {
  type HttpReceiver,
  type Mail,
  type Posted,
  type SmtpReceiver,
  startHttpReceiver,
  startSmtpReceiver
} from "../support/receivers.js"
import { makeScenario, removeCliCopy, type Run, type Scenario, settled, steps, stopRun } from "./upgrade-support.js"

// ---------------------------------------------------------------------------
// Receivers and the env that points the five channels at them

const SECRET = "hmac-secret-for-the-e2e-webhook"
const TG_TOKEN = "123456:AAE2e-Test_Token"
const TG_CHAT = "-1001234567"
const SMTP_PASS = "correct horse"
const MAIL_TO = ["ops@example.com", "oncall@example.com"]
const MAIL_FROM = "wemixvisor@example.com"
/** Channel URLs carry their secret in the path (Slack's and Discord's do): never to be logged. */
const HOOK_PATH = "/hooks/wemixvisor?key=hook-query-secret"
const SLACK_PATH = "/services/T0000/B0000/slack-path-secret"
const DISCORD_PATH = "/api/webhooks/42/discord-path-secret"

interface Receivers {
  readonly webhook: HttpReceiver
  readonly slack: HttpReceiver
  readonly discord: HttpReceiver
  readonly telegram: HttpReceiver
  readonly smtp: SmtpReceiver
}

const opened: Array<{ readonly close: () => Promise<void> }> = []
const dirs: Array<string> = []
const scenarios: Array<Scenario> = []

afterEach(async () => {
  for (const s of scenarios.splice(0)) s.dispose()
  for (const r of opened.splice(0)) await r.close()
  for (const d of dirs.splice(0)) cleanup(d)
})
afterAll(removeCliCopy)

const httpReceiver = async (answer?: string) => {
  const r = await startHttpReceiver(answer)
  opened.push(r)
  return r
}

const startReceivers = async (): Promise<Receivers> => {
  const dir = tempDir("wemixvisor-smtp-")
  dirs.push(dir)
  const smtp = await startSmtpReceiver(dir)
  opened.push(smtp)
  return {
    webhook: await httpReceiver(),
    slack: await httpReceiver(),
    discord: await httpReceiver(),
    // The Bot API answers {"ok":true,…}; anything else is a refusal.
    telegram: await httpReceiver(JSON.stringify({ ok: true, result: { message_id: 1 } })),
    smtp
  }
}

/** The env of `run` for all five channels (the webhook's URL may be another receiver's). */
const notifyEnv = (r: Receivers, webhookUrl = `${r.webhook.url}${HOOK_PATH}`): Record<string, string> => ({
  WEMIXVISOR_NOTIFY_WEBHOOK: webhookUrl,
  WEMIXVISOR_NOTIFY_WEBHOOK_SECRET: SECRET,
  WEMIXVISOR_NOTIFY_SLACK: `${r.slack.url}${SLACK_PATH}`,
  WEMIXVISOR_NOTIFY_DISCORD: `${r.discord.url}${DISCORD_PATH}`,
  WEMIXVISOR_NOTIFY_TELEGRAM: `bot${TG_TOKEN}:${TG_CHAT}`,
  WEMIXVISOR_NOTIFY_TELEGRAM_API: r.telegram.url,
  WEMIXVISOR_NOTIFY_SMTP: `smtp://ops:${encodeURIComponent(SMTP_PASS)}@127.0.0.1:${r.smtp.port}`,
  WEMIXVISOR_NOTIFY_EMAIL_TO: MAIL_TO.join(", "),
  WEMIXVISOR_NOTIFY_EMAIL_FROM: MAIL_FROM,
  // The SMTP receiver's self-signed certificate, trusted like a real CA's.
  NODE_EXTRA_CA_CERTS: r.smtp.caFile
})

const scenario = async (env: Record<string, string>) => {
  const s = await makeScenario({ env })
  scenarios.push(s)
  return s
}

// ---------------------------------------------------------------------------
// What each channel received, as (event type, upgrade name) in arrival order

type Kind = "webhook" | "slack" | "discord" | "telegram" | "email"
const KINDS: ReadonlyArray<Kind> = ["webhook", "slack", "discord", "telegram", "email"]

interface Received {
  readonly type: string
  /** The upgrade the message is about; "" when none. */
  readonly name: string
}

const headerOf = (raw: string, name: string): string | undefined => {
  const head = raw.split(/\r?\n\r?\n/)[0] ?? ""
  // Unfold continuation lines (RFC 5322 §2.2.3) before reading a header.
  const unfolded = head.replace(/\r?\n(?=[ \t])/g, "")
  const line = unfolded.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
  return line?.slice(name.length + 1).trim()
}

/** `[wemixvisor] <SEVERITY >host: <type>[ <name>][ (<result>)]`. */
const subjectOf = (m: Mail) => headerOf(m.raw, "subject") ?? ""
const fromSubject = (subject: string): Received => {
  const match = /^\[wemixvisor\] (?:(?:WARNING|ERROR) )?[^:]+: ([a-z-]+)(?: ([^ ()]+))?(?: \(.*\))?$/.exec(subject)
  return match === null ? { type: `unparsed subject ${subject}`, name: "" } : { type: match[1]!, name: match[2] ?? "" }
}

/** `upgrade v2 …`, `upgrade 'v2' …`: the name in a text line (Telegram's text, Slack's). */
const nameInLine = (line: string) => /upgrade '?([A-Za-z0-9._-]+)'? /.exec(line)?.[1] ?? ""

const fromPost = (kind: Exclude<Kind, "email">, p: Posted): Received => {
  const j = p.json as Record<string, unknown>
  switch (kind) {
    case "webhook":
      return { type: String(j.type), name: typeof j.name === "string" ? j.name : "" }
    case "slack": {
      const section = (j.blocks as Array<{ text?: { text?: string } }>)[0]?.text?.text ?? ""
      return { type: /^\*([a-z-]+)\*/.exec(section)?.[1] ?? "?", name: nameInLine(String(j.text)) }
    }
    case "discord": {
      const embed = (j.embeds as Array<{ title?: string }>)[0]
      return { type: embed?.title ?? "?", name: nameInLine(String(j.content)) }
    }
    case "telegram": {
      // Telegram's text has no type of its own: the sentence tells it.
      const text = String(j.text)
      const type = /\] upgrade \S+ started at/.test(text)
        ? "upgrade-started"
        : /\] upgrade \S+ done at/.test(text)
        ? "upgrade-completed"
        : /\] upgrade \S+ FAILED:/.test(text)
        ? "upgrade-failed"
        : /\] upgrade \S+ rolled back:/.test(text)
        ? "rollback-completed"
        : /\] node in ERROR/.test(text)
        ? "node-error"
        : /\] upgrade '\S+' at \d+ within/.test(text)
        ? "upgrade-soon"
        : /\] node restarting/.test(text)
        ? "node-restarting"
        : `unrecognised: ${text}`
      return { type, name: nameInLine(text) }
    }
  }
}

const received = (r: Receivers, kind: Kind): Array<Received> =>
  kind === "email"
    ? r.smtp.mails.map((m) => fromSubject(subjectOf(m)))
    : r[kind].posted.map((p) => fromPost(kind, p))

const count = (r: Receivers, kind: Kind, type: string, name = "") =>
  received(r, kind).filter((x) => x.type === type && x.name === name).length

const arrived = (r: Receivers, kind: Kind) => (kind === "email" ? r.smtp.mails.length : r[kind].posted.length)

/** Resolves once every channel in `kinds` has received each of `wanted` at least once. */
const waitMessages = (
  r: Receivers,
  wanted: ReadonlyArray<readonly [type: string, name?: string]>,
  kinds: ReadonlyArray<Kind> = KINDS
) =>
  waitFor(
    `${wanted.map(([t, n]) => `${t}${n === undefined ? "" : ` ${n}`}`).join(", ")} on ${kinds.join(", ")}`,
    () => kinds.every((k) => wanted.every(([t, n]) => count(r, k, t, n) >= 1)),
    30_000
  ).catch((e) => {
    const got = kinds.map((k) => `${k}: ${received(r, k).map((x) => `${x.type} ${x.name}`).join(", ")}`)
    throw new Error(`${(e as Error).message}\nreceived so far:\n${got.join("\n")}`)
  })

// ---------------------------------------------------------------------------
// The supervisor's side: its counters and its events

const metricsText = async (s: Scenario) => {
  const res = await fetch(`http://${s.env.WEMIXVISOR_API_ADDR}/metrics`, { signal: AbortSignal.timeout(2000) })
  return res.text()
}

/** wemixvisor_notifications_total{channel,result} for every channel, from /metrics. */
const notified = async (s: Scenario): Promise<Record<string, Record<string, number>>> => {
  const out: Record<string, Record<string, number>> = {}
  for (const line of (await metricsText(s)).split("\n")) {
    if (!line.startsWith("wemixvisor_notifications_total{")) continue
    const channel = /channel="([^"]+)"/.exec(line)?.[1]
    const result = /result="([^"]+)"/.exec(line)?.[1]
    if (channel === undefined || result === undefined) continue
    ;(out[channel] ??= {})[result] = Number(line.slice(line.lastIndexOf(" ") + 1))
  }
  return out
}

/**
 * Resolves once the supervisor says it delivered, to each channel in `kinds`,
 * exactly what that channel's receiver holds, and failed or dropped nothing:
 * no send is in flight or waiting for a retry (a receiver that got a message
 * twice through a retry would hold more than was counted delivered).
 */
const settledDeliveries = async (s: Scenario, r: Receivers, kinds: ReadonlyArray<Kind> = KINDS) => {
  let last: Record<string, Record<string, number>> = {}
  await waitFor("the supervisor to count each received message delivered", async () => {
    last = await notified(s).catch(() => ({}))
    return kinds.every((k) => last[k]?.delivered === arrived(r, k))
  }, 20_000).catch((e) => {
    throw new Error(
      `${(e as Error).message}\nmetrics: ${JSON.stringify(last)}\nreceived: ${
        JSON.stringify(Object.fromEntries(kinds.map((k) => [k, arrived(r, k)])))
      }`
    )
  })
  for (const k of kinds) expect({ k, ...last[k] }).toEqual({ k, delivered: arrived(r, k), failed: 0, dropped: 0 })
}

/** The event types `run` published (its log lines), with their upgrade names, in order. */
const published = (run: Run, types: ReadonlyArray<string>): Array<Received> =>
  run
    .logs()
    .split("\n")
    .flatMap((l): Array<Record<string, unknown>> => {
      try {
        return l.startsWith("{") ? [JSON.parse(l) as Record<string, unknown>] : []
      } catch {
        return []
      }
    })
    .map((j) => (j.annotations ?? {}) as { event?: unknown; name?: unknown })
    .filter((a) => typeof a.event === "string" && types.includes(a.event))
    .map((a) => ({ type: String(a.event), name: typeof a.name === "string" ? a.name : "" }))

/** No secret of any channel in the supervisor's log (the password encoded or not, tokens, URL paths). */
const noSecretsIn = (logs: string) => {
  for (
    const secret of [
      SECRET,
      SMTP_PASS,
      encodeURIComponent(SMTP_PASS),
      TG_TOKEN,
      TG_TOKEN.split(":")[1]!,
      "hook-query-secret",
      "slack-path-secret",
      "discord-path-secret"
    ]
  ) {
    expect(logs.includes(secret), `the log shows ${secret}`).toBe(false)
  }
}

// ---------------------------------------------------------------------------
// Payload shapes

const host = os.hostname()
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const checkWebhook = (p: Posted, s: Scenario, type: string, name: string) => {
  // The signature is the HMAC-SHA256 of the body as sent, with the shared secret.
  expect(p.headers["x-wemixvisor-signature"]).toBe(
    `sha256=${createHmac("sha256", SECRET).update(p.body).digest("hex")}`
  )
  expect(p.headers["content-type"]).toMatch(/^application\/json/)
  expect(p.url).toBe(HOOK_PATH)
  const j = p.json as Record<string, unknown>
  expect(j).toMatchObject({ type, ...(name === "" ? {} : { name }), home: s.home, host, repeats: 0 })
  expect(typeof j.severity).toBe("string")
  expect(Number.isNaN(Date.parse(String(j.time)))).toBe(false)
  return j
}

const checkSlack = (p: Posted, s: Scenario, type: string) => {
  expect(p.url).toBe(SLACK_PATH)
  const j = p.json as { text: string; blocks: Array<{ type: string; text?: { text: string } }> }
  expect(Object.keys(j).sort()).toEqual(["blocks", "text"])
  expect(j.text).toContain(`[${host} ${s.home}]`)
  expect(j.blocks.length).toBeGreaterThan(0)
  expect(j.blocks[0]).toMatchObject({ type: "section", text: { type: "mrkdwn" } })
  expect(j.blocks[0]!.text!.text).toContain(`*${type}*`)
}

const checkDiscord = (p: Posted, s: Scenario, type: string) => {
  expect(p.url).toBe(DISCORD_PATH)
  const j = p.json as { content: string; embeds: Array<Record<string, unknown>> }
  expect(Object.keys(j).sort()).toEqual(["content", "embeds"])
  expect(j.content).toContain(`[${host} ${s.home}]`)
  expect(j.embeds).toHaveLength(1)
  expect(j.embeds[0]).toMatchObject({ title: type, description: j.content })
}

const checkTelegram = (p: Posted, s: Scenario) => {
  expect(p.url).toBe(`/bot${TG_TOKEN}/sendMessage`)
  const j = p.json as { chat_id: string; text: string }
  expect(j.chat_id).toBe(TG_CHAT)
  expect(j.text).toContain(`[${host} ${s.home}]`)
}

const checkMail = (m: Mail, s: Scenario) => {
  // STARTTLS before AUTH (the receiver refuses AUTH in clear), as user ops, to every recipient.
  expect(m.secure).toBe(true)
  expect(m.user).toBe("ops")
  expect(m.from).toBe(MAIL_FROM)
  expect([...m.to].sort()).toEqual([...MAIL_TO].sort())
  expect(headerOf(m.raw, "from")).toContain(MAIL_FROM)
  // The body names the home (quoted-printable soft breaks undone).
  expect(m.raw.replace(/=\r?\n/g, "")).toContain(`home: ${s.home}`)
}

/** The one message of `type` (about `name`) each channel got, its shape checked. */
const checkShapes = (r: Receivers, s: Scenario, type: string, name: string, result?: string) => {
  const pick = (kind: Exclude<Kind, "email">) => {
    const found = r[kind].posted.filter((p) => {
      const x = fromPost(kind, p)
      return x.type === type && x.name === name
    })
    expect(found, `${kind}: ${type} ${name}`).toHaveLength(1)
    return found[0]!
  }
  const hook = checkWebhook(pick("webhook"), s, type, name)
  checkSlack(pick("slack"), s, type)
  checkDiscord(pick("discord"), s, type)
  checkTelegram(pick("telegram"), s)
  const mails = r.smtp.mails.filter((m) => {
    const x = fromSubject(subjectOf(m))
    return x.type === type && x.name === name
  })
  expect(mails, `email: ${type} ${name}`).toHaveLength(1)
  checkMail(mails[0]!, s)
  expect(subjectOf(mails[0]!)).toMatch(
    new RegExp(
      `^\\[wemixvisor\\] (WARNING |ERROR )?${escape(host)}: ${type}${name === "" ? "" : ` ${name}`}${
        result === undefined ? "" : ` \\(${result}\\)`
      }$`
    )
  )
  return hook
}

// ---------------------------------------------------------------------------

describe("notifications from `run` on a real node, to all five channels at once", () => {
  it("an upgrade that succeeds, then one that fails and is rolled back: each event on each channel, once", async () => {
    const r = await startReceivers()
    const s = await scenario(notifyEnv(r))
    s.init(s.version("v1"))
    s.place("v2", s.version("v2"))
    s.place("v3", s.script("v3", "exit 3"))
    // v3's height comes after v2's: v2's messages go out first, and v3's are the later signal they are followed by.
    s.schedule({ name: "v2", height: 8 }, { name: "v3", height: 14 })
    const run = s.start()

    // 1. v2 succeeds.
    expect((await settled(s, "v2")).status).toBe("done")
    await waitMessages(r, [["upgrade-started", "v2"], ["upgrade-completed", "v2"]])

    // 2. v3 fails verification and is rolled back to v2.
    const v3 = await settled(s, "v3")
    expect(v3.status).toBe("failed")
    expect(v3.reason).toMatch(/exited with code 3/)
    expect(steps(s, "v3").slice(-3)).toEqual(["rollback:started", "rollback:ok", "upgrade:failed"])
    expect(s.current()).toBe("upgrades/v2")
    await waitMessages(r, [["upgrade-started", "v3"], ["upgrade-failed", "v3"], ["rollback-completed", "v3"]])

    // Nothing in flight or retried, then nothing more can come.
    await settledDeliveries(s, r)
    expect(await stopRun(run)).toMatchObject({ code: 0 })

    const upgradeTypes = ["upgrade-started", "upgrade-completed", "upgrade-failed", "rollback-completed"]
    // The supervisor published each once …
    const expected = published(run, upgradeTypes)
    expect(expected.slice(0, 3)).toEqual([
      { type: "upgrade-started", name: "v2" },
      { type: "upgrade-completed", name: "v2" },
      { type: "upgrade-started", name: "v3" }
    ])
    expect(expected.slice(3).map((e) => `${e.type} ${e.name}`).sort()).toEqual([
      "rollback-completed v3",
      "upgrade-failed v3"
    ])
    // … and every channel got each once, in the order published.
    for (const kind of KINDS) {
      const got = received(r, kind)
      expect(got.filter((x) => upgradeTypes.includes(x.type)), kind).toEqual(expected)
      // Besides those, only what the default set adds for upgrades this close: upgrade-soon, once per upgrade at most.
      const others = got.filter((x) => !upgradeTypes.includes(x.type))
      for (const o of others) expect(o.type, `${kind} got ${o.type} ${o.name}`).toBe("upgrade-soon")
      for (const name of ["v2", "v3"]) expect(count(r, kind, "upgrade-soon", name)).toBeLessThanOrEqual(1)
    }

    // The payloads, one of each kind of message.
    const started = checkShapes(r, s, "upgrade-started", "v2")
    expect(started).toMatchObject({ height: 8, severity: "info" })
    expect(started.current_height).toBeGreaterThanOrEqual(8)
    expect(checkShapes(r, s, "upgrade-completed", "v2", "done")).toMatchObject({ height: 8, severity: "info" })
    checkShapes(r, s, "upgrade-started", "v3")
    const failed = checkShapes(r, s, "upgrade-failed", "v3", "failed")
    expect(failed).toMatchObject({ severity: "error", reason: v3.reason })
    expect(checkShapes(r, s, "rollback-completed", "v3", "rolled back")).toMatchObject({
      severity: "warning",
      current: "v2"
    })
    noSecretsIn(run.logs())
  }, 60_000)

  it(
    "a crash loop that ends in node-error: node-error on each channel once (node-restarting is not sent)",
    async () => {
      const r = await startReceivers()
      const s = await scenario({
        ...notifyEnv(r),
        DAEMON_RESTART_DELAY: "20ms",
        DAEMON_RESTART_MAX_DELAY: "40ms",
        DAEMON_MAX_RESTARTS: "2"
      })
      s.init(s.script("v1", "exit 3"))
      const run = s.start()
      await waitMessages(r, [["node-error"]])
      await settledDeliveries(s, r)
      expect(run.alive()).toBe(true)
      expect(await stopRun(run)).toMatchObject({ code: 0 })

      // It crashed and was restarted before it gave up; only the error went out.
      expect(run.events("node-restarting").length).toBeGreaterThanOrEqual(2)
      expect(run.events("node-error")).toHaveLength(1)
      for (const kind of KINDS) expect(received(r, kind), kind).toEqual([{ type: "node-error", name: "" }])
      const hook = checkShapes(r, s, "node-error", "")
      expect(hook).toMatchObject({ severity: "error" })
      expect(hook.reason).toBe((run.events("node-error")[0]!.annotations as { reason: string }).reason)
      noSecretsIn(run.logs())
    },
    40_000
  )

  it("a webhook that never answers holds back neither the upgrade nor the other channels", async () => {
    const r = await startReceivers()
    const hung = await httpReceiver()
    hung.mode = "hang"
    const s = await scenario(notifyEnv(r, `${hung.url}${HOOK_PATH}`))
    s.init(s.version("v1"))
    s.place("v2", s.version("v2"))
    s.schedule({ name: "v2", height: 8 })
    const run = s.start()

    // The black hole takes the webhook's first message and never answers it …
    const [first] = await hung.waitFor(1, 30_000)
    expect((first!.json as { type?: string }).type).toBe("upgrade-started")
    // … while the upgrade goes on and completes, and the other channels hear of it.
    expect((await settled(s, "v2")).status).toBe("done")
    const others = KINDS.filter((k) => k !== "webhook")
    await waitMessages(r, [["upgrade-started", "v2"], ["upgrade-completed", "v2"]], others)
    // At that moment the webhook is still on its first attempt at its first message: that request is unanswered,
    // its connection open (the supervisor still waiting), and nothing else was sent to it.
    expect(hung.posted).toHaveLength(1)
    expect(hung.unanswered()).toBe(1)
    await settledDeliveries(s, r, others)
    const counts = await notified(s)
    expect(counts.webhook).toEqual({ delivered: 0, failed: 0, dropped: 0 })
    for (const kind of others) {
      expect(count(r, kind, "upgrade-started", "v2"), kind).toBe(1)
      expect(count(r, kind, "upgrade-completed", "v2"), kind).toBe(1)
    }

    // Nor does it hold back the shutdown: SIGTERM with the request still open ends the run cleanly.
    expect(await stopRun(run)).toMatchObject({ code: 0 })
    expect(run.events("upgrade-completed")).toHaveLength(1)
  }, 40_000)
})
