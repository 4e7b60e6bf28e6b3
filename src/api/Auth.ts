import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as net from "node:net"
import type { WemixvisorConfig } from "../config/Config.js"
import { ConfigInvalid } from "../domain/Errors.js"

/*
 * API access (ARCHITECTURE §6): every call but the public routes needs
 * `Authorization: Bearer <token>` (WEMIXVISOR_API_TOKEN, or the generated
 * api.token: see Token.ts). An API reachable from other machines needs
 * WEMIXVISOR_API_TOKEN set: a generated file token is for the home's own CLI.
 */

/** `host:port` / `[v6]:port` (already validated by the config) split for listen(). */
export const listenAddress = (addr: string): { readonly host: string; readonly port: number } => {
  const i = addr.lastIndexOf(":")
  const host = addr.slice(0, i).replace(/^\[(.*)\]$/, "$1")
  return { host, port: Number(addr.slice(i + 1)) }
}

/**
 * The API as a client on this machine reaches it: `http://host:port` from
 * WEMIXVISOR_API_ADDR, an address that binds every interface (0.0.0.0, ::)
 * as loopback (127.0.0.1, [::1]), an IPv6 address in brackets.
 */
export const localApiUrl = (addr: string): string => {
  const { host, port } = listenAddress(addr)
  const reachable = host === "0.0.0.0"
    ? "127.0.0.1"
    : net.isIPv6(host)
    ? /^[0:]+$/.test(host) ? "[::1]" : `[${host}]`
    : host
  return `http://${reachable}:${port}`
}

/** Loopback only: 127.0.0.0/8, ::1 (also as ::ffff:127.x), or `localhost`. */
export const isLoopback = (host: string): boolean => {
  if (host === "localhost") return true
  if (net.isIPv4(host)) return host.startsWith("127.")
  if (net.isIPv6(host)) {
    const h = host.toLowerCase()
    return h === "::1" || /^::ffff:127\./.test(h)
  }
  return false
}

/** `run` refuses (exit 2) to serve the API beyond loopback without a token. */
export const checkExposure = (config: WemixvisorConfig): Effect.Effect<void, ConfigInvalid> =>
  isLoopback(listenAddress(config.apiAddr).host) || Option.isSome(config.apiToken)
    ? Effect.void
    : Effect.fail(
      new ConfigInvalid({
        variable: "WEMIXVISOR_API_ADDR",
        value: config.apiAddr,
        problem: "is not a loopback address, so WEMIXVISOR_API_TOKEN must be set (every API call then needs it)"
      })
    )

const digest = (s: string) => crypto.createHash("sha256").update(s, "utf8").digest()

/**
 * Whether an Authorization header carries the token. Compared in constant
 * time over SHA-256 digests (equal lengths whatever the input), so neither
 * the token's content nor its length leaks through timing.
 */
export const bearerMatches = (token: string, header: string): boolean => {
  const m = /^Bearer[ \t]+(.+)$/i.exec(header.trim())
  // Compared even when the scheme is wrong, so a malformed header costs the same as a wrong token.
  const same = crypto.timingSafeEqual(digest(m?.[1]?.trim() ?? ""), digest(token))
  return m !== null && same
}

/** Why a request is refused, or none when it carries the token. */
export const authProblem = (token: string, header: string | undefined): Option.Option<string> =>
  header === undefined
    ? Option.some("missing Authorization: Bearer <token> (WEMIXVISOR_API_TOKEN, or $DAEMON_HOME/wemixvisor/api.token)")
    : bearerMatches(token, header)
    ? Option.none()
    : Option.some("wrong bearer token")
