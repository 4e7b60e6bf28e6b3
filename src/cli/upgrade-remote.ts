import { RpcClientError } from "@effect/rpc/RpcClientError"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { layerProtocol, makeClient, problemOf, refusalOf, type UpgradeClient } from "../api/Client.js"
import { ConfigInvalid, type ErrorKind, InvalidInput, Unauthorized } from "../domain/Errors.js"

/*
 * `upgrade … --remote URL` (or WEMIXVISOR_API_URL): the same operations as
 * the local CLI, sent to a running wemixvisor over its typed RPC API. The
 * server's typed errors keep their tags (InvalidInput, UpgradeConflict, …),
 * so the exit codes are those of the local path.
 */

/** The API did not answer (down, wrong URL, a proxy's error page, no answer in time). */
export class ApiUnreachable
  extends Data.TaggedError("ApiUnreachable")<{ readonly url: string; readonly reason: string }>
{
  get kind(): ErrorKind {
    return "unavailable"
  }
  override get message() {
    return `wemixvisor API ${this.url} unreachable: ${this.reason}`
  }
}

/** What a 404/405 at the RPC path most likely means: the URL names another server (often the node's own RPC port). */
const NOT_OUR_API =
  " — no wemixvisor API answers there (is it the node's RPC port? wemixvisor's API listens on WEMIXVISOR_API_ADDR, 127.0.0.1:8590 by default)"

/** Scheduling may wait for the head check and the plan lock on the server; nothing legitimate takes this long. */
export const REMOTE_TIMEOUT = Duration.seconds(30)

/** `upgrade prepare --remote` waits for a download (with its retries) and a version probe. */
export const PREPARE_TIMEOUT = Duration.minutes(30)

export interface Remote {
  readonly url: string
  readonly token: Option.Option<string>
  /** Where the token came from (WEMIXVISOR_API_TOKEN or the api.token path), for the message when it is refused. */
  readonly tokenSource: string
}

/** Runs `f` with a client of `remote`; transport problems become ApiUnreachable, a refused token ConfigInvalid. */
export const call = <A, E>(
  remote: Remote,
  f: (client: UpgradeClient) => Effect.Effect<A, E | RpcClientError | Unauthorized>,
  timeout: Duration.Duration = REMOTE_TIMEOUT
) =>
  Effect.scoped(Effect.flatMap(makeClient, f)).pipe(
    Effect.provide(layerProtocol({ url: remote.url, token: Option.getOrUndefined(remote.token) })),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new ApiUnreachable({ url: remote.url, reason: `no answer within ${Duration.format(timeout)}` })
    }),
    Effect.catchIf(
      (e): e is RpcClientError | Unauthorized => e instanceof RpcClientError || e instanceof Unauthorized,
      (e): Effect.Effect<never, ApiUnreachable | ConfigInvalid | InvalidInput> => {
        const refused = e instanceof Unauthorized ? Option.some(e) : refusalOf(e)
        if (Option.isNone(refused)) {
          const reason = e instanceof RpcClientError ? problemOf(e) : e.message
          return Effect.fail(
            new ApiUnreachable({
              url: remote.url,
              reason: /^HTTP 40[45]\b/.test(reason) ? `${reason}${NOT_OUR_API}` : reason
            })
          )
        }
        return Effect.fail(
          refused.value._tag === "Unauthorized"
            ? new ConfigInvalid({
              variable: remote.tokenSource,
              value: Option.isSome(remote.token) ? "(set)" : "",
              problem: `the API at ${remote.url} refused it: ${refused.value.reason}`
            })
            : new InvalidInput({
              field: "--remote",
              problem: `the API at ${remote.url} refused this client: ${refused.value.reason}`
            })
        )
      }
    )
  )
