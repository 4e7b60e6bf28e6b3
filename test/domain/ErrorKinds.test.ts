/*
 * Every error class, the kind it says it is, and what that kind means at
 * each door: the CLI's exit code (2 bad input, usage or config; 1 an
 * operational failure) and the API's HTTP status (400 bad input, 409
 * conflict, 404 unknown, 401 token, 403 Host or Origin, 413 body too large,
 * 415 content type, 503 node or plan unavailable). Both are derived from the
 * kind, so a new error class only has to say what it is.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { ApiServices } from "../../src/api/Handlers.js"
import * as Api from "../../src/api/index.js"
import { httpStatusOf, routes } from "../../src/api/Rest.js"
import * as Bin from "../../src/binaries/Errors.js"
import { ConfigCheckFailed } from "../../src/cli/config-check.js"
import { exitCodeOf } from "../../src/cli/exit.js"
import { PreflightNoGo } from "../../src/cli/upgrade-check.js"
import { ApiUnreachable } from "../../src/cli/upgrade-remote.js"
import { HeadUnknown } from "../../src/cli/upgrade.js"
import * as Err from "../../src/domain/Errors.js"
import { FleetIncomplete, NoAnswer } from "../../src/fleet/Fleet.js"

const rows: ReadonlyArray<readonly [error: unknown, kind: Err.ErrorKind, exit: 1 | 2, http: number]> = [
  // Bad input, usage, config: 2 / 400.
  [new Err.InvalidInput({ field: "height", problem: "expected digits" }), "input", 2, 400],
  [new Err.ConfigInvalid({ variable: "DAEMON_NAME", value: "a/b", problem: "a plain file name" }), "input", 2, 400],
  [new Err.BinaryInvalid({ path: "/b", problem: "not executable" }), "input", 2, 400],
  [new Bin.DownloadRefused({ url: "http://x/g", problem: "downloads are disabled" }), "input", 2, 400],
  [new Bin.NoBinaryForPlatform({ name: "v2", platform: "linux/amd64", available: [] }), "input", 2, 400],
  [new ConfigCheckFailed({ errors: 2 }), "input", 2, 400],
  // Contradicts the plan or the home: 2 / 409.
  [new Err.UpgradeConflict({ name: "v1", problem: "is in progress" }), "conflict", 2, 409],
  [new Err.HomeExists({ path: "/h/wemixvisor" }), "conflict", 2, 409],
  [new Err.HomeLocked({ path: "/h/run.lock", pid: 42 }), "conflict", 2, 409],
  // Unknown: 2 / 404.
  [new Err.UpgradeNotFound({ name: "v9" }), "missing", 2, 404],
  // The API's door: 2 (the CLI reports them as config or input) / 401, 403, 413, 415.
  [new Err.Unauthorized({ reason: "wrong token" }), "unauthorized", 2, 401],
  [new Err.Forbidden({ reason: "Host" }), "forbidden", 2, 403],
  [new Err.BodyTooLarge({ limit: 65536 }), "too-large", 2, 413],
  [new Err.UnsupportedMediaType({ reason: "text/plain" }), "unsupported", 2, 415],
  // The node or the plan, right now: 1 / 503.
  [new Err.NodeUnreachable({ url: "http://n", cause: new Error("ECONNREFUSED") }), "unavailable", 1, 503],
  [new Err.PlanUnavailable({ reason: "locked" }), "unavailable", 1, 503],
  [new Err.PlanLocked({ path: "/h/l", pid: 7 }), "unavailable", 1, 503],
  [new HeadUnknown({ problem: "node RPC http://n unreachable" }), "unavailable", 1, 503],
  [new ApiUnreachable({ url: "http://a", reason: "ECONNREFUSED" }), "unavailable", 1, 503],
  [new PreflightNoGo({ name: "v2", problems: 2 }), "unavailable", 1, 503],
  [new NoAnswer({ url: "http://a", after: Duration.seconds(30) }), "unavailable", 1, 503],
  // Operational: 1; never answered by the API as such (it answers PlanUnavailable or PrepareFailed), 500 if it were.
  [new Err.PrepareFailed({ name: "v2", reason: "checksum mismatch" }), "operational", 1, 500],
  [new Err.FileCorrupt({ path: "/h/p.json", problem: "not JSON" }), "operational", 1, 500],
  [new Err.IoError({ op: "write", path: "/h/p", cause: new Error("ENOSPC") }), "operational", 1, 500],
  [new Err.SpawnFailed({ path: "/b", cause: "EACCES" }), "operational", 1, 500],
  [new Err.NotifyFailed({ channel: "slack", reason: "HTTP 500" }), "operational", 1, 500],
  [new FleetIncomplete({ summary: "fleet schedule v2 failed on 1 of 3 nodes (b)" }), "operational", 1, 500],
  [new Err.NoApiToken({ file: "/h/wemixvisor/api.token", exists: false }), "missing", 2, 404],
  [new Bin.DownloadFailed({ url: "http://x", attempts: 3, problem: "503" }), "operational", 1, 500],
  [
    new Bin.ChecksumMismatch({ url: "http://x", algorithm: "sha256", expected: "aa", actual: "bb" }),
    "operational",
    1,
    500
  ],
  [new Bin.ArchiveRefused({ source: "/a.tgz", problem: "an entry escapes" }), "operational", 1, 500],
  [new Bin.VersionProbeFailed({ path: "/b", problem: "printed nothing" }), "operational", 1, 500],
  [new Bin.BackupFailed({ path: "/data", problem: "disk full" }), "operational", 1, 500],
  [new Bin.InsufficientSpace({ path: "/backups", needed: 2048, available: 1024 }), "operational", 1, 500]
]

describe("one error set: exit codes and HTTP statuses follow from each error's kind", () => {
  it("every error class: its kind, its exit code, its HTTP status", () => {
    for (const [error, kind, exit, http] of rows) {
      const name = String((error as { readonly _tag?: string })._tag)
      expect(Err.isClassified(error), name).toBe(true)
      expect(Err.kindOf(error), name).toBe(kind)
      expect(exitCodeOf(error), name).toBe(exit)
      expect(httpStatusOf(error), name).toBe(http)
    }
  })

  it("every exported class of the set is in the table", () => {
    const classes: Array<unknown> = [...Object.values(Err), ...Object.values(Bin)].filter(
      (v) => typeof v === "function" && v.prototype instanceof Error
    )
    const covered = new Set<unknown>(rows.map(([e]) => (e as object).constructor))
    for (const c of classes) expect(covered.has(c), (c as { readonly name: string }).name).toBe(true)
  })

  it("what is not one of ours is operational", () => {
    for (const u of [new Error("boom"), "text", { _tag: "InvalidInput" }, { kind: "input" }, null, undefined]) {
      expect(Err.isClassified(u)).toBe(false)
      expect(exitCodeOf(u)).toBe(1)
      expect(httpStatusOf(u)).toBe(500)
    }
  })

  it("the package's clients get these very classes; NodeUnreachable keeps its cause here and sends url and reason", () => {
    const exported = [
      "InvalidInput",
      "UpgradeConflict",
      "UpgradeNotFound",
      "NodeUnreachable",
      "PlanUnavailable",
      "Unauthorized",
      "Forbidden"
    ] as const
    for (const name of exported) expect(Api[name], name).toBe(Err[name])
    const encode = Schema.encodeSync(Err.NodeUnreachable)
    const cause = new Error("connect ECONNREFUSED\n  at …")
    const down = new Err.NodeUnreachable({ url: "http://127.0.0.1:8588", cause })
    // The cause stays on this side; the wire has its first line as `reason`.
    expect(down.cause).toBe(cause)
    expect(encode(down)).toEqual({
      _tag: "NodeUnreachable",
      url: "http://127.0.0.1:8588",
      reason: "connect ECONNREFUSED"
    })
    const back = Schema.decodeUnknownSync(Err.NodeUnreachable)(encode(down))
    expect(back.message).toBe(down.message)
    expect(back.kind).toBe("unavailable")
  })
})

describe("REST: a body that cannot be read", () => {
  const unused = Effect.dieMessage("not reached: the body is refused first")
  const api: ApiServices = {
    ops: {
      schedule: () => unused,
      cancel: () => unused,
      applyAll: () => unused,
      list: unused,
      localStatus: () => unused
    },
    status: unused,
    prepare: () => unused,
    restartNode: () => unused,
    pause: () => unused,
    resume: () => unused,
    events: { publish: () => unused, subscribe: unused },
    history: { append: () => unused, appendAll: () => unused, read: unused },
    proposals: unused,
    check: () => unused,
    token: "t"
  }

  it.effect("→ 400 naming the body and why, nothing scheduled", () =>
    Effect.gen(function*() {
      const body = new ReadableStream({
        start: (controller) => controller.error(new Error("connection reset by peer"))
      })
      const request = HttpServerRequest.fromWeb(
        new Request("http://wemixvisor.invalid/api/v1/upgrades", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          duplex: "half"
        })
      )
      const response = yield* routes(api).pipe(
        HttpRouter.toHttpApp,
        Effect.flatMap((app) => Effect.provideService(app, HttpServerRequest.HttpServerRequest, request)),
        Effect.scoped
      )
      const web = HttpServerResponse.toWeb(response)
      expect(web.status).toBe(400)
      const json = (yield* Effect.promise(() => web.json())) as { error: string; details: string }
      expect(json.error).toBe("invalid body")
      expect(json.details).toMatch(/^could not read it: /)
    }))
})
