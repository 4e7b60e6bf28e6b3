/*
 * Issue #10: the API is secure by default. A web page in a browser on the
 * node's host can reach 127.0.0.1 — with a "simple" cross-site request (no
 * preflight), or through DNS rebinding (its own name in Host) — so every
 * request passes Host, Origin, content-type and token checks before any
 * route runs, and nothing is written when one fails.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, Option, Ref, TestClock } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { type AccessPolicy, hostName, makeRefusalLog, refusalOf } from "../../src/api/Access.js"
import { layerProtocol, makeClient, problemOf, refusalOf as clientRefusal } from "../../src/api/Client.js"
import { ensureTokenFile } from "../../src/api/Token.js"
import { Forbidden } from "../../src/domain/Errors.js"
import { makeLayout } from "../../src/domain/Layout.js"
import { cleanup, tempDir } from "../support/fixtures.js"
import { type ApiWorld, planText, request, setupApi } from "./support.js"

interface Raw {
  readonly status: number
  readonly body: string
  readonly headers: http.IncomingHttpHeaders
}

/** A request exactly as given (Host included, which fetch would not let us set). */
const raw = (w: ApiWorld, method: string, route: string, headers: Record<string, string>, body?: string) =>
  Effect.promise(
    () =>
      new Promise<Raw>((resolve, reject) => {
        const req = http.request(`${w.base}${route}`, { method, headers, agent: false })
        req.on("response", (res) => {
          let text = ""
          res.on("data", (c: Buffer) => (text += c.toString()))
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }))
        })
        req.on("error", reject)
        req.end(body)
      })
  )

const rpcLine = (tag: string, payload: object) =>
  JSON.stringify({ _tag: "Request", id: "1", tag, payload, headers: [] }) + "\n"

const policy: AccessPolicy = {
  bindHost: "127.0.0.1",
  extraHosts: ["node1.example"],
  corsOrigins: ["https://ops.example"],
  token: "s3cret",
  publicPaths: ["/health", "/metrics"],
  rpcPath: "/rpc"
}
const req = (method: string, url: string, headers: Record<string, string>) => ({ method, url, headers })
const statusOf = (r: ReturnType<typeof refusalOf>) => Option.map(r, (x) => x.status).pipe(Option.getOrNull)
const bearer = { authorization: "Bearer s3cret" }

