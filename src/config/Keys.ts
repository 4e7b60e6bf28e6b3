/*
 * The names a configuration may set: env names, and the same in lower case
 * as the keys of a config file. Kept apart from the reader so the file
 * format, the CLI (`config check`) and the aliases share one list.
 */

/**
 * Every env name loadConfig reads, aliases and the notification ones
 * included: in lower case, the keys a config file may set (besides
 * `notify`). One list; a test runs loadConfig and checks that every name it
 * looks up is here.
 */
export const CONFIG_NAMES: ReadonlyArray<string> = [
  "DAEMON_HOME",
  "DAEMON_NAME",
  "DAEMON_RPC_URL",
  "DAEMON_WS_URL",
  "DAEMON_CHAIN_ID",
  "DAEMON_POLL_INTERVAL",
  "DAEMON_SHUTDOWN_GRACE",
  "DAEMON_RESTART_DELAY",
  "DAEMON_RESTART_MAX_DELAY",
  "DAEMON_MAX_RESTARTS",
  "DAEMON_RESTART_WINDOW",
  "DAEMON_UPGRADE_DELAY",
  "DAEMON_VERIFY_MIN_UP",
  "DAEMON_VERIFY_TIMEOUT",
  "DAEMON_VERIFY_PROGRESS",
  "DAEMON_ON_UPGRADE_FAILURE",
  "DAEMON_VERSION_ARGS",
  "DAEMON_BACKUP",
  "DAEMON_DATA_DIR",
  "DAEMON_BACKUP_KEEP",
  "DAEMON_ALLOW_DOWNLOAD_BINARIES",
  "DAEMON_UNSAFE_SKIP_CHECKSUM",
  "DAEMON_PRE_STOP",
  "DAEMON_PRE_UPGRADE",
  "DAEMON_PRE_UPGRADE_MAX_RETRIES",
  "DAEMON_HOOK_TIMEOUT",
  "WEMIXVISOR_API_ADDR",
  "WEMIXVISOR_API_TOKEN",
  "WEMIXVISOR_API_HOSTS",
  "WEMIXVISOR_API_CORS",
  "WEMIXVISOR_API_URL",
  "WEMIXVISOR_LOG_FORMAT",
  "WEMIXVISOR_LOG_LEVEL",
  "WEMIXVISOR_HISTORY_MAX_SIZE",
  "WEMIXVISOR_HISTORY_KEEP",
  "WEMIXVISOR_STALL_AFTER",
  "WEMIXVISOR_NOTIFY_EVENTS",
  "WEMIXVISOR_NOTIFY_WEBHOOK",
  "WEMIXVISOR_NOTIFY_WEBHOOK_SECRET",
  "WEMIXVISOR_NOTIFY_SLACK",
  "WEMIXVISOR_NOTIFY_DISCORD",
  "WEMIXVISOR_NOTIFY_TELEGRAM",
  "WEMIXVISOR_NOTIFY_TELEGRAM_API",
  "WEMIXVISOR_NOTIFY_SMTP",
  "WEMIXVISOR_NOTIFY_EMAIL_TO",
  "WEMIXVISOR_NOTIFY_EMAIL_FROM",
  "WEMIXVISOR_NOTIFY_COALESCE"
]

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
