import type { WemixvisorConfig } from "./Config.js"

/*
 * The names a configuration may set: env names, and the same in lower case
 * as the keys of a config file. Kept apart from the reader so the file
 * format, the CLI (`config check`) and the aliases share one list.
 */

/** What the rest of the program needs to know about one setting. */
export interface Setting {
  /**
   * Read only by `run` (and `config check`, which checks everything):
   * another command (`upgrade list`, `init`, …) goes on with a bad value of
   * it, saying so, instead of refusing to work over a value it never uses
   * (Config.runOnly).
   */
  readonly runOnly?: true
  /**
   * The config field a reload changes in place (Reload.ts); absent: a new
   * value waits for a restart of wemixvisor (home, name, the RPC URLs, the
   * API's address and guards, downloads, history bounds).
   */
  readonly live?: keyof WemixvisorConfig
}

/**
 * Every env name loadConfig reads, with what it is; in lower case, the keys
 * a config file may set (besides `notify`). One table, so a new setting is
 * one line; a test runs loadConfig and checks that every name it looks up
 * is here.
 */
export const SETTINGS: Readonly<Record<string, Setting>> = {
  DAEMON_HOME: {},
  DAEMON_NAME: {},
  DAEMON_RPC_URL: {},
  DAEMON_WS_URL: { runOnly: true },
  DAEMON_CHAIN_ID: { runOnly: true, live: "chainId" },
  DAEMON_POLL_INTERVAL: { runOnly: true, live: "pollInterval" },
  DAEMON_SHUTDOWN_GRACE: { runOnly: true, live: "shutdownGrace" },
  DAEMON_RESTART_DELAY: { runOnly: true, live: "restartDelay" },
  DAEMON_RESTART_MAX_DELAY: { runOnly: true, live: "restartMaxDelay" },
  DAEMON_MAX_RESTARTS: { runOnly: true, live: "maxRestarts" },
  DAEMON_RESTART_WINDOW: { runOnly: true, live: "restartWindow" },
  DAEMON_UPGRADE_DELAY: { runOnly: true, live: "upgradeDelay" },
  DAEMON_VERIFY_MIN_UP: { runOnly: true, live: "verifyMinUp" },
  DAEMON_VERIFY_TIMEOUT: { runOnly: true, live: "verifyTimeout" },
  DAEMON_VERIFY_PROGRESS: { runOnly: true, live: "verifyProgress" },
  DAEMON_ON_UPGRADE_FAILURE: { live: "onUpgradeFailure" },
  DAEMON_VERSION_ARGS: {},
  DAEMON_BACKUP: { runOnly: true, live: "backup" },
  DAEMON_DATA_DIR: { runOnly: true },
  DAEMON_BACKUP_KEEP: { runOnly: true, live: "backupKeep" },
  DAEMON_ALLOW_DOWNLOAD_BINARIES: {},
  DAEMON_UNSAFE_SKIP_CHECKSUM: {},
  DAEMON_PRE_STOP: { runOnly: true, live: "preStop" },
  DAEMON_PRE_UPGRADE: { runOnly: true, live: "preUpgrade" },
  DAEMON_PRE_UPGRADE_MAX_RETRIES: { runOnly: true, live: "preUpgradeMaxRetries" },
  DAEMON_HOOK_TIMEOUT: { runOnly: true, live: "hookTimeout" },
  DAEMON_GOVERNANCE_REGISTRY: { runOnly: true },
  DAEMON_GOVERNANCE_GOVERNOR: { runOnly: true },
  DAEMON_GOVERNANCE_CONFIRMATIONS: { runOnly: true },
  DAEMON_GOVERNANCE_FROM_BLOCK: { runOnly: true },
  WEMIXVISOR_API_ADDR: {},
  WEMIXVISOR_API_TOKEN: {},
  WEMIXVISOR_API_HOSTS: { runOnly: true },
  WEMIXVISOR_API_CORS: { runOnly: true },
  WEMIXVISOR_API_URL: {},
  WEMIXVISOR_LOG_FORMAT: {},
  WEMIXVISOR_LOG_LEVEL: { live: "logLevel" },
  WEMIXVISOR_HISTORY_MAX_SIZE: {},
  WEMIXVISOR_HISTORY_KEEP: {},
  WEMIXVISOR_STALL_AFTER: { runOnly: true },
  WEMIXVISOR_NOTIFY_EVENTS: { runOnly: true, live: "notify" },
  WEMIXVISOR_NOTIFY_WEBHOOK: { runOnly: true, live: "notify" },
  WEMIXVISOR_NOTIFY_WEBHOOK_SECRET: { runOnly: true, live: "notify" },
  WEMIXVISOR_NOTIFY_SLACK: { runOnly: true, live: "notify" },
  WEMIXVISOR_NOTIFY_DISCORD: { runOnly: true, live: "notify" },
  WEMIXVISOR_NOTIFY_TELEGRAM: { runOnly: true, live: "notify" },
  WEMIXVISOR_NOTIFY_TELEGRAM_API: { runOnly: true, live: "notify" },
  WEMIXVISOR_NOTIFY_SMTP: { runOnly: true, live: "notify" },
  WEMIXVISOR_NOTIFY_EMAIL_TO: { runOnly: true, live: "notify" },
  WEMIXVISOR_NOTIFY_EMAIL_FROM: { runOnly: true, live: "notify" },
  WEMIXVISOR_NOTIFY_COALESCE: { runOnly: true, live: "notifyCoalesce" }
}

/** Every env name loadConfig reads, aliases and the notification ones included (SETTINGS' names). */
export const CONFIG_NAMES: ReadonlyArray<string> = Object.keys(SETTINGS)

/** The keys of a config file: the env names in lower case, and `notify` (the channel tables). */
export const CONFIG_KEYS: ReadonlyArray<string> = [...CONFIG_NAMES.map((n) => n.toLowerCase()), "notify"]

/** Levenshtein distance: the fewest one-character edits that turn `a` into `b`. */
export const editDistance = (a: string, b: string): number => {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length]!
}

/** The known key nearest to `key` (the first of equals, in CONFIG_KEYS order). */
export const closestKey = (key: string): string => {
  let best = CONFIG_KEYS[0]!
  let bestDistance = Infinity
  for (const k of CONFIG_KEYS) {
    const d = editDistance(key.toLowerCase(), k)
    if (d < bestDistance) [best, bestDistance] = [k, d]
  }
  return best
}
