import * as Args from "@effect/cli/Args"
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Usage from "@effect/cli/Usage"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { checkRunnable } from "../config/Checks.js"
import {
  AppConfig,
  describeConfig,
  loadConfig,
  runOnly,
  runOnlyButNotify,
  type WemixvisorConfig
} from "../config/Config.js"
import { NETWORK_NAMES } from "../config/Networks.js"
import type { ConfigInvalid } from "../domain/Errors.js"
import { VERSION } from "../version.js"
import type { HelpEntry } from "./help.js"
import { loggerLayer } from "./logging.js"
import { Runner } from "./run.js"

/*
 * The command tree (ARCHITECTURE §5). Each handler loads its implementation with a
 * dynamic import, so light commands (`version`, `upgrade list`) never load
 * viem, the HTTP server or the RPC stack — the bundle is code-split on these
 * boundaries.
 */

const home = Options.directory("home", { exists: "either" }).pipe(
  Options.withDescription("DAEMON_HOME: the node's home folder (absolute)"),
  Options.optional
)
const name = Options.text("name").pipe(
  Options.withDescription("DAEMON_NAME: the node binary's file name"),
  Options.optional
)

const root = Command.make("wemixvisor", { home, name }).pipe(
  Command.withDescription(
    "Supervises a WEMIX (or any Ethereum JSON-RPC) node and upgrades its binary at a block height"
  )
)

/**
 * The effective configuration: root flags over the environment over the
 * config file over defaults. With `tolerate` (Config.runOnly), a bad value
 * this command never reads is set aside with a warning on stderr: `upgrade
 * list` still works with a bad DAEMON_HOOK_TIMEOUT; `run` and `config` refuse it.
 */
const configWith = (tolerate?: (name: string) => boolean, warn = true) =>
  Effect.gen(function*() {
    const flags = yield* root
    const c = yield* loadConfig({
      flags: {
        DAEMON_HOME: Option.getOrUndefined(flags.home),
        DAEMON_NAME: Option.getOrUndefined(flags.name)
      },
      env: process.env
    }, tolerate)
    for (const e of warn ? c.ignored : []) {
      yield* Console.error(`warning: ${e.message} — not used by this command, ignored (\`run\` refuses it)`)
    }
    return c
  })
const config = configWith()
const lightConfig = configWith(runOnly)

/** Runs a handler with the configuration and the configured logger. */
const withConfig = <A, E, R>(
  f: (c: WemixvisorConfig) => Effect.Effect<A, E, R>,
  loaded: Effect.Effect<WemixvisorConfig, ConfigInvalid, Command.Command.Context<"wemixvisor">> = config
) => Effect.flatMap(loaded, (c) => f(c).pipe(Effect.provide(loggerLayer(c.logFormat, () => c.logLevel))))

/**
 * What `init` and the `upgrade` commands run with: the configuration, the
 * configured logger and the local CLI's services (Local.ts, loaded only by
 * these commands), wired once per invocation.
 */
const local = Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./Local.js")), (m) => m.layer)).pipe(
  Layer.provideMerge(
    Layer.unwrapEffect(
      Effect.map(
        lightConfig,
        (c) => Layer.merge(Layer.succeed(AppConfig, c), loggerLayer(c.logFormat, () => c.logLevel))
      )
    )
  )
)

const init = Command.make(
  "init",
  {
    binary: Args.file({ name: "genesis-binary" }).pipe(Args.withDescription("the node binary to start from")),
    force: Options.boolean("force").pipe(
      Options.withDescription("re-create an existing home (current is never moved)")
    ),
    network: Options.choice("network", NETWORK_NAMES).pipe(
      Options.withDescription("also write wemixvisor/config.toml for this network"),
      Options.optional
    )
  },
  ({ binary, force, network }) =>
    Effect.flatMap(Effect.promise(() => import("./init.js")), (m) => m.init(binary, force, network))
).pipe(
  Command.withDescription("Create the layout under $DAEMON_HOME/wemixvisor and copy the genesis binary"),
  Command.provide(local)
)

