import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { localApiUrl } from "../api/Auth.js"
import { clientToken } from "../api/Token.js"
import type { WemixvisorConfig } from "../config/Config.js"
import { NoApiToken } from "../domain/Errors.js"
import { lockHolder } from "../platform/LockFile.js"

/*
 * `wemixvisor dashboard [--open]` (ARCHITECTURE §5): the URL of the web
 * dashboard the home's running supervisor serves on WEMIXVISOR_API_ADDR, the
 * API token in its fragment (`#token=…`: a fragment never leaves the browser,
 * and the page removes it from the address bar once read). The token is the
 * one this home's CLI sends: WEMIXVISOR_API_TOKEN, else the api.token `run`
 * generated. --open also hands the URL to the desktop's opener.
 */

/** The dashboard's address with the token in the fragment (percent-encoded: the page decodes it). */
export const dashboardUrl = (apiAddr: string, token: string): string =>
  `${localApiUrl(apiAddr)}/#token=${encodeURIComponent(token)}`

/** The program that opens a URL in the desktop's browser. */
export const opener = (platform: NodeJS.Platform = process.platform): string =>
  platform === "darwin" ? "open" : "xdg-open"

/** How long --open waits for the opener to fail before leaving it to run on its own. */
const OPEN_WAIT_MS = 1000

/**
 * Starts `<opener> <url>` detached (it outlives this command) and answers
 * why it could not, or null: not found or not startable, or an exit with a
 * failure code within OPEN_WAIT_MS (xdg-open with no browser configured).
 */
export const openUrl = (url: string, command: string = opener()): Effect.Effect<string | null> =>
  Effect.async<string | null>((resume) => {
    let done = false
    const finish = (problem: string | null) => {
      if (done) return
      done = true
      clearTimeout(timer)
      child?.unref()
      resume(Effect.succeed(problem))
    }
    let child: ReturnType<typeof spawn> | undefined
    const timer = setTimeout(() => finish(null), OPEN_WAIT_MS)
    try {
      child = spawn(command, [url], { detached: true, stdio: "ignore" })
    } catch (e) {
      finish(`${command} could not be started: ${e instanceof Error ? e.message : String(e)}`)
      return
    }
    child.once("error", (e) => finish(`${command} could not be started: ${e.message}`))
    child.once("exit", (code, signal) =>
      finish(
        code === 0 ? null : `${command} failed (${signal !== null ? `killed by ${signal}` : `exit code ${code}`})`
      ))
  })

export const dashboard = (config: WemixvisorConfig, open: boolean) =>
  Effect.gen(function*() {
    const token = clientToken(config)
    if (Option.isNone(token)) {
      const file = config.layout.apiToken
      return yield* new NoApiToken({ file, exists: fs.existsSync(file) })
    }
    const url = dashboardUrl(config.apiAddr, token.value.token)
    yield* Console.log(url)
    if (lockHolder(config.layout.runLock) === undefined) {
      yield* Console.error(
        `warning: no \`wemixvisor run\` is running on ${config.home}: the page loads once it is (it serves the dashboard on ${config.apiAddr})`
      )
    }
    if (!open) return
    const problem = yield* openUrl(url)
    if (problem !== null) yield* Console.error(`warning: the browser was not opened: ${problem}; open the URL above`)
  })
