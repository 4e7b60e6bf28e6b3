import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { closestKey, CONFIG_KEYS, CONFIG_NAMES, editDistance, loadConfig } from "../../src/config/Config.js"
import { cleanup, tempDir } from "../support/fixtures.js"

/*
 * The config files of $DAEMON_HOME/wemixvisor/ (ARCHITECTURE §4): config.toml,
 * config.yaml or config.json, read by one reader, the same keys in each.
 */

const withFiles = <A>(files: Record<string, string>, body: (home: string) => A): A => {
  const home = tempDir()
  try {
    fs.mkdirSync(path.join(home, "wemixvisor"))
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(home, "wemixvisor", name), text)
    return body(home)
  } finally {
    cleanup(home)
  }
}

const load = (home: string, env: Record<string, string> = {}) =>
  Effect.runSync(loadConfig({ env: { DAEMON_HOME: home, ...env } }))
const failure = (home: string, env: Record<string, string> = {}) =>
  Effect.runSync(Effect.flip(loadConfig({ env: { DAEMON_HOME: home, ...env } })))

const SAME = {
  "config.toml": `daemon_name = "gw"
daemon_shutdown_grace = "7s"
daemon_max_restarts = 4
daemon_backup = true
daemon_version_args = ["version", "--short"]

[[notify]]
type = "slack"
url = "https://hooks.slack.com/services/T/B/x"
events = ["upgrade-failed", "node-error"]

[[notify]]
type = "webhook"
name = "ops"
url = "https://ops.example/hook"
min_severity = "warning"
`,
  "config.yaml": `daemon_name: gw
daemon_shutdown_grace: 7s
daemon_max_restarts: 4
daemon_backup: true
daemon_version_args: [version, --short]
notify:
  - type: slack
    url: https://hooks.slack.com/services/T/B/x
    events: [upgrade-failed, node-error]
  - type: webhook
    name: ops
    url: https://ops.example/hook
    min_severity: warning
`,
  "config.json": JSON.stringify(
    {
      daemon_name: "gw",
      daemon_shutdown_grace: "7s",
      daemon_max_restarts: 4,
      daemon_backup: true,
      daemon_version_args: ["version", "--short"],
      notify: [
        { type: "slack", url: "https://hooks.slack.com/services/T/B/x", events: ["upgrade-failed", "node-error"] },
        { type: "webhook", name: "ops", url: "https://ops.example/hook", min_severity: "warning" }
      ]
    },
    null,
    2
  )
}

