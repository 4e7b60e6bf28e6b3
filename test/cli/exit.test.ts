/*
 * Exit codes and the stderr line (src/cli/exit.ts, ARCHITECTURE §5): 0 ok or
 * interrupted; 2 bad usage or bad input; 1 an operational failure; a defect
 * is "internal error" with the cause, exit 1. The Exits are those the
 * commands end with; `exitOf` calls the real teardown as bin.ts's runMain does.
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Exit, FiberId } from "effect"
import { DownloadFailed, DownloadRefused, NoBinaryForPlatform } from "../../src/binaries/Errors.js"
import { describeError, exitCodeOf } from "../../src/cli/exit.js"
import { ApiUnreachable } from "../../src/cli/upgrade-remote.js"
import { HeadUnknown } from "../../src/cli/upgrade.js"
import {
  BinaryInvalid,
  ConfigInvalid,
  FileCorrupt,
  HomeExists,
  HomeLocked,
  InvalidInput,
  IoError,
  NodeUnreachable,
  PlanLocked,
  SpawnFailed,
  UpgradeConflict,
  UpgradeNotFound
} from "../../src/domain/Errors.js"
import { exitOf } from "./support.js"

describe("exit codes", () => {
  it("success and interruption (SIGINT/SIGTERM) exit 0 and print nothing", () => {
    expect(exitOf(Exit.void)).toEqual({ code: 0, stderr: "" })
    expect(exitOf(Exit.interrupt(FiberId.make(1, 0)))).toEqual({ code: 0, stderr: "" })
  })

  it("usage errors from @effect/cli → 2, not printed again (@effect/cli printed them)", () => {
    for (
      const e of [
        ValidationError.invalidArgument(HelpDoc.p("Missing argument <height>")),
        ValidationError.missingFlag(HelpDoc.p("Expected --json")),
        ValidationError.commandMismatch(HelpDoc.p("Invalid subcommand"))
      ]
    ) {
      expect(exitCodeOf(e)).toBe(2)
      expect(exitOf(Exit.fail(e))).toEqual({ code: 2, stderr: "" })
    }
  })

  it("bad input → 2 with one `error:` line saying what was wrong", () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [
        new ConfigInvalid({ variable: "DAEMON_NAME", value: "a/b", problem: "must be a plain file name" }),
        `invalid DAEMON_NAME="a/b": must be a plain file name`
      ],
      [new InvalidInput({ field: "height", problem: "expected digits" }), "invalid height: expected digits"],
      [
        new HomeExists({ path: "/h/wemixvisor" }),
        "/h/wemixvisor already exists; use --force to re-create it (a working current is never moved)"
      ],
      [new BinaryInvalid({ path: "/b", problem: "does not exist" }), "binary /b: does not exist"],
      [
        new HomeLocked({ path: "/h/run.lock", pid: 42 }),
        "another wemixvisor (pid 42) is already running on this home (/h/run.lock)"
      ],
      [new UpgradeNotFound({ name: "v9" }), "no upgrade named 'v9'"],
      [new UpgradeConflict({ name: "v1", problem: "is in progress" }), "upgrade 'v1': is in progress"],
      [
        new DownloadRefused({ url: "http://x/g", problem: "downloads are disabled" }),
        "will not download http://x/g: downloads are disabled"
      ],
      [
        new NoBinaryForPlatform({ name: "v2", platform: "linux/amd64", available: [] }),
        `upgrade 'v2' has no binary for linux/amd64 or "any" (it has no binaries)`
      ]
    ]
    for (const [error, line] of cases) {
      expect(exitOf(Exit.fail(error)), line).toEqual({ code: 2, stderr: `error: ${line}\n` })
    }
  })

  it("operational failures → 1 with the error's message", () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [
        new IoError({ op: "write", path: "/h/p", cause: new Error("ENOSPC: no space left") }),
        "write /h/p: ENOSPC: no space left"
      ],
      [new FileCorrupt({ path: "/h/p.json", problem: "not JSON" }), "/h/p.json is corrupt: not JSON"],
      [
        new PlanLocked({ path: "/h/l", pid: -1 }),
        "the plan is being written by a process that is still writing its pid (/h/l); try again"
      ],
      [
        new NodeUnreachable({ url: "http://n", cause: new Error("ECONNREFUSED") }),
        "node RPC http://n unreachable: ECONNREFUSED"
      ],
      [
        new HeadUnknown({ problem: "node RPC http://n unreachable" }),
        "cannot check the height against the chain head: node RPC http://n unreachable (use --force to schedule it anyway)"
      ],
      [
        new ApiUnreachable({ url: "http://a", reason: "ECONNREFUSED" }),
        "wemixvisor API http://a unreachable: ECONNREFUSED"
      ],
      [new SpawnFailed({ path: "/b", cause: "EACCES" }), "could not start /b: EACCES"],
      [
        new DownloadFailed({ url: "http://x", attempts: 3, problem: "503" }),
        "download of http://x failed after 3 attempts: 503"
      ]
    ]
    for (const [error, line] of cases) {
      expect(exitOf(Exit.fail(error)), line).toEqual({ code: 1, stderr: `error: ${line}\n` })
    }
  })

  it("failures that are not tagged errors: 1, described as well as they can be", () => {
    expect(exitOf(Exit.fail("plain text"))).toEqual({ code: 1, stderr: "error: plain text\n" })
    expect(exitOf(Exit.fail({ code: 7 }))).toEqual({ code: 1, stderr: `error: {"code":7}\n` })
    expect(exitOf(Exit.fail({ _tag: "SomethingElse" }))).toEqual({
      code: 1,
      stderr: `error: {"_tag":"SomethingElse"}\n`
    })
    expect(exitCodeOf(null)).toBe(1)
    expect(exitCodeOf(undefined)).toBe(1)
    expect(describeError(new Error("first\nsecond"))).toBe("first\nsecond")
  })

  it("a failure that comes with an interruption is still the failure", () => {
    const exit = Exit.failCause(
      Cause.parallel(Cause.fail(new UpgradeNotFound({ name: "v2" })), Cause.interrupt(FiberId.make(1, 0)))
    )
    expect(exitOf(exit)).toEqual({ code: 2, stderr: "error: no upgrade named 'v2'\n" })
  })

  it("a defect is a bug: 'internal error' with the cause on stderr, exit 1", () => {
    const r = exitOf(Exit.die(new Error("boom in the handler")))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^internal error \(a bug, please report it\):\n/)
    expect(r.stderr).toContain("boom in the handler")
    expect(r.stderr).not.toMatch(/^error: /m)
  })
})
