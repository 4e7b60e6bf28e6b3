/*
 * The dashboard's logic without the DOM (src/dashboard/model.ts): the
 * schedule form maps to the body the REST route takes exactly as the CLI's
 * flags do, answers are shown verbatim, the SSE parser reads the API's
 * frames however the network splits them, and the page's lists of event
 * types and severities are the server's.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { decodePause } from "../../src/api/Handlers.js"
import { parseBinaryFlags } from "../../src/binaries/Sources.js"
import {
  answerText,
  backoffMs,
  changesPlan,
  controlsView,
  describeEvent,
  EVENT_TYPES,
  formatDuration,
  formatInterval,
  OPEN_PROPOSAL_STATES,
  openProposalsOf,
  orderUpgrades,
  PAUSE_HEADLINE,
  pauseActionOf,
  pauseBanner,
  pauseConfirmText,
  pauseRequest,
  proposalActionsText,
  proposalLine,
  proposalVotesText,
  proposalWindowText,
  quorumPercent,
  RESTART_REQUEST,
  restartConfirmText,
  scheduleBody,
  type ScheduleInput,
  scheduleWarning,
  severityOf,
  shortProposalId,
  SseParser,
  tokenAmount,
  tokenFromFragment,
  type WireEvent,
  type WireProposal,
  type WireStatus
} from "../../src/dashboard/model.js"
import { ProposalState } from "../../src/domain/Proposal.js"
import {
  OPEN_PROPOSAL_STATES as SERVER_OPEN_STATES,
  openProposals,
  type StatusObject
} from "../../src/domain/Status.js"
import {
  EVENT_TYPES as SERVER_EVENT_TYPES,
  severityOf as serverSeverity,
  type WemixvisorEvent
} from "../../src/events/Events.js"
import { decodeSchedule } from "../../src/upgrades/Operations.js"

const SHA = "sha256:" + "ab".repeat(32)
const form = (over: Partial<ScheduleInput> = {}): ScheduleInput => ({
  name: "v2",
  height: "1500000",
  info: "",
  binaries: "",
  checksums: "",
  force: false,
  onFailure: "",
  ...over
})

describe("dashboard: the schedule form → POST /api/v1/upgrades", () => {
  it("name and height only; info, force when given", () => {
    expect(scheduleBody(form())).toEqual({ ok: true, body: { name: "v2", height: 1500000 } })
    expect(scheduleBody(form({ name: " v2 ", height: " 7 ", info: " Mont Blanc ", force: true }))).toEqual({
      ok: true,
      body: { name: "v2", height: 7, info: "Mont Blanc", force: true }
    })
  })

  it("on failure: the default (\"\") sends nothing, rollback and halt are sent as on_failure, as the API decodes them", () => {
    expect(scheduleBody(form({ onFailure: "" }))).toEqual({ ok: true, body: { name: "v2", height: 1500000 } })
    for (const policy of ["rollback", "halt"] as const) {
      const r = scheduleBody(form({ onFailure: policy }))
      expect(r).toEqual({ ok: true, body: { name: "v2", height: 1500000, on_failure: policy } })
      if (r.ok) expect(Either.getOrThrow(decodeSchedule(r.body)).onFailure).toBe(policy)
    }
  })

  it("one URL and one checksum are for any platform, a JSON map per platform: as the CLI's flags", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["https://example.com/gwemix.tar.gz", ""],
      ["https://example.com/gwemix.tar.gz", SHA],
      [`{"linux/amd64": "https://example.com/a", "linux/arm64": "https://example.com/b"}`, ""],
      [`{"linux/amd64": "https://example.com/a"}`, `{"linux/amd64": "${SHA}"}`]
    ]
    for (const [binaries, checksums] of cases) {
      const mine = scheduleBody(form({ binaries, checksums }))
      expect(mine.ok, binaries).toBe(true)
      if (!mine.ok) continue
      const single = !binaries.startsWith("{")
      const cli = parseBinaryFlags({
        binaries,
        ...(checksums === "" ? {} : single ? { checksum: checksums } : { checksums })
      })
      expect(Either.isRight(cli)).toBe(true)
      if (Either.isLeft(cli)) continue
      expect(mine.body.binaries).toEqual(cli.right.binaries)
      expect(mine.body.checksums ?? {}).toEqual(cli.right.checksums)
      // …and the REST route's decoder takes it.
      expect(Either.isRight(decodeSchedule(mine.body)), binaries).toBe(true)
    }
    expect(scheduleBody(form({ binaries: "https://x/y", checksums: SHA }))).toEqual({
      ok: true,
      body: { name: "v2", height: 1500000, binaries: { any: "https://x/y" }, checksums: { any: SHA } }
    })
  })

  it("refuses what it cannot map, naming the field; the rest is the API's to check", () => {
    const error = (over: Partial<ScheduleInput>) => {
      const r = scheduleBody(form(over))
      return r.ok ? null : r.error
    }
    expect(error({ height: "" })).toMatch(/^invalid height: /)
    expect(error({ height: "12a" })).toMatch(/^invalid height: /)
    expect(error({ height: "-1" })).toMatch(/^invalid height: /)
    expect(error({ height: "1e6" })).toMatch(/^invalid height: /)
    expect(error({ height: "99999999999999999999" })).toMatch(/^invalid height: /)
    expect(error({ checksums: SHA })).toBe("invalid checksums: a checksum needs a binary URL (binaries)")
    expect(error({ binaries: "{nope" })).toMatch(/^invalid binaries: not JSON/)
    expect(error({ binaries: "[\"https://x\"]" })).toMatch(/^invalid binaries: expected a JSON object/)
    expect(error({ binaries: "{\"linux/amd64\": 1}" })).toBe("invalid binaries.linux/amd64: expected a string")
    expect(error({ binaries: "{\"linux/amd64\": \"https://x\"}", checksums: SHA })).toMatch(
      /^invalid checksums: a map of URLs takes a map of checksums/
    )
    expect(error({ binaries: "https://x", checksums: `{"any": "${SHA}"}` })).toMatch(
      /^invalid checksums: a single URL takes a single checksum/
    )
    // An empty name, a bad URL or checksum: sent, and the API's refusal is shown.
    expect(scheduleBody(form({ name: "" })).ok).toBe(true)
    expect(scheduleBody(form({ binaries: "ftp://x", checksums: "md5:00" })).ok).toBe(true)
  })

  it("a schedule within 100 blocks of the head (or below it) is confirmed first", () => {
    expect(scheduleWarning(1101, 1000, false)).toBeNull()
    expect(scheduleWarning(1100, 1000, false)).toBe(
      "Height 1100 is only 100 blocks above the chain head (1000)."
    )
    expect(scheduleWarning(1001, 1000, false)).toBe("Height 1001 is only 1 block above the chain head (1000).")
    expect(scheduleWarning(1000, 1000, false)).toMatch(/at or below the chain head \(1000\): the API refuses it/)
    expect(scheduleWarning(10, 1000, true)).toMatch(/at or below the chain head \(1000\): forced, the upgrade starts/)
    expect(scheduleWarning(10, null, false)).toBeNull()
    expect(scheduleWarning(10, undefined, false)).toBeNull()
  })
})

describe("dashboard: answers, verbatim", () => {
  it("the message, or error: details, or the HTTP status", () => {
    expect(answerText(201, "Created", { message: "Upgrade scheduled successfully", upgrade: {} })).toBe(
      "Upgrade scheduled successfully"
    )
    expect(answerText(409, "Conflict", { error: "conflict", details: "upgrade 'v2' is already scheduled" })).toBe(
      "conflict: upgrade 'v2' is already scheduled"
    )
    expect(answerText(401, "Unauthorized", { error: "unauthorized", details: "wrong bearer token" })).toBe(
      "unauthorized: wrong bearer token"
    )
    expect(answerText(400, "", { error: "invalid JSON", details: "" })).toBe("invalid JSON")
    expect(answerText(502, "Bad Gateway", null)).toBe("HTTP 502 Bad Gateway")
    expect(answerText(500, "", "<html>")).toBe("HTTP 500")
  })
})

describe("dashboard: SSE", () => {
  const API_STREAM = ": connected\n\n" +
    "event: upgrade-scheduled\ndata: {\"type\":\"upgrade-scheduled\",\"time\":\"2026-01-01T00:00:00.000Z\",\"name\":\"v2\",\"height\":9}\n\n" +
    ": keep-alive\n\n" +
    "event: node-started\r\ndata: {\"type\":\"node-started\"}\r\n\r\n" +
    "data: line one\ndata: line two\n\n"

  const expected = [
    { kind: "comment", text: "connected" },
    {
      kind: "event",
      event: "upgrade-scheduled",
      data: "{\"type\":\"upgrade-scheduled\",\"time\":\"2026-01-01T00:00:00.000Z\",\"name\":\"v2\",\"height\":9}"
    },
    { kind: "comment", text: "keep-alive" },
    { kind: "event", event: "node-started", data: "{\"type\":\"node-started\"}" },
    { kind: "event", event: "message", data: "line one\nline two" }
  ]

  it("reads the API's frames, whole or split at any byte", () => {
    expect(new SseParser().feed(API_STREAM)).toEqual(expected)
    for (let cut = 1; cut < API_STREAM.length; cut++) {
      const p = new SseParser()
      expect([...p.feed(API_STREAM.slice(0, cut)), ...p.feed(API_STREAM.slice(cut))], `cut at ${cut}`).toEqual(expected)
    }
    const p = new SseParser()
    expect([...API_STREAM].flatMap((c) => p.feed(c))).toEqual(expected)
  })

  it("reconnects after 1 s, doubling to 10 s", () => {
    expect([1, 2, 3, 4, 5, 6, 20].map(backoffMs)).toEqual([1000, 2000, 4000, 8000, 10000, 10000, 10000])
  })
})

describe("dashboard: events", () => {
  it("knows every type SSE carries (all but notify-test, which never reaches it)", () => {
    expect([...EVENT_TYPES].sort()).toEqual(SERVER_EVENT_TYPES.filter((t) => t !== "notify-test").slice().sort())
  })

  it("colours them as the log levels them", () => {
    const samples: ReadonlyArray<WemixvisorEvent> = [
      ...SERVER_EVENT_TYPES.map((type) => ({ type, time: "t" }) as unknown as WemixvisorEvent),
      { type: "node-exited", time: "t", pid: 1, code: 0, signal: null, expected: true },
      { type: "node-exited", time: "t", pid: 1, code: 1, signal: null, expected: false },
      { type: "upgrade-soon", time: "t", ready: true } as unknown as WemixvisorEvent,
      { type: "upgrade-soon", time: "t", ready: false } as unknown as WemixvisorEvent
    ]
    for (const e of samples) {
      expect(severityOf(e as unknown as WireEvent), `${e.type} ${JSON.stringify(e)}`).toBe(serverSeverity(e))
    }
  })

  it("one line of fields, or the event's message; upgrade and plan events re-read the plan", () => {
    expect(describeEvent({ type: "upgrade-scheduled", time: "t", name: "v2", height: 9 })).toBe("name: v2, height: 9")
    expect(describeEvent({ type: "node-exited", time: "t", pid: 4, code: null, expected: false })).toBe(
      "pid: 4, code: null, expected: false"
    )
    expect(describeEvent({ type: "node-stalled", time: "t", head: 9, message: "the head has not moved" })).toBe(
      "the head has not moved"
    )
    expect(SERVER_EVENT_TYPES.filter(changesPlan)).toEqual([
      "upgrade-scheduled",
      "upgrade-cancelled",
      "upgrade-preparing",
      "upgrade-ready",
      "upgrade-problem",
      "upgrade-started",
      "upgrade-step",
      "upgrade-completed",
      "upgrade-failed",
      "rollback-completed",
      "plan-invalid",
      "plan-restored",
      "upgrade-soon",
      "upgrades-paused",
      "upgrades-resumed",
      "height-passed-blind"
    ])
  })
})

describe("dashboard: the rest", () => {
  it("the token from #token=…, percent-decoded, the fragment's other parts kept", () => {
    expect(tokenFromFragment("#token=abc123")).toEqual({ token: "abc123", rest: "" })
    expect(tokenFromFragment("#token=a%2Bb+c")).toEqual({ token: "a+b+c", rest: "" })
    expect(tokenFromFragment("#x=1&token=t&y=2")).toEqual({ token: "t", rest: "#x=1&y=2" })
    expect(tokenFromFragment("#token=%E0%A4%A")).toEqual({ token: "%E0%A4%A", rest: "" })
    expect(tokenFromFragment("#token=")).toBeNull()
    expect(tokenFromFragment("#events")).toBeNull()
    expect(tokenFromFragment("")).toBeNull()
  })

  it("pending upgrades first, lowest height first; then the rest, latest first", () => {
    const u = (name: string, height: number, status: string) => ({ name, height, status })
    expect(
      orderUpgrades([u("old", 10, "done"), u("b", 300, "scheduled"), u("x", 50, "cancelled"), u("a", 200, "ready")])
        .map((x) => x.name)
    ).toEqual(["a", "b", "x", "old"])
  })

  it("durations and block intervals at a glance", () => {
    expect([0, 4.4, 59, 60, 61, 3599, 3600, 3660, 86400, 90000].map(formatDuration)).toEqual([
      "0 s",
      "4 s",
      "59 s",
      "1 min",
      "1 min 1 s",
      "59 min 59 s",
      "1 h",
      "1 h 1 min",
      "1 d",
      "1 d 1 h"
    ])
    expect(formatDuration(-3)).toBe("0 s")
    expect([0.25, 1, 2.04, 13.45].map(formatInterval)).toEqual(["0.25 s", "1.0 s", "2.0 s", "13.4 s"])
  })
})

describe("dashboard: the manual controls (pause/resume upgrades, restart the node)", () => {
  // The server's status object is what the page reads (a type error here if they part).
  const asRead = (s: StatusObject): WireStatus => s
  void asRead
  const pause = { by: "rest 127.0.0.1", since: "2026-12-04T10:00:00.000Z", reason: "wait for the exchange" }
  const running: WireStatus = { node_state: "running", node_pid: 4242, upgrades_paused: null, in_progress: null }
  const paused: WireStatus = { ...running, upgrades_paused: pause }

  it("the banner: shown only for the operator's pause, with the headline, who, since when and why", () => {
    expect(pauseBanner(null)).toBeNull()
    expect(pauseBanner(running)).toBeNull()
    expect(pauseBanner({})).toBeNull()
    // wemixvisor's own pause (`paused`) has its own banner: not this one.
    expect(pauseBanner({ ...running, paused: "journal.json is corrupt" })).toBeNull()
    const text = pauseBanner(paused)!
    expect(PAUSE_HEADLINE).toBe("Upgrades paused — no upgrade will fire")
    expect(text.startsWith(PAUSE_HEADLINE)).toBe(true)
    expect(text).toContain("paused by rest 127.0.0.1 since 2026-12-04T10:00:00.000Z: wait for the exchange")
    expect(text).toContain("wemixvisor upgrade resume")
    expect(pauseBanner({ ...paused, upgrades_paused: { ...pause, reason: null } })).toBe(
      `${PAUSE_HEADLINE} (paused by rest 127.0.0.1 since 2026-12-04T10:00:00.000Z). Resume upgrades here or run \`wemixvisor upgrade resume\`.`
    )
  })

  it("one toggling control: Pause while not paused, Resume while paused, each to its route with a JSON body", () => {
    expect(pauseActionOf(running)).toBe("pause")
    expect(pauseActionOf({})).toBe("pause")
    expect(pauseActionOf(paused)).toBe("resume")
    expect(pauseRequest("pause")).toEqual({ method: "POST", path: "/api/v1/upgrades/pause", body: {} })
    expect(pauseRequest("resume")).toEqual({ method: "POST", path: "/api/v1/upgrades/resume", body: {} })
    expect(RESTART_REQUEST).toEqual({ method: "POST", path: "/api/v1/node/restart", body: {} })
    // The body sent is one the pause route takes: no reason.
    expect(Either.getOrThrow(decodePause(pauseRequest("pause").body))).toBeNull()
    const on = { token: true, busy: null }
    expect(controlsView(running, on).pause).toEqual({
      action: "pause",
      label: "Pause upgrades",
      disabled: false,
      title: ""
    })
    expect(controlsView(paused, on).pause).toEqual({
      action: "resume",
      label: "Resume upgrades",
      disabled: false,
      title: ""
    })
    expect(controlsView(running, on).restart).toEqual({ label: "Restart node", disabled: false, title: "" })
  })

  it("disabled without a token, before the first status, while its own request runs; restart while an upgrade has the node", () => {
    const none = controlsView(paused, { token: false, busy: null })
    expect(none.pause.disabled && none.restart.disabled).toBe(true)
    expect(none.pause.title).toBe("no API token")
    expect(none.restart.title).toBe("no API token")
    const early = controlsView(null, { token: true, busy: null })
    expect(early.pause).toMatchObject({ action: null, disabled: true, title: "waiting for the supervisor's status" })
    expect(early.restart.disabled).toBe(true)
    expect(controlsView(running, { token: true, busy: "pause" }).pause).toMatchObject({
      label: "Pausing…",
      disabled: true
    })
    expect(controlsView(paused, { token: true, busy: "pause" }).pause.label).toBe("Resuming…")
    expect(controlsView(running, { token: true, busy: "pause" }).restart.disabled).toBe(false)
    expect(controlsView(running, { token: true, busy: "restart" }).restart).toEqual({
      label: "Restarting…",
      disabled: true,
      title: ""
    })
    const upgrading = controlsView({ ...running, in_progress: { name: "v2", step: "swap" } }, {
      token: true,
      busy: null
    })
    expect(upgrading.restart).toEqual({ label: "Restart node", disabled: true, title: "the upgrade v2 has the node" })
    // Pausing stays possible during an upgrade (it holds the next ones; the one under way finishes).
    expect(upgrading.pause.disabled).toBe(false)
  })

  it("each asks first, saying what it does", () => {
    expect(pauseConfirmText("pause")).toMatch(/^Pause upgrades\? No upgrade will fire until they are resumed/)
    expect(pauseConfirmText("resume")).toMatch(/^Resume upgrades\? An upgrade whose height has passed .* fires at once/)
    expect(restartConfirmText(running)).toMatch(/^Restart the node \(pid 4242\)\? It is stopped gracefully/)
    expect(restartConfirmText(null)).toMatch(/^Restart the node\? /)
  })
})

describe("governance proposals: the Proposals card's words (and `upgrade proposals`')", () => {
  const e18 = (n: string) => `${n}${"0".repeat(18)}`
  const active: WireProposal = {
    id: "12345678901234567890123456789012345678901234567890",
    state: "active",
    actions: [{ kind: "schedule", name: "v2", height: 1500000 }, { kind: "cancel", name: "v1" }],
    votes: { for: e18("62"), against: "3456000000000000000", abstain: e18("1") },
    quorum: e18("100"),
    vote_start: 1000,
    vote_end: 1200
  }

  it("token amounts: 18 decimals shown as tokens, at most 2 decimals, thousands separated", () => {
    expect(tokenAmount("0")).toBe("0")
    expect(tokenAmount(e18("62"))).toBe("62")
    expect(tokenAmount("3456000000000000000")).toBe("3.46")
    expect(tokenAmount("1500000000000000000")).toBe("1.5")
    expect(tokenAmount("1994999999999999999")).toBe("1.99")
    expect(tokenAmount("1995000000000000000")).toBe("2")
    expect(tokenAmount(e18("1234567"))).toBe("1,234,567")
    expect(tokenAmount("1")).toBe("<0.01")
    // Beyond a double's precision, exact.
    expect(tokenAmount(e18("123456789012345678901"))).toBe("123,456,789,012,345,678,901")
    // Not a decimal amount: shown as it came.
    expect(tokenAmount("-5")).toBe("-5")
    expect(tokenAmount("")).toBe("")
  })

  it("the quorum: for + abstain against it, whole percent rounded down; unknown until the snapshot", () => {
    expect(quorumPercent(active)).toBe(63)
    expect(
      quorumPercent({ ...active, votes: { for: "999999999999999999", against: "0", abstain: "0" }, quorum: e18("1") })
    )
      .toBe(99)
    expect(quorumPercent({ ...active, quorum: null })).toBeNull()
    expect(quorumPercent({ ...active, quorum: "0" })).toBeNull()
    expect(quorumPercent({ id: "1", state: "active" })).toBeNull()
  })

  it("actions, votes, window, id and the one line", () => {
    expect(proposalActionsText(active)).toBe("schedule v2 at 1500000; cancel v1")
    expect(proposalActionsText({ ...active, actions: [] })).toBe("no registry call")
    expect(proposalVotesText(active)).toBe("for 62 · against 3.46 · abstain 1 · quorum 100 (63% reached)")
    expect(proposalVotesText({ ...active, quorum: null })).toBe(
      "for 62 · against 3.46 · abstain 1 · quorum known at block 1000"
    )
    expect(proposalWindowText(active)).toBe("voting blocks 1000–1200")
    expect(shortProposalId(active.id)).toBe("12345678…")
    expect(shortProposalId("42")).toBe("42")
    expect(proposalLine(active)).toBe(
      "active · schedule v2 at 1500000; cancel v1 · for 62 · against 3.46 · abstain 1 · quorum 100 (63% reached) · voting blocks 1000–1200 · #12345678…"
    )
  })

  it("the card lists the status's open proposals only; none (or an older server without the key): no card", () => {
    const states = ["pending", "active", "canceled", "defeated", "succeeded", "queued", "expired", "executed"]
    const all = states.map((state, i): WireProposal => ({ ...active, id: String(i), state }))
    expect(openProposalsOf({ proposals: all }).map((p) => p.state)).toEqual([
      "pending",
      "active",
      "succeeded",
      "queued"
    ])
    expect(openProposalsOf({})).toEqual([])
    expect(openProposalsOf(null)).toEqual([])
    // The page's open states are the server's (the status's `proposals`), and every state is the schema's.
    expect([...OPEN_PROPOSAL_STATES]).toEqual([...SERVER_OPEN_STATES])
    expect(states).toEqual([...ProposalState.literals])
  })

  it("a status object's proposals are what the page reads", () => {
    const p = {
      id: "7",
      proposer: "0x1111111111111111111111111111111111111111",
      description: "d",
      actions: [{ kind: "cancel" as const, name: "v1" }],
      state: "queued" as const,
      votes: { for: e18("5"), against: "0", abstain: "0" },
      quorum: e18("4"),
      vote_start: 1,
      vote_end: 2,
      created_block: 0,
      updated_at: "2026-12-04T00:00:00.000Z"
    }
    const s: Pick<StatusObject, "proposals"> = { proposals: openProposals([p]) }
    const wire: WireStatus = s
    expect(openProposalsOf(wire).map(proposalLine)).toEqual([
      "queued · cancel v1 · for 5 · against 0 · abstain 0 · quorum 4 (125% reached) · voting blocks 1–2 · #7"
    ])
  })
})
