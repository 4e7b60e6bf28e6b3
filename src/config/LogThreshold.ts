import * as FiberRef from "effect/FiberRef"
import type { LogLevel } from "./Config.js"

/**
 * The least severe log line written, asked at each line by the CLI's logger
 * (cli/logging.ts). A getter, not a value: `run` points it at the live
 * configuration (Reload.ts), so a reload of WEMIXVISOR_LOG_LEVEL takes
 * effect in every fiber without swapping the logger.
 */
export const LogThreshold = FiberRef.unsafeMake<() => LogLevel>(() => "info")
