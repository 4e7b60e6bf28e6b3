/*
 * The pure half of the proposal tracker (src/governance/ProposalTrack.ts):
 * which proposals are ours, what their registry calls say, and which events
 * a change of state or votes announces.
 */
import { describe, expect, it } from "@effect/vitest"
import { encodeFunctionData, type Hex } from "viem"
import type { Proposal } from "../../src/domain/Proposal.js"
import { REGISTRY_WRITES_ABI } from "../../src/governance/GovernorAbi.js"
import {
  applyReading,
  callsRegistry,
  type Created,
  decodeActions,
  describeActions,
  fromCreated,
  isFinal,
  newestFirst,
  stateOf,
  STATES,
  transitions
} from "../../src/governance/ProposalTrack.js"

const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
const OTHER = "0x000000000000000000000000000000000000dEaD"
const scheduleCall = (name: string, height: bigint, info = "") =>
  encodeFunctionData({ abi: REGISTRY_WRITES_ABI, functionName: "schedule", args: [name, height, info] })
const cancelCall = (name: string) =>
  encodeFunctionData({ abi: REGISTRY_WRITES_ABI, functionName: "cancel", args: [name] })

const created = (over: Partial<Created> = {}): Created => ({
  id: 42n,
  proposer: OTHER,
  targets: [REGISTRY],
  calldatas: [scheduleCall("v2", 1500n)],
  voteStart: 10n,
  voteEnd: 20n,
  description: "schedule v2",
  block: 9,
  ...over
})
const base = fromCreated(created(), REGISTRY, "t0")!
const at = (state: Proposal["state"], votes: Partial<Proposal["votes"]> = {}): Proposal => ({
  ...base,
  state,
  votes: { ...base.votes, ...votes }
})
const types = (prev: Proposal | undefined, next: Proposal) => transitions(prev, next).map((e) => e.type)

describe("which proposals, and what they say", () => {
  it("a proposal is ours when any target is the registry, in any letter case", () => {
    expect(callsRegistry([OTHER, REGISTRY.toLowerCase()], REGISTRY)).toBe(true)
    expect(callsRegistry([OTHER], REGISTRY)).toBe(false)
    expect(fromCreated(created({ targets: [OTHER] }), REGISTRY, "t")).toBeUndefined()
  })

  it("decodes schedule and cancel to the registry; other calls and garbage are left out", () => {
    const targets = [REGISTRY, OTHER, REGISTRY, REGISTRY]
    const calldatas: ReadonlyArray<Hex> = [
      scheduleCall("v2", 1500n, "{}"),
      cancelCall("x"),
      cancelCall("v1"),
      "0xdeadbeef"
    ]
    expect(decodeActions(REGISTRY, targets, calldatas)).toEqual([
      { kind: "schedule", name: "v2", height: 1500, info: "{}" },
      { kind: "cancel", name: "v1" }
    ])
    // a uint64 height that is not a safe JSON number
    expect(decodeActions(REGISTRY, [REGISTRY], [scheduleCall("big", 2n ** 60n)])).toEqual([
      { kind: "schedule", name: "big", height: -1, info: "" }
    ])
  })

  it("a fresh proposal from its log: pending, no votes, quorum unknown", () => {
    expect(base).toEqual({
      id: "42",
      proposer: OTHER,
      description: "schedule v2",
      actions: [{ kind: "schedule", name: "v2", height: 1500, info: "" }],
      state: "pending",
      votes: { for: "0", against: "0", abstain: "0" },
      quorum: null,
      vote_start: 10,
      vote_end: 20,
      created_block: 9,
      updated_at: "t0"
    })
    expect(describeActions(base.actions)).toBe("schedule v2 at 1500")
    expect(describeActions([])).toMatch(/no schedule or cancel/)
  })

  it("the Governor's state numbers, and which are final", () => {
    expect(STATES.map((_, i) => stateOf(i))).toEqual(STATES)
    expect(stateOf(8)).toBeUndefined()
    expect(STATES.filter(isFinal)).toEqual(["canceled", "defeated", "expired", "executed"])
  })

  it("a reading: proposalVotes' order (against, for, abstain); a quorum once known is kept; an unknown state keeps the last", () => {
    const r = applyReading(base, { state: 1, votes: [1n, 2n, 3n], snapshot: 11n, deadline: 21n, quorum: 7n }, "t1")
    expect(r).toMatchObject({
      state: "active",
      votes: { against: "1", for: "2", abstain: "3" },
      quorum: "7",
      vote_start: 11,
      vote_end: 21,
      updated_at: "t1"
    })
    expect(applyReading(r, { state: 99, votes: [1n, 2n, 3n], snapshot: 11n, deadline: 21n, quorum: null }, "t2"))
      .toMatchObject({ state: "active", quorum: "7" })
  })

  it("newest first", () => {
    const ps = [{ ...base, id: "1", created_block: 5 }, { ...base, id: "2", created_block: 7 }]
    expect(newestFirst(ps).map((p) => p.id)).toEqual(["2", "1"])
  })
})

describe("which changes announce what", () => {
  it("first sight: proposal-created alone, with the names and the actions in words", () => {
    expect(transitions(undefined, at("executed", { for: "5" }))).toEqual([
      {
        type: "proposal-created",
        id: "42",
        names: ["v2"],
        actions: "schedule v2 at 1500",
        vote_start: 10,
        vote_end: 20
      }
    ])
  })

  it("nothing changed, nothing said (a new block alone is no news)", () => {
    expect(transitions(at("active"), { ...at("active"), updated_at: "later" })).toEqual([])
  })

  it("votes that changed: proposal-vote with all three and the quorum", () => {
    const next = { ...at("active", { for: "10" }), quorum: "4" }
    expect(transitions(at("active"), next)).toEqual([
      { type: "proposal-vote", id: "42", for: "10", against: "0", abstain: "0", quorum: "4" }
    ])
  })

  it("the states worth a notice; active alone is not one", () => {
    expect(types(at("pending"), at("active"))).toEqual([])
    expect(types(at("active"), at("succeeded"))).toEqual(["proposal-succeeded"])
    expect(types(at("succeeded"), at("queued"))).toEqual(["proposal-queued"])
    expect(types(at("queued"), at("executed"))).toEqual(["proposal-executed"])
    expect(types(at("active"), at("defeated"))).toEqual(["proposal-defeated"])
    expect(types(at("pending"), at("canceled"))).toEqual(["proposal-canceled"])
    expect(types(at("active"), at("expired"))).toEqual([])
  })

  it("a pass seen only as queued or executed (between two reads) still says it succeeded, votes first", () => {
    expect(types(at("active"), at("queued", { for: "9" }))).toEqual([
      "proposal-vote",
      "proposal-succeeded",
      "proposal-queued"
    ])
    expect(types(at("pending"), at("executed"))).toEqual(["proposal-succeeded", "proposal-executed"])
    // without a timelock, never queued: queued is said only when seen
    expect(types(at("succeeded"), at("executed"))).toEqual(["proposal-executed"])
  })
})
