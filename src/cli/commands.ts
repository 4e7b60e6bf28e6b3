import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { describeConfig, loadConfig, type WemixvisorConfig } from "../config/Config.js"
import { VERSION } from "../version.js"
import { loggerLayer } from "./logging.js"

/*
 * The command tree (DESIGN §4). Each handler loads its implementation with a
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
  Command.withDescription("Supervises a WEMIX (or any Ethereum JSON-RPC) node and upgrades its binary at a block height")
)

/** The effective configuration: root flags over the environment over config.toml over defaults. */
const config = Effect.gen(function* () {
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

const init = Command.make(
  "init",
  {
    binary: Args.file({ name: "genesis-binary" }).pipe(Args.withDescription("the node binary to start from")),
    force: Options.boolean("force").pipe(Options.withDescription("re-create an existing home (current is never moved)"))
  },
  ({ binary, force }) =>
    withConfig((c) => Effect.flatMap(Effect.promise(() => import("./init.js")), (m) => m.init(c, binary, force)))
).pipe(Command.withDescription("Create the layout under $DAEMON_HOME/wemixvisor and copy the genesis binary"))

const run = Command.make(
  "run",
  { nodeArgs: Args.text({ name: "node-args" }).pipe(Args.repeated) },
  ({ nodeArgs }) =>
    withConfig((c) => Effect.flatMap(Effect.promise(() => import("./run.js")), (m) => m.run(c, nodeArgs)))
).pipe(Command.withDescription("Supervise the node until SIGTERM/SIGINT; node arguments go after --"))

const configCmd = Command.make(
  "config",
  { json: Options.boolean("json").pipe(Options.withDescription("print JSON")) },
  ({ json }) =>
    Effect.flatMap(config, (c) => {
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

const version = Command.make("version", {}, () => Console.log(`wemixvisor ${VERSION}`)).pipe(
  Command.withDescription("Print the version")
)

export const command = root.pipe(Command.withSubcommands([init, run, configCmd, version]))

export const cli = Command.run(command, { name: "wemixvisor", version: VERSION })
