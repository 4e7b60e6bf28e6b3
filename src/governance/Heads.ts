import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { Height } from "../domain/Height.js"

/*
 * How the governance source and the proposal tracker follow the chain: a
 * step per new head of the HeightProvider, the latest only when a step is
 * slower than the blocks; a failed step retried on a Schedule, then left
 * for the next head. Never fatal, and said once per outage, not per block.
 */

/** A step that failed (the node, the plan's lock, the disk) is tried again: 0.5 s doubling, for up to 10 s. */
export const STEP_RETRY = Schedule.exponential("500 millis").pipe(Schedule.upTo("10 seconds"))

/**
 * Runs `step` for each head of `heads` until the scope closes. `failing`
 * holds why the last step failed, null while they succeed; `label` starts
 * the log lines.
 */
export const stepEachHead = <E extends { readonly message: string }>(
  heads: Stream.Stream<Height>,
  step: (head: Height) => Effect.Effect<void, E>,
  label: string,
  failing: Ref.Ref<string | null>
): Effect.Effect<void> =>
  heads.pipe(
    Stream.buffer({ capacity: 1, strategy: "sliding" }),
    Stream.runForEach((head) =>
      step(head).pipe(
        Effect.retry(STEP_RETRY),
        Effect.matchEffect({
          onFailure: (e) =>
            Ref.getAndSet(failing, e.message).pipe(
              Effect.flatMap((was) =>
                was === null ? Effect.logWarning(`${label}: ${e.message}; trying again at the next block`) : Effect.void
              )
            ),
          onSuccess: () =>
            Ref.getAndSet(failing, null).pipe(
              Effect.flatMap((was) => (was === null ? Effect.void : Effect.logInfo(`${label}: reading again`)))
            )
        })
      )
    )
  )
