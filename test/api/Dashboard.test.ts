/*
 * Issue #15: the dashboard's page, script and style sheet are served by the
 * API server at `/`, `/dashboard/app.js` and `/dashboard/app.css` without a
 * token (they hold no data; the page asks for the token), with a strict
 * Content-Security-Policy; every other path keeps its token. The files are
 * the build's (dist/dashboard/, written by `npm run build`, which `npm test`
 * runs first).
 */
import * as HttpApp from "@effect/platform/HttpApp"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Dashboard from "../../src/api/Dashboard.js"
import { PUBLIC_PATHS } from "../../src/api/Server.js"
import { cleanup, repoRoot, tempDir } from "../support/fixtures.js"
import { type ApiWorld, request, setupApi } from "./support.js"

const DIST = path.join(repoRoot, "dist", "dashboard")
const built = (file: string) => fs.readFileSync(path.join(DIST, file))

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const FILES = [
  { route: "/", file: "index.html", type: "text/html; charset=utf-8" },
  { route: "/dashboard/app.js", file: "app.js", type: "text/javascript; charset=utf-8" },
  { route: "/dashboard/app.css", file: "app.css", type: "text/css; charset=utf-8" }
]

interface Raw {
  readonly status: number
  readonly body: Buffer
  readonly headers: http.IncomingHttpHeaders
}

/** A request exactly as given (method, Host, path unnormalized: fetch would change them). */
const raw = (w: ApiWorld, method: string, route: string, headers: Record<string, string> = {}) =>
  Effect.promise(
    () =>
      new Promise<Raw>((resolve, reject) => {
        const { hostname, port } = new URL(w.base)
        const req = http.request({ hostname, port, path: route, method, headers, agent: false })
        req.on("response", (res) => {
          const chunks: Array<Buffer> = []
          res.on("data", (c: Buffer) => chunks.push(c))
          res.on(
            "end",
            () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers })
          )
        })
        req.on("error", reject)
        req.end()
      })
  )

const expectPageHeaders = (h: http.IncomingHttpHeaders) => {
  expect(h["content-security-policy"]).toBe(CSP)
  expect(h["x-content-type-options"]).toBe("nosniff")
  expect(h["referrer-policy"]).toBe("no-referrer")
  expect(h["cache-control"]).toBe("no-cache")
}

