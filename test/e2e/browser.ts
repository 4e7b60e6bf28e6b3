/*
 * A real browser for the dashboard's end-to-end test: Debian's chromium
 * (`apt-get install -y chromium`, /usr/bin/chromium) driven by playwright-core
 * (no browser download, no test runner: vitest runs the test, these helpers
 * wait on the page's DOM with playwright's auto-waiting locators).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core"
import { attachOutput } from "../support/output.js"

/** WEMIXVISOR_CHROMIUM names another chromium build. */
export const chromiumBin = process.env.WEMIXVISOR_CHROMIUM ?? "/usr/bin/chromium"

/** True when chromium is installed; otherwise false and a printed reason, or a failure under CI (as haveTools). */
export const haveChromium = (): boolean => {
  if (fs.existsSync(chromiumBin)) return true
  const reason = `${chromiumBin} is missing (apt-get install -y chromium)`
  if (process.env.CI) throw new Error(`CI: ${reason}`)
  console.warn(`skipping: ${reason}`)
  return false
}

/**
 * Headless chromium. playwright-core passes --no-sandbox itself (its default
 * chromiumSandbox: false), which running as root in a container needs.
 */
export const launchBrowser = (): Promise<Browser> =>
  chromium.launch({ executablePath: chromiumBin, headless: true, timeout: 30_000 })

/** Where the screenshots go (kept after the run): WEMIXVISOR_E2E_SHOTS or a folder under the temp dir. */
export const shotsDir = process.env.WEMIXVISOR_E2E_SHOTS ?? path.join(os.tmpdir(), "wemixvisor-e2e-dashboard")

/** A PNG of the page as it is now, as `<shotsDir>/<name>.png`. */
export const shot = async (page: Page, name: string, fullPage = false) => {
  fs.mkdirSync(shotsDir, { recursive: true })
  await page.screenshot({ path: path.join(shotsDir, `${name}.png`), fullPage, animations: "disabled" })
}

/** What a page did that the test checks at its end. */
export interface Watched {
  readonly page: Page
  /** Requests to anything but the page's own origin (data: and blob: URLs aside). */
  readonly foreign: Array<string>
  /** Requests whose URL (fragment aside) carries the token. */
  readonly tokenInUrl: Array<string>
  /** Calls to the API that carried no Authorization header. */
  readonly withoutAuth: Array<string>
  /** Console messages about the Content-Security-Policy (a blocked inline script or style, …). */
  readonly csp: Array<string>
  /** Uncaught exceptions in the page. */
  readonly errors: Array<string>
}

/**
 * A new page in `context` that records every request, console message and
 * uncaught error (shown if the test fails), for `origin`'s dashboard.
 */
export const watchedPage = async (context: BrowserContext, origin: string, token: () => string): Promise<Watched> => {
  const page = await context.newPage()
  page.setDefaultTimeout(20_000)
  const log: Array<string> = []
  const w: Watched = { page, foreign: [], tokenInUrl: [], withoutAuth: [], csp: [], errors: [] }
  page.on("request", (r) => {
    const url = r.url()
    log.push(`> ${r.method()} ${url}`)
    if (url.startsWith("data:") || url.startsWith("blob:")) return
    if (new URL(url).origin !== origin) w.foreign.push(url)
    const bare = url.split("#")[0]!
    if ([token(), encodeURIComponent(token())].some((t) => bare.includes(t))) w.tokenInUrl.push(url)
    if (new URL(url).pathname.startsWith("/api/") && r.headers()["authorization"] === undefined) {
      w.withoutAuth.push(`${r.method()} ${url}`)
    }
  })
  page.on("response", (r) => log.push(`< ${r.status()} ${r.request().method()} ${r.url()}`))
  page.on("requestfailed", (r) => log.push(`! ${r.method()} ${r.url()}: ${r.failure()?.errorText}`))
  page.on("console", (m) => {
    log.push(`console.${m.type()}: ${m.text()}`)
    if (/content security policy/i.test(m.text())) w.csp.push(m.text())
  })
  page.on("pageerror", (e) => {
    log.push(`pageerror: ${e.stack ?? e.message}`)
    w.errors.push(e.message)
  })
  attachOutput(`browser page (${origin})`, () => log.join("\n"))
  return w
}

/** A literal, as a regular expression (case and all). */
export const literal = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))

/** Waits until `locator` (its first match) is visible with text matching `text`; the error says what it had. */
export const waitText = async (locator: Locator, text: RegExp, timeout = 20_000) => {
  try {
    await locator.filter({ hasText: text }).first().waitFor({ state: "visible", timeout })
  } catch (e) {
    const had = await locator.allTextContents().catch(() => [])
    throw new Error(`${locator} never showed ${text} within ${timeout} ms; it shows ${JSON.stringify(had)}`, {
      cause: e
    })
  }
}