describe("config files", () => {
  for (const [file, text] of Object.entries(SAME)) {
    it(`${file}: the same keys and values, notify tables included`, () =>
      withFiles({ [file]: text }, (home) => {
        const c = load(home)
        expect(c.daemonName).toBe("gw")
        expect(Duration.toMillis(c.shutdownGrace)).toBe(7000)
        expect(c.maxRestarts).toBe(4)
        expect(c.backup).toBe(true)
        expect(c.versionArgs).toEqual(["version", "--short"])
        expect(c.given["DAEMON_SHUTDOWN_GRACE"]).toBe("7s")
        expect(c.notify.map((ch) => [ch.name, ch.kind, ch.minSeverity])).toEqual([
          ["slack", "slack", "info"],
          ["ops", "webhook", "warning"]
        ])
        expect([...c.notify[0]!.events]).toEqual(["upgrade-failed", "node-error"])
        // The env still wins over the file.
        expect(Duration.toMillis(load(home, { DAEMON_SHUTDOWN_GRACE: "9s" }).shutdownGrace)).toBe(9000)
      }))
  }

  it("refuses two files, naming both", () =>
    withFiles({ "config.toml": SAME["config.toml"], "config.json": SAME["config.json"] }, (home) => {
      const e = failure(home)
      expect(e.message).toContain(path.join(home, "wemixvisor", "config.toml"))
      expect(e.message).toContain(path.join(home, "wemixvisor", "config.json"))
      expect(e.message).toContain("keep one")
    }))

  const misspelt = {
    "config.toml": "daemon_name = \"gw\"\ndaemon_shutdown_gracee = \"10s\"\n",
    "config.yaml": "daemon_name: gw\ndaemon_shutdown_gracee: 10s\n",
    "config.json": "{\"daemon_name\": \"gw\", \"daemon_shutdown_gracee\": \"10s\"}"
  }
  for (const [file, text] of Object.entries(misspelt)) {
    it(`${file}: an unknown key is refused with the nearest known one`, () =>
      withFiles({ [file]: text }, (home) => {
        expect(failure(home).message).toBe(
          `invalid ${file} key daemon_shutdown_gracee: unknown key (did you mean daemon_shutdown_grace?)`
        )
      }))
  }

  const broken = {
    "config.toml": ["daemon_name = \"gw\"\n\ndaemon_backup = \n", "line 3, column"],
    "config.yaml": ["daemon_name: gw\ndaemon_backup: true\nnotify: [\n", "line 4, column"],
    "config.json": ["{\n  \"daemon_name\": \"gw\",\n  \"daemon_backup\": true,\n}\n", "line 4, column 1"]
  }
  for (const [file, [text, line]] of Object.entries(broken)) {
    it(`${file}: a parse error names the file and the line`, () =>
      withFiles({ [file]: text! }, (home) => {
        const e = failure(home)
        expect(e.variable).toBe(file)
        expect(e.value).toBe(path.join(home, "wemixvisor", file))
        expect(e.problem).toContain(line)
      }))
  }

  it("every value's error names where it came from: the file, the env (through an alias), a flag, the default", () =>
    withFiles({ "config.yaml": "daemon_name: gw\ndaemon_shutdown_grace: \"10\"\n" }, (home) => {
      const unit = "a duration needs a unit, e.g. 500ms, 5s, 2m, 1h"
      expect(failure(home).message).toBe(`invalid DAEMON_SHUTDOWN_GRACE="10" (config.yaml): ${unit}`)
      expect(failure(home, { DAEMON_SHUTDOWN_GRACE: "10" }).message).toBe(
        `invalid DAEMON_SHUTDOWN_GRACE="10" (env): ${unit}`
      )
      expect(failure(home, { DAEMON_SHUTDOWN_GRACE: "1s", DAEMON_HEIGHT_POLL_INTERVAL: "5" }).message).toBe(
        `invalid DAEMON_POLL_INTERVAL="5" (env DAEMON_HEIGHT_POLL_INTERVAL): ${unit}`
      )
      // A default that does not fit the value given for another key: the default is what to change.
      expect(failure(home, { DAEMON_SHUTDOWN_GRACE: "1s", DAEMON_RESTART_DELAY: "2m" }).message).toBe(
        "invalid DAEMON_RESTART_MAX_DELAY=\"1m\" (default): must not be shorter than DAEMON_RESTART_DELAY (2m)"
      )
      const flagged = Effect.runSync(
        Effect.flip(loadConfig({ flags: { DAEMON_HOME: "relative" }, env: { DAEMON_HOME: home } }))
      )
      expect(flagged.message).toBe("invalid DAEMON_HOME=\"relative\" (flag): must be an absolute path")
    }))

  it("names the file in a notify table's error and in a WEMIXVISOR_NOTIFY_* value's", () => {
    withFiles({ "config.json": "{\"daemon_name\": \"gw\", \"notify\": [{\"type\": \"slack\"}]}" }, (home) => {
      expect(failure(home).message).toBe("invalid config.json notify #1 url=\"\": is required")
    })
    withFiles({ "config.toml": "daemon_name = \"gw\"\nwemixvisor_notify_slack = \"ftp://x\"\n" }, (home) => {
      expect(failure(home).message).toBe(
        "invalid WEMIXVISOR_NOTIFY_SLACK=\"ftp://x/\" (config.toml): must be an http:// or https:// URL"
      )
    })
    withFiles({ "config.yaml": "daemon_name: gw\nnotify: {type: slack}\n" }, (home) => {
      expect(failure(home).problem).toBe("must be a list of tables, one per channel")
    })
  })

  it("refuses a key with no value and a document that is not a table", () => {
    withFiles({ "config.yaml": "daemon_name: gw\ndaemon_pre_stop:\n" }, (home) => {
      expect(failure(home).problem).toContain("has no value")
    })
    withFiles({ "config.json": "[1, 2]" }, (home) => {
      expect(failure(home).problem).toContain("must be a table")
    })
    // An empty YAML file is no keys at all.
    withFiles({ "config.yaml": "" }, (home) => {
      expect(load(home, { DAEMON_NAME: "gw" }).daemonName).toBe("gw")
    })
  })
})

describe("known keys", () => {
  it("every name loadConfig reads is in CONFIG_NAMES, and every one of those is read", () => {
    const read = new Set<string>()
    const recording = (env: Record<string, string>) =>
      new Proxy(env, {
        get: (target, key) => {
          if (typeof key === "string") read.add(key)
          return target[key as string]
        }
      })
    withFiles({}, (home) => {
      Effect.runSync(loadConfig({ env: recording({ DAEMON_HOME: home, DAEMON_NAME: "gw" }) }))
      // With each channel set, the names read only then (the Telegram API, the e-mail addresses).
      Effect.runSync(loadConfig({
        env: recording({
          DAEMON_HOME: home,
          DAEMON_NAME: "gw",
          WEMIXVISOR_NOTIFY_WEBHOOK: "https://ops.example/hook",
          WEMIXVISOR_NOTIFY_SLACK: "https://hooks.slack.com/services/T/B/x",
          WEMIXVISOR_NOTIFY_DISCORD: "https://discord.com/api/webhooks/1/x",
          WEMIXVISOR_NOTIFY_TELEGRAM: "bot123456:ABC-DEF:-1001234567",
          WEMIXVISOR_NOTIFY_SMTP: "smtp://mail.example:25",
          WEMIXVISOR_NOTIFY_EMAIL_TO: "ops@example.com"
        })
      }))
    })
    expect([...read].filter((n) => !CONFIG_NAMES.includes(n))).toEqual([])
    expect(CONFIG_NAMES.filter((n) => !read.has(n))).toEqual([])
    expect(CONFIG_KEYS).toContain("notify")
    // Read under its old name only through the aliases (env) and the version 1 → 2 migration (file).
    expect(CONFIG_KEYS).not.toContain("daemon_height_poll_interval")
  })

  it("suggests the nearest key", () => {
    expect(editDistance("kitten", "sitting")).toBe(3)
    expect(closestKey("daemon_shutdown_gracee")).toBe("daemon_shutdown_grace")
    expect(closestKey("WEMIXVISOR_API_TOKN")).toBe("wemixvisor_api_token")
    expect(closestKey("notfy")).toBe("notify")
  })
})
