/*
 * Issue #15 in a real browser: the dashboard `wemixvisor run` serves at its
 * API's origin, opened in headless chromium (test/e2e/browser.ts) against a
 * supervisor of a real anvil node. Every wait is on a signal — the page's DOM
 * through playwright's auto-waiting locators, an HTTP answer the page got, a
 * log line — never on a fixed delay. Screenshots of the main states are
 * written to WEMIXVISOR_E2E_SHOTS (default: <tmp>/wemixvisor-e2e-dashboard).
 */
import * as fs from "node:fs"
import * as http from "node:http"
import type * as net from "node:net"
import * as path from "node:path"
import type { Browser, BrowserContext, Page, Response } from "playwright-core"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { cliAsync, type Home, makeHome, removeCliCopy, stopRun, waitForApi } from "../api/e2e.js"
import { blockNumber, waitFor } from "../support/fixtures.js"
import {
  contrasts,
  haveChromium,
  horizontalOverflow,
  launchBrowser,
  literal,
  numberIn,
  shot,
  tabFocus,
  waitNumberAtLeast,
  waitText,
  type Watched,
  watchedPage
} from "./browser.js"

const chromiumThere = haveChromium()

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

let browser: Browser | undefined
const homes: Array<Home> = []
const contexts: Array<BrowserContext> = []
const servers: Array<http.Server> = []
const watched: Array<Watched> = []

beforeAll(async () => {
  if (chromiumThere) browser = await launchBrowser()
})
afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close().catch(() => {})
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
  for (const h of homes.splice(0)) await h.dispose()
  watched.length = 0
})
afterAll(async () => {
  await browser?.close()
  removeCliCopy()
})

const setup = async (env: Record<string, string> = {}) => {
  const h = await makeHome(env)
  homes.push(h)
  return h
}

/** An anvil "version" put in upgrades/<name>/bin/ (as `--binary` or an operator would): its upgrade gets ready at once. */
const placeBinary = (h: Home, name: string) => {
  const bin = path.join(h.root, "upgrades", name, "bin", "gwemix")
  fs.mkdirSync(path.dirname(bin), { recursive: true })
  fs.copyFileSync(h.version(name), bin)
  fs.chmodSync(bin, 0o755)
}

const newContext = async (opts: Parameters<Browser["newContext"]>[0] = {}) => {
  const c = await browser!.newContext({ viewport: { width: 1100, height: 900 }, ...opts })
  contexts.push(c)
  return c
}

/** A dashboard tab of `h` in `context` whose requests are checked at the end of the test (`clean`). */
const dashboardTab = async (context: BrowserContext, h: Home) => {
  const w = await watchedPage(context, h.api, () => h.token())
  watched.push(w)
  return w.page
}

/** What every dashboard tab must not have done: leave the origin, put the token in a URL, skip the token, break the CSP, throw. */
const clean = () => {
  for (const w of watched) {
    expect(w.foreign, "requests that left the API's origin").toEqual([])
    expect(w.tokenInUrl, "requests with the token in their URL").toEqual([])
    expect(w.withoutAuth, "API calls without Authorization").toEqual([])
    expect(w.csp, "Content-Security-Policy violations").toEqual([])
    expect(w.errors, "uncaught errors in the page").toEqual([])
  }
}

const live = (page: Page, timeout = 20_000) => page.locator("#conn[data-state=\"live\"]").waitFor({ timeout })

/** Opens the dashboard with the token in the fragment (as `wemixvisor dashboard` prints it) and waits until it is live. */
const openLoggedIn = async (context: BrowserContext, h: Home) => {
  const page = await dashboardTab(context, h)
  await page.goto(`${h.api}/#token=${h.token()}`)
  await live(page)
  await page.locator("form#token-form").waitFor({ state: "hidden" })
  return page
}

const isRoute = (method: string, pathname: string) => (r: Response) =>
  r.request().method() === method && new URL(r.url()).pathname === pathname

interface ApiAnswer {
  readonly status: number
  readonly ok: boolean
  readonly body: { readonly message?: string; readonly error?: string; readonly details?: string }
}

const answerOf = async (r: Response): Promise<ApiAnswer> => ({
  status: r.status(),
  ok: r.ok(),
  body: (await r.json()) as ApiAnswer["body"]
})

/** The text the page must show for an API answer, verbatim: the message of a success, the details of a refusal. */
const wordsOf = (a: ApiAnswer) => (a.ok ? a.body.message! : a.body.details!)

/**
 * Fills in the schedule form and submits it; `confirm` says whether the
 * confirmation dialog must come (a height within 100 blocks of the head),
 * must not, or may (then it is accepted). Returns the API's answer, once the
 * page shows it verbatim in #schedule-result with the right data-ok.
 */
