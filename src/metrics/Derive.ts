import type { WemixvisorEvent } from "../events/Events.js"

/*
 * The metrics that are computed rather than read, as pure functions of what
 * was observed and when (milliseconds): the upgrade step durations and
 * downtime from the event timestamps (the block interval is the chain's
 * pace: height/Pace.ts).
 * MetricsLive.ts feeds them; test/metrics/Derive.test.ts checks the rules.
 */

// ---------------------------------------------------------------------------
// Upgrade timeline: step durations and downtime

/**
 * What is known of the upgrade under way, and of a downtime not yet over.
 * The downtime starts when the old node stops (its exit after the `stop`
 * step, or the `stop` step itself when no node was running) and ends at the
 * first RPC answer after a node started again — the new binary, or the old
 * one after a rollback.
 */
export interface Timeline {
  readonly upgrade: string | null
  readonly step: { readonly name: string; readonly at: number } | null
  /** When the `stop` step of the upgrade under way began. */
  readonly stopStepAt: number | null
  /** When the old node stopped: a downtime is open. */
  readonly downSince: number | null
  /** A node started since `downSince`. */
  readonly restarted: boolean
}

export const initialTimeline: Timeline = {
  upgrade: null,
  step: null,
  stopStepAt: null,
  downSince: null,
  restarted: false
}

export type Observation =
  | { readonly _tag: "Step"; readonly step: string; readonly seconds: number }
  | { readonly _tag: "Downtime"; readonly seconds: number }

type Result = readonly [Timeline, ReadonlyArray<Observation>]

const closeStep = (t: Timeline, at: number): ReadonlyArray<Observation> =>
  t.step === null ? [] : [{ _tag: "Step", step: t.step.name, seconds: Math.max(0, at - t.step.at) / 1000 }]

/** One event, at its own timestamp. */
export const onEvent = (t: Timeline, event: WemixvisorEvent, at: number): Result => {
  switch (event.type) {
    case "upgrade-started":
      // A downtime still open from an earlier upgrade (a halt) is not this one's.
      return [{ ...initialTimeline, upgrade: event.name }, []]
    case "upgrade-step": {
      // A replay after wemixvisor restarted mid-upgrade starts with a step, not upgrade-started.
      const fresh = t.upgrade === event.name
        ? t
        : { ...initialTimeline, downSince: t.downSince, restarted: t.restarted, upgrade: event.name }
      return [
        { ...fresh, step: { name: event.step, at }, stopStepAt: event.step === "stop" ? at : fresh.stopStepAt },
        t.upgrade === event.name ? closeStep(t, at) : []
      ]
    }
    case "upgrade-completed":
    case "upgrade-failed":
      if (t.upgrade !== event.name) return [t, []]
      return [{ ...t, upgrade: null, step: null, stopStepAt: null }, closeStep(t, at)]
    case "node-exited":
      return t.upgrade !== null && t.stopStepAt !== null && t.downSince === null
        ? [{ ...t, downSince: at, restarted: false }, []]
        : [t, []]
    case "node-started":
      if (t.downSince !== null) return [{ ...t, restarted: true }, []]
      // No exit was seen after `stop`: the old node was not running, so the downtime runs from the stop.
      if (t.upgrade !== null && t.stopStepAt !== null) return [{ ...t, downSince: t.stopStepAt, restarted: true }, []]
      return [t, []]
    default:
      return [t, []]
  }
}

/** The node answered an RPC read (a new height, or the first answer after failed reads). */
export const onAnswer = (t: Timeline, at: number): Result =>
  t.downSince !== null && t.restarted
    ? [{ ...t, downSince: null, restarted: false }, [{
      _tag: "Downtime",
      seconds: Math.max(0, at - t.downSince) / 1000
    }]]
    : [t, []]
