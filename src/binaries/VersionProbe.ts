import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { describeOutcome, runBounded } from "../platform/BoundedProcess.js"
import { errnoOf } from "../platform/Errno.js"
import { VersionProbeFailed } from "./Errors.js"

/*
 * `<binary> $DAEMON_VERSION_ARGS` (default `version`): proves ahead of the
 * height that the binary runs on this machine (right architecture, libraries
 * present), and gives the status its `version`. Bounded by a timeout; the
 * probe's whole process group is killed when it is up, so a binary that
 * starts a node instead of printing a version cannot linger.
 */

/** How long a probe may take unless the caller says otherwise. */
export const defaultProbeTimeout: Duration.Duration = Duration.seconds(10)

const firstLine = (text: string): string | undefined =>
  text
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l !== "")

/**
 * Runs the probe and returns the first non-empty line it printed (stdout
 * first; many Go binaries print their version on stderr). Fails when it
 * cannot run, exits non-zero, is killed, times out, or prints nothing.
 */
export const probeVersion = (
  binary: string,
  args: ReadonlyArray<string>,
  timeout: Duration.DurationInput = defaultProbeTimeout
): Effect.Effect<string, VersionProbeFailed> =>
  runBounded({ file: binary, args, timeout, grace: "1 second", keepBytes: 16_384 }).pipe(
    Effect.mapError(
      (e) =>
        new VersionProbeFailed({
          path: binary,
          problem: `could not run it: ${describeCause(e.cause)}`,
          cannotRun: true
        })
    ),
    Effect.flatMap(({ outcome, stdout, stderr }) => {
      const command = [binary, ...args].join(" ")
      if (outcome._tag !== "Exited" || outcome.code !== 0) {
        const said = firstLine(stderr) ?? firstLine(stdout)
        const cannotRun = outcome._tag === "Exited" && (outcome.code === 126 || outcome.code === 127)
        return Effect.fail(
          new VersionProbeFailed({
            path: binary,
            problem: `\`${command}\` ${describeOutcome(outcome)}${said ? `: ${said}` : ""}`,
            cannotRun
          })
        )
      }
      const line = firstLine(stdout) ?? firstLine(stderr)
      return line === undefined
        ? Effect.fail(new VersionProbeFailed({ path: binary, problem: `\`${command}\` printed nothing` }))
        : Effect.succeed(line)
    }),
    Effect.withSpan("VersionProbe.probeVersion", { attributes: { binary } })
  )

const describeCause = (c: unknown): string => {
  if (c instanceof Error) {
    const code = errnoOf(c)
    if (code === "ENOENT") return "no such file"
    if (code === "EACCES") return "permission denied (is it executable?)"
    if (code === "ENOEXEC") return "not an executable for this machine"
    return c.message
  }
  return String(c)
}
