import type * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { type Height, makeHeight } from "../domain/Height.js"
import type { UpgradeWithEta } from "../domain/Status.js"
import type { UpgradeStatus } from "../domain/Upgrade.js"
import type { EventInput } from "../events/Events.js"
import * as Pace from "../height/Pace.js"

/*
 * The warnings nobody else gives (docs/METRICS.md "Warnings"), as pure
 * steps from what was seen to what to announce: a head that stopped
 * moving, an upgrade whose height comes near (ready or not), an upgrade
 * fired late because the heights could not be read. WarningsLive.ts runs
 * them on the Clock; /health reads `isStalled` and `notReadySoon`.
 */

// ---------------------------------------------------------------------------
// node-stalled

/** The head a stall was announced at, so each stall is announced once. */
export type StallState = Option.Option<number>

export type StallStep =
  | { readonly _tag: "Quiet" }
  | { readonly _tag: "Stalled"; readonly event: Extract<EventInput, { type: "node-stalled" }> }
  | { readonly _tag: "Moving"; readonly from: number; readonly to: number }

/**
 * A pending upgrade one block above a head that stands still: the old
 * binary may have stopped before a fork block, which it cannot process (as
 * go-wemix did at Mont Blanc); the upgrade had to be scheduled one block
 * earlier to fire.
 */
export const forkHint = (head: number, pending: ReadonlyArray<{ readonly name: string; readonly height: number }>) => {
  const next = pending.find((u) => u.height === head + 1)
  return next === undefined
    ? null
    : `upgrade '${next.name}' waits for block ${next.height}, the next one: if the old binary stopped before a fork, ` +
      `the upgrade must fire one block earlier (cancel it, then 'wemixvisor upgrade schedule ${next.name} ${head} --force')`
}

export const stallStep = (
  announced: StallState,
  p: Pace.Pace,
  configured: Option.Option<Duration.Duration>,
  pending: ReadonlyArray<{ readonly name: string; readonly height: number }>
): readonly [StallState, StallStep] => {
  if (Option.isNone(p.head)) return [announced, { _tag: "Quiet" }]
  const head = p.head.value
  if (Option.isSome(announced) && announced.value !== head) {
    return [Option.none(), { _tag: "Moving", from: announced.value, to: head }]
  }
  if (Option.isSome(announced) || !Pace.isStalled(p, configured)) return [announced, { _tag: "Quiet" }]
  const seconds = Math.floor(Pace.headAgeSeconds(p))
  const hint = forkHint(head, pending)
  return [Option.some(head), {
    _tag: "Stalled",
    event: {
      type: "node-stalled",
      head: makeHeight(head),
      seconds,
      hint,
      message: `the chain head has not moved from ${head} for ${seconds}s${hint === null ? "" : `; ${hint}`}`
    }
  }]
}

// ---------------------------------------------------------------------------
// upgrade-soon

/** The ETAs an upgrade is announced at, farthest first. */
export const SOON_MARKS = [
  { within: "24h", seconds: 24 * 3600 },
  { within: "1h", seconds: 3600 },
  { within: "10m", seconds: 600 }
] as const
export type SoonMark = (typeof SOON_MARKS)[number]["within"]

/** Per upgrade (name, height, created_at), the index of the nearest mark announced. */
export type SoonState = ReadonlyMap<string, number>

const keyOf = (u: UpgradeWithEta) => `${u.name}@${u.height}@${u.created_at}`

/** Ready: the binary is in place and checked (`ready`); the problem otherwise, as the plan says it. */
export const readiness = (u: { readonly status: UpgradeStatus; readonly reason: string | null }) =>
  u.status === "ready"
    ? { ready: true, problem: null }
    : { ready: false, problem: u.reason ?? `the binary is not prepared yet (${u.status})` }

/**
 * Each pending upgrade is announced once per mark its ETA crosses (24 h,
 * 1 h, 10 min) — the nearest one only, when it was scheduled inside several;
 * an ETA that moves out again (the chain slowed) is not announced twice.
 * While the operator has paused upgrades (`paused`), the message says the
 * upgrade will not fire at its height: the warning is for the one who must
 * resume it in time (or mean not to).
 */
