import type { UpgradeEta } from "./Status.js"

/*
 * An upgrade's ETA in an operator's words, as `upgrade list` and `upgrade
 * check` say it (the CLI locally, and the supervisor answering a check).
 */

/** A span as an operator reads it: `45s`, `12m`, `3h12m`, `2d3h`. */
export const spanText = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h}h${m % 60 > 0 ? `${m % 60}m` : ""}`
  const d = Math.floor(h / 24)
  return `${d}d${h % 24 > 0 ? `${h % 24}h` : ""}`
}

/**
 * An ETA as `upgrade list` shows it: "in 3h12m (02:14 UTC)", the date too
 * when it is a day or more away; "due" once reached; "unknown" while no
 * running supervisor has measured the block interval.
 */
export const etaText = (e: UpgradeEta): string => {
  if (e.eta === null || e.eta_seconds === null) return "unknown"
  if (e.eta_seconds === 0) return "due"
  const at = e.eta.slice(0, 16).replace("T", " ")
  return `in ${spanText(e.eta_seconds)} (${e.eta_seconds < 86_400 ? at.slice(11) : at} UTC)`
}
