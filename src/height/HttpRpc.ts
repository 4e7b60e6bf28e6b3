import * as http from "node:http"
import * as https from "node:https"
import { HttpRequestError, RpcRequestError, TimeoutError } from "viem"

/*
 * JSON-RPC over node:http, as the `request` of viem's `custom` transport.
 *
 * Polling the head every 300 ms is most of what an idle supervisor does, so
 * the cost of one request matters (scripts/bench-idle.mjs). viem's `http`
 * transport goes through a fetch: Request, Headers and a Response whose body
 * is a web stream, for 60 bytes of JSON — measured here at ~390 µs of CPU per
 * request against ~80 µs for this (hot loop), and 0.9 % vs 0.6 % of a core
 * at one poll every 300 ms. viem still builds the calls and parses the
 * answers (client.getBlockNumber); only the HTTP exchange is ours. Failures
 * are viem's own error classes, so messages read as they did with `http`
 * ("HTTP request failed: connect ECONNREFUSED …", "The request took too long").
 */

/** A keep-alive agent for `url`'s protocol; destroy it to close its sockets. */
export const makeAgent = (url: string): http.Agent =>
  new URL(url).protocol === "https:" ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true })

export interface JsonRpcRequest {
  readonly method: string
  readonly params?: unknown
}

/**
 * `request({method, params})` → the result, over `agent`'s kept-alive
 * connections (a one-off connection per request without one). No retries
 * (our Schedules retry); `timeoutMs` bounds a request that gets no answer.
 */
export const makeJsonRpcRequest = (url: string, timeoutMs: number, agent?: http.Agent) => {
  const target = new URL(url)
  const send = target.protocol === "https:" ? https.request : http.request
  let id = 0
  return ({ method, params }: JsonRpcRequest): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const body = { jsonrpc: "2.0", id: ++id, method, params: params ?? [] }
      const text = JSON.stringify(body)
      const req = send(
        target,
        {
          method: "POST",
          agent: agent ?? false,
          timeout: timeoutMs,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) }
        },
        (res) => {
          const chunks: Array<Buffer> = []
          res.on("data", (chunk: Buffer) => chunks.push(chunk))
          res.on("error", (cause) => reject(new HttpRequestError({ body, url, details: cause.message, cause })))
          res.on("end", () => {
            const answer = Buffer.concat(chunks).toString("utf8")
            const status = res.statusCode ?? 0
            if (status < 200 || status > 299) {
              return reject(new HttpRequestError({ body, url, status, details: answer || (res.statusMessage ?? "") }))
            }
            let parsed: { result?: unknown; error?: { code: number; message: string; data?: unknown } }
            try {
              parsed = JSON.parse(answer)
            } catch (cause) {
              return reject(
                new HttpRequestError({
                  body,
                  url,
                  status,
                  details: `not JSON: ${answer.slice(0, 200)}`,
                  cause: cause as Error
                })
              )
            }
            if (parsed.error !== undefined) return reject(new RpcRequestError({ body, error: parsed.error, url }))
            resolve(parsed.result)
          })
        }
      )
      req.on("timeout", () => req.destroy(new TimeoutError({ body, url })))
      req.on("error", (cause) =>
        reject(
          cause instanceof TimeoutError ? cause : new HttpRequestError({ body, url, details: cause.message, cause })
        ))
      req.end(text)
    })
}