export const soonStep = (
  announced: SoonState,
  pending: ReadonlyArray<UpgradeWithEta>,
  paused = false
): readonly [SoonState, ReadonlyArray<Extract<EventInput, { type: "upgrade-soon" }>>] => {
  const next = new Map<string, number>()
  const out: Array<Extract<EventInput, { type: "upgrade-soon" }>> = []
  for (const u of pending) {
    const key = keyOf(u)
    const before = announced.get(key)
    if (before !== undefined) next.set(key, before)
    if (u.status === "upgrading" || u.eta === null || u.eta_seconds === null) continue
    const eta = u.eta_seconds
    const crossed = SOON_MARKS.reduce((deepest, m, i) => (eta <= m.seconds ? i : deepest), -1)
    if (crossed < 0 || (before !== undefined && before >= crossed)) continue
    next.set(key, crossed)
    const { problem, ready } = readiness(u)
    const within = SOON_MARKS[crossed]!.within
    out.push({
      type: "upgrade-soon",
      name: u.name,
      height: u.height,
      eta: u.eta,
      eta_seconds: eta,
      within,
      ready,
      problem,
      message: `upgrade '${u.name}' at ${u.height} within ${within} (${u.eta}), ${
        ready ? "ready" : `NOT READY: ${problem}`
      }${paused ? "; upgrades PAUSED: it will not fire until `wemixvisor upgrade resume`" : ""}`
    })
  }
  return [next, out]
}

/** /health: a pending upgrade due within the hour (the 1 h mark) whose binary is not ready. */
export const notReadySoon = (pending: ReadonlyArray<UpgradeWithEta>): Option.Option<UpgradeWithEta> =>
  Option.fromNullable(
    pending.find((u) =>
      u.status !== "upgrading" && u.eta_seconds !== null && u.eta_seconds <= SOON_MARKS[1].seconds &&
      !readiness(u).ready
    )
  )

// ---------------------------------------------------------------------------
// height-passed-blind

/** The heights as the warnings follow them: the last head, and RPC reads that failed since it. */
export interface Sight {
  readonly head: Option.Option<number>
  /** When the first read after `head` failed: the heights are blind since then. */
  readonly failingSince: Option.Option<number>
  /** The last step up that came after failed reads: from, to and how long the heights were blind. */
  readonly blindJump: Option.Option<{ readonly from: number; readonly to: number; readonly blindMs: number }>
}

export const initialSight: Sight = { head: Option.none(), failingSince: Option.none(), blindJump: Option.none() }

/** A new head; the last blind jump is kept until another one replaces it (the check may come a head later). */
export const sawHead = (s: Sight, height: number, at: number): Sight => ({
  head: Option.some(height),
  failingSince: Option.none(),
  blindJump: Option.isSome(s.head) && Option.isSome(s.failingSince)
    ? Option.some({ from: s.head.value, to: height, blindMs: Math.max(0, at - s.failingSince.value) })
    : s.blindJump
})

export const readFailed = (s: Sight, at: number): Sight =>
  Option.isSome(s.failingSince) ? s : { ...s, failingSince: Option.some(at) }

/**
 * An upgrade that fired more than one block past its height, on the first
 * head read after failed reads, when the head before them was below its
 * height: it fired late because the heights could not be read — not
 * because the chain jumped, nor because wemixvisor was not running.
 */
export const passedBlind = (
  s: Sight,
  started: { readonly name: string; readonly height: Height; readonly current_height: Height }
): Option.Option<Extract<EventInput, { type: "height-passed-blind" }>> => {
  if (started.current_height <= started.height + 1 || Option.isNone(s.blindJump)) return Option.none()
  const jump = s.blindJump.value
  if (jump.to !== started.current_height || jump.from >= started.height) return Option.none()
  const blindSeconds = Math.round(jump.blindMs / 1000)
  return Option.some({
    type: "height-passed-blind",
    name: started.name,
    height: started.height,
    current_height: started.current_height,
    blind_seconds: blindSeconds,
    message: `upgrade '${started.name}' fired at block ${started.current_height}, ${
      started.current_height - started.height
    } blocks past its height ${started.height}: the node's RPC could not be read for ${blindSeconds}s`
  })
}