/** The number an element shows (digits only: "1,234" → 1234), or undefined while it shows none. */
export const numberIn = async (page: Page, selector: string): Promise<number | undefined> => {
  const text = (await page.locator(selector).textContent()) ?? ""
  const digits = text.replace(/[^0-9]/g, "")
  return digits === "" ? undefined : Number(digits)
}

/** Waits until the number an element shows is at least `min`. */
export const waitNumberAtLeast = async (page: Page, selector: string, min: number, timeout = 30_000) => {
  try {
    // A function, not a string: the page's CSP (no 'unsafe-eval') refuses a string predicate.
    await page.waitForFunction(
      ([sel, least]) => {
        const doc = (globalThis as unknown as {
          document: { querySelector: (s: string) => { textContent: string | null } | null }
        }).document
        const digits = (doc.querySelector(sel)?.textContent ?? "").replace(/[^0-9]/g, "")
        return digits !== "" && Number(digits) >= least
      },
      [selector, min] as const,
      { timeout }
    )
  } catch (e) {
    throw new Error(
      `${selector} never reached ${min} within ${timeout} ms (it shows ${await numberIn(page, selector)})`,
      {
        cause: e
      }
    )
  }
  return (await numberIn(page, selector))!
}

/**
 * document.documentElement's scroll width against the viewport's (no
 * horizontal scroll when the first is not larger), and the outermost elements
 * that stick out to the right (outside any scrolling box), to say which.
 */
export const horizontalOverflow = async (page: Page) =>
  (await page.evaluate(`(() => {
    const cw = document.documentElement.clientWidth
    // Inside a scrolling box, unless positioned against the viewport past it (absolute with no positioned box between).
    const clipped = (el) => {
      const absolute = getComputedStyle(el).position === "absolute"
      for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
        const s = getComputedStyle(e)
        if (absolute && s.position === "static") continue
        if (s.overflowX !== "visible") return true
        if (absolute) return false
      }
      return false
    }
    const out = (el) => el.getBoundingClientRect().right > cw + 0.5 && !clipped(el)
    const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      (typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\\s+/).join(".") : "")
    const offenders = [...document.body.querySelectorAll("*")]
      .filter((el) => out(el) && !(el.parentElement && el.parentElement !== document.body && out(el.parentElement)))
      .slice(0, 8)
      .map((el) => name(el) + " (right " + Math.round(el.getBoundingClientRect().right) + " px)")
    return {
      scrollWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
      clientWidth: cw,
      innerWidth: window.innerWidth,
      offenders
    }
  })()`)) as {
    readonly scrollWidth: number
    readonly clientWidth: number
    readonly innerWidth: number
    readonly offenders: ReadonlyArray<string>
  }

/**
 * The WCAG contrast ratio of the first element matching each selector: its
 * text colour against the first opaque background from it up (the canvas —
 * dark under `color-scheme: dark` — when none is). Colours are read back
 * through a canvas, so any CSS colour syntax (oklch, color-mix, …) counts.
 */
export const contrasts = async (page: Page, selectors: ReadonlyArray<string>) =>
  (await page.evaluate(`(() => {
    const canvas = document.createElement("canvas")
    canvas.width = canvas.height = 1
    const ctx = canvas.getContext("2d", { willReadFrequently: true })
    const rgba = (css) => {
      ctx.clearRect(0, 0, 1, 1)
      ctx.fillStyle = "rgba(0, 0, 0, 0)"
      ctx.fillStyle = css
      ctx.fillRect(0, 0, 1, 1)
      const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data
      return { r, g, b, a: a / 255 }
    }
    const darkCanvas = matchMedia("(prefers-color-scheme: dark)").matches &&
      getComputedStyle(document.documentElement).colorScheme.includes("dark")
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgba(getComputedStyle(e).backgroundColor)
        if (c.a > 0.5) return c
      }
      return darkCanvas ? { r: 18, g: 18, b: 18, a: 1 } : { r: 255, g: 255, b: 255, a: 1 }
    }
    const lum = ({ r, g, b }) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4 }
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b)
    }
    const out = {}
    for (const sel of ${JSON.stringify(selectors)}) {
      const el = document.querySelector(sel)
      if (!el) { out[sel] = null; continue }
      const fg = rgba(getComputedStyle(el).color)
      const bg = background(el)
      const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x)
      out[sel] = Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100
    }
    return out
  })()`)) as Record<string, number | null>

/** After one Tab from the page: the focused element and whether it shows a focus indicator. */
export const tabFocus = async (page: Page) => {
  await page.keyboard.press("Tab")
  return (await page.evaluate(`(() => {
    const el = document.activeElement
    if (!el || el === document.body) return { tag: null, visible: false }
    const s = getComputedStyle(el)
    const ring = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.outlineStyle === "auto" || s.boxShadow !== "none"
    return { tag: el.tagName.toLowerCase() + (el.id ? "#" + el.id : ""), visible: el.matches(":focus-visible") && ring }
  })()`)) as { readonly tag: string | null; readonly visible: boolean }
}
