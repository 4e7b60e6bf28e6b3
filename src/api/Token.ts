import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import type { WemixvisorConfig } from "../config/Config.js"
import { ConfigInvalid, IoError } from "../domain/Errors.js"
import type { Layout } from "../domain/Layout.js"
import { isErrno } from "../platform/Errno.js"
import { fsyncPath } from "../platform/Files.js"

/*
 * The API's bearer token (ARCHITECTURE §3 api.token, §6 Access). Loopback is not an
 * access control on its own — any web page in a browser on the node's host
 * can reach 127.0.0.1 — so the API always needs a token. WEMIXVISOR_API_TOKEN
 * when set; otherwise `run` generates one at first start into
 * `$DAEMON_HOME/wemixvisor/api.token` and reuses it after, and the CLI on the
 * same home reads it, so no documented flow needs any setup.
 */

/** 256 random bits, hex: what a generated token is made of. */
const generate = () => crypto.randomBytes(32).toString("hex")

/** The token in a file: its one line, or a problem with the file. */
const parseTokenFile = (file: string, text: string): Effect.Effect<string, ConfigInvalid> => {
  const token = text.trim()
  return token === "" || /\s/.test(token)
    ? Effect.fail(
      new ConfigInvalid({
        variable: "api.token",
        value: file,
        problem: "must hold one token on one line; delete it and `run` makes a new one"
      })
    )
    : Effect.succeed(token)
}

/** Readable by others than its owner: a token anyone on the host can read is no token. */
const checkMode = (file: string): Effect.Effect<void, ConfigInvalid | IoError> =>
  Effect.try({ try: () => fs.statSync(file).mode, catch: (cause) => new IoError({ op: "stat", path: file, cause }) })
    .pipe(
      Effect.flatMap((mode) =>
        (mode & 0o077) === 0
          ? Effect.void
          : Effect.fail(
            new ConfigInvalid({
              variable: "api.token",
              value: file,
              problem: `is readable by other users (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${file}`
            })
          )
      )
    )

/**
 * The home's token file, created when absent: written to a temp file with
 * mode 0600, fsynced, then hard-linked into place — `link` fails when the
 * file exists, so two processes racing here agree on one token.
 */
export const ensureTokenFile = (
  layout: Layout
): Effect.Effect<{ readonly token: string; readonly created: boolean }, ConfigInvalid | IoError> =>
  Effect.gen(function*() {
    const file = layout.apiToken
    const created = yield* Effect.try({
      try: () => {
        if (fs.existsSync(file)) return false
        const tmp = path.join(path.dirname(file), `.api.token.${process.pid}.${Date.now()}.tmp`)
        try {
          fs.writeFileSync(tmp, generate() + "\n", { mode: 0o600, flag: "wx" })
          fsyncPath(tmp)
          fs.linkSync(tmp, file)
          fsyncPath(path.dirname(file))
          return true
        } catch (e) {
          if (isErrno(e, "EEXIST")) return false
          throw e
        } finally {
          fs.rmSync(tmp, { force: true })
        }
      },
      catch: (cause) => new IoError({ op: "create", path: file, cause })
    })
    yield* checkMode(file)
    const text = yield* Effect.try({
      try: () => fs.readFileSync(file, "utf8"),
      catch: (cause) => new IoError({ op: "read", path: file, cause })
    })
    return { token: yield* parseTokenFile(file, text), created }
  })

/**
 * The token the server requires: WEMIXVISOR_API_TOKEN when set, else the
 * home's file, generated on first use (logged once, never the token itself).
 */
export const serverToken = (config: WemixvisorConfig): Effect.Effect<string, ConfigInvalid | IoError> =>
  Option.match(config.apiToken, {
    onSome: Effect.succeed,
    onNone: () =>
      ensureTokenFile(config.layout).pipe(
        Effect.tap(({ created }) =>
          created
            ? Effect.logInfo(
              `API token generated in ${config.layout.apiToken} (mode 0600); the CLI on this home reads it`
            )
            : Effect.void
        ),
        Effect.map(({ token }) => token)
      )
  })

/**
 * The token a client on this home sends: WEMIXVISOR_API_TOKEN when set, else
 * the home's file when it exists and can be read (none otherwise: the server
 * then answers why it refused).
 */
export const clientToken = (
  config: WemixvisorConfig
): Option.Option<{ readonly token: string; readonly source: string }> => {
  if (Option.isSome(config.apiToken)) {
    return Option.some({ token: config.apiToken.value, source: "WEMIXVISOR_API_TOKEN" })
  }
  try {
    const token = fs.readFileSync(config.layout.apiToken, "utf8").trim()
    return token === "" ? Option.none() : Option.some({ token, source: config.layout.apiToken })
  } catch {
    return Option.none()
  }
}
