import * as FiberRefs from "effect/FiberRefs"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type { LogFormat, LogLevel as ConfigLogLevel } from "../config/Config.js"
import { LogThreshold } from "../config/LogThreshold.js"

const LEVELS: Record<ConfigLogLevel, LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error
}

/** Follows `threshold` for the fibers built under this layer. */
export const thresholdLayer = (threshold: () => ConfigLogLevel): Layer.Layer<never> =>
  Layer.locallyScoped(LogThreshold, threshold)

/**
 * Logs go to stderr (stdout carries command output only): pretty on a TTY,
 * JSON lines otherwise; lines below LogThreshold are dropped.
 */
export const loggerLayer = (format: LogFormat, level: () => ConfigLogLevel = () => "info"): Layer.Layer<never> => {
  const base = format === "json"
    ? Logger.withConsoleError(Logger.jsonLogger)
    : Logger.prettyLogger({ stderr: true, colors: "auto" })
  const filtered = Logger.make<unknown, void>((options) => {
    const least = LEVELS[FiberRefs.getOrDefault(options.context, LogThreshold)()]
    if (LogLevel.greaterThanEqual(options.logLevel, least)) base.log(options)
  })
  return Layer.mergeAll(
    Logger.replace(Logger.defaultLogger, filtered),
    // Every line reaches the filter above; Effect's own threshold (Info) would hide debug lines for good.
    Logger.minimumLogLevel(LogLevel.Debug),
    thresholdLayer(level)
  )
}