describe("access rules (pure)", () => {
  it("Host: loopback names at any port, the bound address and WEMIXVISOR_API_HOSTS; anything else is 403", () => {
    for (
      const host of [
        "127.0.0.1:8590",
        "localhost:8590",
        "LOCALHOST",
        "[::1]:8590",
        "localhost.:1",
        "node1.example:8590"
      ]
    ) {
      expect(statusOf(refusalOf(policy, req("GET", "/api/v1/upgrades", { host, ...bearer }))), host).toBeNull()
    }
    for (const host of ["evil.example:8590", "127.0.0.1.nip.io", "localhost.evil.example", "", "a b", "[::2]:1"]) {
      expect(statusOf(refusalOf(policy, req("GET", "/health", { host }))), host).toBe(403)
    }
    // Beyond loopback the token is the guard; the Host a proxy or a LAN name brings is fine.
    expect(
      statusOf(
        refusalOf(
          { ...policy, bindHost: "0.0.0.0" },
          req("GET", "/api/v1/upgrades", { host: "10.0.0.5:8590", ...bearer })
        )
      )
    ).toBeNull()
    expect(hostName("[::1]:8590")).toBe("::1")
    expect(hostName("Node1.Example.:80")).toBe("node1.example")
  })

  it("Origin: only the API's own origin or WEMIXVISOR_API_CORS; a foreign one is 403 even with the token, even on /health", () => {
    const host = "127.0.0.1:8590"
    for (const origin of ["http://127.0.0.1:8590", "https://127.0.0.1:8590", "https://ops.example"]) {
      expect(statusOf(refusalOf(policy, req("GET", "/api/v1/upgrades", { host, origin, ...bearer }))), origin)
        .toBeNull()
    }
    for (
      const origin of [
        "http://evil.example",
        "null",
        "http://127.0.0.1:9999",
        "http://localhost:8590",
        "https://ops.example.evil"
      ]
    ) {
      expect(
        statusOf(
          refusalOf(
            policy,
            req("POST", "/api/v1/upgrades", { host, origin, ...bearer, "content-type": "application/json" })
          )
        ),
        origin
      )
        .toBe(403)
    }
    expect(statusOf(refusalOf(policy, req("GET", "/health", { host, origin: "http://evil.example" })))).toBe(403)
  })

  it("content type: REST bodies application/json, RPC application/ndjson or application/json; else 415", () => {
    const host = "127.0.0.1:8590"
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]) {
      expect(
        statusOf(refusalOf(policy, req("POST", "/api/v1/upgrades", { host, ...bearer, "content-type": type }))),
        type
      ).toBe(415)
      expect(statusOf(refusalOf(policy, req("POST", "/rpc", { host, ...bearer, "content-type": type }))), type).toBe(
        415
      )
    }
    expect(
      statusOf(
        refusalOf(
          policy,
          req("POST", "/api/v1/upgrades", { host, ...bearer, "content-type": "application/json; charset=utf-8" })
        )
      )
    ).toBeNull()
    expect(
      statusOf(
        refusalOf(policy, req("POST", "/api/v1/upgrades", { host, ...bearer, "content-type": "application/ndjson" }))
      )
    ).toBe(415)
    for (const type of ["application/ndjson", "application/json"]) {
      expect(statusOf(refusalOf(policy, req("POST", "/rpc", { host, "content-type": type })))).toBeNull() // RPC: typed Unauthorized later
    }
  })

  it("the token: every route but the public ones (query strings included); a preflight carries none", () => {
    const host = "127.0.0.1:8590"
    expect(statusOf(refusalOf(policy, req("GET", "/api/v1/upgrades", { host })))).toBe(401)
    expect(statusOf(refusalOf(policy, req("GET", "/api/v1/upgrades?x=/health", { host })))).toBe(401)
    expect(statusOf(refusalOf(policy, req("GET", "/nothing", { host, authorization: "Bearer wrong" })))).toBe(401)
    expect(statusOf(refusalOf(policy, req("GET", "/health?verbose", { host })))).toBeNull()
    expect(statusOf(refusalOf(policy, req("GET", "/metrics", { host })))).toBeNull()
    expect(statusOf(refusalOf(policy, req("OPTIONS", "/api/v1/upgrades", { host, origin: "https://ops.example" }))))
      .toBeNull()
  })

  it.effect("refusals are logged once a minute per peer and reason, not once per request", () =>
    Effect.gen(function*() {
      const lines = yield* Ref.make<Array<string>>([])
      const logger = Logger.make(({ message }) => Effect.runSync(Ref.update(lines, (l) => [...l, String(message)])))
      const log = yield* makeRefusalLog
      const refused = { status: 403 as const, error: "forbidden", details: "Host" }
      const run = (peer: string) =>
        log(peer, refused, "GET /").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      for (let i = 0; i < 50; i++) yield* run("127.0.0.1")
      yield* run("10.0.0.9")
      expect((yield* Ref.get(lines)).length).toBe(2)
      yield* TestClock.adjust("59 seconds")
      yield* run("127.0.0.1")
      expect((yield* Ref.get(lines)).length).toBe(2)
      yield* TestClock.adjust("1 second")
      yield* run("127.0.0.1")
      const all = yield* Ref.get(lines)
      expect(all.length).toBe(3)
      expect(all[0]).toMatch(/^API refused GET \/ from 127\.0\.0\.1: 403 Host/)
    }))
})

