/*
 * `wemixvisor dashboard [--open]` (issue #15), in process: the URL from
 * WEMIXVISOR_API_ADDR (an any-interface address as loopback, IPv6 in
 * brackets) with the home's token in the fragment, WEMIXVISOR_API_TOKEN
 * first; no token → exit 2 saying `run` makes one; --open hands the URL to
 * xdg-open (a fake one on PATH here) and only warns when that fails.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { helpEntries } from "../../src/cli/commands.js"
import { dashboardUrl, opener } from "../../src/cli/dashboard.js"
import { helpRequest, renderHelp } from "../../src/cli/help.js"
import { processStartTime } from "../../src/platform/Proc.js"
import { waitFor, writeScript } from "../support/fixtures.js"
import { errorText, type Home, makeHome, removeHomes, restoreEnv, runCli } from "./support.js"

afterEach(() => {
  restoreEnv()
  removeHomes()
})

const TOKEN = "ab".repeat(32)

/** A home whose `run` already generated its api.token (mode 0600, as Token.ts writes it). */
const withToken = (env: Record<string, string> = {}): Home => {
  const h = makeHome(env)
  fs.mkdirSync(h.root, { recursive: true })
  fs.writeFileSync(path.join(h.root, "api.token"), `${TOKEN}\n`, { mode: 0o600 })
  return h
}

/** Makes this test process the holder of run.lock: to the CLI, a supervisor is running on the home. */
const holdRunLock = (h: Home) =>
  fs.writeFileSync(
    path.join(h.root, "run.lock"),
    JSON.stringify({ pid: process.pid, start_time: processStartTime(process.pid), time: new Date().toISOString() })
  )

/** A PATH holding only a fake `xdg-open` (and `open`) with `body`; the basics (`sh`, …) still found after it. */
const fakeOpener = (h: Home, body: string) => {
  const bin = path.join(h.home, "fake-bin")
  writeScript(path.join(bin, "xdg-open"), body)
  writeScript(path.join(bin, "open"), body)
  return { PATH: `${bin}:/usr/bin:/bin` }
}

