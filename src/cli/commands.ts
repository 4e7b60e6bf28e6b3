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
import { AppConfig, describeConfig, loadConfig, type WemixvisorConfig } from "../config/Config.js"
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

/** The effective configuration: root flags over the environment over config.toml over defaults. */
const config = Effect.gen(function*() {
  const flags = yield* root
  return yield* loadConfig({
    flags: {
      DAEMON_HOME: Option.getOrUndefined(flags.home),
      DAEMON_NAME: Option.getOrUndefined(flags.name)
    },
    env: process.env
  })
})

/** Runs a handler with the configuration and the configured logger. */
const withConfig = <A, E, R>(f: (c: WemixvisorConfig) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(config, (c) => f(c).pipe(Effect.provide(loggerLayer(c.logFormat))))

/**
 * What `init` and the `upgrade` commands run with: the configuration, the
 * configured logger and the local CLI's services (Local.ts, loaded only by
 * these commands), wired once per invocation.
 */
const local = Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./Local.js")), (m) => m.layer)).pipe(
  Layer.provideMerge(
    Layer.unwrapEffect(Effect.map(config, (c) => Layer.merge(Layer.succeed(AppConfig, c), loggerLayer(c.logFormat))))
  )
)

const init = Command.make(
  "init",
  {
    binary: Args.file({ name: "genesis-binary" }).pipe(Args.withDescription("the node binary to start from")),
    force: Options.boolean("force").pipe(Options.withDescription("re-create an existing home (current is never moved)"))
  },
  ({ binary, force }) => Effect.flatMap(Effect.promise(() => import("./init.js")), (m) => m.init(binary, force))
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
).pipe(Command.withDescription("Print the effective configuration"))

const notifyTest = Command.make(
  "test",
  {},
  () => withConfig((c) => Effect.flatMap(Effect.promise(() => import("./notify.js")), (m) => m.notifyTest(c)))
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
    withConfig((c) => Effect.flatMap(Effect.promise(() => import("./dashboard.js")), (m) => m.dashboard(c, open)))
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

const schedule = Command.make(
  "schedule",
  {
    name: Args.text({ name: "name" }).pipe(
      Args.withDescription("upgrade name: the folder under upgrades/ (A-Z a-z 0-9 . _ -)")
    ),
    height: Args.text({ name: "height" }).pipe(
      Args.withDescription("block height: the old binary processes it, the new one continues")
    ),
    binary: Options.file("binary").pipe(
      Options.withDescription("copy this binary to upgrades/<name>/bin/$DAEMON_NAME"),
      Options.optional
    ),
    binaries: Options.text("binaries").pipe(
      Options.withDescription(
        `where to download the binary: one URL (any platform), or a JSON map '{"linux/amd64":"<url>",…}' (needs DAEMON_ALLOW_DOWNLOAD_BINARIES=true)`
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
    force: Options.boolean("force").pipe(
      Options.withDescription("schedule even at or below the chain head, or when the node cannot be reached")
    ),
    onFailure: Options.text("on-failure").pipe(
      Options.withDescription(
        "rollback or halt: what this upgrade does when it fails (default: DAEMON_ON_UPGRADE_FAILURE)"
      ),
      Options.optional
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
    "Print the audit trail, oldest first: every schedule, cancel, prepare and upgrade step, with the door (cli, rest, rpc, drop-in) and the API peer (works without `run`)"
  )
)

const UPGRADE_DESCRIPTION = "Schedule, prepare, list and cancel upgrades; show their status and history"

const upgrade = Command.make("upgrade").pipe(
  Command.withDescription(UPGRADE_DESCRIPTION),
  Command.withSubcommands([schedule, list, cancel, status, prepare, history]),
  Command.provide(local)
)

export const command = root.pipe(
  Command.withSubcommands([init, run, upgrade, dashboard, notify, configCmd, version])
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
    ["upgrade", "schedule, prepare, list, cancel upgrades; status, history"],
    ["dashboard", "print the web dashboard's URL with the token (--open: open it)"],
    ["notify", "notifications: send a test message to every channel"],
    ["config", "print the effective configuration"],
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
      ["history", "the audit trail: schedules, cancels, preparations, upgrade steps"]
    ]
  ),
  entry(["upgrade", "schedule"], schedule),
  entry(["upgrade", "list"], list),
  entry(["upgrade", "cancel"], cancel),
  entry(["upgrade", "status"], status),
  entry(["upgrade", "prepare"], prepare),
  entry(["upgrade", "history"], history),
  entry(["dashboard"], dashboard),
  entry(
    ["notify"],
    Command.make("notify").pipe(Command.withDescription(NOTIFY_DESCRIPTION)),
    [["test", "send a test message to every configured channel"]]
  ),
  entry(["notify", "test"], notifyTest),
  entry(["config"], configCmd),
  entry(["version"], version)
]
