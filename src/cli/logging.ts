import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type { LogFormat } from "../config/Config.js"

/** Logs go to stderr (stdout carries command output only): pretty on a TTY, JSON lines otherwise. */
export const loggerLayer = (format: LogFormat): Layer.Layer<never> =>
  Logger.replace(
    Logger.defaultLogger,
    format === "json"
      ? Logger.withConsoleError(Logger.jsonLogger)
      : Logger.prettyLogger({ stderr: true, colors: "auto" })
  )