describe("wemixvisor dashboard", () => {
  it("the URL: host:port as a local client reaches it, the token percent-encoded in the fragment", () => {
    expect(dashboardUrl("127.0.0.1:8590", TOKEN)).toBe(`http://127.0.0.1:8590/#token=${TOKEN}`)
    expect(dashboardUrl("0.0.0.0:9000", "t")).toBe("http://127.0.0.1:9000/#token=t")
    expect(dashboardUrl("[::]:9000", "t")).toBe("http://[::1]:9000/#token=t")
    expect(dashboardUrl("[0:0:0:0:0:0:0:0]:9000", "t")).toBe("http://[::1]:9000/#token=t")
    expect(dashboardUrl("[::1]:9000", "t")).toBe("http://[::1]:9000/#token=t")
    expect(dashboardUrl("[fd00::5]:9000", "t")).toBe("http://[fd00::5]:9000/#token=t")
    expect(dashboardUrl("10.0.0.5:9000", "t")).toBe("http://10.0.0.5:9000/#token=t")
    expect(dashboardUrl("node1.example:9000", "t")).toBe("http://node1.example:9000/#token=t")
    expect(dashboardUrl("127.0.0.1:8590", "a b#c&d%")).toBe("http://127.0.0.1:8590/#token=a%20b%23c%26d%25")
    expect(opener("darwin")).toBe("open")
    expect(opener("linux")).toBe("xdg-open")
  })

  it.live("prints the URL with the home's api.token; WEMIXVISOR_API_TOKEN wins; warns on stderr when no run is up", () =>
    Effect.gen(function*() {
      const h = withToken({ WEMIXVISOR_API_ADDR: "0.0.0.0:18590" })
      const r = yield* runCli(["dashboard"], h.env)
      expect(r.code).toBe(0)
      expect(r.stdout).toBe(`http://127.0.0.1:18590/#token=${TOKEN}\n`)
      expect(errorText(r)).toMatch(/^warning: no `wemixvisor run` is running on .*: the page loads once it is/)

      holdRunLock(h)
      const running = yield* runCli(["dashboard"], h.env)
      expect(running).toEqual({ code: 0, stdout: `http://127.0.0.1:18590/#token=${TOKEN}\n`, stderr: "" })

      const env = yield* runCli(["dashboard"], {
        ...h.env,
        WEMIXVISOR_API_ADDR: "[::]:8600",
        WEMIXVISOR_API_TOKEN: "s3cr3t"
      })
      expect(env).toMatchObject({ code: 0, stdout: "http://[::1]:8600/#token=s3cr3t\n" })
      // The default address.
      expect((yield* runCli(["dashboard"], { DAEMON_HOME: h.home, DAEMON_NAME: "gwemix" })).stdout).toBe(
        `http://127.0.0.1:8590/#token=${TOKEN}\n`
      )
    }))

  it.live("no token (none set, no api.token yet) → exit 2 saying `run` creates it; nothing printed or written", () =>
    Effect.gen(function*() {
      const h = makeHome()
      const r = yield* runCli(["dashboard", "--open"], h.env)
      expect(r.code).toBe(2)
      expect(r.stdout).toBe("")
      expect(errorText(r).trim()).toBe(
        `error: no API token: WEMIXVISOR_API_TOKEN is not set and ${
          path.join(h.root, "api.token")
        } does not exist yet; \`wemixvisor run\` creates it at its first start`
      )
      expect(fs.existsSync(h.root)).toBe(false)

      // An empty file is no token either.
      fs.mkdirSync(h.root, { recursive: true })
      fs.writeFileSync(path.join(h.root, "api.token"), "\n", { mode: 0o600 })
      const empty = yield* runCli(["dashboard"], h.env)
      expect(empty.code).toBe(2)
      expect(errorText(empty)).toContain("cannot be read or is empty")
    }))

  it.live("--open: the URL handed to xdg-open, detached; exit 0 and no warning", () =>
    Effect.gen(function*() {
      const h = withToken()
      holdRunLock(h)
      const seen = path.join(h.home, "opened.txt")
      const r = yield* runCli(["dashboard", "--open"], {
        ...h.env,
        ...fakeOpener(h, `printf '%s\\n' "$@" > "${seen}.tmp" && mv "${seen}.tmp" "${seen}"\n`)
      })
      expect(r).toEqual({ code: 0, stdout: `http://127.0.0.1:8590/#token=${TOKEN}\n`, stderr: "" })
      yield* Effect.promise(() => waitFor("xdg-open to run", () => fs.existsSync(seen), 5000))
      expect(fs.readFileSync(seen, "utf8")).toBe(`http://127.0.0.1:8590/#token=${TOKEN}\n`)
    }))

  it.live("--open that cannot open: a warning on stderr, the URL printed, exit 0", () =>
    Effect.gen(function*() {
      const h = withToken()
      holdRunLock(h)
      const missing = yield* runCli(["dashboard", "--open"], { ...h.env, PATH: path.join(h.home, "no-such-bin") })
      expect(missing.code).toBe(0)
      expect(missing.stdout).toBe(`http://127.0.0.1:8590/#token=${TOKEN}\n`)
      expect(errorText(missing).trim()).toMatch(
        /^warning: the browser was not opened: xdg-open could not be started: .*ENOENT.*; open the URL above$/
      )

      const failing = yield* runCli(["dashboard", "--open"], { ...h.env, ...fakeOpener(h, "exit 3\n") })
      expect(failing.code).toBe(0)
      expect(failing.stdout).toBe(`http://127.0.0.1:8590/#token=${TOKEN}\n`)
      expect(errorText(failing).trim()).toBe(
        "warning: the browser was not opened: xdg-open failed (exit code 3); open the URL above"
      )
    }))

  it("--help (as bin.ts renders it) names the option, the variables and the exit codes; the root lists it", () => {
    const help = (words: ReadonlyArray<string>) => renderHelp(helpRequest(helpEntries, [...words, "--help"])!, "0.0.0")
    const r = help(["dashboard"])
    expect(r).toContain("Usage: wemixvisor dashboard")
    expect(r).toMatch(/^  --open\s+also open it in the desktop's browser/m)
    expect(r).toContain("WEMIXVISOR_API_ADDR")
    expect(r).toContain("  2 no token")
    expect(help([])).toMatch(/^  dashboard\s+print the web dashboard's URL/m)
  })
})
