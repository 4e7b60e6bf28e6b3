import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import type { Height } from "../domain/Height.js"

/*
 * The strictly-increasing filter behind `heights` (ARCHITECTURE §1), as a pure step
 * function plus a thin Stream operator around it.
 *
 * Heights come from several sources at once (HTTP polling and a WebSocket
 * subscription). Each source on its own is ordered, but two sources are not
 * ordered against each other: a poll answer of 100 can be handled after the
 * WebSocket already delivered 101. So a drop (reorg, a dev chain that restarted
 * lower) is only believed when a source reports less than it reported itself
 * before; a value that is merely below another source's is late, not a drop.
 */

/** Which channel a height arrived on ("poll", "ws", …). */
export type Source = string

export interface Observed {
  readonly source: Source
  readonly height: Height
}

export interface Reorg {
  /** The highest height emitted so far. */
  readonly from: Height
  /** The lower head that was reported. */
  readonly to: Height
}

export interface MonotonicState {
  /** The highest height emitted so far. */
  readonly max: Option.Option<Height>
  /** What each source reported last (ordered within a source). */
  readonly last: ReadonlyMap<Source, Height>
  /** The lowest head reported in the drop under way; none when no drop is. */
  readonly dropTo: Option.Option<Height>
}

export interface Step {
  readonly state: MonotonicState
  readonly emit: Option.Option<Height>
  readonly reorg: Option.Option<Reorg>
}

export const initialState = (max: Option.Option<Height> = Option.none()): MonotonicState => ({
  max,
  last: new Map(),
  dropTo: Option.none()
})

/**
 * One observation in, at most one height and at most one reorg out.
 * - above the highest emitted → emitted; any drop under way is over;
 * - below what the same source said before → a drop: reported once, and again
 *   only if a later report goes deeper than the one already reported;
 * - anything else (a repeat, a late answer from a slower source) → nothing.
 */
export const step = (state: MonotonicState, { height, source }: Observed): Step => {
  const last = new Map(state.last).set(source, height)
  if (Option.isNone(state.max) || height > state.max.value) {
    return {
      state: { max: Option.some(height), last, dropTo: Option.none() },
      emit: Option.some(height),
      reorg: Option.none()
    }
  }
  const previous = state.last.get(source)
  const deeper = Option.isNone(state.dropTo) || height < state.dropTo.value
  if (previous !== undefined && height < previous && deeper) {
    return {
      state: { max: state.max, last, dropTo: Option.some(height) },
      emit: Option.none(),
      reorg: Option.some({ from: state.max.value, to: height })
    }
  }
  return { state: { ...state, last }, emit: Option.none(), reorg: Option.none() }
}

/**
 * Stream operator: strictly increasing heights; each drop is handed to
 * `onReorg` once. `start` is the highest height already emitted (when a
 * watcher is restarted it must not emit anything at or below it again).
 */
export const monotonic =
  (onReorg: (reorg: Reorg) => Effect.Effect<void>, start: Option.Option<Height> = Option.none()) =>
  <E, R>(self: Stream.Stream<Observed, E, R>): Stream.Stream<Height, E, R> =>
    // One stage (each stage costs every element a trip through the channel machinery).
    Stream.unwrap(
      Effect.map(Ref.make(initialState(start)), (state) =>
        self.pipe(
          Stream.mapConcatEffect((observed) =>
            Ref.modify(state, (s) => {
              const next = step(s, observed)
              return [next, next.state] as const
            }).pipe(
              Effect.tap((next) => Option.match(next.reorg, { onNone: () => Effect.void, onSome: onReorg })),
              Effect.map((next) => Option.toArray(next.emit))
            )
          )
        ))
    )