const run = Command.make(
  "run",
  {
    nodeArgs: Args.text({ name: "node-args" }).pipe(
      Args.withDescription("passed to the node as they are (after --)"),
      Args.repeated
    )
  },
  ({ nodeArgs }) => withConfig((c) => Effect.flatMap(Runner, (runner) => runner.run(c, nodeArgs)))
).pipe(Command.withDescription("Supervise the node until SIGTERM/SIGINT; node arguments go after --"))

const configCheck = Command.make(
  "check",
  { json: Options.boolean("json").pipe(Options.withDescription("print the findings as a JSON array")) },
  ({ json }) =>
    // The configuration as it loads or the reason it does not: that reason is a finding too.
    Effect.flatMap(
      // Every bad value tolerated, to be listed as a finding each (not only the first, as `run` says it).
      Effect.zip(Effect.either(configWith(() => true, false)), Effect.promise(() => import("./config-check.js"))),
      ([loaded, m]) => m.configCheck(loaded, { json })
    )
).pipe(
  Command.withDescription(
    "Check the configuration and what would only fail later (hooks, verify timings, room for a backup, the RPC and its chain id) without starting anything; a line per finding"
  )
)

const configCmd = Command.make(
  "config",
  { json: Options.boolean("json").pipe(Options.withDescription("print JSON")) },
  ({ json }) =>
    Effect.flatMap(Effect.tap(config, checkRunnable), (c) => {
      const table = describeConfig(c)
      return json
        ? Console.log(JSON.stringify(table, null, 2))
        : Console.log(
          Object.entries(table)
            .map(([k, v]) => `${k.toUpperCase()}=${v ?? ""}`)
            .join("\n")
        )
    })
).pipe(
  Command.withDescription("Print the effective configuration (`config check`: check it and what would fail later)"),
  Command.withSubcommands([configCheck])
)

const notifyTest = Command.make(
  "test",
  {},
  () =>
    withConfig(
      (c) => Effect.flatMap(Effect.promise(() => import("./notify.js")), (m) => m.notifyTest(c)),
      configWith(runOnlyButNotify)
    )
).pipe(
  Command.withDescription(
    "Send a test message to every configured channel and say, per channel, whether it was delivered (exit 1 if one was not)"
  )
)
const NOTIFY_DESCRIPTION = "Notifications: webhook, Slack, Discord, Telegram, e-mail"
const notify = Command.make("notify").pipe(
  Command.withDescription(NOTIFY_DESCRIPTION),
  Command.withSubcommands([notifyTest])
)

const dashboard = Command.make(
  "dashboard",
  {
    open: Options.boolean("open").pipe(
      Options.withDescription("also open it in the desktop's browser (xdg-open; open on macOS)")
    )
  },
  ({ open }) =>
    withConfig(
      (c) => Effect.flatMap(Effect.promise(() => import("./dashboard.js")), (m) => m.dashboard(c, open)),
      lightConfig
    )
).pipe(
  Command.withDescription(
    "Print the URL of the web dashboard the running supervisor serves on WEMIXVISOR_API_ADDR, with this home's API token in it"
  )
)

const version = Command.make("version", {}, () => Console.log(`wemixvisor ${VERSION}`)).pipe(
  Command.withDescription("Print the version")
)

// ---------------------------------------------------------------------------
// upgrade … (implementation in ./upgrade.ts; --remote in ./upgrade-remote.ts)

const remote = Options.text("remote").pipe(
  Options.withDescription(
    "send the command to a running wemixvisor's API (RPC) at this URL instead (default: WEMIXVISOR_API_URL)"
  ),
  Options.optional
)
const jsonOutput = Options.boolean("json").pipe(Options.withDescription("print JSON"))
const upgradeImpl = Effect.promise(() => import("./upgrade.js"))

