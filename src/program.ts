import * as Command from "@effect/cli/Command"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { cli, command, helpEntries } from "./cli/commands.js"
import { fixBashCompletions, isBashCompletions } from "./cli/completions.js"
import { teardown } from "./cli/exit.js"
import { helpRequest, renderHelp } from "./cli/help.js"
import * as Runner from "./Runner.js"
import { VERSION } from "./version.js"

// The CLI, loaded by bin.ts once the V8 flags are set.
//
// Deep imports of just what @effect/cli needs (file system, path, terminal):
// the platform-node barrel, or NodeContext with its command executor and
// workers, would be loaded by every command, `version` included.
const CliEnvironment = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

// `run`'s implementation: the composition root (main.ts), loaded only when `run` is the command.
const Environment = Layer.merge(CliEnvironment, Runner.layer)

// Three invocations are answered here, the rest by @effect/cli: the bash
// completion script needs a fix (completions.ts), help is rendered plain with
// each command's environment and exit codes (help.ts), and `--version` says
// what `version` says.
const args = process.argv.slice(2)
const help = helpRequest(helpEntries, args)
const program = isBashCompletions(args)
  ? Effect.flatMap(
    Command.getBashCompletions(command, "wemixvisor"),
    (lines) => Console.log(fixBashCompletions(lines.join("\n")))
  )
  : help !== undefined
  ? Console.log(renderHelp(help, VERSION))
  : args.length === 1 && args[0] === "--version"
  ? Console.log(`wemixvisor ${VERSION}`)
  : cli(process.argv)

program.pipe(
  Effect.provide(Environment),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true, teardown })
)