describe("dashboard: served by the API server", () => {
  it.scopedLive("the page, its script and its style sheet: 200 without a token, with their types and headers", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      for (const f of FILES) {
        const r = yield* raw(w, "GET", f.route)
        expect(r.status, f.route).toBe(200)
        expect(r.headers["content-type"], f.route).toBe(f.type)
        expectPageHeaders(r.headers)
        expect(r.headers["etag"]).toMatch(/^"[\w-]{22}"$/)
        expect(r.headers["content-length"]).toBe(String(built(f.file).length))
        expect(r.body.equals(built(f.file)), f.route).toBe(true)
        // A wrong token changes nothing either: these paths do not look at it.
        expect((yield* raw(w, "GET", f.route, { authorization: "Bearer wrong" })).status).toBe(200)
      }
      // A query string is the same page (a bookmark with ?…, the fragment never reaches the server).
      expect((yield* raw(w, "GET", "/?from=bookmark")).status).toBe(200)
    }))

  it.scopedLive("HEAD answers the headers without a body; If-None-Match the ETag → 304", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      for (const f of FILES) {
        const head = yield* raw(w, "HEAD", f.route)
        expect(head.status).toBe(200)
        expect(head.headers["content-type"]).toBe(f.type)
        expect(head.headers["content-length"]).toBe(String(built(f.file).length))
        expectPageHeaders(head.headers)
        expect(head.body.length).toBe(0)

        const etag = head.headers["etag"]!
        const again = yield* raw(w, "GET", f.route, { "if-none-match": etag })
        expect(again.status).toBe(304)
        expect(again.body.length).toBe(0)
        expect(again.headers["etag"]).toBe(etag)
        expectPageHeaders(again.headers)
        expect((yield* raw(w, "GET", f.route, { "if-none-match": `W/"other", ${etag}` })).status).toBe(304)
        expect((yield* raw(w, "GET", f.route, { "if-none-match": "\"other\"" })).status).toBe(200)
      }
    }))

  it.scopedLive("the rest of the API still needs the token; no other path serves a file", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      for (const route of ["/api/v1/upgrades/status", "/api/v1/upgrades", "/api/v1/events"]) {
        const r = yield* request(w, "GET", route, { token: null })
        expect(r.status, route).toBe(401)
        expect(r.headers.get("www-authenticate")).toBe("Bearer realm=\"wemixvisor\"")
      }
      // Paths beside the three: 401 without a token, and not found with one — nothing is read from disk by path.
      for (
        const route of [
          "/index.html",
          "/dashboard/",
          "/dashboard/app.ts",
          "/dashboard/app.js.map",
          "/dashboard/index.html",
          "/dashboard/../package.json",
          "/dashboard/%2e%2e/package.json",
          "/app.js",
          "/favicon.ico"
        ]
      ) {
        expect((yield* raw(w, "GET", route)).status, route).toBe(401)
        const withToken = yield* raw(w, "GET", route, { authorization: `Bearer ${w.token}` })
        expect(withToken.status, route).toBe(404)
        expect(JSON.parse(withToken.body.toString()).error).toBe("not found")
      }
      // Only GET (and HEAD) are served on the page's paths; no body is taken there.
      for (const method of ["POST", "PUT", "DELETE"]) {
        const r = yield* raw(w, method, "/", { "content-type": "text/plain" })
        expect(r.status, method).toBe(404)
      }
      // The page's own calls, with the token, work as they did.
      expect((yield* request(w, "GET", "/api/v1/upgrades/status")).status).toBe(200)
    }))

  it.scopedLive("the Host check still guards the page: a DNS-rebinding name gets 403", () =>
    Effect.gen(function*() {
      const w = yield* setupApi()
      const r = yield* raw(w, "GET", "/", { host: "evil.example:8590" })
      expect(r.status).toBe(403)
      expect(r.body.toString()).not.toContain("<html")
      expect((yield* raw(w, "GET", "/", { host: "localhost:18590" })).status).toBe(200)
    }))

  it("PUBLIC_PATHS are /health, /metrics and the page's three", () => {
    expect([...PUBLIC_PATHS].sort()).toEqual(["/", "/dashboard/app.css", "/dashboard/app.js", "/health", "/metrics"])
    expect(Dashboard.DASHBOARD_PATHS).toEqual(FILES.map((f) => f.route))
  })
})

describe("dashboard: where the files come from", () => {
  it("dist/dashboard/ beside the running bundle, or the checkout's dist/ from source", () => {
    const url = (p: string) => pathToFileURL(p).href
    expect(Dashboard.defaultDir(url("/opt/wemixvisor/dist/chunks/main-ABC123.js"))).toBe(
      "/opt/wemixvisor/dist/dashboard"
    )
    expect(Dashboard.defaultDir(url("/opt/wemixvisor/dist/api.js"))).toBe("/opt/wemixvisor/dist/dashboard")
    expect(Dashboard.defaultDir(url("/opt/wemixvisor/dist/bin.js"))).toBe("/opt/wemixvisor/dist/dashboard")
    expect(Dashboard.defaultDir(url(path.join(repoRoot, "src/api/Dashboard.ts")))).toBe(DIST)
    expect(Dashboard.defaultDir()).toBe(DIST)
  })

  it("without the files the API serves on; the page's paths say how to get them", async () => {
    const dir = tempDir("wemixvisor-dashboard-")
    try {
      const missing = await Effect.runPromise(Dashboard.load(dir))
      expect(missing._tag).toBe("Missing")
      const handler = HttpApp.toWebHandler(Dashboard.routes(missing))
      const res = await handler(new Request("http://127.0.0.1/dashboard/app.js"))
      expect(res.status).toBe(404)
      expect(res.headers.get("content-security-policy")).toBe(CSP)
      const body = (await res.json()) as { error: string; details: string }
      expect(body.error).toBe("not found")
      expect(body.details).toContain(dir)
      expect(body.details).toContain("npm run build")

      // Files present: each served with its own ETag, which changes with its content.
      fs.writeFileSync(path.join(dir, "index.html"), "<!doctype html><p>one</p>")
      fs.writeFileSync(path.join(dir, "app.js"), "export {}\n")
      fs.writeFileSync(path.join(dir, "app.css"), "p{}\n")
      const one = await Effect.runPromise(Dashboard.load(dir))
      expect(one._tag).toBe("Loaded")
      fs.writeFileSync(path.join(dir, "index.html"), "<!doctype html><p>two</p>")
      const two = await Effect.runPromise(Dashboard.load(dir))
      const get = async (assets: Dashboard.Assets) => {
        const r = await HttpApp.toWebHandler(Dashboard.routes(assets))(new Request("http://127.0.0.1/"))
        return { etag: r.headers.get("etag"), text: await r.text() }
      }
      const [a, b] = [await get(one), await get(two)]
      expect(a.text).toBe("<!doctype html><p>one</p>")
      expect(b.text).toBe("<!doctype html><p>two</p>")
      expect(a.etag).not.toBe(b.etag)
    } finally {
      cleanup(dir)
    }
  })
})