const upgradeName = Args.text({ name: "name" }).pipe(
  Args.withDescription("upgrade name: the folder under upgrades/ (A-Z a-z 0-9 . _ -)")
)
const upgradeHeight = Args.text({ name: "height" }).pipe(
  Args.withDescription("block height: the old binary processes it, the new one continues")
)
/** Where the binary comes from and what a failure does: `upgrade schedule`'s, and (for every node) the fleet's. */
const sourceOptions = (fleet: boolean) => ({
  binaries: Options.text("binaries").pipe(
    Options.withDescription(
      `where ${
        fleet ? "each node downloads" : "to download"
      } the binary: one URL (any platform), or a JSON map '{"linux/amd64":"<url>",…}' (needs DAEMON_ALLOW_DOWNLOAD_BINARIES=true${
        fleet ? " there" : ""
      })`
    ),
    Options.optional
  ),
  url: Options.text("url").pipe(Options.withDescription("alias of --binaries with one URL"), Options.optional),
  checksum: Options.text("checksum").pipe(
    Options.withDescription("sha256:<hex> or sha512:<hex> of the artifact at the one URL"),
    Options.optional
  ),
  checksums: Options.text("checksums").pipe(
    Options.withDescription(`per platform, for a map of URLs: '{"linux/amd64":"sha256:<hex>",…}'`),
    Options.optional
  ),
  info: Options.text("info").pipe(Options.withDescription("free text kept with the upgrade"), Options.optional),
  onFailure: Options.text("on-failure").pipe(
    Options.withDescription(
      `rollback or halt: what this upgrade does when it fails (default: ${
        fleet ? "each node's " : ""
      }DAEMON_ON_UPGRADE_FAILURE)`
    ),
    Options.optional
  )
})

const schedule = Command.make(
  "schedule",
  {
    name: upgradeName,
    height: upgradeHeight,
    binary: Options.file("binary").pipe(
      Options.withDescription("copy this binary to upgrades/<name>/bin/$DAEMON_NAME"),
      Options.optional
    ),
    ...sourceOptions(false),
    force: Options.boolean("force").pipe(
      Options.withDescription("schedule even at or below the chain head, or when the node cannot be reached")
    ),
    remote
  },
  (o) => Effect.flatMap(upgradeImpl, (m) => m.schedule(o))
).pipe(Command.withDescription("Schedule an upgrade at a block height"))

const list = Command.make("list", { json: jsonOutput, remote }, (o) => Effect.flatMap(upgradeImpl, (m) => m.list(o)))
  .pipe(Command.withDescription("List every upgrade in the plan, whatever its status"))

const cancel = Command.make(
  "cancel",
  {
    name: Args.text({ name: "name" }).pipe(Args.withDescription("default: the only pending upgrade"), Args.optional),
    remote
  },
  (o) => Effect.flatMap(upgradeImpl, (m) => m.cancel(o))
).pipe(Command.withDescription("Cancel a pending upgrade"))

const status = Command.make(
  "status",
  { json: jsonOutput, remote },
  (o) => Effect.flatMap(upgradeImpl, (m) => m.status(o))
).pipe(Command.withDescription("Show the supervisor, the node, the chain head and the upgrades (works without `run`)"))

const prepare = Command.make(
  "prepare",
  { name: Args.text({ name: "name" }).pipe(Args.withDescription("a pending upgrade")), remote },
  (o) => Effect.flatMap(upgradeImpl, (m) => m.prepare(o))
).pipe(
  Command.withDescription(
    "Download (when not in place), verify, check and probe an upgrade's binary now; exit 0 ready, 1 failed, 2 bad input"
  )
)

const check = Command.make(
  "check",
  {
    name: Args.text({ name: "name" }).pipe(Args.withDescription("a pending upgrade")),
    json: Options.boolean("json").pipe(
      Options.withDescription("print JSON: {name, height, go, findings, eta, eta_seconds, on_failure}")
    ),
    remote
  },
  (o) => Effect.flatMap(Effect.promise(() => import("./upgrade-check.js")), (m) => m.check(o))
).pipe(
  Command.withDescription(
    "Would this pending upgrade go through now: binary (checksum, version), hooks, backup room, verify timings, RPC and chain id, ETA, what a failure does; exit 0 go, 1 a problem, 2 bad input"
  )
)

