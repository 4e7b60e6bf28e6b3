/*
 * The dashboard page (served by `wemixvisor run` at `/`, docs/OPERATIONS.md
 * "Dashboard"): plain DOM, no framework, same-origin calls to the
 * token-protected API only. The status is polled every 2 s while the event
 * stream is up; events arrive over SSE read with fetch (EventSource cannot
 * send the Authorization header), reconnecting 1 s doubling to 10 s; the plan
 * and the history are read again on each (re)connect and each upgrade event.
 * Element ids are the contract the browser test relies on.
 */
import {
  answerText,
  backoffMs,
  changesPlan,
  checkPath,
  checkSummary,
  type ControlRequest,
  controlsView,
  describeEvent,
  EVENT_TYPES,
  formatDuration,
  formatInterval,
  HISTORY_LIMIT,
  isPending,
  MAX_EVENTS,
  openProposalsOf,
  orderUpgrades,
  pauseActionOf,
  pauseBanner,
  pauseConfirmText,
  pauseRequest,
  proposalActionsText,
  proposalVotesText,
  proposalWindowText,
  RESTART_REQUEST,
  restartConfirmText,
  scheduleBody,
  scheduleWarning,
  severityOf,
  shortProposalId,
  SseParser,
  tokenFromFragment,
  type WireEvent,
  type WireHistoryRecord,
  type WireProposal,
  type WireStatus,
  type WireUpgrade
} from "./model.js"

const TOKEN_KEY = "wemixvisor.token"
const POLL_MS = 2000
/** The server sends a keep-alive every 15 s: a stream silent this long is dead (a lost network, a sleeping laptop). */
const STREAM_SILENCE_MS = 40_000

// ---------------------------------------------------------------------------
// DOM helpers

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T

const el = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag)
  if (className !== undefined) e.className = className
  if (text !== undefined) e.textContent = text
  return e
}

/** Sets the text only when it changed (no needless layout, no lost selection). */
const setText = (e: HTMLElement, text: string) => {
  if (e.textContent !== text) e.textContent = text
}
const show = (id: string, text: string) => setText($(id), text)

const DATE = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit"
})

/** `<time datetime="<iso>" title="<UTC ISO>">local time</time>`. */
const timeEl = (iso: string): HTMLTimeElement => {
  const t = el("time")
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) {
    t.textContent = iso
    return t
  }
  t.dateTime = iso
  t.title = d.toISOString()
  t.textContent = DATE.format(d)
  return t
}

/** An answer in a result line: `data-ok` and the words, verbatim; pending (no `data-ok`) while asked. */
const result = (id: string, ok: boolean | null, text: string) => {
  const e = $(id)
  if (ok === null) e.removeAttribute("data-ok")
  else e.dataset["ok"] = String(ok)
  e.textContent = text
}

const dash = (v: string | number | null | undefined) => (v === null || v === undefined || v === "" ? "—" : String(v))

// ---------------------------------------------------------------------------
// The API

interface Answer {
  readonly ok: boolean
  readonly status: number
  readonly body: unknown
  /** The message or refusal, verbatim (model.ts answerText). */
  readonly text: string
}

/** The token in use, and the session of its calls (aborted on logout and on a 401). */
let token: string | null = null
let session: AbortController | null = null
let verified = false

const storage = {
  get: () => {
    try {
      return sessionStorage.getItem(TOKEN_KEY)
    } catch {
      return null
    }
  },
  set: (t: string | null) => {
    try {
      if (t === null) sessionStorage.removeItem(TOKEN_KEY)
      else sessionStorage.setItem(TOKEN_KEY, t)
    } catch {
      // storage disabled: the token lasts as long as the page
    }
  }
}

const authHeaders = (): Record<string, string> => ({ authorization: `Bearer ${token ?? ""}` })

