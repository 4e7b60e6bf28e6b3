/*
 * The kind of a failed RPC read (wemixvisor_rpc_errors_total{kind}), from
 * the errors the real client produces against real sockets: nothing
 * listening, an HTTP error status, a JSON-RPC error, a bad head, no answer.
 */
import * as Effect from "effect/Effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { blockNumber, makeHttpClient } from "../../src/height/Rpc.js"
import { errorKind, type RpcErrorKind } from "../../src/height/RpcErrors.js"
import { freePort } from "../support/fixtures.js"

let server: http.Server
let base = ""
beforeAll(async () => {
  server = http.createServer((req, res) => {
    const reply = (status: number, body: string) =>
      res.writeHead(status, { "content-type": "application/json" }).end(body)
    if (req.url === "/status") return reply(503, "busy")
    if (req.url === "/rpc-error") {
      return reply(200, JSON.stringify({ jsonrpc: "2.0", id: 1, error: { code: -32000, message: "header not found" } }))
    }
    if (req.url === "/huge") {
      return reply(200, JSON.stringify({ jsonrpc: "2.0", id: 1, result: "0xffffffffffffffffffff" }))
    }
    // /silent: never answers
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => {
  server.closeAllConnections()
  server.close()
})

const kindOf = (url: string): Promise<RpcErrorKind> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const client = yield* makeHttpClient(url)
      return yield* Effect.flip(blockNumber(client, url))
    }).pipe(Effect.map(errorKind), Effect.orDie)
  )

describe("errorKind", () => {
  it("nothing listening → connection", async () => {
    expect(await kindOf(`http://127.0.0.1:${await freePort()}`)).toBe("connection")
  })
  it("an HTTP error status → http", async () => {
    expect(await kindOf(`${base}/status`)).toBe("http")
  })
  it("a JSON-RPC error answer → rpc", async () => {
    expect(await kindOf(`${base}/rpc-error`)).toBe("rpc")
  })
  it("a head that is not a usable height → invalid", async () => {
    expect(await kindOf(`${base}/huge`)).toBe("invalid")
  })
  it("no answer within the RPC timeout → timeout", async () => {
    expect(await kindOf(`${base}/silent`)).toBe("timeout")
  }, 10_000)
})