const scheduleFromForm = async (
  page: Page,
  fields: {
    readonly name: string
    readonly height: number | string
    readonly info?: string
    readonly onFailure?: "" | "rollback" | "halt"
  },
  confirm: "asks" | "never" | "may",
  screenshot?: string
): Promise<ApiAnswer> => {
  const form = page.locator("form#schedule-form")
  await form.locator("[name=\"name\"]").fill(fields.name)
  await form.locator("[name=\"height\"]").fill(String(fields.height))
  await form.locator("[name=\"info\"]").fill(fields.info ?? "")
  await form.locator("select[name=\"on_failure\"]").selectOption(fields.onFailure ?? "")
  const dialog = page.locator("dialog#confirm")
  const answered = page.waitForResponse(isRoute("POST", "/api/v1/upgrades"))
  await form.locator("button[type=\"submit\"], button:not([type]), input[type=\"submit\"]").first().click()
  if (confirm === "asks") {
    await dialog.waitFor({ state: "visible" })
    await waitText(page.locator("#confirm-text"), literal(String(fields.height)))
    if (screenshot !== undefined) await shot(page, screenshot)
    await page.locator("button#confirm-yes").click()
  } else if (confirm === "may") {
    const asked = dialog.waitFor({ state: "visible" }).then(() => true, () => false)
    if (await Promise.race([answered.then(() => false), asked])) await page.locator("button#confirm-yes").click()
  }
  const answer = await answerOf(await answered)
  if (confirm === "never") expect(await dialog.isVisible(), "the confirmation dialog").toBe(false)
  await waitText(page.locator(`#schedule-result[data-ok="${answer.ok}"]`), literal(wordsOf(answer)))
  return answer
}

/** Clicks a row's button (prepare, cancel) and returns the API's answer once #action-result shows it verbatim. */
const rowAction = async (
  page: Page,
  name: string,
  button: "prepare" | "cancel",
  answer: (r: Response) => boolean,
  onDialog?: () => Promise<void>
): Promise<ApiAnswer> => {
  const answered = page.waitForResponse(answer)
  await page.locator(`table#upgrades tr[data-name="${name}"] button.${button}`).click()
  await onDialog?.()
  const a = await answerOf(await answered)
  await waitText(page.locator(`#action-result[data-ok="${a.ok}"]`), literal(wordsOf(a)))
  return a
}

const statusCell = (page: Page, name: string) => page.locator(`table#upgrades tr[data-name="${name}"] .status`)

/** Marks the document; `stillSameDocument` is true while no reload or navigation replaced it. */
const markDocument = (page: Page) => page.evaluate("window.__wemixvisorTestMark = 1")
const stillSameDocument = async (page: Page) => (await page.evaluate("window.__wemixvisorTestMark === 1")) === true

const sessionToken = (page: Page) => page.evaluate("sessionStorage.getItem(\"wemixvisor.token\")")

/** No horizontal scroll at a 360 px wide viewport (then back to `back`). */
const fits360 = async (page: Page, screenshot: string, back: { width: number; height: number }) => {
  await page.setViewportSize({ width: 360, height: 780 })
  const m = await horizontalOverflow(page)
  expect(m.innerWidth).toBe(360)
  await shot(page, screenshot, true)
  expect(
    m.scrollWidth,
    `scroll width at 360 px (client width ${m.clientWidth}); sticking out: ${m.offenders.join(", ")}`
  ).toBeLessThanOrEqual(m.clientWidth)
  await page.setViewportSize(back)
}

/** Text the operator reads, at WCAG AA contrast (4.5:1) in the light and the dark scheme. */
const readable = async (page: Page, selectors: ReadonlyArray<string>, screenshot: string) => {
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme })
    const ratios = await contrasts(page, selectors)
    for (const sel of selectors) {
      expect(ratios[sel], `${sel} in the ${scheme} scheme`).not.toBeNull()
      expect(ratios[sel], `contrast of ${sel} in the ${scheme} scheme`).toBeGreaterThanOrEqual(4.5)
    }
    if (scheme === "dark") await shot(page, screenshot)
  }
  await page.emulateMedia({ colorScheme: "light" })
}