const api = async (method: string, path: string, body?: unknown): Promise<Answer> => {
  const s = session
  if (s === null) return { ok: false, status: 0, body: null, text: "not connected" }
  let res: Response
  try {
    res = await fetch(path, {
      method,
      headers: { ...authHeaders(), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      cache: "no-store",
      signal: s.signal
    })
  } catch (e) {
    return { ok: false, status: 0, body: null, text: `could not reach the API: ${(e as Error).message}` }
  }
  const raw = await res.text().catch(() => "")
  let parsed: unknown = null
  try {
    parsed = JSON.parse(raw)
  } catch {
    // not JSON: the status says it
  }
  const answer = { ok: res.ok, status: res.status, body: parsed, text: answerText(res.status, res.statusText, parsed) }
  if (s === session) {
    if (res.status === 401) unauthorized(answer.text)
    else if (res.ok && !verified) tokenWorks()
  }
  return answer
}

/** Runs `f` once at a time; a call while it runs makes it run once more afterwards. */
const coalesced = (f: () => Promise<void>) => {
  let running = false
  let again = false
  return async () => {
    if (running) {
      again = true
      return
    }
    running = true
    try {
      do {
        again = false
        await f()
      } while (again)
    } finally {
      running = false
    }
  }
}

// ---------------------------------------------------------------------------
// Status, plan, history

let head: number | null = null
/** The last status the supervisor gave (null before the first, and after a logout). */
let lastStatus: WireStatus | null = null
let plan: ReadonlyArray<WireUpgrade> = []
let pending = new Map<string, WireUpgrade>()

const banner = (id: string, text: string | null) => {
  const e = $(id)
  e.hidden = text === null
  setText(e, text ?? "")
}

const renderStatus = (s: WireStatus) => {
  head = typeof s.current_height === "number" ? s.current_height : null
  show("head", dash(head))
  const age = s.head_age_seconds
  show(
    "head-age",
    typeof age === "number" ? (age < 10 ? `${Math.max(0, age).toFixed(1)} s` : formatDuration(age)) : "—"
  )
  show(
    "block-interval",
    typeof s.block_interval_seconds === "number" ? formatInterval(s.block_interval_seconds) : "—"
  )
  const state = $("node-state")
  setText(state, dash(s.node_state))
  state.dataset["state"] = s.node_state ?? ""
  show("node-pid", dash(s.node_pid))
  show("restarts", dash(s.restarts))
  show("current", dash(s.current))
  show("version", dash(s.version))
  show("in-progress", s.in_progress ? `${s.in_progress.name} (${s.in_progress.step})` : "—")
  show("last-outcome", s.last ? `${s.last.name} ${s.last.status}${s.last.reason ? `: ${s.last.reason}` : ""}` : "—")
  banner("operator-paused", pauseBanner(s))
  $("paused-badge").hidden = pauseBanner(s) === null
  banner("paused", s.paused ? `Upgrades paused: ${s.paused}` : null)
  banner(
    "plan-problem",
    s.plan_problem ? `Plan problem (upgrades go on from the last valid plan): ${s.plan_problem}` : null
  )
  show("home", s.home ?? "")
  pending = new Map((s.pending ?? []).map((u) => [u.name, u]))
  renderUpgrades()
  renderProposals(openProposalsOf(s))
  lastStatus = s
  renderControls()
}

/** The "Proposals" card: shown while the status has proposals not decided yet, one item each (text only: it came from the chain). */
const renderProposals = (open: ReadonlyArray<WireProposal>) => {
  $("proposals-card").hidden = open.length === 0
  const list = $("proposals")
  const items = open.map((p) => {
    const li = el("li")
    li.dataset["id"] = p.id
    li.dataset["state"] = p.state
    li.append(
      el("strong", "state", p.state),
      " ",
      el("span", "actions", proposalActionsText(p)),
      el("br"),
      el("span", "votes", proposalVotesText(p)),
      " · ",
      el("span", "window muted", `${proposalWindowText(p)} · #${shortProposalId(p.id)}`)
    )
    if (p.description !== undefined && p.description !== "") li.title = p.description
    return li
  })
  // Replaced only when what it shows changed (no lost selection every poll).
  const text = items.map((li) => `${li.dataset["id"]}|${li.textContent}`).join("\n")
  if (list.dataset["shown"] !== text) {
    list.replaceChildren(...items)
    list.dataset["shown"] = text
  }
}

const refreshStatus = coalesced(async () => {
  const a = await api("GET", "/api/v1/upgrades/status")
  if (a.ok) renderStatus(a.body as WireStatus)
})

const refreshPlan = coalesced(async () => {
  const a = await api("GET", "/api/v1/upgrades")
  if (!a.ok) {
    if (a.status !== 401 && a.status !== 0) result("action-result", false, a.text)
    return
  }
  const list = (a.body as { upgrades?: ReadonlyArray<WireUpgrade> }).upgrades
  plan = Array.isArray(list) ? list : []
  renderUpgrades()
})

const refreshHistory = coalesced(async () => {
  const a = await api("GET", `/api/v1/history?limit=${HISTORY_LIMIT}`)
  if (!a.ok) {
    if (a.status !== 401 && a.status !== 0) show("history-note", `History not available: ${a.text}`)
    return
  }
  const records = (a.body as { records?: ReadonlyArray<WireHistoryRecord> }).records ?? []
  const rows = records.slice().reverse().map((r) => {
    const tr = el("tr")
    tr.dataset["result"] = r.result
    const time = el("td", "time")
    time.append(timeEl(r.time))
    const detail = [r.detail, r.peer !== undefined ? `peer ${r.peer}` : undefined].filter((x) => x).join("; ")
    tr.append(
      time,
      el("td", "name", r.name),
      el("td", "step", r.step),
      el("td", "result", r.result),
      el("td", "door", r.door ?? "—"),
      el("td", "detail", detail)
    )
    return tr
  })
  $<HTMLTableElement>("history").tBodies[0]!.replaceChildren(...rows)
  show(
    "history-note",
    records.length === 0
      ? "No history yet."
      : records.length >= HISTORY_LIMIT
      ? `Newest first: the last ${HISTORY_LIMIT} records (wemixvisor upgrade history --limit N on the node host shows more).`
      : "Newest first."
  )
})

const refreshAll = () => {
  void refreshStatus()
  void refreshPlan()
  void refreshHistory()
}

/** An event's refresh, a moment later: the steps of an upgrade come in bursts. */
let soon: ReturnType<typeof setTimeout> | undefined
let soonPlan = false
const refreshSoon = (withPlan: boolean) => {
  soonPlan ||= withPlan
  if (soon !== undefined) return
  soon = setTimeout(() => {
    soon = undefined
    void refreshStatus()
    if (soonPlan) {
      void refreshPlan()
      void refreshHistory()
    }
    soonPlan = false
  }, 200)
}

// ---------------------------------------------------------------------------
// The upgrades table: rows kept by name and updated in place (a poll every
// 2 s must not take the focus from a button).

const CELLS = ["name", "height", "status", "eta", "ready", "reason"] as const

const readyText = (status: string) =>
  status === "ready" || status === "upgrading" ? "yes" : status === "preparing" ? "preparing" : "no"

const fillRow = (tr: HTMLTableRowElement, u: WireUpgrade) => {
  const cell = (c: (typeof CELLS)[number]) => tr.querySelector<HTMLElement>(`td.${c}`)!
  const isP = isPending(u.status)
  tr.dataset["status"] = u.status
  setText(cell("name"), u.name)
  cell("name").title = u.info ?? ""
  setText(cell("height"), String(u.height))
  setText(cell("status"), u.status)
  setText(cell("ready"), isP ? readyText(u.status) : "—")
  setText(cell("reason"), u.reason ?? "")
  const eta = cell("eta")
  const key = isP ? `${u.eta ?? ""}|${u.eta_seconds ?? ""}` : ""
  if (eta.dataset["key"] !== key) {
    eta.dataset["key"] = key
    if (!isP) eta.replaceChildren()
    else if (typeof u.eta === "string") {
      eta.replaceChildren(
        timeEl(u.eta),
        typeof u.eta_seconds === "number" ? ` (in ${formatDuration(u.eta_seconds)})` : ""
      )
    } else eta.replaceChildren("unknown")
  }
  const actions = tr.querySelector<HTMLElement>("td.actions")!
  if (!isP) actions.replaceChildren()
  else if (actions.childElementCount === 0) {
    const check = el("button", "check", "Check")
    const prepare = el("button", "prepare", "Prepare")
    const cancel = el("button", "cancel", "Cancel")
    check.type = prepare.type = cancel.type = "button"
    check.setAttribute("aria-label", `Check ${u.name}`)
    prepare.setAttribute("aria-label", `Prepare ${u.name}`)
    cancel.setAttribute("aria-label", `Cancel ${u.name}`)
    check.addEventListener("click", () => void doCheck(tr))
    prepare.addEventListener("click", () => void doPrepare(tr))
    cancel.addEventListener("click", () => void doCancel(tr))
    actions.append(check, prepare, cancel)
  }
  const busy = tr.dataset["busy"] === "true"
  for (const b of actions.querySelectorAll("button")) {
    const off = busy || u.status === "upgrading"
    if (b.disabled !== off) b.disabled = off
    b.title = u.status === "upgrading" ? "the upgrade is in progress" : ""
  }
}

const renderUpgrades = () => {
  const merged = new Map<string, WireUpgrade>()
  for (const u of plan) merged.set(u.name, u)
  // The status is polled: its pending entries (status, reason, ETA) are the freshest.
  for (const p of pending.values()) merged.set(p.name, { ...merged.get(p.name), ...p })
  const rows = orderUpgrades([...merged.values()])
  const tbody = $<HTMLTableElement>("upgrades").tBodies[0]!
  const existing = new Map<string, HTMLTableRowElement>()
  for (const tr of tbody.rows) existing.set(tr.dataset["name"] ?? "", tr)
  let cursor = tbody.firstElementChild
  for (const u of rows) {
    let tr = existing.get(u.name)
    existing.delete(u.name)
    if (tr === undefined) {
      tr = el("tr")
      tr.dataset["name"] = u.name
      for (const c of [...CELLS, "actions"]) tr.append(el("td", c))
    }
    fillRow(tr, u)
    if (tr === cursor) cursor = cursor.nextElementSibling
    else tbody.insertBefore(tr, cursor)
  }
  for (const tr of existing.values()) tr.remove()
  $("upgrades-empty").hidden = rows.length > 0
}

const upgradeOf = (tr: HTMLTableRowElement) => {
  const name = tr.dataset["name"] ?? ""
  return pending.get(name) ?? plan.find((u) => u.name === name)
}

const setBusy = (tr: HTMLTableRowElement, busy: boolean) => {
  tr.dataset["busy"] = String(busy)
  const u = upgradeOf(tr)
  if (u !== undefined) fillRow(tr, u)
}

/** `upgrade check` for the row's upgrade: the verdict (and each problem) in #action-result; nothing is written. */
const doCheck = async (tr: HTMLTableRowElement) => {
  const name = tr.dataset["name"] ?? ""
  setBusy(tr, true)
  result("action-result", null, `Checking ${name}…`)
  const a = await api("GET", checkPath(name))
  setBusy(tr, false)
  const summary = checkSummary(a.status, a.body, a.text)
  result("action-result", summary.ok, `${name}: ${summary.text}`)
}

const doPrepare = async (tr: HTMLTableRowElement) => {
  const name = tr.dataset["name"] ?? ""
  setBusy(tr, true)
  result("action-result", null, `Preparing ${name}…`)
  const a = await api("POST", `/api/v1/upgrades/${encodeURIComponent(name)}/prepare`, {})
  setBusy(tr, false)
  result("action-result", a.ok, a.text)
  refreshAll()
}

const doCancel = async (tr: HTMLTableRowElement) => {
  const name = tr.dataset["name"] ?? ""
  const u = upgradeOf(tr)
  if (!(await confirm(`Cancel upgrade ${name}${u ? ` at height ${u.height}` : ""}?`))) return
  setBusy(tr, true)
  const a = await api("DELETE", `/api/v1/upgrades/${encodeURIComponent(name)}`)
  setBusy(tr, false)
  result("action-result", a.ok, a.text)
  refreshAll()
}

// ---------------------------------------------------------------------------
// Manual controls: pause/resume upgrades (one toggling button), restart the node

/** The control whose request is under way (its button disabled meanwhile). */
let controlBusy: "pause" | "restart" | null = null

const renderControls = () => {
  const v = controlsView(lastStatus, { token: token !== null && verified, busy: controlBusy })
  for (const [id, c] of [["pause-toggle", v.pause], ["restart-node", v.restart]] as const) {
    const b = $<HTMLButtonElement>(id)
    setText(b, c.label)
    if (b.disabled !== c.disabled) b.disabled = c.disabled
    b.title = c.title
  }
  $("pause-toggle").dataset["action"] = v.pause.action ?? ""
}

/** Asks, then sends the control's request; the API's answer is shown verbatim in #control-result. */
const runControl = async (which: "pause" | "restart", question: string, request: ControlRequest) => {
  if (controlBusy !== null || !(await confirm(question))) return
  controlBusy = which
  renderControls()
  result("control-result", null, which === "restart" ? "Restarting the node…" : "Asking the supervisor…")
  try {
    const a = await api(request.method, request.path, request.body)
    result("control-result", a.ok, a.text)
  } finally {
    controlBusy = null
    // The status as of now (the pause's banner, the node's new pid), then the button drawn from it.
    await refreshStatus()
    renderControls()
    void refreshPlan()
    void refreshHistory()
  }
}

const wireControls = () => {
  $("pause-toggle").addEventListener("click", () => {
    // What the button says it does (drawn from the last status).
    if (lastStatus === null) return
    const action = pauseActionOf(lastStatus)
    void runControl("pause", pauseConfirmText(action), pauseRequest(action))
  })
  $("restart-node").addEventListener("click", () => {
    void runControl("restart", restartConfirmText(lastStatus), RESTART_REQUEST)
  })
  renderControls()
}

// ---------------------------------------------------------------------------
// Confirmation

let answerConfirm: ((yes: boolean) => void) | null = null

const confirm = (text: string): Promise<boolean> => {
  const d = $<HTMLDialogElement>("confirm")
  show("confirm-text", text)
  d.returnValue = ""
  return new Promise((resolve) => {
    answerConfirm = resolve
    d.showModal()
  })
}

const wireConfirm = () => {
  const d = $<HTMLDialogElement>("confirm")
  $("confirm-yes").addEventListener("click", () => d.close("yes"))
  $("confirm-no").addEventListener("click", () => d.close("no"))
  // Escape closes it too (returnValue stays ""): a no.
  d.addEventListener("close", () => {
    const resolve = answerConfirm
    answerConfirm = null
    resolve?.(d.returnValue === "yes")
  })
}

// ---------------------------------------------------------------------------
// Schedule

const wireSchedule = () => {
  const form = $<HTMLFormElement>("schedule-form")
  const submit = form.querySelector<HTMLButtonElement>("button[type=submit]")!
  form.addEventListener("submit", (ev) => {
    ev.preventDefault()
    void (async () => {
      const value = (n: string) => (form.elements.namedItem(n) as HTMLInputElement).value
      const force = (form.elements.namedItem("force") as HTMLInputElement).checked
      const parsed = scheduleBody({
        name: value("name"),
        height: value("height"),
        info: value("info"),
        binaries: value("binaries"),
        checksums: value("checksums"),
        force,
        onFailure: (form.elements.namedItem("on_failure") as HTMLSelectElement).value
      })
      if (!parsed.ok) return result("schedule-result", false, parsed.error)
      submit.disabled = true
      try {
        // The head as of now, not of the last poll.
        await refreshStatus()
        const warning = scheduleWarning(parsed.body.height, head, force)
        if (warning !== null && !(await confirm(`${warning} Schedule ${parsed.body.name} anyway?`))) {
          return result("schedule-result", null, "")
        }
        result("schedule-result", null, `Scheduling ${parsed.body.name}…`)
        const a = await api("POST", "/api/v1/upgrades", parsed.body)
        result("schedule-result", a.ok, a.text)
        if (a.ok) form.reset()
        refreshAll()
      } finally {
        submit.disabled = false
      }
    })()
  })
}

// ---------------------------------------------------------------------------
// Events

let filter = ""

const ensureFilterOption = (type: string) => {
  const select = $<HTMLSelectElement>("event-filter")
  for (const o of select.options) if (o.value === type) return
  select.add(new Option(type, type))
}

const updateEventsEmpty = () => {
  const any = $("events").querySelector("li:not([hidden])") !== null
  const e = $("events-empty")
  e.hidden = any
  setText(e, filter === "" ? "No events since this page connected." : `No ${filter} events since this page connected.`)
}

const addEvent = (e: WireEvent) => {
  const list = $("events")
  const li = el("li")
  li.dataset["type"] = e.type
  li.dataset["severity"] = severityOf(e)
  li.append(timeEl(e.time), " ", el("span", "type", e.type), " ", describeEvent(e))
  li.hidden = filter !== "" && filter !== e.type
  list.prepend(li)
  while (list.childElementCount > MAX_EVENTS) list.lastElementChild!.remove()
  ensureFilterOption(e.type)
  updateEventsEmpty()
}

const wireEvents = () => {
  const select = $<HTMLSelectElement>("event-filter")
  for (const t of EVENT_TYPES) ensureFilterOption(t)
  select.addEventListener("change", () => {
    filter = select.value
    for (const li of $("events").children) {
      ;(li as HTMLElement).hidden = filter !== "" && (li as HTMLElement).dataset["type"] !== filter
    }
    updateEventsEmpty()
  })
}

// ---------------------------------------------------------------------------
// The connection: SSE over fetch, the status poll while it is up, backoff

type ConnState = "live" | "connecting" | "disconnected"

const setConn = (state: ConnState, text: string = state, why = "") => {
  const c = $("conn")
  c.dataset["state"] = state
  setText(c, text)
  c.title = why
  // What the panels show is the last the supervisor said: marked stale (dimmed) until it answers again.
  $("panels").dataset["stale"] = String(state !== "live")
}

/** Reads the event stream until it ends; whether it was live (so the backoff starts over). */
const readStream = async (s: AbortController): Promise<{ live: boolean; why: string }> => {
  const ctl = new AbortController()
  const abort = () => ctl.abort()
  s.signal.addEventListener("abort", abort)
  let live = false
  let poll: ReturnType<typeof setInterval> | undefined
  let silence: ReturnType<typeof setTimeout> | undefined
  const heard = () => {
    clearTimeout(silence)
    silence = setTimeout(abort, STREAM_SILENCE_MS)
  }
  try {
    let res: Response
    try {
      res = await fetch("/api/v1/events", {
        headers: { ...authHeaders(), accept: "text/event-stream" },
        cache: "no-store",
        signal: ctl.signal
      })
    } catch (e) {
      return { live, why: `could not reach the API: ${(e as Error).message}` }
    }
    if (!res.ok || res.body === null) {
      const raw = await res.text().catch(() => "")
      let body: unknown = null
      try {
        body = JSON.parse(raw)
      } catch {
        // not JSON
      }
      const text = answerText(res.status, res.statusText, body)
      if (res.status === 401 && s === session) unauthorized(text)
      return { live, why: text }
    }
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    const parser = new SseParser()
    heard()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      heard()
      for (const f of parser.feed(decoder.decode(value, { stream: true }))) {
        if (!live) {
          // Subscribed: what happens from now on arrives here, so the plan and history read now miss nothing.
          live = true
          setConn("live")
          refreshAll()
          poll = setInterval(() => {
            if (document.visibilityState !== "hidden") void refreshStatus()
          }, POLL_MS)
        }
        if (f.kind === "event") {
          let e: WireEvent
          try {
            e = JSON.parse(f.data) as WireEvent
          } catch {
            e = { type: f.event, time: new Date().toISOString(), data: f.data }
          }
          addEvent(e)
          refreshSoon(changesPlan(e.type))
        }
      }
    }
    return { live, why: "the event stream ended" }
  } catch (e) {
    return { live, why: ctl.signal.aborted ? "no keep-alive from the API" : (e as Error).message }
  } finally {
    clearInterval(poll)
    clearTimeout(silence)
    s.signal.removeEventListener("abort", abort)
    ctl.abort()
  }
}

