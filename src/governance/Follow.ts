import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { FileCorrupt, IoError, NodeUnreachable } from "../domain/Errors.js"
import * as Cursor from "./Cursor.js"
import type { RegistryChain, RegistryEvent } from "./Registry.js"

/*
 * Following the registry (ARCHITECTURE §10), one step per new head: the
 * blocks from the cursor up to `head - confirmations` are read in bounded
 * ranges, and their events applied in chain order, a batch at a time (one
 * plan write and one cursor write for up to BATCH_RANGES ranges: a catch-up
 * over months of blocks costs its getLogs, not an fsync per event). Blocks
 * younger than the confirmations are never read, so an event whose block is
 * reorganised away before it is buried never counts, by construction. A
 * reorganisation deeper than that — the cursor's block replaced — is logged
 * loudly and the last `confirmations` blocks before it read again.
 *
 * The cursor is written after each batch (at most BATCH_RANGES ranges: once
 * per step while following, once per 100 000 blocks in a catch-up). A kill
 * between a batch's apply and its cursor write replays that batch once:
 * `apply` must find what it already applied (the plan has it) and do
 * nothing again.
 */

/** The most blocks one getLogs asks for: nodes cap the range (and the answer) of a single call. */
export const MAX_RANGE = 2_000

/** Ranges read before their events are applied and the cursor written. */
export const BATCH_RANGES = 50

/** Blocks `from`..`to` in consecutive ranges of at most `max`. */
export const ranges = (from: number, to: number, max: number = MAX_RANGE): ReadonlyArray<readonly [number, number]> => {
  const out: Array<readonly [number, number]> = []
  for (let a = from; a <= to; a += max) out.push([a, Math.min(to, a + max - 1)])
  return out
}

export interface FollowDeps<E> {
  readonly chain: RegistryChain
  readonly registry: string
  readonly confirmations: number
  /** The first block to read on a home without a cursor; none: the head at that first step. */
  readonly fromBlock: Option.Option<number>
  readonly cursorFile: string
  /**
   * Applies confirmed events, in chain order, to the plan. Fails only when
   * they must be tried again (the plan locked, the disk, the node); a
   * refusal (a name already taken, a height passed) is reported by `apply`
   * and counts as done.
   */
  readonly apply: (events: ReadonlyArray<RegistryEvent>) => Effect.Effect<void, E>
  /** Between a batch's apply and its cursor write: where a test SIGKILLs (CrashPoints.GOVERNANCE_APPLIED). */
  readonly afterApply?: Effect.Effect<void>
}

export interface Follower<E> {
  /** Reads and applies everything confirmed at `head`; the cursor moves only past what was applied. */
  readonly step: (head: number) => Effect.Effect<void, E | NodeUnreachable | IoError>
  /** The cursor now (none before the first step). */
  readonly cursor: Effect.Effect<Option.Option<Cursor.Cursor>>
}

export const makeFollower = <E>(deps: FollowDeps<E>): Effect.Effect<Follower<E>, IoError | FileCorrupt> =>
  Effect.gen(function*() {
    const stored = yield* Cursor.read(deps.cursorFile)
    let cursor: Cursor.Cursor | undefined = Option.getOrUndefined(stored)
    if (cursor !== undefined && cursor.registry !== deps.registry) {
      yield* Effect.logWarning(
        `${deps.cursorFile} is for the registry ${cursor.registry}, not ${deps.registry}: reading the new one from the start`
      )
      cursor = undefined
    }
    const save = (next: Cursor.Cursor) =>
      Effect.zipRight(Cursor.write(deps.cursorFile, next), Effect.sync(() => (cursor = next)))

    const step = (head: number): Effect.Effect<void, E | NodeUnreachable | IoError> =>
      Effect.gen(function*() {
        if (cursor === undefined) {
          const first = Option.getOrElse(deps.fromBlock, () => head)
          yield* save({ registry: deps.registry, block: first - 1, hash: null })
          yield* Effect.logInfo(`governance: reading the registry ${deps.registry} from block ${first}`)
        }
        const safe = head - deps.confirmations
        const at = cursor!
        if (safe <= at.block) return

        if (at.hash !== null) {
          const now = yield* deps.chain.blockHash(at.block)
          if (Option.getOrNull(now) !== at.hash) {
            const back = Math.max(-1, at.block - Math.max(deps.confirmations, 1))
            yield* Effect.logError(
              `governance: block ${at.block} is no longer the one read (hash ${at.hash}, now ${
                Option.getOrElse(now, () => "gone")
              }): a reorganisation deeper than DAEMON_GOVERNANCE_CONFIRMATIONS (${deps.confirmations}). ` +
                `What was applied stays in the plan — check it with 'wemixvisor upgrade list'; reading again from block ${
                  back + 1
                }`
            )
            yield* save({ ...at, block: back, hash: null })
          }
        }

        const all = ranges(cursor!.block + 1, safe)
        for (let i = 0; i < all.length; i += BATCH_RANGES) {
          const batch = all.slice(i, i + BATCH_RANGES)
          const events: Array<RegistryEvent> = []
          for (const [from, to] of batch) events.push(...(yield* deps.chain.logs(from, to)))
          // In chain order whatever order the node answers in: a schedule and a cancel of one block apply as mined.
          events.sort((a, b) => a.block - b.block || a.logIndex - b.logIndex)
          // Asked before applying: the cursor is then written the moment the batch is in the plan.
          const end = batch[batch.length - 1]![1]
          const hash = Option.getOrNull(yield* deps.chain.blockHash(end))
          if (events.length > 0) {
            yield* deps.apply(events)
            if (deps.afterApply !== undefined) yield* deps.afterApply
          }
          yield* save({ registry: deps.registry, block: end, hash })
        }
      })

    return { step, cursor: Effect.sync(() => Option.fromNullable(cursor)) }
  })
