import type * as HelpDoc from "@effect/cli/HelpDoc"
import type * as Span from "@effect/cli/HelpDoc/Span"

/*
 * `--help` as an operator reads it (issue #12 item 20). @effect/cli's own
 * help has ANSI colour even in a pipe, a usage line without the parents
 * (`$ schedule …`), a filler sentence per option ("A user-defined piece of
 * text.", "This setting is optional.") and nothing about the environment or
 * exit codes. This renders the same descriptions (the command definitions
 * stay the one source) as plain text, with the full usage line and, per
 * command, the variables it reads and its exit codes.
 */

export interface HelpEntry {
  /** The words after `wemixvisor` (`["upgrade", "schedule"]`; `[]` for the root). */
  readonly path: ReadonlyArray<string>
  readonly help: () => HelpDoc.HelpDoc
  readonly usage: () => HelpDoc.HelpDoc
  /** The subcommands' names and one-line descriptions. */
  readonly subcommands: ReadonlyArray<readonly [string, string]>
  /** The command also runs without a subcommand (`config`): `[<command>]` in the usage line. */
  readonly runsAlone?: boolean
}

const spanText = (s: Span.Span): string => {
  switch (s._tag) {
    case "Text":
    case "URI":
      return s.value
    case "Sequence":
      return spanText(s.left) + spanText(s.right)
    case "Highlight":
    case "Strong":
    case "Weak":
      return spanText(s.value)
  }
}

/** The blocks of a help document in order, sequences flattened. */
const blocks = (doc: HelpDoc.HelpDoc): Array<HelpDoc.HelpDoc> =>
  doc._tag === "Sequence" ? [...blocks(doc.left), ...blocks(doc.right)] : doc._tag === "Empty" ? [] : [doc]

const docText = (doc: HelpDoc.HelpDoc): Array<string> =>
  blocks(doc).flatMap((b) => {
    switch (b._tag) {
      case "Header":
      case "Paragraph":
        return [spanText(b.value)]
      case "Enumeration":
        return b.elements.flatMap(docText)
      case "DescriptionList":
        return b.definitions.flatMap(([term, d]) => [spanText(term), ...docText(d)])
      default:
        return []
    }
  })

/** @effect/cli's generic sentences, which say nothing about wemixvisor. */
const FILLER =
  /^(A user-defined piece of text\.|A file\.|A directory\.|A file or directory\.|A true or false value\.|An integer\.|A floating point number\.|A date without a time-zone.*|One of the following: .*|This setting is optional\.|This argument is optional\.|This argument may be repeated zero or more times\.|This setting is a property .*)$/

/** Options every command takes, listed once in "Global options" instead of under each command. */
const BUILT_IN = new Set(["--completions", "--log-level", "(-h, --help)", "--wizard", "--version"])

/** A section's definitions: term and its meaningful description lines. */
const definitions = (doc: HelpDoc.HelpDoc, header: string): Array<readonly [string, string]> => {
  const bs = blocks(doc)
  const at = bs.findIndex((b) => b._tag === "Header" && spanText(b.value) === header)
  if (at < 0) return []
  const next = bs.findIndex((b, i) => i > at && b._tag === "Header")
  return bs
    .slice(at + 1, next < 0 ? undefined : next)
    .flatMap((b) => (b._tag === "DescriptionList" ? b.definitions : []))
    .map(([term, d]) => [spanText(term), docText(d).filter((l) => !FILLER.test(l.trim())).join(" ")] as const)
    .filter(([term]) => !BUILT_IN.has(term.split(" ")[0]!) && !BUILT_IN.has(term))
}

const section = (title: string, rows: ReadonlyArray<readonly [string, string]>): Array<string> => {
  if (rows.length === 0) return []
  const width = Math.min(28, Math.max(...rows.map(([t]) => t.length)))
  return [
    "",
    `${title}:`,
    ...rows.map(([t, d]) => (t.length > width ? `  ${t}\n  ${"".padEnd(width)}  ${d}` : `  ${t.padEnd(width)}  ${d}`))
  ]
}

const ENV_COMMON =
  "DAEMON_HOME, DAEMON_NAME (or --home, --name); config.toml, config.yaml or config.json in $DAEMON_HOME/wemixvisor"