/** Set while waiting to reconnect: retries at once (the network is back, the page is visible again). */
let retryNow: (() => void) | null = null

const waitToRetry = (ms: number, s: AbortController, why: string) =>
  new Promise<void>((resolve) => {
    const end = Date.now() + ms
    const finish = () => {
      clearInterval(timer)
      retryNow = null
      resolve()
    }
    const tick = () => {
      const left = Math.ceil((end - Date.now()) / 1000)
      if (s.signal.aborted || left <= 0) finish()
      else setConn("disconnected", `disconnected — retrying in ${left} s`, why)
    }
    const timer = setInterval(tick, 250)
    retryNow = finish
    tick()
  })

const connect = async (s: AbortController) => {
  let failures = 0
  while (!s.signal.aborted) {
    setConn("connecting", "connecting…")
    const { live, why } = await readStream(s)
    if (s.signal.aborted) return
    failures = live ? 1 : failures + 1
    await waitToRetry(backoffMs(failures), s, why)
  }
}

// ---------------------------------------------------------------------------
// The token

const tokenWorks = () => {
  verified = true
  $("token-form").hidden = true
  $("logout").hidden = false
  $("panels").hidden = false
  renderControls()
}

const start = (t: string) => {
  stop()
  token = t
  storage.set(t)
  verified = false
  session = new AbortController()
  show("token-error", "")
  // Checks the token (and shows the node) even before the event stream's first frame.
  void refreshStatus()
  void connect(session)
}

