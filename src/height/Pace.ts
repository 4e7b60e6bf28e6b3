import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type { UpgradeEta } from "../domain/Status.js"

/*
 * The chain's pace as pure functions of the heights seen and when
 * (milliseconds): the block interval as a moving average, how long the head
 * has not moved, when a height will be reached, and when a head that does
 * not move is a stall. ChainPaceLive.ts feeds them; the status (ETA), the
 * metrics, /health and the warnings all read the same figures.
 */

/** A new head and when it was seen. */
export interface HeadSample {
  readonly height: number
  readonly at: number
}

/** The moving average spans the last this many new heads. */
export const INTERVAL_WINDOW = 32

export const addHead = (window: ReadonlyArray<HeadSample>, sample: HeadSample): ReadonlyArray<HeadSample> => {
  const next = [...window, sample]
  return next.length > INTERVAL_WINDOW ? next.slice(next.length - INTERVAL_WINDOW) : next
}

/**
 * Seconds per block over the window: the time between its first and last
 * head over the blocks between them. A jump of several blocks between two
 * reads (a slow poll, a node catching up) counts as that many blocks, so
 * the average is not skewed by how often heights are read.
 */
export const blockInterval = (window: ReadonlyArray<HeadSample>): Option.Option<number> => {
  const first = window[0]
  const last = window[window.length - 1]
  if (first === undefined || last === undefined || last.height <= first.height || last.at <= first.at) {
    return Option.none()
  }
  return Option.some((last.at - first.at) / 1000 / (last.height - first.height))
}

/**
 * Seconds until `height`, estimated from the head, the time since the head
 * last moved and the block interval; 0 once it is due.
 */
export const etaSeconds = (height: number, head: number, headAgeSeconds: number, interval: number): number =>
  Math.max(0, (height - head) * interval - headAgeSeconds)

/** What is known of the chain's pace at one instant (`now`, ms). */
export interface Pace {
  readonly now: number
  /** The last head seen, none before the first. */
  readonly head: Option.Option<number>
  /** When the head last moved; when watching began, before the first head. */
  readonly movedAt: number
  /** Seconds per block, none until two heads were seen. */
  readonly interval: Option.Option<number>
}

/** Seconds since the head last moved. */
export const headAgeSeconds = (p: Pace): number => Math.max(0, p.now - p.movedAt) / 1000

export const UNKNOWN_ETA: UpgradeEta = { eta: null, eta_seconds: null }

/** When `height` will be reached at this pace (whole seconds). */
export const etaOf = (p: Pace, height: number): UpgradeEta => {
  if (Option.isNone(p.head) || Option.isNone(p.interval)) return UNKNOWN_ETA
  const seconds = Math.round(etaSeconds(height, p.head.value, headAgeSeconds(p), p.interval.value))
  return { eta: new Date(p.now + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"), eta_seconds: seconds }
}

/** A head is stalled after no move for at least this long, unless configured otherwise. */
export const MIN_STALL = Duration.seconds(60)

/** ... and at least this many block intervals (a chain with 30 s blocks is not stalled after 60 s). */
export const STALL_BLOCKS = 10

/**
 * How long the head may stand still before it is a stall: the configured
 * bound (WEMIXVISOR_STALL_AFTER), else max(60 s, 10 block intervals).
 */
export const stallAfter = (p: Pace, configured: Option.Option<Duration.Duration>): Duration.Duration =>
  Option.getOrElse(configured, () =>
    Option.match(p.interval, {
      onNone: () => MIN_STALL,
      onSome: (interval) => Duration.max(MIN_STALL, Duration.millis(Math.ceil(interval * STALL_BLOCKS * 1000)))
    }))

/** The head has been seen and has stood still past `stallAfter`. */
export const isStalled = (p: Pace, configured: Option.Option<Duration.Duration>): boolean =>
  Option.isSome(p.head) && p.now - p.movedAt > Duration.toMillis(stallAfter(p, configured))