const ENV_REMOTE = "WEMIXVISOR_API_URL (--remote), WEMIXVISOR_API_TOKEN (else $DAEMON_HOME/wemixvisor/api.token)"

const ENV_FLEET =
  "WEMIXVISOR_FLEET (--fleet), WEMIXVISOR_API_TOKEN (the token of the nodes that name none, and of --remote's)"
const FLEET_BAD_INPUT = "2 bad input: an argument, the fleet file, --remote or an option (nothing sent)"

/** What each command reads beyond DAEMON_HOME/DAEMON_NAME, and its exit codes. */
const EXTRA: Record<string, { readonly env: ReadonlyArray<string>; readonly exit: ReadonlyArray<string> }> = {
  "": {
    env: [ENV_COMMON, "WEMIXVISOR_LOG_FORMAT (pretty or json)"],
    exit: [
      "0 ok",
      "1 operational failure (node unreachable, I/O error, corrupt file)",
      "2 bad usage or bad input (nothing written)"
    ]
  },
  init: { env: [ENV_COMMON], exit: ["0 created", "2 bad binary, or the home exists (use --force)"] },
  run: {
    env: [
      ENV_COMMON,
      "DAEMON_RPC_URL, DAEMON_WS_URL, DAEMON_POLL_INTERVAL",
      "DAEMON_SHUTDOWN_GRACE, DAEMON_RESTART_DELAY, DAEMON_RESTART_MAX_DELAY, DAEMON_MAX_RESTARTS, DAEMON_RESTART_WINDOW",
      "DAEMON_UPGRADE_DELAY, DAEMON_VERIFY_MIN_UP, DAEMON_VERIFY_TIMEOUT, DAEMON_VERIFY_PROGRESS, DAEMON_ON_UPGRADE_FAILURE",
      "DAEMON_VERSION_ARGS, DAEMON_BACKUP, DAEMON_DATA_DIR, DAEMON_BACKUP_KEEP",
      "DAEMON_ALLOW_DOWNLOAD_BINARIES, DAEMON_UNSAFE_SKIP_CHECKSUM",
      "DAEMON_PRE_STOP, DAEMON_PRE_UPGRADE, DAEMON_PRE_UPGRADE_MAX_RETRIES, DAEMON_HOOK_TIMEOUT",
      "WEMIXVISOR_API_ADDR, WEMIXVISOR_API_TOKEN, WEMIXVISOR_API_HOSTS, WEMIXVISOR_API_CORS, WEMIXVISOR_LOG_FORMAT",
      "WEMIXVISOR_HISTORY_MAX_SIZE, WEMIXVISOR_HISTORY_KEEP (rotation of upgrade-history.jsonl)"
    ],
    exit: [
      "0 stopped by SIGTERM or SIGINT (the node stopped gracefully)",
      "1 operational failure at start",
      "2 bad configuration, no layout (run init), or the home is held by another run"
    ]
  },
  config: {
    env: ["every variable `run` reads (see wemixvisor run --help)"],
    exit: ["0 valid", "2 a value that cannot be used (named)"]
  },
  "config check": {
    env: [
      "every variable `run` reads (see wemixvisor run --help); warns about DAEMON_*/WEMIXVISOR_* ones it does not",
      "DAEMON_RPC_URL, DAEMON_CHAIN_ID (the node is asked for its head and eth_chainId)"
    ],
    exit: [
      "0 no error (warnings, ! lines, do not count)",
      "2 an error (✗ lines): a bad value, a missing or non-executable hook or binary, no room for a backup, the wrong chain"
    ]
  },
  version: { env: [], exit: ["0"] },
  dashboard: {
    env: [
      ENV_COMMON,
      "WEMIXVISOR_API_ADDR (the URL's host and port; 0.0.0.0 and :: as loopback)",
      "WEMIXVISOR_API_TOKEN (else $DAEMON_HOME/wemixvisor/api.token, which `run` creates at its first start)"
    ],
    exit: [
      "0 printed (also when --open could not start a browser: a warning says so)",
      "2 no token: none set and no api.token yet (start `run` once), or a bad configuration"
    ]
  },
  upgrade: {
    env: [
      ENV_COMMON,
      ENV_REMOTE,
      "WEMIXVISOR_HISTORY_MAX_SIZE, WEMIXVISOR_HISTORY_KEEP (a local write may rotate the history)"
    ],
    exit: ["see each command"]
  },
  "upgrade schedule": {
    env: [
      ENV_COMMON,
      "DAEMON_RPC_URL (the head check)",
      "DAEMON_ALLOW_DOWNLOAD_BINARIES, DAEMON_UNSAFE_SKIP_CHECKSUM (URLs)",
      ENV_REMOTE
    ],
    exit: [
      "0 scheduled",
      "1 the head could not be checked (use --force), I/O error",
      "2 bad input, a taken name, a height at or below the head"
    ]
  },
  "upgrade list": {
    env: [ENV_COMMON, ENV_REMOTE],
    exit: ["0 listed", "1 corrupt plan or API unreachable", "2 bad input"]
  },
  "upgrade cancel": {
    env: [ENV_COMMON, ENV_REMOTE],
    exit: ["0 cancelled", "1 I/O error or API unreachable", "2 unknown name, nothing pending, or in progress"]
  },
  "upgrade status": {
    env: [
      ENV_COMMON,
      "DAEMON_RPC_URL (the head), DAEMON_VERSION_ARGS, WEMIXVISOR_API_ADDR (the running supervisor)",
      ENV_REMOTE
    ],
    exit: ["0 shown", "1 corrupt plan or API unreachable", "2 no layout (run init)"]
  },
  "upgrade prepare": {
    env: [ENV_COMMON, "DAEMON_ALLOW_DOWNLOAD_BINARIES, DAEMON_UNSAFE_SKIP_CHECKSUM, DAEMON_VERSION_ARGS", ENV_REMOTE],
    exit: [
      "0 ready",
      "1 the download or a check failed",
      "2 unknown or finished upgrade, downloads disabled, no checksum or no binary for this platform"
    ]
  },
  "upgrade check": {
    env: [
      "every variable `run` reads (the hooks, verify, backups, DAEMON_VERSION_ARGS, DAEMON_ON_UPGRADE_FAILURE)",
      "DAEMON_RPC_URL, DAEMON_CHAIN_ID (the node is asked for its head and eth_chainId)",
      "WEMIXVISOR_API_ADDR (the running supervisor's ETA)",
      ENV_REMOTE
    ],
    exit: [
      "0 go: no problem (warnings do not count)",
      "1 NO GO: a problem (its line says what), a corrupt plan, or API unreachable",
      "2 unknown upgrade, one not waiting for its height, bad input (nothing written)"
    ]
  },
  "upgrade history": {
    env: [ENV_COMMON, "reads $DAEMON_HOME/wemixvisor/upgrade-history.jsonl and its rotated upgrade-history.N.jsonl.gz"],
    exit: [
      "0 shown (also: no history yet)",
      "1 a file cannot be read",
      "2 --limit below 1, a bad --name, no layout (run init)"
    ]
  },
  "upgrade pause": {
    env: [ENV_COMMON, "WEMIXVISOR_API_ADDR (the running supervisor; none: the marker is written here)", ENV_REMOTE],
    exit: ["0 paused", "1 I/O error or API unreachable", "2 a bad --reason, no layout (run init)"]
  },
  "upgrade resume": {
    env: [ENV_COMMON, "WEMIXVISOR_API_ADDR (the running supervisor; none: the marker is removed here)", ENV_REMOTE],
    exit: ["0 resumed (also: nothing was paused)", "1 I/O error or API unreachable", "2 no layout (run init)"]
  },
  "upgrade proposals": {
    env: [
      ENV_COMMON,
      "WEMIXVISOR_API_ADDR (the running supervisor, which tracks DAEMON_GOVERNANCE_GOVERNOR)",
      ENV_REMOTE
    ],
    exit: ["0 shown (also: none tracked)", "1 no supervisor runs on this home, or API unreachable", "2 bad input"]
  },
  fleet: { env: [ENV_FLEET], exit: ["see each command"] },
  "fleet status": {
    env: [ENV_FLEET],
    exit: [
      "0 green: every node answered, runs its node, holds no upgrade back, and every pending upgrade is ready on every node at one height",
      "1 a node did not answer, or something is not ready or needs attention (the board says what)",
      "2 bad input: the fleet file, --remote or an option (nothing sent)"
    ]
  },
  "fleet schedule": {
    env: [ENV_FLEET],
    exit: ["0 scheduled on every node", "1 failed on at least one node (its line says why)", FLEET_BAD_INPUT]
  },
  "fleet cancel": {
    env: [ENV_FLEET],
    exit: ["0 cancelled on every node", "1 failed on at least one node (its line says why)", FLEET_BAD_INPUT]
  },
  "fleet prepare": {
    env: [ENV_FLEET],
    exit: ["0 ready on every node", "1 failed on at least one node (its line says why)", FLEET_BAD_INPUT]
  },
  "fleet roll": {
    env: [ENV_FLEET],
    exit: [
      "0 done (or done already) on every node",
      "1 stopped: a node failed (rolled back), refused, did not answer or ran past --roll-timeout; the nodes after it were not touched",
      FLEET_BAD_INPUT
    ]
  },
  node: { env: [ENV_COMMON, ENV_REMOTE], exit: ["see each command"] },
  "node restart": {
    env: [ENV_COMMON, "WEMIXVISOR_API_ADDR (the running supervisor)", ENV_REMOTE, "DAEMON_SHUTDOWN_GRACE (its stop)"],
    exit: [
      "0 the node runs again",
      "1 no supervisor runs on this home, API unreachable, or the binary could not be started (node in error)",
      "2 refused: an upgrade has the node"
    ]
  }
}

