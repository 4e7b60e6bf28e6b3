import { decodeFunctionData, type Hex } from "viem"
import { type Proposal, type ProposalAction, ProposalState } from "../domain/Proposal.js"
import type { EventInput } from "../events/Events.js"
import { REGISTRY_WRITES_ABI } from "./GovernorAbi.js"

/*
 * The pure half of the proposal tracker (ProposalsLive.ts): which proposals
 * concern the registry, what their calls to it say, what a fresh reading of
 * the Governor makes of a proposal, and which events a change announces.
 * No I/O here, so every rule is tested without a chain.
 */

/** IGovernor.ProposalState by its number (OpenZeppelin 5). */
export const STATES: ReadonlyArray<ProposalState> = ProposalState.literals

/** A state number the Governor answered; one we do not know (a newer Governor) is none, and read again later. */
export const stateOf = (n: number): ProposalState | undefined => STATES[n]

/** States nothing can move a proposal out of: it is not read again. */
export const isFinal = (s: ProposalState): boolean =>
  s === "executed" || s === "defeated" || s === "canceled" || s === "expired"

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

/** Whether any of a proposal's calls goes to the registry (addresses compared without their checksum case). */
export const callsRegistry = (targets: ReadonlyArray<string>, registry: string): boolean =>
  targets.some((t) => same(t, registry))

/**
 * The proposal's calls to the registry, decoded. A call to another contract
 * is not ours to show; one to the registry that is neither schedule nor
 * cancel (transferOwnership, garbage) is left out too: the Schema has no
 * kind for it, and it schedules nothing.
 */
export const decodeActions = (
  registry: string,
  targets: ReadonlyArray<string>,
  calldatas: ReadonlyArray<Hex>
): ReadonlyArray<ProposalAction> =>
  targets.flatMap((target, i): ReadonlyArray<ProposalAction> => {
    const data = calldatas[i]
    if (!same(target, registry) || data === undefined) return []
    try {
      const call = decodeFunctionData({ abi: REGISTRY_WRITES_ABI, data })
      if (call.functionName === "cancel") return [{ kind: "cancel", name: call.args[0] }]
      const [name, height, info] = call.args
      // A uint64 past 2^53 cannot be a JSON number: shown as -1, as the governance source refuses it.
      const h = height > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(height)
      return [{ kind: "schedule", name, height: h, info }]
    } catch {
      return []
    }
  })

/** The upgrade names a proposal's actions touch, each once. */
export const namesOf = (actions: ReadonlyArray<ProposalAction>): ReadonlyArray<string> => [
  ...new Set(actions.map((a) => a.name))
]

/** The actions in a few words, for events and notifications. */
export const describeActions = (actions: ReadonlyArray<ProposalAction>): string =>
  actions.length === 0
    ? "no schedule or cancel call to the registry"
    : actions.map((a) => (a.kind === "schedule" ? `schedule ${a.name} at ${a.height}` : `cancel ${a.name}`)).join("; ")

/** A ProposalCreated log, as the tracker keeps it. */
export interface Created {
  readonly id: bigint
  readonly proposer: string
  readonly targets: ReadonlyArray<string>
  readonly calldatas: ReadonlyArray<Hex>
  readonly voteStart: bigint
  readonly voteEnd: bigint
  readonly description: string
  readonly block: number
}

/** A new proposal from its log, before its first reading; none when it does not call the registry. */
export const fromCreated = (c: Created, registry: string, now: string): Proposal | undefined =>
  callsRegistry(c.targets, registry)
    ? {
      id: c.id.toString(),
      proposer: c.proposer,
      description: c.description,
      actions: decodeActions(registry, c.targets, c.calldatas),
      state: "pending",
      votes: { for: "0", against: "0", abstain: "0" },
      quorum: null,
      vote_start: Number(c.voteStart),
      vote_end: Number(c.voteEnd),
      created_block: c.block,
      updated_at: now
    }
    : undefined

/** One reading of the Governor for a proposal (state, proposalVotes, snapshot, deadline, quorum at the snapshot). */
export interface Reading {
  readonly state: number
  /** proposalVotes' order: against, for, abstain. */
  readonly votes: readonly [bigint, bigint, bigint]
  readonly snapshot: bigint
  readonly deadline: bigint
  /** null while the snapshot block is not past (the Governor cannot say it yet). */
  readonly quorum: bigint | null
}

export const applyReading = (p: Proposal, r: Reading, now: string): Proposal => ({
  ...p,
  state: stateOf(r.state) ?? p.state,
  votes: { against: r.votes[0].toString(), for: r.votes[1].toString(), abstain: r.votes[2].toString() },
  quorum: r.quorum === null ? p.quorum : r.quorum.toString(),
  vote_start: Number(r.snapshot),
  vote_end: Number(r.deadline),
  updated_at: now
})

const votesDiffer = (a: Proposal, b: Proposal) =>
  a.votes.for !== b.votes.for || a.votes.against !== b.votes.against || a.votes.abstain !== b.votes.abstain

/**
 * The events a change of a proposal announces: its first sight is
 * `proposal-created` alone (however far along it is: a first scan of old
 * blocks does not replay their history); then changed votes, and a state
 * worth a notice. Reads come once per block at most, so a proposal may
 * move from active to queued or executed between two: its vote passed, and
 * `proposal-succeeded` is said all the same. `queued` is said only when
 * seen — a Governor without a timelock never queues.
 */
export const transitions = (prev: Proposal | undefined, next: Proposal): ReadonlyArray<EventInput> => {
  const id = next.id
  const actions = describeActions(next.actions)
  if (prev === undefined) {
    return [{
      type: "proposal-created",
      id,
      names: namesOf(next.actions),
      actions,
      vote_start: next.vote_start,
      vote_end: next.vote_end
    }]
  }
  const out: Array<EventInput> = []
  if (votesDiffer(prev, next)) out.push({ type: "proposal-vote", id, ...next.votes, quorum: next.quorum })
  if (prev.state === next.state) return out
  const open = prev.state === "pending" || prev.state === "active"
  const passed = next.state === "succeeded" || next.state === "queued" || next.state === "executed"
  if (open && passed) out.push({ type: "proposal-succeeded", id, actions })
  switch (next.state) {
    case "queued":
      out.push({ type: "proposal-queued", id, actions })
      break
    case "executed":
      out.push({ type: "proposal-executed", id, actions })
      break
    case "defeated":
      out.push({ type: "proposal-defeated", id, actions })
      break
    case "canceled":
      out.push({ type: "proposal-canceled", id, actions })
      break
  }
  return out
}

/** `list`'s order: newest first (by created block, then id for a stable order within one block). */
export const newestFirst = (ps: ReadonlyArray<Proposal>): ReadonlyArray<Proposal> =>
  [...ps].sort((a, b) => b.created_block - a.created_block || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
