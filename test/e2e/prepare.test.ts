/*
 * Issue #5 end to end: upgrade binaries by URL, prepared ahead of the height.
 * The built CLI, a real anvil (versions are wrapper scripts on one shared
 * chain), and a local HTTP server in the test serving the v2 wrapper as a
 * plain binary and as a .tar.gz. Sequential: real processes on 2 cores.
 */
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeTarGz, serve, sha256, type TestServer } from "../binaries/support.js"
import { blockNumber, rpc, waitFor } from "../support/fixtures.js"
import {
  cliCopy,
  DAEMON_NAME,
  makeScenario,
  oneNode,
  removeCliCopy,
  type Scenario,
  settled,
  stopAndCheck,
  waitHeight
} from "./upgrade-support.js"

const scenarios: Array<Scenario> = []
const servers: Array<TestServer> = []
afterEach(async () => {
  for (const s of servers) await s.close()
  servers.length = 0
  for (const s of scenarios) s.dispose()
  scenarios.length = 0
})
afterAll(removeCliCopy)

// These tests are about the version probe too: turn it back on (fastEnv turns it off).
const scenario = async (env: Record<string, string> = {}) => {
  const s = await makeScenario({ env: { DAEMON_VERSION_ARGS: "version", ...env } })
  scenarios.push(s)
  return s
}

/**
 * One CLI command against the scenario's home, to completion. Asynchronous:
 * the HTTP server serving the artifacts lives in this process and must keep
 * answering while the command downloads from it.
 */
const cli = (s: Scenario, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cliCopy(), ...args], {
      env: { PATH: process.env.PATH ?? "", WEMIXVISOR_LOG_FORMAT: "json", ...s.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c) => (stdout += String(c)))
    child.stderr.on("data", (c) => (stderr += String(c)))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/** The v2 wrapper's bytes, served as a binary and inside a .tar.gz (bin/gwemix). */
const artifacts = async (s: Scenario, version = "v2") => {
  const bytes = fs.readFileSync(s.version(version))
  const tarGz = makeTarGz([
    { name: "bin/", type: "dir" },
    { name: `bin/${DAEMON_NAME}`, content: bytes, mode: 0o755 },
    { name: "README", content: `${version} release notes\n` }
  ])
  const srv = await serve({
    [`/${version}/gwemix`]: { body: bytes },
    [`/${version}/gwemix.tar.gz`]: { body: tarGz, chunk: 4096 }
  })
  servers.push(srv)
  return { bytes, tarGz, srv, binaryUrl: srv.url(`/${version}/gwemix`), tarUrl: srv.url(`/${version}/gwemix.tar.gz`) }
}

const placed = (s: Scenario, name: string) => path.join(s.root, "upgrades", name, "bin", DAEMON_NAME)
const upgradeDirs = (
  s: Scenario
) => (fs.existsSync(path.join(s.root, "upgrades")) ? fs.readdirSync(path.join(s.root, "upgrades")) : [])