const history = Command.make(
  "history",
  {
    json: Options.boolean("json").pipe(Options.withDescription("print a JSON array of the records")),
    name: Options.text("name").pipe(Options.withDescription("only this upgrade's entries"), Options.optional),
    limit: Options.integer("limit").pipe(
      Options.withDescription("the last K entries (default: 50; with --json, all)"),
      Options.optional
    )
  },
  (o) => Effect.flatMap(upgradeImpl, (m) => m.history(o))
).pipe(
  Command.withDescription(
    "Print the audit trail, oldest first: every schedule, cancel, prepare and upgrade step, with the door (cli, rest, rpc, drop-in, governance) and the API peer or transaction (works without `run`)"
  )
)

const pause = Command.make(
  "pause",
  {
    reason: Options.text("reason").pipe(
      Options.withDescription("why (one line, kept with the pause and shown wherever it is)"),
      Options.optional
    ),
    remote
  },
  (o) => Effect.flatMap(upgradeImpl, (m) => m.pause(o))
).pipe(
  Command.withDescription(
    "Hold every upgrade: none fires, even past its height, until `upgrade resume` (survives a restart of wemixvisor)"
  )
)

const resume = Command.make("resume", { remote }, (o) => Effect.flatMap(upgradeImpl, (m) => m.resume(o))).pipe(
  Command.withDescription("Lift `upgrade pause`; an upgrade whose height passed meanwhile fires at once")
)

const proposals = Command.make(
  "proposals",
  { json: Options.boolean("json").pipe(Options.withDescription("print JSON: {proposals, count}")), remote },
  (o) => Effect.flatMap(upgradeImpl, (m) => m.proposals(o))
).pipe(
  Command.withDescription(
    "Show the governance proposals calling the upgrade registry that the running supervisor tracks (DAEMON_GOVERNANCE_GOVERNOR): state, actions, votes against the quorum, voting window; newest first"
  )
)

const UPGRADE_DESCRIPTION =
  "Schedule, prepare, list and cancel upgrades; show their status, history and governance proposals"

const upgrade = Command.make("upgrade").pipe(
  Command.withDescription(UPGRADE_DESCRIPTION),
  Command.withSubcommands([schedule, list, cancel, status, prepare, check, history, pause, resume, proposals]),
  Command.provide(local)
)

// node … (implementation in ./upgrade.ts: it talks to the running supervisor like `upgrade … --remote`)

const nodeRestart = Command.make(
  "restart",
  { remote },
  (o) => Effect.flatMap(upgradeImpl, (m) => m.nodeRestart(o))
).pipe(
  Command.withDescription(
    "Restart the node under the running supervisor (graceful stop, start, restart counters reset; out of `error` too); refused during an upgrade"
  )
)
const NODE_DESCRIPTION = "The supervised node: restart it without restarting wemixvisor"
const node = Command.make("node").pipe(
  Command.withDescription(NODE_DESCRIPTION),
  Command.withSubcommands([nodeRestart]),
  Command.provide(local)
)

// ---------------------------------------------------------------------------
// fleet … (implementation in ./fleet.ts and ../fleet/): the upgrade commands on many supervisors at once

const fleetImpl = Effect.promise(() => import("./fleet.js"))
const fleetFile = Options.text("fleet").pipe(
  Options.withDescription(
    "the fleet file: one [[node]] table per supervisor with name, url and token or token_file (default: WEMIXVISOR_FLEET)"
  ),
  Options.optional
)
const fleetRemote = Options.text("remote").pipe(
  Options.withDescription(
    "instead of a fleet file: the supervisors' API URLs, comma-separated (named host:port; token: WEMIXVISOR_API_TOKEN)"
  ),
  Options.optional
)
const fleetConcurrency = Options.integer("concurrency").pipe(
  Options.withDescription("call at most this many nodes at once (default: 4)"),
  Options.optional
)
const fleetTimeout = (what: string) =>
  Options.text("timeout").pipe(
    Options.withDescription(`each node's answer, at most (default: ${what})`),
    Options.optional
  )