const stop = () => {
  session?.abort()
  session = null
  retryNow?.()
}

const askToken = (error: string) => {
  stop()
  token = null
  setConn("disconnected")
  $("panels").hidden = true
  $("logout").hidden = true
  $("paused-badge").hidden = true
  lastStatus = null
  renderControls()
  $("token-form").hidden = false
  show("token-error", error)
  const input = $<HTMLInputElement>("token-input")
  input.value = ""
  input.focus()
}

/** A 401: the token is wrong (or was changed on the supervisor). */
const unauthorized = (text: string) => {
  storage.set(null)
  askToken(text)
}

const clearData = () => {
  plan = []
  pending = new Map()
  $<HTMLTableElement>("upgrades").tBodies[0]!.replaceChildren()
  $<HTMLTableElement>("history").tBodies[0]!.replaceChildren()
  $("events").replaceChildren()
  lastStatus = null
  $("paused-badge").hidden = true
  for (const id of ["action-result", "schedule-result", "control-result"]) result(id, null, "")
  renderControls()
}

const wireToken = () => {
  $<HTMLFormElement>("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault()
    const t = $<HTMLInputElement>("token-input").value.trim()
    if (t === "") return show("token-error", "Enter the API token.")
    clearData()
    start(t)
  })
  $("logout").addEventListener("click", () => {
    storage.set(null)
    clearData()
    askToken("")
  })
}

/** The token of a `#token=` fragment, taken out of the address bar (and so out of the history and of a shared screenshot). */
const takeFragmentToken = (): string | null => {
  const fragment = tokenFromFragment(location.hash)
  if (fragment === null) return null
  history.replaceState(null, "", `${location.pathname}${location.search}${fragment.rest}`)
  return fragment.token
}

// ---------------------------------------------------------------------------

const main = () => {
  wireConfirm()
  wireControls()
  wireSchedule()
  wireEvents()
  wireToken()
  window.addEventListener("online", () => retryNow?.())
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      retryNow?.()
      if (verified) void refreshStatus()
    }
  })
  // The link `wemixvisor dashboard` prints, opened in a new tab or pasted into this one (no reload then).
  window.addEventListener("hashchange", () => {
    const t = takeFragmentToken()
    if (t !== null) {
      clearData()
      start(t)
    }
  })
  const t = takeFragmentToken() ?? storage.get()
  if (t !== null && t !== "") start(t)
  else askToken("")
  updateEventsEmpty()
}

main()