describe("api.token", () => {
  it.effect("created once with mode 0600 and 256 random bits; reused after; two creators agree; a loose mode is refused", () =>
    Effect.gen(function*() {
      const home = tempDir("wemixvisor-token-")
      yield* Effect.addFinalizer(() => Effect.sync(() => cleanup(home)))
      fs.mkdirSync(path.join(home, "wemixvisor"))
      const layout = makeLayout(home, "gwemix")
      const [a, b] = yield* Effect.all([ensureTokenFile(layout), ensureTokenFile(layout)], { concurrency: 2 })
      expect(a.token).toMatch(/^[0-9a-f]{64}$/)
      expect(b.token).toBe(a.token)
      expect([a.created, b.created].filter(Boolean)).toEqual([true])
      expect(fs.statSync(layout.apiToken).mode & 0o777).toBe(0o600)
      expect(fs.readdirSync(path.join(home, "wemixvisor"))).toEqual(["api.token"]) // no temp file left
      expect(yield* ensureTokenFile(layout)).toEqual({ token: a.token, created: false })
      fs.chmodSync(layout.apiToken, 0o644)
      const loose = yield* Effect.flip(ensureTokenFile(layout))
      expect(loose.message).toMatch(/readable by other users \(mode 644\); run chmod 600/)
    }).pipe(Effect.scoped))
})