describe("binaries by URL, prepared ahead of the height", () => {
  it("a binary and a .tar.gz, each with its checksum: ready long before their heights, then upgraded", async () => {
    const s = await scenario({ DAEMON_ALLOW_DOWNLOAD_BINARIES: "true" })
    s.init(s.version("v1"))
    const v2 = await artifacts(s, "v2")
    const v3 = await artifacts(s, "v3")
    const run = s.start()
    const head = await waitHeight(s.port, 3)
    // 40 s of blocks away, so "ready before the height" holds however slow the machine is; once it is
    // checked, the chain is fast-forwarded to just below H2 (the supervisor sees the jump, nothing is due).
    const H2 = head + 200
    const H3 = H2 + 12

    // The seeds' form: one URL and --checksum …
    const a = await cli(s, [
      "upgrade",
      "schedule",
      "v2",
      String(H2),
      "--binaries",
      v2.binaryUrl,
      "--checksum",
      sha256(v2.bytes)
    ])
    expect(a.code).toBe(0)
    expect(a.stdout.trim()).toBe(`✓ Upgrade 'v2' scheduled for block height ${H2}`)
    // … and a per-platform map (Go's platform keys), a .tar.gz this time.
    const b = await cli(s, [
      "upgrade",
      "schedule",
      "v3",
      String(H3),
      "--binaries",
      JSON.stringify({ "linux/amd64": v3.tarUrl, "linux/arm64": "https://example.invalid/arm64.tar.gz" }),
      "--checksums",
      JSON.stringify({ "linux/amd64": sha256(v3.tarGz) })
    ])
    expect(b.code).toBe(0)
    expect(s.upgrade("v3")).toMatchObject({
      binaries: { "linux/amd64": v3.tarUrl, "linux/arm64": "https://example.invalid/arm64.tar.gz" }
    })

    // Ready well before the heights: downloaded, verified, placed, executable, probed.
    await waitFor(
      "v2 and v3 ready",
      () => s.upgrade("v2")?.status === "ready" && s.upgrade("v3")?.status === "ready",
      15_000
    )
    expect((await blockNumber(s.port))!).toBeLessThan(H2 - 5)
    expect(fs.readFileSync(placed(s, "v2"))).toEqual(v2.bytes)
    expect(fs.readFileSync(placed(s, "v3"))).toEqual(fs.readFileSync(s.version("v3")))
    expect(fs.statSync(placed(s, "v2")).mode & 0o777).toBe(0o755)
    expect(fs.readFileSync(path.join(s.root, "upgrades", "v3", "README"), "utf8")).toBe("v3 release notes\n")
    expect(upgradeDirs(s).sort()).toEqual(["v2", "v3"]) // no staging folder left
    expect(v2.srv.hits("/v2/gwemix")).toBe(1)
    // Announced as they happened (the log may trail the plan file by a moment).
    const named = (type: string) => run.events(type).map((e) => (e.annotations as { name: string }).name).sort()
    await waitFor("upgrade-preparing and upgrade-ready for both", () => named("upgrade-ready").length === 2, 5000)
    expect(named("upgrade-preparing")).toEqual(["v2", "v3"])
    expect(named("upgrade-ready")).toEqual(["v2", "v3"])
    expect(run.events("upgrade-problem")).toEqual([])
    const listed = JSON.parse((await cli(s, ["upgrade", "list", "--json"])).stdout) as {
      upgrades: Array<{ name: string; status: string; binaries: object; checksums: object }>
    }
    expect(listed.upgrades.find((u) => u.name === "v2")).toMatchObject({
      status: "ready",
      binaries: { any: v2.binaryUrl },
      checksums: { any: sha256(v2.bytes) }
    })
    const now = (await blockNumber(s.port))!
    expect(now).toBeLessThan(H2 - 5)
    await rpc(s.port, "anvil_mine", [`0x${(H2 - 5 - now).toString(16)}`])

    expect((await settled(s, "v2", 30_000)).status).toBe("done")
    expect((await settled(s, "v3", 30_000)).status).toBe("done")
    expect(s.current()).toBe("upgrades/v3")
    expect(s.versions()).toEqual(["v1", "v2", "v3"])
    // The status names what `current` reports (the version probe).
    await waitFor(
      "the version of v3 in the status",
      async () => {
        const st = JSON.parse((await cli(s, ["upgrade", "status", "--json"])).stdout) as { version: string | null }
        return st.version === "gwemix v3"
      },
      10_000,
      200
    )
    await oneNode(s)
    await stopAndCheck(run, s)
  }, 90_000)

  it(
    "a wrong checksum: upgrade-problem long before the height, nothing placed; prepare says why (exit 1); a Cosmovisor drop-in is prepared",
    async () => {
      const s = await scenario({ DAEMON_ALLOW_DOWNLOAD_BINARIES: "true" })
      s.init(s.version("v1"))
      const v2 = await artifacts(s, "v2")
      const run = s.start()
      const head = await waitHeight(s.port, 3)
      const H = head + 2000 // 400 s of blocks away, longer than this test may take: never reached here
      const wrong = sha256("not the v2 binary")
      expect((await cli(s, ["upgrade", "schedule", "v2", String(H), "--url", v2.binaryUrl, "--checksum", wrong])).code)
        .toBe(0)

      const u = await waitFor("the problem", () => {
        const x = s.upgrade("v2")
        return x?.reason?.startsWith("checksum mismatch") ? x : undefined
      }, 15_000)
      expect(u.status).toBe("scheduled")
      expect(u.reason).toBe(
        `checksum mismatch for ${v2.binaryUrl}: expected ${wrong}, got ${sha256(v2.bytes)}; nothing was installed`
      )
      expect((await blockNumber(s.port))!).toBeLessThan(H - 100)
      const problems = run.events("upgrade-problem").map((e) => e.annotations as { name: string; reason: string })
      expect(problems.map((p) => [p.name, p.reason])).toEqual([["v2", u.reason]])
      expect(upgradeDirs(s)).toEqual([])

      // Asked again on demand, through the running supervisor's API: the same answer, exit 1.
      const again = await cli(s, ["upgrade", "prepare", "v2", "--remote", `http://${s.env.WEMIXVISOR_API_ADDR}`])
      expect(again.code).toBe(1)
      // Nothing to prepare from (no binary in place, no URL): bad input, 2, locally and through the API alike.
      expect((await cli(s, ["upgrade", "schedule", "v9", String(H + 50)])).code).toBe(0)
      for (const remote of [[], ["--remote", `http://${s.env.WEMIXVISOR_API_ADDR}`]]) {
        const none = await cli(s, ["upgrade", "prepare", "v9", ...remote])
        expect(none.code, remote.join(" ") || "local").toBe(2)
        expect(none.stderr).toMatch(/upgrades\/v9\/bin\/gwemix:? does not exist/)
      }
      expect(again.stderr).toContain("checksum mismatch")
      // And over REST, a download without a checksum is refused with 400, nothing written.
      const before = fs.readFileSync(path.join(s.root, "upgrade-plan.json"), "utf8")
      const res = await fetch(`http://${s.env.WEMIXVISOR_API_ADDR}/api/v1/upgrades`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${fs.readFileSync(path.join(s.root, "api.token"), "utf8").trim()}`
        },
        body: JSON.stringify({ name: "v3", height: H + 10, binaries: { "linux/amd64": v2.binaryUrl } })
      })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({
        error: "invalid checksums",
        details: expect.stringContaining("DAEMON_UNSAFE_SKIP_CHECKSUM")
      })
      expect(fs.readFileSync(path.join(s.root, "upgrade-plan.json"), "utf8")).toBe(before)

      // A drop-in in Cosmovisor's form (the checksum in the URL) is merged and prepared the same way.
      const v3 = await artifacts(s, "v3")
      const info = { binaries: { "linux/amd64": `${v3.tarUrl}?checksum=${sha256(v3.tarGz)}` } }
      fs.writeFileSync(
        path.join(s.root, "upgrade-info.json"),
        JSON.stringify({ name: "v3", height: H + 20, info, time: "0001-01-01T00:00:00Z" })
      )
      await waitFor("v3 ready", () => s.upgrade("v3")?.status === "ready", 15_000)
      expect(fs.existsSync(path.join(s.root, "upgrade-info.json.merged"))).toBe(true)
      expect(s.upgrade("v3")).toMatchObject({
        binaries: { "linux/amd64": v3.tarUrl },
        checksums: { "linux/amd64": sha256(v3.tarGz) }
      })
      expect(fs.readFileSync(placed(s, "v3"))).toEqual(v3.bytes)
      expect(run.alive()).toBe(true)
      await stopAndCheck(run, s)
    },
    60_000
  )
})

describe("schedule refuses what cannot be downloaded (exit 2, nothing written)", () => {
  it("downloads disabled, no checksum, no binary for this platform, a bad checksum", async () => {
    const s = await scenario()
    s.init(s.version("v1"))
    const url = "http://127.0.0.1:9/gwemix"
    const plan = path.join(s.root, "upgrade-plan.json")
    const sum = sha256("x")
    const cases: Array<
      { readonly args: ReadonlyArray<string>; readonly env?: Record<string, string>; readonly says: string }
    > = [
      { args: ["--binaries", url, "--checksum", sum], says: "DAEMON_ALLOW_DOWNLOAD_BINARIES=true" },
      {
        args: ["--url", url],
        env: { DAEMON_ALLOW_DOWNLOAD_BINARIES: "true" },
        says: "DAEMON_UNSAFE_SKIP_CHECKSUM=true"
      },
      {
        args: [
          "--binaries",
          JSON.stringify({ "linux/arm64": url }),
          "--checksums",
          JSON.stringify({ "linux/arm64": sum })
        ],
        env: { DAEMON_ALLOW_DOWNLOAD_BINARIES: "true" },
        says: `no binary for linux/amd64 or "any" (it has linux/arm64)`
      },
      {
        args: ["--binaries", url, "--checksum", "md5:1234"],
        env: { DAEMON_ALLOW_DOWNLOAD_BINARIES: "true" },
        says: "sha256:<64 hex>"
      },
      {
        args: ["--binaries", "ftp://example.org/gwemix", "--checksum", sum],
        env: { DAEMON_ALLOW_DOWNLOAD_BINARIES: "true" },
        says: "ftp: URLs are not supported"
      }
    ]
    for (const c of cases) {
      const r = await cli(s, ["upgrade", "schedule", "v2", "1000000", "--force", ...c.args], c.env ?? {})
      expect({ args: c.args, code: r.code }).toEqual({ args: c.args, code: 2 })
      expect(r.stderr).toContain(c.says)
      expect(fs.existsSync(plan)).toBe(false)
      expect(upgradeDirs(s)).toEqual([])
    }
    // Allowed, without a checksum, only when skipping it was asked for explicitly.
    const unsafe = await cli(s, ["upgrade", "schedule", "v2", "1000000", "--force", "--url", url], {
      DAEMON_ALLOW_DOWNLOAD_BINARIES: "true",
      DAEMON_UNSAFE_SKIP_CHECKSUM: "true"
    })
    expect(unsafe.code).toBe(0)
    expect(s.upgrade("v2")).toMatchObject({ status: "scheduled" })
  }, 60_000)
})

describe("upgrade prepare, without a supervisor", () => {
  it("exit 0 ready (downloaded, probed); 1 on a failed download or check; 2 on bad input", async () => {
    const s = await scenario({ DAEMON_ALLOW_DOWNLOAD_BINARIES: "true" })
    s.init(s.version("v1"))
    const v2 = await artifacts(s, "v2")
    expect(
      (await cli(s, [
        "upgrade",
        "schedule",
        "v2",
        "1000000",
        "--force",
        "--binaries",
        v2.tarUrl,
        "--checksum",
        sha256(v2.tarGz)
      ])).code
    ).toBe(0)
    expect(
      (await cli(s, [
        "upgrade",
        "schedule",
        "v3",
        "1000001",
        "--force",
        "--binaries",
        v2.binaryUrl,
        "--checksum",
        sha256("wrong")
      ])).code
    ).toBe(0)

    const ok = await cli(s, ["upgrade", "prepare", "v2"])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toBe(
      `✓ Upgrade 'v2' ready for block height 1000000\n  version: gwemix v2\n  downloaded from ${v2.tarUrl} (${
        sha256(v2.tarGz)
      })\n`
    )
    expect(s.upgrade("v2")).toMatchObject({ status: "ready", reason: null })
    expect(fs.readFileSync(placed(s, "v2"))).toEqual(v2.bytes)
    // Again: in place already, nothing downloaded.
    const hits = v2.srv.hits("/v2/gwemix.tar.gz")
    expect((await cli(s, ["upgrade", "prepare", "v2"])).stdout).toBe(
      `✓ Upgrade 'v2' ready for block height 1000000\n  version: gwemix v2\n`
    )
    expect(v2.srv.hits("/v2/gwemix.tar.gz")).toBe(hits)

    const bad = await cli(s, ["upgrade", "prepare", "v3"])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain("checksum mismatch")
    expect(s.upgrade("v3")).toMatchObject({ status: "scheduled", reason: expect.stringMatching(/^checksum mismatch/) })
    expect(fs.existsSync(path.join(s.root, "upgrades", "v3"))).toBe(false)

    expect((await cli(s, ["upgrade", "prepare", "nope"])).code).toBe(2)
    expect((await cli(s, ["upgrade", "prepare", "../x"])).code).toBe(2)
    const disabled = await cli(s, ["upgrade", "prepare", "v3"], { DAEMON_ALLOW_DOWNLOAD_BINARIES: "false" })
    expect(disabled.code).toBe(2)
    expect(disabled.stderr).toContain("DAEMON_ALLOW_DOWNLOAD_BINARIES=true")
    expect((await cli(s, ["upgrade", "cancel", "v3"])).code).toBe(0)
    expect((await cli(s, ["upgrade", "prepare", "v3"])).code).toBe(2) // cancelled: nothing to prepare
  }, 90_000)
})
