import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { Pace } from "./Pace.js"

/*
 * The chain's pace as a running supervisor measures it from the heights
 * (Pace.ts): the block interval, the head's age, and from them every
 * pending upgrade's ETA and the stall rule. The tag lives here, apart from
 * its layer (ChainPaceLive.ts).
 */

export interface ChainPaceService {
  /** The pace at this instant (the Clock's). */
  readonly now: Effect.Effect<Pace>
}

export class ChainPace extends Context.Tag("wemixvisor/ChainPace")<ChainPace, ChainPaceService>() {}
