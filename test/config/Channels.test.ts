/*
 * Channels from the env and from config.toml [[notify]] tables
 * (src/notify/Channel.ts), through loadConfig as `run` reads them: what is
 * accepted, what is refused (naming the variable or the table, never
 * echoing a secret), and what `config` prints.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, beforeEach } from "vitest"
import { DEFAULT_EVENTS, describeChannel, parseChannels, scrub } from "../../src/config/Channels.js"
import { describeConfig, loadConfig } from "../../src/config/Config.js"
import { EVENT_TYPES } from "../../src/events/Events.js"
import { cleanup, repoRoot, tempDir } from "../support/fixtures.js"

let home = ""
beforeEach(() => {
  home = tempDir("wemixvisor-notify-config-")
  fs.mkdirSync(path.join(home, "wemixvisor"))
})
afterEach(() => cleanup(home))

const load = (env: Record<string, string>, toml?: string) => {
  if (toml !== undefined) fs.writeFileSync(path.join(home, "wemixvisor", "config.toml"), toml)
  return Effect.either(loadConfig({ env: { DAEMON_HOME: home, DAEMON_NAME: "gwemix", ...env } }))
}

const SLACK = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"

describe("notification channels", () => {
  it.effect("none by default", () =>
    Effect.gen(function*() {
      const c = Either.getOrThrow(yield* load({}))
      expect(c.notify).toEqual([])
      expect(describeConfig(c).wemixvisor_notify).toBeNull()
      expect(describeConfig(c).wemixvisor_notify_coalesce).toBe("1m")
    }))

  it.effect("one of each kind from the env, with the default events", () =>
    Effect.gen(function*() {
      const c = Either.getOrThrow(
        yield* load({
          WEMIXVISOR_NOTIFY_WEBHOOK: "https://ops.example/hook?token=abcd1234",
          WEMIXVISOR_NOTIFY_WEBHOOK_SECRET: "hmac-secret",
          WEMIXVISOR_NOTIFY_SLACK: SLACK,
          WEMIXVISOR_NOTIFY_DISCORD: "https://discord.com/api/webhooks/1/tokentoken",
          WEMIXVISOR_NOTIFY_TELEGRAM: "bot123456:ABC-def_42:-1001234567",
          WEMIXVISOR_NOTIFY_SMTP: "smtp://ops:p%40ss@mail.example:587",
          WEMIXVISOR_NOTIFY_EMAIL_TO: "a@example.com, b@example.com",
          WEMIXVISOR_NOTIFY_EMAIL_FROM: "node1@example.com"
        })
      )
      expect(c.notify.map((ch) => ch.name)).toEqual(["webhook", "slack", "discord", "telegram", "email"])
      expect(c.notify.every((ch) => ch.events.size === DEFAULT_EVENTS.length)).toBe(true)
      const [webhook, , , telegram, email] = c.notify
      expect(webhook).toMatchObject({ kind: "webhook", secret: "hmac-secret" })
      expect(telegram).toMatchObject({
        token: "123456:ABC-def_42",
        chatId: "-1001234567",
        api: "https://api.telegram.org/"
      })
      expect(email).toMatchObject({ to: ["a@example.com", "b@example.com"], from: "node1@example.com" })
      // `config` shows where each one goes, and no secret.
      const shown = String(describeConfig(c).wemixvisor_notify)
      expect(shown).toContain("slack (slack): https://hooks.slack.com/…")
      expect(shown).toContain("webhook (webhook): https://ops.example/… (signed)")
      expect(shown).toContain("telegram (telegram): chat -1001234567")
      expect(shown).toContain("a@example.com, b@example.com via smtp://ops:…@mail.example:587")
      for (
        const secret of ["XXXXSECRETXXXX", "abcd1234", "hmac-secret", "tokentoken", "ABC-def_42", "p%40ss", "p@ss"]
      ) {
        expect(JSON.stringify(describeConfig(c))).not.toContain(secret)
      }
    }))

  it.effect("WEMIXVISOR_NOTIFY_EVENTS: a list, or all; an unknown type is refused", () =>
    Effect.gen(function*() {
      const some = Either.getOrThrow(
        yield* load({ WEMIXVISOR_NOTIFY_SLACK: SLACK, WEMIXVISOR_NOTIFY_EVENTS: "upgrade-failed, node-error" })
      )
      expect([...some.notify[0]!.events]).toEqual(["upgrade-failed", "node-error"])
      const all = Either.getOrThrow(yield* load({ WEMIXVISOR_NOTIFY_SLACK: SLACK, WEMIXVISOR_NOTIFY_EVENTS: "all" }))
      expect(all.notify[0]!.events.has("upgrade-step")).toBe(true)
      const bad = yield* load({
        WEMIXVISOR_NOTIFY_SLACK: SLACK,
        WEMIXVISOR_NOTIFY_EVENTS: "upgrade-failed,upgrade-fail"
      })
      expect(Either.isLeft(bad) && bad.left.message).toMatch(
        /WEMIXVISOR_NOTIFY_EVENTS.*unknown event type upgrade-fail \(/
      )
    }))

  it.effect("bad values name the variable and never echo the secret", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, RegExp]> = [
        [
          { WEMIXVISOR_NOTIFY_SLACK: "ftp://hooks.example/SECRETPATH" },
          /WEMIXVISOR_NOTIFY_SLACK.*http:\/\/ or https:\/\//
        ],
        [{ WEMIXVISOR_NOTIFY_DISCORD: "not a url SECRETPATH" }, /WEMIXVISOR_NOTIFY_DISCORD.*is not a URL/],
        [{ WEMIXVISOR_NOTIFY_TELEGRAM: "SECRETPATH" }, /WEMIXVISOR_NOTIFY_TELEGRAM.*bot<token>:<chat id>/],
        [{ WEMIXVISOR_NOTIFY_SMTP: "http://u:SECRETPATH@mail" }, /WEMIXVISOR_NOTIFY_SMTP.*smtp:\/\//],
        [{ WEMIXVISOR_NOTIFY_SMTP: "smtp://u:SECRETPATH@mail" }, /WEMIXVISOR_NOTIFY_EMAIL_TO.*is required/],
        [
          { WEMIXVISOR_NOTIFY_SMTP: "smtp://mail", WEMIXVISOR_NOTIFY_EMAIL_TO: "ops" },
          /WEMIXVISOR_NOTIFY_EMAIL_TO.*"ops" is not an e-mail address/
        ],
        [
          { WEMIXVISOR_NOTIFY_WEBHOOK_SECRET: "SECRETPATH" },
          /WEMIXVISOR_NOTIFY_WEBHOOK_SECRET.*without WEMIXVISOR_NOTIFY_WEBHOOK/
        ],
        [{ WEMIXVISOR_NOTIFY_SLACK: SLACK, WEMIXVISOR_NOTIFY_COALESCE: "60" }, /WEMIXVISOR_NOTIFY_COALESCE/]
      ]
      for (const [env, expected] of cases) {
        const r = yield* load(env)
        expect(Either.isLeft(r), JSON.stringify(env)).toBe(true)
        if (Either.isLeft(r)) {
          expect(r.left.message).toMatch(expected)
          expect(r.left.message).not.toContain("SECRETPATH")
        }
      }
    }))

  it.effect("[[notify]] tables: several channels, each with its own events and minimum severity", () =>
    Effect.gen(function*() {
      const c = Either.getOrThrow(
        yield* load(
          { WEMIXVISOR_NOTIFY_SLACK: SLACK },
          [
            "[[notify]]",
            "type = \"slack\"",
            "name = \"pager\"",
            "url = \"https://hooks.slack.com/services/T/B/PAGER\"",
            "min_severity = \"error\"",
            "",
            "[[notify]]",
            "type = \"email\"",
            "smtp = \"smtps://mail.example\"",
            "to = [\"a@example.com\", \"b@example.com\"]",
            "events = [\"upgrade-completed\", \"upgrade-failed\"]",
            "",
            "[[notify]]",
            "type = \"telegram\"",
            "bot = \"bot1:abc:@wemix_ops\"",
            "api = \"http://127.0.0.1:8081\"",
            ""
          ].join("\n")
        )
      )
      expect(c.notify.map((ch) => `${ch.name}/${ch.kind}/${ch.minSeverity}`)).toEqual([
        "slack/slack/info",
        "pager/slack/error",
        "email/email/info",
        "telegram/telegram/info"
      ])
      expect([...c.notify[2]!.events]).toEqual(["upgrade-completed", "upgrade-failed"])
      expect(c.notify[2]).toMatchObject({
        to: ["a@example.com", "b@example.com"],
        from: expect.stringMatching(/^wemixvisor@/)
      })
      expect(c.notify[3]).toMatchObject({ chatId: "@wemix_ops", api: "http://127.0.0.1:8081/" })
    }))

  it.effect("[[notify]] mistakes are refused naming the table and the key", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, RegExp]> = [
        [
          "[[notify]]\ntype = \"slak\"\nurl = \"https://x/y\"\n",
          /\[\[notify\]\] #1 type.*expected one of webhook, slack/
        ],
        ["[[notify]]\ntype = \"slack\"\n", /\[\[notify\]\] #1 url.*is required/],
        [
          "[[notify]]\ntype = \"slack\"\nurl = \"https://x/y\"\nchanel = \"#ops\"\n",
          /#1 chanel.*not a key of a slack channel/
        ],
        [
          "[[notify]]\ntype = \"slack\"\nurl = \"https://x/y\"\nmin_severity = \"loud\"\n",
          /#1 min_severity.*info, warning, error/
        ],
        [
          "[[notify]]\ntype = \"slack\"\nurl = \"https://x/y\"\n[[notify]]\ntype = \"slack\"\nurl = \"https://x/z\"\n",
          /#2 name.*another channel has this name/
        ],
        ["[notify]\ntype = 1\n", /config.toml notify.*\[\[notify\]\] tables/],
        ["[other]\nx = 1\n", /config.toml other.*tables are not supported/]
      ]
      for (const [toml, expected] of cases) {
        const r = yield* load({}, toml)
        expect(Either.isLeft(r), toml).toBe(true)
        if (Either.isLeft(r)) expect(r.left.message).toMatch(expected)
      }
    }))

  it("scrub takes every secret of a channel out of a text", () => {
    const [c] = Either.getOrThrow(
      parseChannels(
        (n) => ({ WEMIXVISOR_NOTIFY_SMTP: "smtp://ops:hunter22@mail:25", WEMIXVISOR_NOTIFY_EMAIL_TO: "a@b.c" })[n],
        [],
        "h"
      )
    )
    expect(scrub(c!, "login ops:hunter22 refused")).toBe("login ops:… refused")
    expect(describeChannel(c!)).toBe("a@b.c via smtp://ops:…@mail:25")
  })
})

describe("docs/NOTIFICATIONS.md, Which events", () => {
  it("names the default set and every other event type, so an operator can choose from the page", () => {
    const page = fs.readFileSync(path.join(repoRoot, "docs/NOTIFICATIONS.md"), "utf8")
    const section = page.slice(page.indexOf("The default, for every channel:"), page.indexOf("Severity (the same"))
    const [defaults = "", rest = ""] = section.split("`all` adds the rest:")
    const named = (text: string) => [...text.matchAll(/`([a-z]+(?:-[a-z]+)+)`/g)].map((m) => m[1])
    expect(new Set(named(defaults))).toEqual(new Set(DEFAULT_EVENTS))
    expect(new Set(named(rest))).toEqual(new Set(EVENT_TYPES.filter((t) => !DEFAULT_EVENTS.includes(t))))
  })
})