const fleetOptions = (timeout: string) => ({
  fleet: fleetFile,
  remote: fleetRemote,
  concurrency: fleetConcurrency,
  timeout: fleetTimeout(timeout)
})
const binaryOptions = sourceOptions(true)

const fleetStatus = Command.make(
  "status",
  {
    json: Options.boolean("json").pipe(Options.withDescription("print JSON: nodes, upgrades, attention, green")),
    check: Options.boolean("check").pipe(
      Options.withDescription("also run `upgrade check` on each node for each upgrade pending there (a NO GO: exit 1)")
    ),
    ...fleetOptions("10s")
  },
  (o) => Effect.flatMap(fleetImpl, (m) => m.status(o))
).pipe(
  Command.withDescription(
    "The readiness board: a row per node (head, node state, current and its version, each pending upgrade's readiness and ETA) and a line per pending upgrade across the fleet; exit 0 only when all is ready"
  )
)

const fleetSchedule = Command.make(
  "schedule",
  {
    name: upgradeName,
    height: upgradeHeight,
    ...binaryOptions,
    force: Options.boolean("force").pipe(
      Options.withDescription("schedule even at or below a node's chain head, or when its node cannot be reached")
    ),
    ...fleetOptions("30s")
  },
  (o) => Effect.flatMap(fleetImpl, (m) => m.schedule(o))
).pipe(Command.withDescription("Schedule an upgrade at one block height on every node; a result line per node"))

const fleetCancel = Command.make(
  "cancel",
  {
    name: Args.text({ name: "name" }).pipe(
      Args.withDescription("default: each node's only pending upgrade"),
      Args.optional
    ),
    ...fleetOptions("30s")
  },
  (o) => Effect.flatMap(fleetImpl, (m) => m.cancel(o))
).pipe(Command.withDescription("Cancel a pending upgrade on every node; a result line per node"))

const fleetPrepare = Command.make(
  "prepare",
  { name: Args.text({ name: "name" }).pipe(Args.withDescription("a pending upgrade")), ...fleetOptions("30m") },
  (o) => Effect.flatMap(fleetImpl, (m) => m.prepare(o))
).pipe(
  Command.withDescription(
    "Download, verify and probe an upgrade's binary now on every node; a result line per node"
  )
)

const fleetRoll = Command.make(
  "roll",
  {
    name: Args.text({ name: "name" }).pipe(Args.withDescription("the upgrade (a patch release) to roll out")),
    heightOffset: Options.integer("height-offset").pipe(
      Options.withDescription("schedule it on each node at its chain head + this many blocks (default: 10)"),
      Options.optional
    ),
    ...binaryOptions,
    rollTimeout: Options.text("roll-timeout").pipe(
      Options.withDescription("how long one node may take from its schedule to the upgrade's end (default: 15m)"),
      Options.optional
    ),
    ...fleetOptions("30s")
  },
  (o) => Effect.flatMap(fleetImpl, (m) => m.roll(o))
).pipe(
  Command.withDescription(
    "Roll an upgrade out one node at a time, in the fleet's order: schedule it at the node's head + offset, wait until it is done (verified), then the next; stops at the first failure"
  )
)

const FLEET_DESCRIPTION =
  "The upgrade commands on every supervisor of a fleet file (or --remote a,b,c) at once; roll a patch release node by node"
const fleet = Command.make("fleet").pipe(
  Command.withDescription(FLEET_DESCRIPTION),
  Command.withSubcommands([fleetStatus, fleetSchedule, fleetCancel, fleetPrepare, fleetRoll])
)

export const command = root.pipe(
  Command.withSubcommands([init, run, upgrade, node, fleet, dashboard, notify, configCmd, version])
)

export const cli = Command.run(command, { name: "wemixvisor", version: VERSION })