describe("dashboard: the built page", () => {
  const html = () => built("index.html").toString()

  it("has every element the contract (and the browser test) names", () => {
    const page = html()
    for (
      const id of [
        "token-form",
        "token-input",
        "token-error",
        "logout",
        "conn",
        "head",
        "head-age",
        "block-interval",
        "node-state",
        "node-pid",
        "restarts",
        "current",
        "version",
        "in-progress",
        "last-outcome",
        "upgrades",
        "schedule-form",
        "schedule-result",
        "confirm",
        "confirm-text",
        "confirm-yes",
        "confirm-no",
        "action-result",
        "event-filter",
        "events",
        "history"
      ]
    ) {
      expect(page, id).toMatch(new RegExp(`\\sid="${id}"[\\s>]`))
    }
    expect(page).toMatch(/<form id="token-form"/)
    expect(page).toMatch(/<table id="upgrades"/)
    expect(page).toMatch(/<table id="history"/)
    expect(page).toMatch(/<dialog id="confirm"/)
    expect(page).toMatch(/<select id="event-filter"><option value="">/)
    expect(page).toMatch(/<ul id="events"/)
    expect(page).toMatch(/<span id="conn" data-state="(live|connecting|disconnected)"/)
    for (const name of ["name", "height", "info", "binaries", "checksums"]) {
      expect(page, name).toMatch(new RegExp(`<input name="${name}"`))
    }
    expect(page).toMatch(/<input name="force" type="checkbox">/)
    // The per-upgrade failure policy: follow the default (sent as nothing), rollback or halt.
    expect(page).toMatch(
      /<select name="on_failure"><option value="" selected>[^<]*<\/option><option value="rollback">rollback<\/option><option value="halt">halt<\/option><\/select>/
    )
  })

  it("loads nothing but its own two files: no inline script or style, no other origin", () => {
    const page = html()
    expect([...page.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual([
      "<script type=\"module\" src=\"/dashboard/app.js\">"
    ])
    expect(page).not.toMatch(/<script\b[^>]*>[^<]+<\/script>/)
    expect(page).not.toMatch(/<style\b|\sstyle=/)
    expect(page).not.toMatch(/\son[a-z]+=/)
    const refs = [...page.matchAll(/\s(?:src|href|action)="([^"]*)"/g)].map((m) => m[1])
    expect(refs.sort()).toEqual(["/dashboard/app.css", "/dashboard/app.js", "data:,"])
    // The script calls its own origin only (relative paths), and is not the CLI's.
    const js = built("app.js").toString()
    expect(js).not.toMatch(/https?:\/\//)
    expect(js).not.toMatch(/\bimport\s*\(|\bfrom\s*"|node:|require\(/)
    expect(built("app.css").toString()).not.toMatch(/@import|url\(/)
  })

  it("is small (the page, script and style sheet under 40 KB together)", () => {
    const total = FILES.reduce((n, f) => n + built(f.file).length, 0)
    expect(total).toBeLessThan(40_000)
  })

  it("is none of the CLI's chunks, and they none of it", () => {
    const dist = path.join(repoRoot, "dist")
    const cli = [
      "bin.js",
      "api.js",
      ...fs.readdirSync(path.join(dist, "chunks")).filter((f) => f.endsWith(".js")).map((f) => `chunks/${f}`)
    ]
    for (const f of cli) {
      const text = fs.readFileSync(path.join(dist, f), "utf8")
      expect(text, f).not.toContain("wemixvisor.token")
      expect(text, f).not.toContain("retrying in")
    }
    expect(built("app.js").toString()).toContain("wemixvisor.token")
  })
})
