import { describe, expect, it } from "vitest"
import { toWire } from "../../src/api/Handlers.js"
import * as Errors from "../../src/domain/Errors.js"
import { PreparationFailed } from "../../src/orchestrator/Orchestrator.js"

/*
 * The one mapping from wemixvisor's errors to the typed wire errors the RPC
 * client receives (and REST turns into status codes). The API suites reach
 * most of it through real requests; these are the cases a request cannot
 * easily provoke (a plan locked or unreadable mid-request, a binary refused).
 */

const plain = (e: { readonly _tag: string }) => ({ ...e, _tag: e._tag })

const planErrors = [
  new Errors.PlanLocked({ path: "/h/wemixvisor/upgrade-plan.lock", pid: 42 }),
  new Errors.FileCorrupt({ path: "/h/wemixvisor/upgrade-plan.json", problem: "not JSON" }),
  new Errors.IoError({
    op: "write",
    path: "/h/wemixvisor/upgrade-plan.json",
    cause: new Error("ENOSPC: no space left on device")
  })
]

describe("errors on the wire", () => {
  it("schedule: bad input, a refused binary, a conflict, the node, the plan", () => {
    expect(plain(toWire(new Errors.InvalidInput({ field: "height", problem: "not a number" })))).toEqual({
      _tag: "InvalidInput",
      field: "height",
      problem: "not a number"
    })
    expect(plain(toWire(new Errors.BinaryInvalid({ path: "/tmp/gwemix", problem: "not executable" })))).toEqual({
      _tag: "InvalidInput",
      field: "binary",
      problem: "binary /tmp/gwemix: not executable"
    })
    expect(plain(toWire(new Errors.UpgradeConflict({ name: "v2", problem: "taken" })))).toEqual({
      _tag: "UpgradeConflict",
      name: "v2",
      problem: "taken"
    })
    expect(
      plain(
        toWire(
          new Errors.NodeUnreachable({ url: "http://127.0.0.1:8588", cause: new Error("connect ECONNREFUSED\n  at …") })
        )
      )
    ).toEqual({ _tag: "NodeUnreachable", url: "http://127.0.0.1:8588", reason: "connect ECONNREFUSED" })
    for (const e of planErrors) expect(plain(toWire(e))).toEqual({ _tag: "PlanUnavailable", reason: e.message })
  })

  it("cancel: bad input, unknown, a conflict, the plan", () => {
    expect(plain(toWire(new Errors.InvalidInput({ field: "name", problem: "empty" })))._tag).toBe("InvalidInput")
    expect(plain(toWire(new Errors.UpgradeNotFound({ name: "v9" })))).toEqual({ _tag: "UpgradeNotFound", name: "v9" })
    expect(plain(toWire(new Errors.UpgradeConflict({ name: "v2", problem: "already done" })))).toEqual({
      _tag: "UpgradeConflict",
      name: "v2",
      problem: "already done"
    })
    for (const e of planErrors) expect(plain(toWire(e))).toEqual({ _tag: "PlanUnavailable", reason: e.message })
  })

  it("prepare: a request that cannot work here is bad input, a failed preparation is not; unknown, conflict, the plan", () => {
    expect(plain(toWire(new PreparationFailed({ name: "v2", reason: "downloads are disabled", badInput: true }))))
      .toEqual({
        _tag: "InvalidInput",
        field: "binaries",
        problem: "downloads are disabled"
      })
    expect(plain(toWire(new PreparationFailed({ name: "v2", reason: "checksum mismatch", badInput: false })))).toEqual({
      _tag: "PrepareFailed",
      name: "v2",
      reason: "checksum mismatch"
    })
    expect(plain(toWire(new Errors.UpgradeNotFound({ name: "v9" })))).toEqual({ _tag: "UpgradeNotFound", name: "v9" })
    expect(plain(toWire(new Errors.UpgradeConflict({ name: "v2", problem: "cancelled" })))._tag).toBe("UpgradeConflict")
    for (const e of planErrors.slice(1)) {
      expect(plain(toWire(e as Errors.FileCorrupt | Errors.IoError))).toEqual({
        _tag: "PlanUnavailable",
        reason: e.message
      })
    }
  })
})