/** Each command's help, from its own definition (rendered by ./help.ts). */
const entry = <N extends string, R, E, A>(
  path: ReadonlyArray<string>,
  c: Command.Command<N, R, E, A>,
  subcommands: ReadonlyArray<readonly [string, string]> = []
): HelpEntry => ({
  path,
  help: () => Command.getHelp(c, CliConfig.defaultConfig),
  usage: () => Usage.getHelp(Command.getUsage(c)),
  subcommands
})

export const helpEntries: ReadonlyArray<HelpEntry> = [
  entry([], root, [
    ["init", "create the layout and copy the genesis binary"],
    ["run", "supervise the node until SIGTERM/SIGINT"],
    ["upgrade", "schedule, prepare, list, cancel upgrades; status, history; pause, resume; proposals"],
    ["node", "restart the node without restarting wemixvisor"],
    ["fleet", "status, schedule, cancel, prepare on many supervisors at once; roll node by node"],
    ["dashboard", "print the web dashboard's URL with the token (--open: open it)"],
    ["notify", "notifications: send a test message to every channel"],
    ["config", "print the effective configuration; config check: check it, every finding"],
    ["version", "print the version"]
  ]),
  entry(["init"], init),
  entry(["run"], run),
  entry(
    ["upgrade"],
    Command.make("upgrade").pipe(Command.withDescription(UPGRADE_DESCRIPTION)),
    [
      ["schedule", "schedule an upgrade at a block height"],
      ["list", "list every upgrade in the plan"],
      ["cancel", "cancel a pending upgrade"],
      ["status", "the supervisor, the node, the chain head and the upgrades"],
      ["prepare", "download, verify and probe an upgrade's binary now"],
      ["check", "would a pending upgrade go through now: go / NO GO"],
      ["history", "the audit trail: schedules, cancels, preparations, upgrade steps"],
      ["pause", "hold every upgrade until resume"],
      ["resume", "lift the pause; a due upgrade fires at once"],
      ["proposals", "governance proposals the running supervisor tracks"]
    ]
  ),
  entry(["upgrade", "schedule"], schedule),
  entry(["upgrade", "list"], list),
  entry(["upgrade", "cancel"], cancel),
  entry(["upgrade", "status"], status),
  entry(["upgrade", "prepare"], prepare),
  entry(["upgrade", "check"], check),
  entry(["upgrade", "history"], history),
  entry(["upgrade", "pause"], pause),
  entry(["upgrade", "resume"], resume),
  entry(["upgrade", "proposals"], proposals),
  entry(
    ["node"],
    Command.make("node").pipe(Command.withDescription(NODE_DESCRIPTION)),
    [["restart", "graceful stop and start, out of `error` too"]]
  ),
  entry(["node", "restart"], nodeRestart),
  entry(
    ["fleet"],
    Command.make("fleet").pipe(Command.withDescription(FLEET_DESCRIPTION)),
    [
      ["status", "the readiness board: a row per node, a line per pending upgrade"],
      ["schedule", "schedule an upgrade on every node"],
      ["cancel", "cancel a pending upgrade on every node"],
      ["prepare", "download, verify and probe an upgrade's binary on every node"],
      ["roll", "one node at a time: schedule at head + offset, wait until done, next"]
    ]
  ),
  entry(["fleet", "status"], fleetStatus),
  entry(["fleet", "schedule"], fleetSchedule),
  entry(["fleet", "cancel"], fleetCancel),
  entry(["fleet", "prepare"], fleetPrepare),
  entry(["fleet", "roll"], fleetRoll),
  entry(["dashboard"], dashboard),
  entry(
    ["notify"],
    Command.make("notify").pipe(Command.withDescription(NOTIFY_DESCRIPTION)),
    [["test", "send a test message to every configured channel"]]
  ),
  entry(["notify", "test"], notifyTest),
  {
    ...entry(["config"], configCmd, [[
      "check",
      "check the configuration and what would fail later; exit 2 on an error"
    ]]),
    runsAlone: true
  },
  entry(["config", "check"], configCheck),
  entry(["version"], version)
]
