import * as Headers from "@effect/platform/Headers"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { errorResponse } from "./Rest.js"

/*
 * The dashboard (issue #15, docs/OPERATIONS.md "Dashboard"): a static page
 * served by `run`'s API server at `/`, with its script and style sheet. The
 * three files hold no data, so they need no token; the page asks for the
 * token and calls the token-protected API itself, same origin only. They are
 * built by `npm run build` (scripts/build.mjs, from src/dashboard/) into
 * dist/dashboard/ and read once when the server starts: a rebuild under a
 * running supervisor does not change the page it serves (nor the API it
 * serves it with).
 */

/** The page, its script and its style sheet: the files of dist/dashboard/ and their routes. */
const FILES = [
  { route: "/", file: "index.html", type: "text/html; charset=utf-8" },
  { route: "/dashboard/app.js", file: "app.js", type: "text/javascript; charset=utf-8" },
  { route: "/dashboard/app.css", file: "app.css", type: "text/css; charset=utf-8" }
] as const

/** The page's routes, served without a token (Server.ts PUBLIC_PATHS); no other path serves a file. */
export const DASHBOARD_PATHS: ReadonlyArray<string> = FILES.map((f) => f.route)

/** Nothing but the page's own files and same-origin calls; no inline script or style, no framing. */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
  "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** On every answer of the three routes. `no-cache`: revalidated each time (the ETag makes that a 304). */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache"
}

export interface Asset {
  readonly route: HttpRouter.PathInput
  readonly type: string
  readonly body: Uint8Array
  readonly etag: string
}

/** The page's files, or why there are none (a tree built without them, a source checkout never built). */
export type Assets =
  | { readonly _tag: "Loaded"; readonly dir: string; readonly assets: ReadonlyArray<Asset> }
  | { readonly _tag: "Missing"; readonly dir: string; readonly reason: string }

/**
 * dist/dashboard/, found from this module's own place: bundled it is a chunk
 * in dist/chunks/ (or an entry in dist/), run from source (the tests) it is
 * src/api/Dashboard.ts in the checkout whose dist/ the build writes.
 */
export const defaultDir = (moduleUrl: string = import.meta.url): string => {
  const file = fileURLToPath(moduleUrl)
  const dir = path.dirname(file)
  if (file.endsWith(".ts")) return path.resolve(dir, "..", "..", "dist", "dashboard")
  return path.join(path.basename(dir) === "chunks" ? path.dirname(dir) : dir, "dashboard")
}

/** Reads the three files of `dir`; never fails (the API serves on without its page). */
export const load = (dir: string = defaultDir()): Effect.Effect<Assets> =>
  Effect.sync((): Assets => {
    try {
      const assets = FILES.map(({ file, route, type }) => {
        const body = fs.readFileSync(path.join(dir, file))
        const etag = `"${crypto.createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`
        return { route, type, body: new Uint8Array(body), etag }
      })
      return { _tag: "Loaded", dir, assets }
    } catch (e) {
      return { _tag: "Missing", dir, reason: e instanceof Error ? e.message : String(e) }
    }
  })

/** Whether an If-None-Match header names `etag` (a list, or `*`). */
const matches = (header: string | undefined, etag: string) =>
  header !== undefined &&
  header.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "")
    return tag === "*" || tag === etag
  })

const serveAsset = (asset: Asset) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const headers = { ...DASHBOARD_HEADERS, etag: asset.etag }
    return matches(request.headers["if-none-match"], asset.etag)
      ? HttpServerResponse.empty({ status: 304, headers: Headers.fromInput(headers) })
      : HttpServerResponse.uint8Array(asset.body, { contentType: asset.type, headers: Headers.fromInput(headers) })
  })

/** GET (and so HEAD) of the three paths; without the files, a 404 that says how to get them. */
export const routes = (assets: Assets): HttpRouter.HttpRouter =>
  assets._tag === "Loaded"
    ? assets.assets.reduce(
      (router, asset) => HttpRouter.get(router, asset.route, serveAsset(asset)),
      HttpRouter.empty as HttpRouter.HttpRouter
    )
    : FILES.reduce(
      (router, { route }) =>
        HttpRouter.get(
          router,
          route,
          Effect.succeed(
            errorResponse(
              404,
              "not found",
              `the dashboard is not part of this build (${assets.dir}: ${assets.reason}); \`npm run build\` writes it`,
              DASHBOARD_HEADERS
            )
          )
        ),
      HttpRouter.empty as HttpRouter.HttpRouter
    )

/** The page's routes as `run` serves them: read from dist/dashboard/, a warning when the files are missing. */
export const router: Effect.Effect<HttpRouter.HttpRouter> = Effect.tap(
  load(),
  (a) =>
    a._tag === "Missing"
      ? Effect.logWarning(`dashboard not available: ${a.reason} (the API is served without it)`)
      : Effect.void
)
  .pipe(Effect.map(routes))
