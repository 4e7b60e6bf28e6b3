import type { Channel } from "../config/Channels.js"
import { type Severity, severityOf, type WemixvisorEvent } from "../events/Events.js"

/*
 * What each channel receives for one event (docs/NOTIFICATIONS.md): a
 * readable line (name, height, result, reason), the machine it came from
 * (host and home, so a fleet's channel stays readable), and the payload each
 * service documents. Pure: tested on its own, and by receivers that check
 * the shapes.
 */

/** Where the supervisor runs: every message says it. */
export interface Origin {
  readonly host: string
  readonly home: string
}

/** One message to send: an event, or a summary of the identical ones a coalescing window held back. */
export interface Notice {
  readonly event: WemixvisorEvent
  /** How many more events like this one came within the window (0: just this one). */
  readonly repeats: number
}

/** The result an event reports, where it has one (Slack's and Discord's field, the e-mail subject). */
const resultOf = (e: WemixvisorEvent): string | null => {
  switch (e.type) {
    case "upgrade-completed":
      return "done"
    case "upgrade-failed":
      return "failed"
    case "rollback-completed":
      return "rolled back"
    default:
      return null
  }
}

/** A proposal id (a uint256, up to 78 digits) short enough for a line: its first and last digits. */
const shortId = (id: string): string => (id.length > 14 ? `${id.slice(0, 6)}…${id.slice(-6)}` : id)

/** The event in one sentence, without the origin. */
export const describeEvent = (e: WemixvisorEvent): string => {
  switch (e.type) {
    case "upgrade-scheduled":
      return `upgrade ${e.name} scheduled at height ${e.height}`
    case "upgrade-cancelled":
      return `upgrade ${e.name} cancelled`
    case "upgrade-preparing":
      return `upgrade ${e.name}: preparing its binary`
    case "upgrade-ready":
      return `upgrade ${e.name}: binary ready`
    case "upgrade-problem":
      return `upgrade ${e.name} NOT READY: ${e.reason}`
    case "upgrade-started":
      return `upgrade ${e.name} started at height ${e.current_height} (scheduled at ${e.height})`
    case "upgrade-step":
      return `upgrade ${e.name}: ${e.step}`
    case "upgrade-completed":
      return `upgrade ${e.name} done at height ${e.height}`
    case "upgrade-failed":
      return `upgrade ${e.name} FAILED: ${e.reason}`
    case "rollback-completed":
      return `upgrade ${e.name} rolled back: the node runs ${e.current} again`
    case "node-started":
      return `node started (pid ${e.pid}, ${e.binary})`
    case "node-adopted":
      return `node adopted (pid ${e.pid}, ${e.binary})`
    case "node-exited":
      return `node exited (pid ${e.pid}, ${e.code !== null ? `code ${e.code}` : `signal ${e.signal ?? "?"}`})${
        e.expected ? "" : ", unexpectedly"
      }`
    case "node-restarting":
      return `node restarting (restart ${e.restarts}, in ${(e.delay_ms / 1000).toFixed(1)}s)`
    case "node-error":
      return `node in ERROR, not restarted: ${e.reason}`
    case "height-reorg":
      return `chain reorg: head ${e.from} → ${e.to}`
    case "plan-invalid":
      return `plan file invalid (${e.path}): ${e.reason}`
    case "plan-restored":
      return `plan file restored (${e.path}, ${e.upgrades} upgrades)`
    case "config-reloaded":
      return `configuration reloaded (${e.trigger}): ${e.message}`
    case "config-invalid":
      return `configuration NOT reloaded (${e.trigger}): ${e.message}`
    case "proposal-created":
      return `proposal ${shortId(e.id)} created: ${e.actions} (vote blocks ${e.vote_start}–${e.vote_end})`
    case "proposal-vote":
      return `proposal ${shortId(e.id)} votes: for ${e.for}, against ${e.against}, abstain ${e.abstain}${
        e.quorum === null ? "" : ` (quorum ${e.quorum})`
      }`
    case "proposal-succeeded":
      return `proposal ${shortId(e.id)} passed: ${e.actions}`
    case "proposal-queued":
      return `proposal ${shortId(e.id)} queued in the timelock: ${e.actions}`
    case "proposal-executed":
      return `proposal ${shortId(e.id)} executed: ${e.actions}`
    case "proposal-defeated":
      return `proposal ${shortId(e.id)} defeated: ${e.actions}`
    case "proposal-canceled":
      return `proposal ${shortId(e.id)} canceled: ${e.actions}`
    case "upgrades-paused":
    case "upgrades-resumed":
    case "node-stalled":
    case "upgrade-soon":
    case "height-passed-blind":
    case "notify-test":
      return e.message
  }
}