describe.skipIf(!chromiumThere)("the dashboard in a real browser", () => {
  it(
    "the page and its assets come with the CSP; the token is asked in a form (a wrong one: the API's 401 message, asked again), kept for the session, forgotten by logout; the #token= URL `wemixvisor dashboard` prints logs in and leaves the address bar",
    async () => {
      const h = await setup()
      const run = h.run()
      await waitForApi(h.api)
      const context = await newContext()
      const page = await dashboardTab(context, h)
      const served: Array<Response> = []
      page.on("response", (r) => {
        if (["/", "/dashboard/app.js", "/dashboard/app.css"].includes(new URL(r.url()).pathname)) served.push(r)
      })
      const doc = await page.goto(`${h.api}/`)
      expect(doc?.status()).toBe(200)
      expect(doc?.headers()["content-type"]).toMatch(/^text\/html/)
      await page.locator("form#token-form").waitFor({ state: "visible" })
      await page.locator("#token-input").waitFor({ state: "visible" })
      expect(served.map((r) => new URL(r.url()).pathname).sort()).toEqual([
        "/",
        "/dashboard/app.css",
        "/dashboard/app.js"
      ])
      for (const r of served) {
        const headers = await r.allHeaders()
        expect(r.status(), r.url()).toBe(200)
        expect(headers["content-security-policy"], r.url()).toBe(CSP)
        expect(headers["x-content-type-options"], r.url()).toBe("nosniff")
        expect(headers["referrer-policy"], r.url()).toBe("no-referrer")
        expect(headers["cache-control"], r.url()).toBe("no-cache")
      }
      expect((await served.find((r) => r.url().endsWith(".js"))!.allHeaders())["content-type"]).toMatch(
        /^(text|application)\/javascript/
      )
      expect((await served.find((r) => r.url().endsWith(".css"))!.allHeaders())["content-type"]).toMatch(/^text\/css/)
      await shot(page, "01-token-form")
      await fits360(page, "01-token-form-360", { width: 1100, height: 900 })

      // A wrong token, submitted with the keyboard: the API's 401 words, and the form again.
      const refused = page.waitForResponse((r) => new URL(r.url()).pathname.startsWith("/api/") && r.status() === 401)
      await page.locator("#token-input").fill("not-the-token")
      await page.locator("#token-input").press("Enter")
      const refusal = await answerOf(await refused)
      expect(refusal.body.error).toBe("unauthorized")
      await waitText(page.locator("#token-error"), literal(refusal.body.details!))
      await page.locator("form#token-form").waitFor({ state: "visible" })
      expect(await sessionToken(page)).not.toBe("not-the-token")
      await shot(page, "02-token-refused")

      // The right one: the form goes, the page is live and shows the node.
      await page.locator("#token-input").fill(h.token())
      await page.locator("form#token-form button:not([type=\"button\"]), form#token-form input[type=\"submit\"]")
        .first()
        .click()
      await page.locator("form#token-form").waitFor({ state: "hidden" })
      await live(page)
      await waitText(page.locator("#conn"), /live/)
      expect(await sessionToken(page)).toBe(h.token())
      await waitText(page.locator("#node-state"), /running/)
      await waitText(page.locator("#current"), /genesis/)
      await waitText(page.locator("#version"), /gwemix v1/)
      const head = await waitNumberAtLeast(page, "#head", 1)
      // The head follows the node without a reload.
      await markDocument(page)
      await waitNumberAtLeast(page, "#head", head + 3)
      expect(await stillSameDocument(page)).toBe(true)
      await waitText(page.locator("#block-interval"), /\d/)
      await waitText(page.locator("#head-age"), /\d/)
      await waitText(page.locator("#restarts"), /^\s*0\s*$/)
      const pid = (await (await fetch(`${h.api}/api/v1/upgrades/status`, {
        headers: { authorization: `Bearer ${h.token()}` }
      })).json()) as { node_pid: number }
      await waitText(page.locator("#node-pid"), literal(String(pid.node_pid)))
      // Usable with the keyboard: Tab reaches a control that shows its focus.
      const focused = await tabFocus(page)
      expect(focused.tag, "the first Tab stop").not.toBeNull()
      expect(focused.visible, `a visible focus on ${focused.tag}`).toBe(true)
      await shot(page, "03-logged-in")

      // Kept for the session: a reload asks nothing.
      await page.reload()
      await live(page)
      expect(await page.locator("form#token-form").isVisible()).toBe(false)

      // Logout forgets it and asks again.
      await page.locator("button#logout").click()
      await page.locator("form#token-form").waitFor({ state: "visible" })
      expect(await sessionToken(page)).toBeNull()

      // The URL `wemixvisor dashboard` prints, opened in a fresh browser session.
      const printed = await cliAsync(["dashboard"], h.env)
      expect(printed.code, printed.stderr).toBe(0)
      const url = /(http:\/\/\S+#token=\S+)/.exec(printed.stdout)?.[1]
      expect(url).toBe(`${h.api}/#token=${h.token()}`)
      const fresh = await dashboardTab(await newContext(), h)
      await fresh.goto(url!)
      await live(fresh)
      expect(await fresh.locator("form#token-form").isVisible()).toBe(false)
      expect(fresh.url()).toBe(`${h.api}/`) // the token left the address bar (history.replaceState)
      expect(await fresh.evaluate("location.hash")).toBe("")
      expect(await sessionToken(fresh)).toBe(h.token())
      await waitNumberAtLeast(fresh, "#head", head)
      clean()
      expect(await stopRun(run)).toBe(0)
    },
    60_000
  )

  it(
    "an upgrade scheduled from the form becomes ready, fires when the head reaches it and completes live (row, #current, events, no reload); refusals are shown verbatim; a cancel asks first",
    async () => {
      const h = await setup()
      // The binaries are already in upgrades/<name>/bin/: scheduling is all the form has to do.
      placeBinary(h, "v2")
      placeBinary(h, "v3")
      const run = h.run()
      await waitForApi(h.api)
      const page = await openLoggedIn(await newContext(), h)
      await markDocument(page)
      const head = await waitNumberAtLeast(page, "#head", 1)

      // A bad name: refused by the API (400), its words shown, nothing written.
      const badName = await scheduleFromForm(page, { name: "bad/name", height: head + 100_000 }, "never")
      expect(badName.status).toBe(400)
      expect(badName.body.error).toBe("invalid name")
      expect(h.planText()).toBeUndefined()
      await shot(page, "04-refused-bad-name")

      // v2, 50 blocks (10 s) ahead: within 100 blocks of the head, so the page asks first.
      const H = (await blockNumber(h.port))! + 50
      const scheduled = await scheduleFromForm(
        page,
        { name: "v2", height: H, info: "from the dashboard" },
        "asks",
        "05-confirm-schedule"
      )
      expect(scheduled.status).toBe(201)
      expect(scheduled.body.message).toBe("Upgrade scheduled successfully")
      await page.locator("dialog#confirm").waitFor({ state: "hidden" })
      await waitText(page.locator("table#upgrades tr[data-name=\"v2\"] .height"), literal(String(H)))
      await waitText(statusCell(page, "v2"), /^\s*ready\s*$/)
      // Its ETA, from the block interval the supervisor measures: a <time> in the row.
      await page.locator("table#upgrades tr[data-name=\"v2\"] .eta time[datetime]").waitFor()
      expect(await page.locator("table#upgrades tr[data-name=\"v2\"] button.prepare").isVisible()).toBe(true)
      expect(await page.locator("table#upgrades tr[data-name=\"v2\"] button.cancel").isVisible()).toBe(true)
      await page.locator("ul#events li[data-type=\"upgrade-scheduled\"]").first().waitFor()
      await page.locator("ul#events li[data-type=\"upgrade-ready\"]").first().waitFor()

      // Prepare again on demand: the API's answer, verbatim.
      const prepared = await rowAction(page, "v2", "prepare", isRoute("POST", "/api/v1/upgrades/v2/prepare"))
      expect(prepared.status, JSON.stringify(prepared.body)).toBe(200)
      expect(prepared.body.message).toBe("Upgrade prepared")
      await shot(page, "06-ready")

      // A height below the head: the API's 409, verbatim.
      const below = await scheduleFromForm(page, { name: "v9", height: 1 }, "may")
      expect(below.status).toBe(409)
      expect(below.body.details).toMatch(/height 1 is at or below the chain head \d+/)
      await shot(page, "07-refused-below-head")

      // v3, far ahead (no confirmation), then cancelled: the dialog asks; "no" keeps it, "yes" cancels.
      const far = await scheduleFromForm(page, { name: "v3", height: head + 100_000, onFailure: "halt" }, "never")
      expect(far.status).toBe(201)
      // The "on failure" select goes with the request and is stored with the upgrade.
      expect(JSON.parse(h.planText()!).upgrades.find((u: { name: string }) => u.name === "v3").on_failure).toBe("halt")
      await waitText(statusCell(page, "v3"), /^\s*ready\s*$/)
      const dialog = page.locator("dialog#confirm")
      const deletes: Array<string> = []
      page.on("request", (r) => {
        if (r.method() === "DELETE") deletes.push(r.url())
      })
      await page.locator("table#upgrades tr[data-name=\"v3\"] button.cancel").click()
      await dialog.waitFor({ state: "visible" })
      await waitText(page.locator("#confirm-text"), /v3/)
      await shot(page, "08-confirm-cancel")
      await page.locator("button#confirm-no").click()
      await dialog.waitFor({ state: "hidden" })
      // Escape is a no too.
      await page.locator("table#upgrades tr[data-name=\"v3\"] button.cancel").click()
      await dialog.waitFor({ state: "visible" })
      await page.keyboard.press("Escape")
      await dialog.waitFor({ state: "hidden" })
      expect(JSON.parse(h.planText()!).upgrades.find((u: { name: string }) => u.name === "v3").status).toBe("ready")
      const cancelled = await rowAction(page, "v3", "cancel", isRoute("DELETE", "/api/v1/upgrades/v3"), async () => {
        await dialog.waitFor({ state: "visible" })
        await page.locator("button#confirm-yes").click()
      })
      expect(cancelled.body).toEqual({ message: "Upgrade cancelled successfully", name: "v3" })
      expect(deletes, "DELETE requests: only the one confirmed").toEqual([`${h.api}/api/v1/upgrades/v3`])
      await waitText(statusCell(page, "v3"), /^\s*cancelled\s*$/)
      expect(JSON.parse(h.planText()!).upgrades.find((u: { name: string }) => u.name === "v3").status).toBe(
        "cancelled"
      )
      expect(await page.locator("table#upgrades tr[data-name=\"v3\"] button.cancel").count()).toBe(0)

      // The head reaches H and v2 goes through, all seen live.
      await waitNumberAtLeast(page, "#head", H, 30_000)
      await waitText(statusCell(page, "v2"), /^\s*done\s*$/, 30_000)
      await waitText(page.locator("#current"), /\bv2\b/)
      await waitText(page.locator("#version"), /gwemix v2/)
      await waitText(page.locator("#last-outcome"), /v2/)
      await waitText(page.locator("#last-outcome"), /done/)
      await waitText(page.locator("#in-progress"), /^\s*—\s*$/)
      await page.locator("ul#events li[data-type=\"upgrade-completed\"]").first().waitFor()
      expect(await stillSameDocument(page), "no reload").toBe(true)
      expect(h.versions()).toEqual(["v1", "v2"])
      expect(await page.locator("table#upgrades tr[data-name=\"v2\"] button.cancel").count()).toBe(0)
      // Newest first, each with its time (title: UTC, ISO).
      const shown = (await page.locator("ul#events li").evaluateAll((lis) =>
        lis.map((li) => [li.getAttribute("data-type"), li.textContent ?? ""])
      )) as Array<[string, string]>
      const at = (type: string) =>
        shown.findIndex(([t, text]) => t === type && /\bv2\b/.test(text))
      expect(at("upgrade-completed"), JSON.stringify(shown)).toBeGreaterThanOrEqual(0)
      expect(at("upgrade-completed")).toBeLessThan(at("upgrade-started"))
      expect(at("upgrade-started")).toBeLessThan(at("upgrade-ready"))
      expect(at("upgrade-ready")).toBeLessThan(at("upgrade-scheduled"))
      const completed = page.locator("ul#events li[data-type=\"upgrade-completed\"] time").first()
      expect(await completed.getAttribute("datetime")).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
      expect(await completed.getAttribute("title")).toMatch(/\d{4}-\d\d-\d\d.*\d\d:\d\d:\d\d.*(Z|UTC)/)
      await shot(page, "09-upgraded")

      // The filter: one type only, then all again.
      await page.locator("select#event-filter").selectOption("upgrade-completed")
      await waitFor("only upgrade-completed events shown", async () => {
        const shown = await page.locator("ul#events li").filter({ visible: true }).evaluateAll((lis) =>
          lis.map((li) => li.getAttribute("data-type"))
        )
        return shown.length === 1 && shown[0] === "upgrade-completed"
      })
      await page.locator("select#event-filter").selectOption("")
      await waitFor("every event shown again", async () => (await page.locator("ul#events li[hidden]").count()) === 0)

      // 360 px, and readable in both colour schemes.
      await fits360(page, "10-upgraded-360", { width: 1100, height: 900 })
      await readable(
        page,
        ["body", "#head", "#conn", "#node-state", "table#upgrades td.name", "ul#events li"],
        "11-dark"
      )

      // After a reload (the token kept for the session): the history of v2, newest first.
      await page.reload()
      await live(page)
      const rows = page.locator("table#history tr").filter({ hasText: /v2/ })
      await waitText(rows, /done/)
      const history = (await rows.allTextContents()).map((t) => t.replace(/\s+/g, " "))
      expect(history[0], "the newest record first").toMatch(/done/)
      expect(history.at(-1), "the oldest last").toMatch(/schedule/)
      await waitText(statusCell(page, "v2"), /^\s*done\s*$/)
      await waitText(statusCell(page, "v3"), /^\s*cancelled\s*$/)
      clean()
      expect(await stopRun(run)).toBe(0)
    },
    90_000
  )

  it(
    "opened from the URL `wemixvisor dashboard` prints for a token with spaces and URL characters, the page shows disconnected when the API goes away and live again, without a reload or a new token, when a new run on the same home comes back",
    async () => {
      // A token set by the operator, with what a URL fragment must encode: spaces, +, /, &, =, #, %.
      const h = await setup({ WEMIXVISOR_API_TOKEN: "correct horse+battery/staple&x=1#y%z" })
      const first = h.run()
      await waitForApi(h.api)
      const printed = await cliAsync(["dashboard"], h.env)
      expect(printed.code, printed.stderr).toBe(0)
      expect(printed.stdout.trim()).toBe(`${h.api}/#token=${encodeURIComponent(h.token())}`)
      const page = await dashboardTab(await newContext(), h)
      await page.goto(printed.stdout.trim())
      await live(page)
      expect(await sessionToken(page)).toBe(h.token())
      expect(page.url()).toBe(`${h.api}/`)
      await markDocument(page)
      const before = await waitNumberAtLeast(page, "#head", 1)
      const oldPid = (await numberIn(page, "#node-pid"))!

      expect(await stopRun(first)).toBe(0)
      await page.locator("#conn[data-state=\"disconnected\"]").waitFor({ timeout: 20_000 })
      await waitText(page.locator("#conn"), /^disconnected — retrying in \d+ s$/)
      await shot(page, "12-disconnected")
      // The last values stay on screen, marked stale.
      await page.locator("#panels[data-stale=\"true\"]").waitFor({ timeout: 5_000 })

      const second = h.run()
      await live(page, 30_000)
      expect(await page.locator("form#token-form").isVisible(), "asked for the token again").toBe(false)
      await page.locator("#panels[data-stale=\"false\"]").waitFor({ timeout: 5_000 })
      // The new supervisor's node: a new pid, a head that moves on.
      await waitNumberAtLeast(page, "#head", before + 3)
      await waitFor("the new node's pid", async () => {
        const p = await numberIn(page, "#node-pid")
        return p !== undefined && p !== oldPid
      })
      expect(await stillSameDocument(page), "no reload").toBe(true)
      await shot(page, "13-reconnected")
      clean()
      expect(await stopRun(second)).toBe(0)
    },
    60_000
  )

  it(
    "manual controls: Pause asks first, then the warning banner and badge show and the status has upgrades_paused; Resume takes them away; Restart node asks first and the node comes back with a new pid; a refusal is shown verbatim; without a token they are disabled",
    async () => {
      const h = await setup()
      const run = h.run()
      await waitForApi(h.api)
      const page = await openLoggedIn(await newContext(), h)
      await markDocument(page)
      await waitNumberAtLeast(page, "#head", 1)
      const statusNow = async () =>
        (await (await fetch(`${h.api}/api/v1/upgrades/status`, {
          headers: { authorization: `Bearer ${h.token()}` }
        })).json()) as { node_pid: number | null; node_state: string; upgrades_paused: unknown }
      const toggle = page.locator("button#pause-toggle")
      const restart = page.locator("button#restart-node")
      const bannerEl = page.locator("#operator-paused")
      const badge = page.locator("#paused-badge")
      const dialog = page.locator("dialog#confirm")
      const posts: Array<string> = []
      page.on("request", (r) => {
        if (r.method() === "POST") posts.push(new URL(r.url()).pathname)
      })

      // Not paused: no banner, the toggle offers Pause.
      await waitText(toggle, /^\s*Pause upgrades\s*$/)
      expect(await toggle.isEnabled()).toBe(true)
      expect(await restart.isEnabled()).toBe(true)
      expect(await bannerEl.isVisible()).toBe(false)
      expect(await badge.isVisible()).toBe(false)

      // Pause asks first: "No" sends nothing.
      await toggle.click()
      await dialog.waitFor({ state: "visible" })
      await waitText(page.locator("#confirm-text"), /^Pause upgrades\? No upgrade will fire/)
      await page.locator("button#confirm-no").click()
      await dialog.waitFor({ state: "hidden" })
      expect(posts, "POSTs after a no").toEqual([])

      // "Yes": the API's answer verbatim, then the banner (a warning), the badge, and Resume on the toggle.
      const paused = page.waitForResponse(isRoute("POST", "/api/v1/upgrades/pause"))
      await toggle.click()
      await dialog.waitFor({ state: "visible" })
      await page.locator("button#confirm-yes").click()
      const pauseAnswer = await answerOf(await paused)
      expect(pauseAnswer.status, JSON.stringify(pauseAnswer.body)).toBe(200)
      expect(pauseAnswer.body.message).toBe("Upgrades paused")
      await waitText(page.locator("#control-result[data-ok=\"true\"]"), literal("Upgrades paused"))
      await waitText(bannerEl, literal("Upgrades paused — no upgrade will fire"))
      expect(await bannerEl.getAttribute("class")).toMatch(/\bwarn\b/)
      await waitText(bannerEl, /paused by rest/)
      await waitText(badge, /Upgrades paused/)
      await waitText(toggle, /^\s*Resume upgrades\s*$/)
      expect(posts).toEqual(["/api/v1/upgrades/pause"])
      const whilePaused = await statusNow()
      expect(whilePaused.upgrades_paused, "GET status while paused").toMatchObject({
        by: expect.stringMatching(/^rest/)
      })
      expect(fs.existsSync(path.join(h.root, "upgrades-paused.json"))).toBe(true)
      await page.locator("ul#events li[data-type=\"upgrades-paused\"]").first().waitFor()
      await readable(page, ["#operator-paused", "#paused-badge", "#pause-toggle", "#control-result"], "14-paused-dark")
      await fits360(page, "15-paused-360", { width: 1100, height: 900 })
      await shot(page, "16-paused")

      // Resume: asks, then the banner and the badge go, and the toggle offers Pause again.
      const resumed = page.waitForResponse(isRoute("POST", "/api/v1/upgrades/resume"))
      await toggle.click()
      await dialog.waitFor({ state: "visible" })
      await waitText(page.locator("#confirm-text"), /^Resume upgrades\?/)
      await page.locator("button#confirm-yes").click()
      const resumeAnswer = await answerOf(await resumed)
      expect(resumeAnswer.status, JSON.stringify(resumeAnswer.body)).toBe(200)
      expect(resumeAnswer.body.message).toBe("Upgrades resumed")
      await waitText(page.locator("#control-result[data-ok=\"true\"]"), literal("Upgrades resumed"))
      await bannerEl.waitFor({ state: "hidden" })
      await badge.waitFor({ state: "hidden" })
      await waitText(toggle, /^\s*Pause upgrades\s*$/)
      expect((await statusNow()).upgrades_paused, "GET status after resume").toBeNull()
      await page.locator("ul#events li[data-type=\"upgrades-resumed\"]").first().waitFor()

      // Restart node: asks (naming the pid), then the node comes back as another process.
      const before = await statusNow()
      expect(before.node_state).toBe("running")
      const oldPid = before.node_pid!
      await waitText(page.locator("#node-pid"), literal(String(oldPid)))
      const restarted = page.waitForResponse(isRoute("POST", "/api/v1/node/restart"), { timeout: 60_000 })
      await restart.click()
      await dialog.waitFor({ state: "visible" })
      await waitText(page.locator("#confirm-text"), literal(`Restart the node (pid ${oldPid})?`))
      await page.locator("button#confirm-yes").click()
      const restartAnswer = await answerOf(await restarted)
      expect(restartAnswer.status, JSON.stringify(restartAnswer.body)).toBe(200)
      expect(restartAnswer.body.message).toBe("Node restarted")
      const newPid = (restartAnswer.body as { node?: { pid?: number } }).node?.pid
      expect(newPid).toBeTypeOf("number")
      expect(newPid).not.toBe(oldPid)
      await waitText(page.locator("#control-result[data-ok=\"true\"]"), literal("Node restarted"))
      await waitText(page.locator("#node-pid"), new RegExp(`^\\s*${newPid}\\s*$`))
      await waitText(page.locator("#node-state"), /running/)
      await page.locator("ul#events li[data-type=\"node-exited\"]").first().waitFor()
      await page.locator("ul#events li[data-type=\"node-started\"]").first().waitFor()
      const after = await statusNow()
      expect(after.node_pid).toBe(newPid)
      expect(after.node_state).toBe("running")
      // The new node serves the chain: the head moves on.
      const headNow = await waitNumberAtLeast(page, "#head", 1)
      await waitNumberAtLeast(page, "#head", headNow + 2)
      expect(await restart.isEnabled()).toBe(true)

      // A refusal is shown as every other control shows one: the API's words, data-ok="false".
      // (The supervisor refuses a restart only while an upgrade has the node, when the button is disabled
      // anyway; this one answer is the API's 409 body, handed to the page by the browser.)
      await page.route("**/api/v1/node/restart", (route) =>
        route.fulfill({
          status: 409,
          contentType: "application/json",
          body: JSON.stringify({ error: "conflict", details: "the node is busy with an upgrade; try again after it" })
        }), { times: 1 })
      await restart.click()
      await dialog.waitFor({ state: "visible" })
      await page.locator("button#confirm-yes").click()
      await waitText(
        page.locator("#control-result[data-ok=\"false\"]"),
        literal("conflict: the node is busy with an upgrade; try again after it")
      )
      await shot(page, "17-restart-refused")
      expect(await stillSameDocument(page), "no reload").toBe(true)

      // Without a token: the controls are disabled (and the panels hidden).
      await page.locator("button#logout").click()
      await page.locator("form#token-form").waitFor({ state: "visible" })
      expect(await toggle.isDisabled()).toBe(true)
      expect(await restart.isDisabled()).toBe(true)
      expect(await toggle.getAttribute("title")).toBe("no API token")
      clean()
      expect(await stopRun(run)).toBe(0)
    },
    90_000
  )

  it(
    "a page of another origin in the same browser cannot schedule or cancel: its form POST and fetch calls are refused (403, Origin) and the plan file is unchanged byte for byte",
    async () => {
      const h = await setup()
      placeBinary(h, "keep")
      const run = h.run()
      await waitForApi(h.api)
      const context = await newContext()
      // The operator has the dashboard open, with a pending upgrade.
      const page = await openLoggedIn(context, h)
      const head = await waitNumberAtLeast(page, "#head", 1)
      const keep = await scheduleFromForm(page, { name: "keep", height: head + 100_000 }, "never")
      expect(keep.status).toBe(201)
      await waitText(statusCell(page, "keep"), /^\s*ready\s*$/)
      const planBefore = fs.readFileSync(h.planFile)

      // Another origin: a page on another loopback port that knows the API's address (and, worse, its token).
      const evil = JSON.stringify({ name: "evil", height: head + 200_000, force: true })
      const attack = `<!doctype html><meta charset="utf-8"><title>not the dashboard</title>
<ul id="results"></ul>
<form id="f" method="POST" action="${h.api}/api/v1/upgrades" enctype="text/plain" target="sink">
<input type="hidden" name='${evil.slice(0, -1)}, "pad": "' value='"}'></form>
<iframe name="sink" id="sink"></iframe>
<script>
const report = (what, how) => {
  const li = document.createElement("li"); li.dataset.what = what; li.textContent = what + ": " + how
  document.getElementById("results").append(li)
}
const api = ${JSON.stringify(h.api)}
const body = ${JSON.stringify(evil)}
const token = ${JSON.stringify(h.token())}
fetch(api + "/api/v1/upgrades", { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body })
  .then((r) => report("no-cors", "type " + r.type), (e) => report("no-cors", "rejected " + e))
fetch(api + "/api/v1/upgrades", { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer " + token }, body })
  .then((r) => report("cors", "status " + r.status), (e) => report("cors", "rejected " + e))
fetch(api + "/api/v1/upgrades/keep", { method: "DELETE", headers: { authorization: "Bearer " + token } })
  .then((r) => report("delete", "status " + r.status), (e) => report("delete", "rejected " + e))
document.getElementById("sink").addEventListener("load", () => report("form", "loaded"), { once: true })
document.getElementById("f").submit()
</script>`
      const server = http.createServer((_req, res) => {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" })
        res.end(attack)
      })
      servers.push(server)
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const foreign = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`

      const tab = await context.newPage()
      const answers: Array<string> = []
      tab.on("response", (r) => {
        if (r.url().startsWith(h.api)) {
          answers.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`)
        }
      })
      await tab.goto(`${foreign}/`)
      for (const what of ["no-cors", "cors", "delete", "form"]) {
        await tab.locator(`#results li[data-what="${what}"]`).waitFor({ state: "attached" })
      }
      const results = await tab.locator("#results li").allTextContents()
      // The preflighted calls (JSON, a token) fail in the browser: the preflight is refused, nothing is sent after it.
      expect(results).toContain("cors: rejected TypeError: Failed to fetch")
      expect(results).toContain("delete: rejected TypeError: Failed to fetch")
      expect(results).toContain("no-cors: type opaque")
      // The "simple" ones reached the API and were refused by the Origin guard.
      await waitFor(
        "the form's and the no-cors fetch's answers",
        () => answers.filter((a) => a === "403 POST /api/v1/upgrades").length >= 2
      )
      expect(answers.filter((a) => !a.startsWith("403 "))).toEqual([])
      await waitFor(
        "the refusal in the log",
        () => run.logs().includes(`403 Origin \\"${foreign}\\" may not call this API`),
        10_000
      )

      expect(fs.readFileSync(h.planFile).equals(planBefore), "the plan file, byte for byte").toBe(true)
      expect(fs.readFileSync(path.join(h.root, "upgrade-history.jsonl"), "utf8")).not.toMatch(/evil/)
      await waitText(statusCell(page, "keep"), /^\s*ready\s*$/)
      expect(await page.locator("table#upgrades tr[data-name=\"evil\"]").count()).toBe(0)
      clean()
      expect(await stopRun(run)).toBe(0)
    },
    60_000
  )
})
