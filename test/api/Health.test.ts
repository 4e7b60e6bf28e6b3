/*
 * /health's reasons (src/api/Rest.ts healthProblem), from its inputs: the
 * staleness rule is the `node-stalled` rule, and an upgrade due within the
 * hour that is not ready is a reason.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type HealthInputs, healthProblem } from "../../src/api/Rest.js"
import type { StatusObject, UpgradeWithEta } from "../../src/domain/Status.js"
import type { Pace } from "../../src/height/Pace.js"
import { pendingUpgrade } from "../support/upgrades.js"
import { idleStatus } from "./support.js"

const status = (pending: ReadonlyArray<UpgradeWithEta> = []): StatusObject => ({
  ...idleStatus,
  pending_upgrade: pending[0] ?? null,
  pending
})

const inputs = (
  pace: Pace,
  pending: ReadonlyArray<UpgradeWithEta> = [],
  stallAfter = Option.none<Duration.Duration>()
): HealthInputs => ({
  status: Effect.succeed(status(pending)),
  paused: Effect.succeed(null),
  halted: Effect.succeed(null),
  pace: Effect.succeed(pace),
  stallAfter
})

const moving: Pace = { now: 30_000, head: Option.some(100), movedAt: 28_000, interval: Option.some(2) }

describe("/health reasons", () => {
  it.effect("stale after max(60 s, 10 block intervals), or WEMIXVISOR_STALL_AFTER", () =>
    Effect.gen(function*() {
      expect(yield* healthProblem(inputs(moving))).toEqual(Option.none())
      const slowChain: Pace = { now: 150_000, head: Option.some(100), movedAt: 0, interval: Option.some(15) }
      expect(yield* healthProblem(inputs(slowChain))).toEqual(Option.none())
      expect(yield* healthProblem(inputs({ ...slowChain, now: 151_000 }))).toEqual(
        Option.some("no new block height for 151s")
      )
      expect(yield* healthProblem(inputs(moving, [], Option.some(Duration.seconds(1))))).toEqual(
        Option.some("no new block height for 2s")
      )
      expect(yield* healthProblem(inputs({ ...moving, head: Option.none() }))).toEqual(
        Option.some("no block height received from the node yet")
      )
    }))

  it.effect("an upgrade due within the hour that is not ready", () =>
    Effect.gen(function*() {
      const reason = Option.some("an upgrade due within the hour is not ready (see `wemixvisor upgrade list`)")
      expect(yield* healthProblem(inputs(moving, [pendingUpgrade("v2", 1000, 1800, "failed", "checksum mismatch")])))
        .toEqual(reason)
      expect(yield* healthProblem(inputs(moving, [pendingUpgrade("v2", 1000, 1800, "ready")]))).toEqual(Option.none())
      expect(yield* healthProblem(inputs(moving, [pendingUpgrade("v2", 1000, 7200, "scheduled")]))).toEqual(
        Option.none()
      )
    }))
})