/** The line every text channel starts with: `[host home] sentence` (+ how many more, + "test"). */
export const lineOf = (n: Notice, o: Origin): string => {
  const more = n.repeats > 0 ? ` (and ${n.repeats} more like it)` : ""
  return `[${o.host} ${o.home}] ${describeEvent(n.event)}${more}`
}

/** The subject of an e-mail: short, severity first, so an inbox sorts itself. */
export const subjectOf = (n: Notice, o: Origin): string => {
  const sev = severityOf(n.event)
  const tag = sev === "info" ? "" : `${sev.toUpperCase()} `
  const name = "name" in n.event ? ` ${n.event.name}` : ""
  const result = resultOf(n.event)
  return `[wemixvisor] ${tag}${o.host}: ${n.event.type}${name}${result === null ? "" : ` (${result})`}`
}

/** The event's fields worth a look, as `key: value` (no time, no message: they are shown already). */
const fieldsOf = (e: WemixvisorEvent): ReadonlyArray<readonly [string, string]> =>
  Object.entries(e)
    .filter(([k, v]) => k !== "type" && k !== "time" && k !== "message" && v !== null && v !== "")
    // Discord refuses an embed field over 1024 characters (and an empty one, above).
    .map(([k, v]) => [k, String(v).slice(0, 1024)] as const)

const COLOR: Record<Severity, number> = { info: 0x2e7d32, warning: 0xf9a825, error: 0xc62828 }

/** The HTTP body a channel posts for `n` (email has none: see emailOf). */
export const payloadOf = (c: Channel, n: Notice, o: Origin): unknown => {
  const line = lineOf(n, o)
  const sev = severityOf(n.event)
  switch (c.kind) {
    case "webhook":
      // Every event as it is on SSE, with where it came from.
      return { ...n.event, home: o.home, host: o.host, severity: sev, repeats: n.repeats }
    case "slack":
      return {
        text: line,
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: `*${n.event.type}* ${line}` } },
          {
            type: "context",
            elements: [
              {
                type: "mrkdwn",
                text: [
                  `host ${o.host}`,
                  `home ${o.home}`,
                  ...fieldsOf(n.event).map(([k, v]) => `${k} ${v}`),
                  n.event.time
                ]
                  .join(" · ")
              }
            ]
          }
        ]
      }
    case "discord":
      return {
        content: line,
        embeds: [
          {
            title: n.event.type,
            description: line,
            color: COLOR[sev],
            timestamp: n.event.time,
            fields: fieldsOf(n.event).map(([name, value]) => ({ name, value, inline: true })),
            footer: { text: `${o.host} ${o.home}` }
          }
        ]
      }
    case "telegram":
      return { chat_id: c.chatId, text: line, disable_web_page_preview: true }
    case "email":
      return null
  }
}

/** The e-mail for `n`: subject, and a plain-text body (the line, then every field). */
export const emailOf = (n: Notice, o: Origin): { readonly subject: string; readonly text: string } => ({
  subject: subjectOf(n, o),
  text: [
    lineOf(n, o),
    "",
    `event: ${n.event.type}`,
    `time: ${n.event.time}`,
    `host: ${o.host}`,
    `home: ${o.home}`,
    ...fieldsOf(n.event).map(([k, v]) => `${k}: ${v}`),
    ""
  ].join("\n")
})
