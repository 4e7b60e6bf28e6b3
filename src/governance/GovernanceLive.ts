import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { fromCosmovisorInfo } from "../binaries/Sources.js"
import { AppConfig } from "../config/Config.js"
import { isPending, isReschedulable, type UpgradeName } from "../domain/Upgrade.js"
import { Events } from "../events/Events.js"
import { HeightProvider } from "../height/HeightProvider.js"
import { type BatchRequest, decodeSchedule, Operations } from "../upgrades/Operations.js"
import { PlanStore } from "../upgrades/PlanStore.js"
import { makeFollower } from "./Follow.js"
import { Governance } from "./Governance.js"
import { stepEachHead } from "./Heads.js"
import { chainOf, type RegistryEvent } from "./Registry.js"

/*
 * The live governance source: one follower per layer, stepped by the
 * HeightProvider's heights (pushed over WebSocket when DAEMON_WS_URL is set,
 * polled otherwise; a slow step sees only the latest head after it). A
 * failed step is retried on a Schedule and then waits for the next head:
 * nothing of it is fatal, and the rest of wemixvisor does not wait on it.
 */

/** The start's code check asks again while the node is not up yet: every 2 s, for 2 minutes. */
const CODE_CHECK_RETRY = Schedule.spaced("2 seconds").pipe(Schedule.upTo("2 minutes"))

/** The live source; `afterApply` runs between an event's apply and its cursor write (tests' crash point). */
export const layerWith = (
  afterApply: Effect.Effect<void> = Effect.void
): Layer.Layer<Governance, never, AppConfig | HeightProvider | Operations | PlanStore | Events> =>
  Layer.scoped(
    Governance,
    Effect.gen(function*() {
      const config = yield* AppConfig
      if (Option.isNone(config.governanceRegistry)) return Governance.of({ state: Effect.succeed(null) })
      const registry = config.governanceRegistry.value
      const heights = yield* HeightProvider
      const operations = yield* Operations
      const store = yield* PlanStore
      const events = yield* Events
      const origin = (e: RegistryEvent) => ({ door: "governance" as const, peer: `tx ${e.tx}` })
      const problem = (name: string, reason: string) =>
        Effect.zipRight(
          Effect.logError(`governance: ${reason}`),
          events.publish({ type: "upgrade-problem", name, reason })
        )

      const describe = (e: RegistryEvent) =>
        `${
          e._tag === "Cancelled" ? `UpgradeCancelled('${e.name}')` : `UpgradeScheduled('${e.name}', ${e.height})`
        } (block ${e.block}, tx ${e.tx})`

      /**
       * Confirmed events through Operations.applyAll, in chain order: one plan
       * write for the batch, each checked as any door's request. What the plan
       * already has from these very events (a batch replayed after a kill
       * before its cursor write) is not applied again: the plan is read first
       * and followed through the batch. Fails only for what a retry can mend.
       */
      const apply = (batch: ReadonlyArray<RegistryEvent>) =>
        Effect.gen(function*() {
          const plan = yield* store.read
          const seen = new Map(plan.upgrades.map((u) => [u.name as string, { status: u.status, height: u.height }]))
          const requests: Array<BatchRequest> = []
          const sent: Array<RegistryEvent> = []
          for (const e of batch) {
            const known = seen.get(e.name)
            if (e._tag === "Cancelled") {
              if (known === undefined || !isPending(known.status)) {
                yield* Effect.logInfo(`governance: ${describe(e)}: nothing pending to cancel`)
                continue
              }
              requests.push({ _tag: "Cancel", name: e.name as UpgradeName, origin: origin(e) })
              seen.set(e.name, { ...known, status: "cancelled" })
            } else {
              // Already there (pending, or applied since): nothing to do. A cancelled or failed one may come again.
              if (known !== undefined && !isReschedulable(known.status) && BigInt(known.height) === e.height) continue
              const cmd = Either.flatMap(fromCosmovisorInfo(e.info), (sources) =>
                decodeSchedule({
                  name: e.name,
                  height: e.height > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(e.height),
                  info: e.info,
                  binaries: sources.binaries,
                  checksums: sources.checksums
                }))
              if (Either.isLeft(cmd)) {
                yield* problem(e.name, `${describe(e)} refused: ${cmd.left.message}`)
                continue
              }
              requests.push({ _tag: "Schedule", cmd: cmd.right, origin: origin(e) })
              seen.set(e.name, { status: "scheduled", height: cmd.right.height })
            }
            sent.push(e)
          }
          const results = yield* operations.applyAll(requests)
          // Each applied one is an upgrade-scheduled / upgrade-cancelled event already: one line for the batch here.
          let applied = 0
          for (const [i, r] of results.entries()) {
            const e = sent[i]!
            if (Either.isLeft(r)) yield* problem(e.name, `${describe(e)} refused: ${r.left.message}`)
            else applied++
          }
          if (applied > 0) {
            const last = batch[batch.length - 1]!
            yield* Effect.logInfo(`governance: ${applied} registry event(s) applied, through block ${last.block}`)
          }
        })

      const chain = yield* Effect.orDie(chainOf(config.rpcUrl, registry))
      // Said at the start, once the node answers: a registry with no code sends no upgrade, however long one waits.
      yield* chain.code.pipe(
        Effect.retry(CODE_CHECK_RETRY),
        Effect.flatMap((code) =>
          code === "0x"
            ? Effect.logError(
              `governance: DAEMON_GOVERNANCE_REGISTRY ${registry} has no contract code on the node at ${config.rpcUrl}: ` +
                "no upgrade can come from it (wrong address or network?); watching it anyway"
            )
            : Effect.void
        ),
        Effect.catchAll(() => Effect.void),
        Effect.forkScoped
      )
      const follower = yield* makeFollower({
        chain,
        registry,
        confirmations: config.governanceConfirmations,
        fromBlock: config.governanceFromBlock,
        cursorFile: config.layout.governance,
        apply,
        afterApply
      }).pipe(
        // A cursor that cannot be read: said, and the source stays off rather than guessing where to start.
        Effect.tapError((e) => Effect.logError(`governance source off: ${e.message}`)),
        Effect.either
      )
      if (Either.isLeft(follower)) {
        const error = `source off: ${follower.left.message}`
        return Governance.of({
          state: Effect.succeed({ registry, confirmations: config.governanceConfirmations, block: null, error })
        })
      }
      const { cursor, step } = follower.right
      const error = yield* Ref.make<string | null>(null)

      yield* Effect.forkScoped(stepEachHead(heights.heights, step, "governance", error))

      return Governance.of({
        state: Effect.all([cursor, Ref.get(error)]).pipe(
          Effect.map(([c, err]) => ({
            registry,
            confirmations: config.governanceConfirmations,
            block: Option.match(c, { onNone: () => null, onSome: (x) => x.block }),
            error: err
          }))
        )
      })
    })
  )

export const layer = layerWith()
