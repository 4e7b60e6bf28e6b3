import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { ChainPace } from "./ChainPace.js"
import { HeightProvider } from "./HeightProvider.js"
import * as Pace from "./Pace.js"

interface Seen {
  readonly window: ReadonlyArray<Pace.HeadSample>
  readonly movedAt: number
}

/** Live: follows the HeightProvider's heights for the life of the layer. */
export const layer: Layer.Layer<ChainPace, never, HeightProvider> = Layer.scoped(
  ChainPace,
  Effect.gen(function*() {
    const heights = yield* HeightProvider
    const seen = yield* Ref.make<Seen>({ window: [], movedAt: yield* Clock.currentTimeMillis })
    yield* heights.heights.pipe(
      Stream.runForEach((height) =>
        Effect.flatMap(
          Clock.currentTimeMillis,
          (at) => Ref.update(seen, (s) => ({ window: Pace.addHead(s.window, { height, at }), movedAt: at }))
        )
      ),
      Effect.forkScoped
    )
    return ChainPace.of({
      now: Effect.zipWith(Ref.get(seen), Clock.currentTimeMillis, (s, now): Pace.Pace => ({
        now,
        head: Option.fromNullable(s.window[s.window.length - 1]?.height),
        movedAt: s.movedAt,
        interval: Pace.blockInterval(s.window)
      }))
    })
  })
)
