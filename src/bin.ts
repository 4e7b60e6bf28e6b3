import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"
import { cli, command } from "./cli/commands.js"
import { fixBashCompletions, isBashCompletions } from "./cli/completions.js"
import { teardown } from "./cli/exit.js"

// Deep imports of just what @effect/cli needs (file system, path, terminal):
// the platform-node barrel, or NodeContext with its command executor and
// workers, would be loaded by every command, `version` included.
const CliEnvironment = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

// @effect/cli's bash script needs a fix (see completions.ts); every other invocation is the CLI's own.
const program = isBashCompletions(process.argv.slice(2))
  ? Effect.flatMap(Command.getBashCompletions(command, "wemixvisor"), (lines) => Console.log(fixBashCompletions(lines.join("\n"))))
  : cli(process.argv)

program.pipe(
  Effect.provide(CliEnvironment),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true, teardown })
)
