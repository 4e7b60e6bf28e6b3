import { describe, expect, it } from "@effect/vitest"
import * as Err from "../../src/domain/Errors.js"
import { describeExit } from "../../src/domain/Node.js"

// What an operator reads at 3 a.m.: one line that names the thing and the problem.
describe("error messages", () => {
  it("name what was wrong", () => {
    expect(new Err.ConfigInvalid({ variable: "DAEMON_X", value: "v", problem: "bad" }).message).toBe(
      "invalid DAEMON_X=\"v\": bad"
    )
    expect(new Err.InvalidInput({ field: "height", problem: "must be a number" }).message).toBe(
      "invalid height: must be a number"
    )
    expect(new Err.HomeExists({ path: "/h/wemixvisor" }).message).toContain("--force")
    expect(new Err.BinaryInvalid({ path: "/b", problem: "does not exist" }).message).toBe("binary /b: does not exist")
    expect(new Err.FileCorrupt({ path: "/p.json", problem: "not JSON" }).message).toBe("/p.json is corrupt: not JSON")
    expect(new Err.UpgradeNotFound({ name: "v9" }).message).toBe("no upgrade named 'v9'")
    expect(new Err.UpgradeConflict({ name: "v2", problem: "is in progress" }).message).toBe(
      "upgrade 'v2': is in progress"
    )
  })

  it("name the lock holder, or say it has not written its pid yet", () => {
    expect(new Err.HomeLocked({ path: "/run.lock", pid: 42 }).message).toContain("pid 42")
    expect(new Err.HomeLocked({ path: "/run.lock", pid: -1 }).message).toContain("still writing its pid")
    expect(new Err.PlanLocked({ path: "/plan.lock", pid: 7 }).message).toContain("pid 7")
    expect(new Err.PlanLocked({ path: "/plan.lock", pid: -1 }).message).toContain("still writing its pid")
  })

  it("say in one line what a cause was, whatever was thrown", () => {
    const unreachable = (cause: unknown) => new Err.NodeUnreachable({ url: "http://n", cause }).message
    expect(unreachable(new Error("connect ECONNREFUSED\nstack…"))).toBe(
      "node RPC http://n unreachable: connect ECONNREFUSED"
    )
    expect(unreachable({ message: "socket hang up" })).toContain("socket hang up")
    expect(unreachable({ type: "error" })).toContain("socket error")
    expect(unreachable("timeout")).toContain("timeout")
    expect(new Err.IoError({ op: "write", path: "/f", cause: new Error("ENOSPC") }).message).toBe("write /f: ENOSPC")
    expect(new Err.IoError({ op: "write", path: "/f", cause: "EIO" }).message).toBe("write /f: EIO")
    expect(new Err.SpawnFailed({ path: "/b", cause: new Error("EACCES") }).message).toBe("could not start /b: EACCES")
    expect(new Err.SpawnFailed({ path: "/b", cause: 13 }).message).toBe("could not start /b: 13")
  })

  it("describe how a node ended", () => {
    expect(describeExit({ code: 3, signal: null })).toBe("exited with code 3")
    expect(describeExit({ code: null, signal: "SIGKILL" })).toBe("killed by SIGKILL")
  })
})
