/*
 * What people read (src/notify/Message.ts): the line for each event kind,
 * the e-mail's subject and body, and the summary of coalesced events.
 */
import { describe, expect, it } from "vitest"
import { parseChannels } from "../../src/config/Channels.js"
import type { WemixvisorEvent } from "../../src/events/Events.js"
import { describeEvent, emailOf, lineOf, payloadOf, subjectOf } from "../../src/notify/Message.js"

const o = { host: "node1", home: "/srv/wemix" }
const at = "2026-12-03T02:14:00.000Z"
const ev = (e: Record<string, unknown>) => ({ time: at, ...e }) as WemixvisorEvent

describe("messages", () => {
  it("a line per event kind with name, height, result and reason", () => {
    const cases: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
      [
        { type: "upgrade-started", name: "v2", height: 1500, current_height: 1500 },
        "upgrade v2 started at height 1500 (scheduled at 1500)"
      ],
      [{ type: "upgrade-completed", name: "v2", height: 1500 }, "upgrade v2 done at height 1500"],
      [{ type: "upgrade-failed", name: "v2", reason: "verify: exited" }, "upgrade v2 FAILED: verify: exited"],
      [
        { type: "rollback-completed", name: "v2", current: "genesis" },
        "upgrade v2 rolled back: the node runs genesis again"
      ],
      [{ type: "upgrade-problem", name: "v2", reason: "checksum mismatch" }, "upgrade v2 NOT READY: checksum mismatch"],
      [{ type: "node-error", reason: "10 restarts in 10m" }, "node in ERROR, not restarted: 10 restarts in 10m"],
      [{ type: "plan-invalid", path: "/p.json", reason: "bad JSON" }, "plan file invalid (/p.json): bad JSON"],
      [
        { type: "node-exited", pid: 7, code: null, signal: "SIGKILL", expected: false },
        "node exited (pid 7, signal SIGKILL), unexpectedly"
      ],
      [{ type: "node-restarting", restarts: 3, delay_ms: 4000 }, "node restarting (restart 3, in 4.0s)"],
      [
        {
          type: "upgrade-soon",
          name: "v2",
          height: 1500,
          eta: at,
          eta_seconds: 3600,
          within: "1h",
          ready: false,
          problem: "checksum mismatch",
          message: "v2 at 1500 in 1h, NOT READY: checksum mismatch"
        },
        "v2 at 1500 in 1h, NOT READY: checksum mismatch"
      ]
    ]
    for (const [e, text] of cases) expect(describeEvent(ev(e))).toBe(text)
  })

  it("the line names the host and the home; a summary says how many more", () => {
    const e = ev({ type: "node-error", reason: "crash loop" })
    expect(lineOf({ event: e, repeats: 0 }, o)).toBe("[node1 /srv/wemix] node in ERROR, not restarted: crash loop")
    expect(lineOf({ event: e, repeats: 4 }, o)).toMatch(/\(and 4 more like it\)$/)
  })

  it("e-mail: the severity first in the subject, then every field in the body", () => {
    const failed = ev({ type: "upgrade-failed", name: "v2", reason: "verify: exited" })
    expect(subjectOf({ event: failed, repeats: 0 }, o)).toBe("[wemixvisor] ERROR node1: upgrade-failed v2 (failed)")
    const done = ev({ type: "upgrade-completed", name: "v2", height: 1500 })
    expect(subjectOf({ event: done, repeats: 0 }, o)).toBe("[wemixvisor] node1: upgrade-completed v2 (done)")
    const rolled = ev({ type: "rollback-completed", name: "v2", current: "genesis" })
    expect(subjectOf({ event: rolled, repeats: 0 }, o)).toBe(
      "[wemixvisor] WARNING node1: rollback-completed v2 (rolled back)"
    )
    const { text } = emailOf({ event: failed, repeats: 0 }, o)
    expect(text.split("\n")).toEqual([
      "[node1 /srv/wemix] upgrade v2 FAILED: verify: exited",
      "",
      "event: upgrade-failed",
      `time: ${at}`,
      "host: node1",
      "home: /srv/wemix",
      "name: v2",
      "reason: verify: exited",
      ""
    ])
  })

  it("Discord embed fields: never empty (Discord refuses those), at most 1024 characters", () => {
    const [discord] = parseChannels((n) => (n === "WEMIXVISOR_NOTIFY_DISCORD" ? "https://d/x" : undefined), [], "h")
      .pipe((e) => (e._tag === "Right" ? e.right : []))
    const e = ev({ type: "upgrade-failed", name: "v2", reason: "" })
    const long = ev({ type: "upgrade-failed", name: "v2", reason: "x".repeat(5000) })
    const fields = (x: WemixvisorEvent) =>
      (payloadOf(discord!, { event: x, repeats: 0 }, o) as {
        embeds: Array<{ fields: Array<{ name: string; value: string }> }>
      })
        .embeds[0]!.fields
    expect(fields(e)).toEqual([{ name: "name", value: "v2", inline: true }])
    expect(fields(long)[1]!.value).toHaveLength(1024)
  })
})
