import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describeChannel } from "../config/Channels.js"
import type { WemixvisorConfig } from "../config/Config.js"
import { ConfigInvalid, NotifyFailed } from "../domain/Errors.js"
import type { WemixvisorEvent } from "../events/Events.js"
import { deliver } from "../notify/Deliver.js"
import { originOf } from "../notify/NotifierLive.js"

/*
 * `wemixvisor notify test`: one test message to every configured channel,
 * all at once, one attempt each (bounded like every attempt), then a line per
 * channel. Works without `run`: it reads the same configuration.
 */

export const notifyTest = (config: WemixvisorConfig) =>
  Effect.gen(function*() {
    if (config.notify.length === 0) {
      return yield* new ConfigInvalid({
        variable: "WEMIXVISOR_NOTIFY_*",
        value: "",
        problem:
          "no notification channel is configured (set WEMIXVISOR_NOTIFY_WEBHOOK, _SLACK, _DISCORD, _TELEGRAM or _SMTP, or add notify tables to the config file: [[notify]] in config.toml, notify: in config.yaml or config.json)"
      })
    }
    const origin = originOf(config.home)
    const event: WemixvisorEvent = {
      type: "notify-test",
      time: new Date().toISOString(),
      message: "test message from wemixvisor notify test: notifications reach this channel"
    }
    const results = yield* Effect.forEach(
      config.notify,
      (c) => Effect.map(Effect.either(deliver(c, { event, repeats: 0 }, origin)), (r) => ({ c, r })),
      { concurrency: "unbounded" }
    ).pipe(Effect.provide(NodeHttpClient.layer))
    for (const { c, r } of results) {
      yield* Console.log(
        `${Either.isRight(r) ? "✓" : "✗"} ${c.name} (${c.kind}, ${describeChannel(c)}): ${
          Either.isRight(r) ? "delivered" : `NOT delivered: ${r.left.reason}`
        }`
      )
    }
    const failed = results.filter(({ r }) => Either.isLeft(r)).map(({ c }) => c)
    if (failed.length > 0) {
      return yield* new NotifyFailed({
        channel: failed.map((c) => c.name).join(", "),
        reason: `${failed.length} of ${config.notify.length} channels did not take the test message`
      })
    }
  })