describe("the API refuses what a foreign page can send (real HTTP, nothing written)", () => {
  it.scopedLive("the issue's requests: cross-site simple POSTs to REST and RPC, a rebinding Host → 403 or 415; plan unchanged byte for byte", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const auth = { authorization: `Bearer ${w.token}` }
      const host = `127.0.0.1:${new URL(w.base).port}`
      expect((yield* request(w, "POST", "/api/v1/upgrades", { body: { name: "v2", height: 500 } })).status).toBe(201)
      const before = planText(w)

      const evil = { host, origin: "http://evil.example" }
      const attempts: ReadonlyArray<readonly [string, string, Record<string, string>, string?]> = [
        // The three, then their variants.
        ["POST", "/api/v1/upgrades", { ...evil, "content-type": "text/plain" }, "{\"name\":\"evil\",\"height\":99999}"],
        ["POST", "/rpc", { ...evil, "content-type": "text/plain" }, rpcLine("CancelUpgrade", { name: "v2" })],
        ["GET", "/api/v1/upgrades", { host: `evil.example:${new URL(w.base).port}` }],
        // With the token (it leaked, or a rebinding page guessed it): Host and Origin still refuse.
        ["DELETE", "/api/v1/upgrades/v2", { ...evil, ...auth }],
        [
          "POST",
          "/api/v1/upgrades",
          { ...evil, ...auth, "content-type": "application/json" },
          "{\"name\":\"evil\",\"height\":99999}"
        ],
        ["GET", "/api/v1/events", { ...evil, ...auth }],
        ["DELETE", "/api/v1/upgrades/v2", { host: "evil.example", ...auth }],
        ["GET", "/api/v1/upgrades/status", { host: "evil.example", ...auth }],
        [
          "POST",
          "/rpc",
          { host: "evil.example", ...auth, "content-type": "application/ndjson" },
          rpcLine("CancelUpgrade", { name: "v2" })
        ],
        // Same origin but a form's content type: 415.
        [
          "POST",
          "/api/v1/upgrades",
          { host, ...auth, "content-type": "application/x-www-form-urlencoded" },
          "name=evil&height=99999"
        ],
        ["POST", "/rpc", { host, ...auth, "content-type": "text/plain" }, rpcLine("CancelUpgrade", { name: "v2" })],
        // No token: 401 on every REST route.
        ["DELETE", "/api/v1/upgrades/v2", { host }],
        ["GET", "/api/v1/upgrades", { host }],
        ["GET", "/api/v1/events", { host }]
      ]
      for (const [method, route, headers, body] of attempts) {
        const r = yield* raw(w, method, route, headers, body)
        const expected = headers.origin !== undefined || headers.host!.startsWith("evil")
          ? 403
          : headers.authorization
          ? 415
          : 401
        expect(r.status, `${method} ${route} ${JSON.stringify(headers)}`).toBe(expected)
        expect(JSON.parse(r.body)).toMatchObject({ error: expect.any(String), details: expect.any(String) })
        expect(r.headers["access-control-allow-origin"]).toBeUndefined()
      }
      // Every RPC procedure without the token: a typed Unauthorized, nothing done.
      for (
        const [tag, payload] of [
          ["ScheduleUpgrade", { name: "evil", height: 99999 }],
          ["CancelUpgrade", { name: "v2" }],
          ["PrepareUpgrade", { name: "v2" }],
          ["ListUpgrades", {}],
          ["GetStatus", {}],
          ["WatchEvents", {}]
        ] as const
      ) {
        const r = yield* raw(w, "POST", "/rpc", { host, "content-type": "application/ndjson" }, rpcLine(tag, payload))
        expect(r.status, tag).toBe(200)
        expect(r.body, tag).toContain("\"_tag\":\"Unauthorized\"")
      }
      expect(planText(w)).toBe(before)
    }))

  it.scopedLive("a listed origin (WEMIXVISOR_API_CORS) gets CORS headers and its preflight; a listed Host (WEMIXVISOR_API_HOSTS) is served", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({
        head: 100,
        env: { WEMIXVISOR_API_CORS: "https://ops.example", WEMIXVISOR_API_HOSTS: "node1.example" }
      })
      const port = new URL(w.base).port
      const host = `127.0.0.1:${port}`
      const pre = yield* raw(w, "OPTIONS", "/api/v1/upgrades", {
        host,
        origin: "https://ops.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"
      })
      expect(pre.status).toBe(204)
      expect(pre.headers).toMatchObject({
        "access-control-allow-origin": "https://ops.example",
        "access-control-allow-methods": expect.stringContaining("POST"),
        "access-control-allow-headers": expect.stringContaining("authorization")
      })
      const list = yield* raw(w, "GET", "/api/v1/upgrades", {
        host,
        origin: "https://ops.example",
        authorization: `Bearer ${w.token}`
      })
      expect(list.status).toBe(200)
      expect(list.headers["access-control-allow-origin"]).toBe("https://ops.example")
      // An unlisted origin's preflight is refused like its request.
      expect((yield* raw(w, "OPTIONS", "/api/v1/upgrades", { host, origin: "http://evil.example" })).status).toBe(403)
      const named = yield* raw(w, "GET", "/api/v1/upgrades", {
        host: `node1.example:${port}`,
        authorization: `Bearer ${w.token}`
      })
      expect(named.status).toBe(200)
      expect(named.headers["access-control-allow-origin"]).toBeUndefined()
    }))

  it.scopedLive("the RPC client gets a typed refusal with the server's words, never a hang: 403 → Forbidden", () =>
    Effect.gen(function*() {
      // What a wemixvisor (or a proxy in front of it) answers a client whose Host or Origin it does not serve.
      const server = http.createServer((_, res) => {
        res.writeHead(403, { "content-type": "application/json" })
        res.end(JSON.stringify({ error: "forbidden", details: "Host \"x\" is not this API's" }))
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
        () => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      )
      const port = (server.address() as { port: number }).port
      const failed = yield* makeClient.pipe(
        Effect.flatMap((c) => c.ListUpgrades()),
        Effect.provide(layerProtocol({ url: `http://127.0.0.1:${port}`, token: "t" })),
        Effect.timeout("10 seconds"),
        Effect.flip
      )
      expect(failed._tag).toBe("RpcClientError")
      if (failed._tag !== "RpcClientError") return
      expect(clientRefusal(failed)).toEqual(Option.some(new Forbidden({ reason: "Host \"x\" is not this API's" })))
      expect(problemOf(failed)).toBe("HTTP 403: Host \"x\" is not this API's")
    }))
})

describe("the generated token in a home", () => {
  it.scopedLive("a home without WEMIXVISOR_API_TOKEN: the server generates api.token (0600) and requires it", () =>
    Effect.gen(function*() {
      const w = yield* setupApi({ head: 100 })
      const file = path.join(w.home, "wemixvisor", "api.token")
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      expect(w.token).toMatch(/^[0-9a-f]{64}$/)
      expect((yield* request(w, "GET", "/api/v1/upgrades", { token: null })).status).toBe(401)
      expect((yield* request(w, "GET", "/api/v1/upgrades")).status).toBe(200)
      // /health needs nothing.
      expect((yield* request(w, "GET", "/health", { token: null })).status).toBe(503)
    }))
})
