import * as http from "node:http"
import * as https from "node:https"

/*
 * The `fetch` viem's http transport calls for every JSON-RPC request, built on
 * node:http with a keep-alive agent. Polling every 300 ms with Node 20's
 * built-in fetch (undici) cost ~0.9% of a core on this project's machines;
 * node:http ~0.7%, comfortably under the 1% idle budget. It does what viem
 * needs and no more: one request, no redirects, no compression (none is asked
 * for), abort through `init.signal` (viem's timeout).
 */

export type FetchFn = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** A keep-alive agent for `url`'s protocol; destroy it to close its sockets. */
export const makeAgent = (url: string): http.Agent =>
  new URL(url).protocol === "https:" ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true })

const headersOf = (init: RequestInit["headers"]): Record<string, string> =>
  init === undefined ? {} : Object.fromEntries(new Headers(init))

const NULL_BODY_STATUS = new Set([204, 205, 304])

/** A fetch over `agent` (or a one-off connection when none is given). */
export const makeNodeFetch =
  (agent?: http.Agent): FetchFn =>
  (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : input)
      const body = init?.body
      if (body !== undefined && body !== null && typeof body !== "string" && !(body instanceof Uint8Array)) {
        return reject(new TypeError("only string and byte bodies are supported"))
      }
      const request = url.protocol === "https:" ? https.request : http.request
      const req = request(
        url,
        {
          method: init?.method ?? "GET",
          headers: headersOf(init?.headers),
          agent: agent ?? false,
          ...(init?.signal ? { signal: init.signal } : {})
        },
        (res) => {
          const chunks: Array<Buffer> = []
          res.on("data", (chunk: Buffer) => chunks.push(chunk))
          res.on("error", reject)
          res.on("end", () => {
            const headers = new Headers()
            for (const [name, value] of Object.entries(res.headers)) {
              if (value === undefined) continue
              for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v)
            }
            const status = res.statusCode ?? 0
            if (status < 200 || status > 599) return reject(new Error(`unexpected HTTP status ${status}`))
            resolve(
              new Response(NULL_BODY_STATUS.has(status) ? null : Buffer.concat(chunks), {
                status,
                statusText: res.statusMessage ?? "",
                headers
              })
            )
          })
        }
      )
      req.on("error", reject)
      req.end(body ?? undefined)
    })