/** The help text of `entry`: plain, whatever stdout is. */
export const renderHelp = (entry: HelpEntry, version: string): string => {
  const doc = entry.help()
  const words = ["wemixvisor", ...entry.path].join(" ")
  const bs = blocks(doc)
  const descAt = bs.findIndex((b) => b._tag === "Header" && spanText(b.value) === "DESCRIPTION")
  const description = descAt >= 0 ? docText(bs[descAt + 1]!).join(" ") : ""
  const usage = docText(entry.usage()).join(" ").replace(/^\S+\s*/, "").trim()
  const extra = EXTRA[entry.path.join(" ")] ?? EXTRA[""]!
  return [
    entry.path.length === 0 ? `wemixvisor ${version}: ${description}` : `${words}: ${description}`,
    "",
    `Usage: ${words}${entry.subcommands.length === 0 ? "" : entry.runsAlone ? " [<command>]" : " <command>"}${
      usage === "" ? "" : ` ${usage}`
    }`,
    ...section("Arguments", definitions(doc, "ARGUMENTS")),
    ...section("Options", definitions(doc, "OPTIONS")),
    ...section("Commands", entry.subcommands.map(([n, d]) => [n, d] as const)),
    "",
    "Global options (before the command): --home DIR, --name NAME, --log-level LEVEL, --completions SHELL, -h/--help, --version",
    ...(extra.env.length === 0 ? [] : ["", "Environment:", ...extra.env.map((e) => `  ${e}`)]),
    "",
    "Exit codes:",
    ...extra.exit.map((e) => `  ${e}`)
  ].join("\n")
}

/** Options before the command that take a value (so their value is not read as a command). */
const VALUED = new Set(["--home", "--name", "--log-level", "--completions"])

/**
 * The help to print for `args`, when they ask for it (`-h`/`--help` before
 * any `--`): the deepest command named in them.
 */
export const helpRequest = (entries: ReadonlyArray<HelpEntry>, args: ReadonlyArray<string>): HelpEntry | undefined => {
  const end = args.indexOf("--")
  const words = end < 0 ? args : args.slice(0, end)
  if (!words.includes("--help") && !words.includes("-h")) return undefined
  let path: Array<string> = []
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!
    if (VALUED.has(w)) {
      i++
      continue
    }
    if (w.startsWith("-")) continue
    const next = [...path, w]
    if (entries.some((e) => e.path.join(" ") === next.join(" "))) path = next
    else break
  }
  return entries.find((e) => e.path.join(" ") === path.join(" "))
}
