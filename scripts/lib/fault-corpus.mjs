// Row e of scripts/faults.mjs: a corpus of bad inputs through every door —
// upgrade-plan.json, upgrade-info.json, REST, RPC (NDJSON on the wire), CLI
// arguments, environment values and config.toml — against one running
// `wemixvisor run` on a fast fake node. Every input must give a clear error
// (exit 2 / 4xx naming the problem / a typed RPC error / `.invalid` / a
// paused orchestrator), write nothing else (the home's files hashed before and
// after) and crash nothing (the same `run` and the same node pid at the end).
import * as fs from "node:fs"
import * as path from "node:path"
import {
  blockNumber,
  cli,
  diffSnapshots,
  request,
  rpc,
  sleep,
  snapshotFiles,
  waitFor,
  writeAtomic
} from "./harness.mjs"

const TOKEN = "fault-suite-token"
const FAR = 10_000_000 // a height far above the fake chain's head
const LONG_NAME = "a".repeat(65)

export const corpus = async ({ row, check, home, disposeHomes }) => {
  const h = await home({ node: "fake", rate: 50, env: { WEMIXVISOR_API_TOKEN: TOKEN } })
  h.init(h.version("genesis"))
  // A pending upgrade (binary in place, so no "binary missing" reason is written later): the target of the duplicate inputs.
  h.place("pending1", h.version("pending1"))
  await h.schedule({ name: "pending1", height: FAR })
  const run = h.start()
  await waitFor("the node", () => rpc(h.port, "web3_clientVersion"), 15_000)
  await waitFor("/health 200", async () => (await h.health())?.status === 200, 15_000)
  const runPid = run.pid
  const nodePid = h.nodePid()?.pid
  const auth = { authorization: `Bearer ${TOKEN}` }
  const ignore = ["upgrade-plan.lock"]
  const snap = () => snapshotFiles(h.home, { ignore: ignore.map((i) => `wemixvisor/${i}`) })
  // The plan as it is now: every corrupt-plan input is followed by putting these bytes back.
  await sleep(500)
  const goodPlan = fs.readFileSync(h.planFile)

  /** Shared by every input: nothing else written, nothing crashed. */
  const unchanged = (before, what) => {
    const d = diffSnapshots(before, snap())
    check(d === "", `${what} changed files: ${d}`)
    check(run.alive(), `wemixvisor exited\n${run.tail()}`)
    check(h.nodePid()?.pid === nodePid, `the node was restarted (${nodePid} → ${h.nodePid()?.pid})`)
  }

  // -------------------------------------------------------------------------
  // upgrade-plan.json: said loudly (/health 503, plan-invalid), known upgrades go on from the last
  // valid plan, node running, file never replaced; fixing it clears the problem.

  const upg = (over) => ({
    name: "pending1",
    height: FAR,
    status: "scheduled",
    info: "",
    binaries: {},
    checksums: {},
    reason: null,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
    ...over
  })
  const planOf = (...ups) => JSON.stringify({ version: 1, upgrades: ups }, null, 2)
  const badPlans = [
    ["empty file", ""],
    ["truncated JSON", planOf(upg({})).slice(0, 40)],
    ["not JSON at all", "upgrades: [v2 at 100]"],
    ["binary garbage", Buffer.from([0, 0xff, 0xfe, 0x7b, 0x00, 0x22])],
    ["JSON null", "null"],
    ["a JSON array", "[]"],
    ["version 2", JSON.stringify({ version: 2, upgrades: [] })],
    ["no upgrades key", JSON.stringify({ version: 1 })],
    ["upgrades is an object", JSON.stringify({ version: 1, upgrades: {} })],
    ["status 'SCHEDULED' (case)", planOf(upg({ status: "SCHEDULED" }))],
    ["status 'pending' (unknown)", planOf(upg({ status: "pending" }))],
    ["height -1", planOf(upg({ height: -1 }))],
    ["height 1.5", planOf(upg({ height: 1.5 }))],
    ["height 2^53 + 2", planOf(upg({ height: 9007199254740994 }))],
    ["height 1e300", planOf(upg({ height: 1e300 }))],
    ["height as a string", planOf(upg({ height: "100" }))],
    ["height null", planOf(upg({ height: null }))],
    ["name '../evil'", planOf(upg({ name: "../evil" }))],
    ["name ''", planOf(upg({ name: "" }))],
    ["name of 65 characters", planOf(upg({ name: LONG_NAME }))],
    ["name with a slash", planOf(upg({ name: "a/b" }))],
    ["checksum md5:…", planOf(upg({ checksums: { "linux/amd64": "md5:d41d8cd98f00b204e9800998ecf8427e" } }))],
    ["reason is a number", planOf(upg({ reason: 42 }))],
    ["created_at missing", JSON.stringify({ version: 1, upgrades: [{ ...upg({}), created_at: undefined }] })],
    ["binaries is a string", planOf(upg({ binaries: "https://example.com/gwemix" }))],
    ["the same name twice", planOf(upg({}), upg({ height: FAR + 1 }))]
  ]
  for (const [i, [what, text]] of badPlans.entries()) {
    await row(
      `e.plan-${String(i + 1).padStart(2, "0")}`,
      `upgrade-plan.json: ${what}`,
      "plan problem (/health 503), node runs, file kept, list exit 1; fixed → 200",
      async () => {
        const before = snap()
        const events0 = run.events("plan-invalid").length
        writeAtomic(h.planFile, text)
        try {
          const health = await waitFor(
            "/health to report the plan problem",
            async () => {
              const r = await h.health()
              return r?.status === 503 && /plan problem/.test(r.json?.reason ?? "") ? r : undefined
            },
            5000,
            25
          )
          const ev = await waitFor("a plan-invalid event", () => run.events("plan-invalid").slice(events0)[0], 3000, 25)
          check(typeof ev.reason === "string" && ev.reason.length > 0, "plan-invalid without a reason")
          const list = cli(["upgrade", "list"], h.env)
          check(list.code === 1, `upgrade list exit ${list.code}`)
          check(list.stderr.includes("upgrade-plan.json"), `upgrade list does not name the file: ${list.stderr.trim()}`)
          await sleep(150) // a poll or two: the file must not be replaced or "repaired"
          check(
            Buffer.compare(fs.readFileSync(h.planFile), Buffer.from(text)) === 0,
            "the corrupt plan file was rewritten"
          )
          check(h.nodePid()?.pid === nodePid && run.alive(), "node or supervisor lost")
          return `503 "${health.json.reason}"; event: ${ev.reason.slice(0, 120)}`
        } finally {
          writeAtomic(h.planFile, goodPlan)
          await waitFor("/health 200 again (fixed)", async () => (await h.health())?.status === 200, 5000, 25)
          unchanged(before, "the plan input")
        }
      }
    )
  }

  // -------------------------------------------------------------------------
  // upgrade-info.json: renamed to .invalid with the reason logged; the plan untouched.

  const dropIns = [
    ["not JSON", "{name: v9"],
    ["empty file", ""],
    ["a JSON array", "[]"],
    ["no name", JSON.stringify({ height: FAR })],
    ["name '../evil'", JSON.stringify({ name: "../evil", height: FAR })],
    ["name of 65 characters", JSON.stringify({ name: LONG_NAME, height: FAR })],
    ["no height", JSON.stringify({ name: "d1" })],
    ["height as a string", JSON.stringify({ name: "d1", height: "100" })],
    ["height -5", JSON.stringify({ name: "d1", height: -5 })],
    ["height 2.5", JSON.stringify({ name: "d1", height: 2.5 })],
    ["height 2^53 + 2", JSON.stringify({ name: "d1", height: 9007199254740994 })],
    ["height at or below the head (1)", JSON.stringify({ name: "d1", height: 1 })],
    ["duplicate of a pending upgrade", JSON.stringify({ name: "pending1", height: FAR + 5 })],
    [
      "checksum md5:…",
      JSON.stringify({ name: "d1", height: FAR, checksums: { "linux/amd64": "md5:d41d8cd98f00b204e9800998ecf8427e" } })
    ],
    ["info is a number", JSON.stringify({ name: "d1", height: FAR, info: 42 })],
    ["binaries is a string", JSON.stringify({ name: "d1", height: FAR, binaries: "https://example.com/x" })],
    [
      "a URL binary while downloads are off",
      JSON.stringify({
        name: "d1",
        height: FAR,
        binaries: { "linux/amd64": "https://example.com/gwemix" },
        checksums: { "linux/amd64": `sha256:${"ab".repeat(32)}` }
      })
    ]
  ]
  const dropIn = path.join(h.root, "upgrade-info.json")
  for (const [i, [what, text]] of dropIns.entries()) {
    await row(
      `e.dropin-${String(i + 1).padStart(2, "0")}`,
      `upgrade-info.json: ${what}`,
      "renamed to .invalid, reason logged, plan untouched",
      async () => {
        const before = snap()
        const logs0 = run.logs().length
        writeAtomic(dropIn, text)
        try {
          await waitFor("upgrade-info.json to be consumed", () => !fs.existsSync(dropIn), 5000, 25)
          check(
            fs.existsSync(`${dropIn}.invalid`),
            fs.existsSync(`${dropIn}.merged`) ? "it was MERGED" : "no upgrade-info.json.invalid"
          )
          check(fs.readFileSync(`${dropIn}.invalid`, "utf8") === text, ".invalid does not hold the file as written")
          const line = await waitFor(
            "the refusal in the log",
            () => run.logs().slice(logs0).split("\n").find((l) => l.includes("refused")),
            3000,
            25
          )
          const msg = JSON.parse(line).message
          return String(Array.isArray(msg) ? msg.join(" ") : msg).replace(/^.*upgrade-info\.json refused: /, "").slice(
            0,
            140
          )
        } finally {
          fs.rmSync(dropIn, { force: true })
          fs.rmSync(`${dropIn}.invalid`, { force: true })
          fs.rmSync(`${dropIn}.merged`, { force: true })
          unchanged(before, "the drop-in")
        }
      }
    )
  }

  // -------------------------------------------------------------------------
  // REST: 4xx with {"error","details"}, nothing written.

  const post = (body, headers = auth) =>
    request(`${h.api}/api/v1/upgrades`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body
    })
  const big = JSON.stringify({ name: "big", height: FAR, info: "x".repeat(70 * 1024) })
  const rest = [
    ["POST invalid JSON", () => post("{name:"), 400],
    ["POST empty body", () => post(""), 400],
    ["POST a JSON array", () => post("[]"), 400],
    ["POST a JSON string", () => post("\"v2\""), 400],
    ["POST {} (no name)", () => post("{}"), 400],
    ["POST name '../evil'", () => post(JSON.stringify({ name: "../evil", height: FAR })), 400],
    ["POST name of 65 characters", () => post(JSON.stringify({ name: LONG_NAME, height: FAR })), 400],
    ["POST no height", () => post(JSON.stringify({ name: "r1" })), 400],
    ["POST height -1", () => post(JSON.stringify({ name: "r1", height: -1 })), 400],
    ["POST height 1.5", () => post(JSON.stringify({ name: "r1", height: 1.5 })), 400],
    ["POST height 'abc'", () => post(JSON.stringify({ name: "r1", height: "abc" })), 400],
    ["POST height 2^53 + 2", () => post("{\"name\":\"r1\",\"height\":9007199254740994}"), 400],
    ["POST height 1e21", () => post("{\"name\":\"r1\",\"height\":1e21}"), 400],
    ["POST height at or below the head", () => post(JSON.stringify({ name: "r1", height: 1 })), 409],
    ["POST duplicate of a pending upgrade", () => post(JSON.stringify({ name: "pending1", height: FAR + 7 })), 409],
    [
      "POST checksum md5:…",
      () => post(JSON.stringify({ name: "r1", height: FAR, checksums: { "linux/amd64": "md5:00" } })),
      400
    ],
    [
      "POST binaries is a string",
      () => post(JSON.stringify({ name: "r1", height: FAR, binaries: "https://example.com/x" })),
      400
    ],
    ["POST info is a number", () => post(JSON.stringify({ name: "r1", height: FAR, info: 42 })), 400],
    ["POST force 'yes'", () => post(JSON.stringify({ name: "r1", height: 1, force: "yes" })), 400],
    [
      "POST a URL binary while downloads are off",
      () =>
        post(
          JSON.stringify({
            name: "r1",
            height: FAR,
            binaries: { "linux/amd64": "https://example.com/g" },
            checksums: { "linux/amd64": `sha256:${"ab".repeat(32)}` }
          })
        ),
      400
    ],
    ["POST body over 64 KiB (content-length)", () => post(big), 413],
    [
      "POST body over 64 KiB (chunked, no length)",
      () =>
        request(`${h.api}/api/v1/upgrades`, {
          method: "POST",
          headers: { "content-type": "application/json", "transfer-encoding": "chunked", ...auth },
          body: big
        }),
      413
    ],
    ["POST without the token", () => post(JSON.stringify({ name: "r1", height: FAR }), {}), 401],
    [
      "POST with a wrong token",
      () => post(JSON.stringify({ name: "r1", height: FAR }), { authorization: "Bearer nope" }),
      401
    ],
    [
      "DELETE an unknown upgrade",
      () => request(`${h.api}/api/v1/upgrades/nope`, { method: "DELETE", headers: auth }),
      404
    ],
    [
      "DELETE a bad name",
      () => request(`${h.api}/api/v1/upgrades/..%2Fevil`, { method: "DELETE", headers: auth }),
      400
    ],
    ["GET an unknown route", () => request(`${h.api}/api/v1/nothing`, { headers: auth }), 404],
    [
      "PUT /api/v1/upgrades",
      () => request(`${h.api}/api/v1/upgrades`, { method: "PUT", headers: auth, body: "{}" }),
      404
    ]
  ]
  for (const [i, [what, send, status]] of rest.entries()) {
    await row(
      `e.rest-${String(i + 1).padStart(2, "0")}`,
      `REST ${what}`,
      `${status} {"error","details"}, nothing written`,
      async () => {
        const before = snap()
        const r = await send()
        check(r !== undefined, "no answer")
        check(r.status === status, `HTTP ${r.status}, expected ${status}: ${r.body.slice(0, 200)}`)
        check(
          typeof r.json?.error === "string" && typeof r.json?.details === "string",
          `body is not {"error","details"}: ${r.body.slice(0, 200)}`
        )
        unchanged(before, "the request")
        return `${r.status} ${r.json.error}: ${r.json.details}`
      }
    )
  }

  // -------------------------------------------------------------------------
  // RPC (POST /rpc, NDJSON as @effect/rpc puts it on the wire): typed errors.

  let rid = 0
  const rpcLine = (tag, payload) =>
    JSON.stringify({ _tag: "Request", id: String(++rid), tag, payload, headers: [] }) + "\n"
  const rpcPost = (body, headers = auth) =>
    request(`${h.api}/rpc`, { method: "POST", headers: { "content-type": "application/ndjson", ...headers }, body })
  /** The Exit of the first response line: {_tag:"Fail", error:{_tag,…}} for a typed error. */
  const exitOf = (r) => {
    const first = (r?.body ?? "").split("\n").find((l) => l.trim() !== "")
    try {
      return JSON.parse(first)
    } catch {
      return undefined
    }
  }
  const typed = (tag, field) => (r) => {
    const m = exitOf(r)
    const cause = m?.exit?.cause
    check(
      m?._tag === "Exit" && m.exit._tag === "Failure" && cause?._tag === "Fail",
      `not a typed failure: HTTP ${r?.status} ${String(r?.body).slice(0, 300)}`
    )
    check(cause.error._tag === tag, `error ${cause.error._tag}, expected ${tag}`)
    if (field) check(cause.error.field === field, `field ${cause.error.field}, expected ${field}`)
    return `${tag}${cause.error.field ? `(${cause.error.field})` : ""}: ${
      cause.error.problem ?? cause.error.reason ?? cause.error.name ?? ""
    }`
  }
  /** Protocol-level garbage has no typed error in @effect/rpc: a Defect message that says what is wrong, and nothing else. */
  const defect = (pattern) => (r) => {
    const m = exitOf(r)
    check(r?.status !== undefined && r.status < 500, `HTTP ${r?.status} with body '${String(r?.body).slice(0, 200)}'`)
    const text = JSON.stringify(m?.defect ?? m?.exit?.cause ?? m)
    check(pattern.test(text), `no clear error: HTTP ${r.status} ${String(r.body).slice(0, 200)}`)
    return `HTTP ${r.status} ${m?._tag}: ${text.slice(0, 120)}`
  }
  const sched = (payload) => () => rpcPost(rpcLine("ScheduleUpgrade", payload))
  const rpcs = [
    ["ScheduleUpgrade name '../evil'", sched({ name: "../evil", height: FAR }), typed("InvalidInput", "name")],
    ["ScheduleUpgrade name of 65 characters", sched({ name: LONG_NAME, height: FAR }), typed("InvalidInput", "name")],
    ["ScheduleUpgrade height -1", sched({ name: "p1", height: -1 }), typed("InvalidInput", "height")],
    ["ScheduleUpgrade height 1.5", sched({ name: "p1", height: 1.5 }), typed("InvalidInput", "height")],
    [
      "ScheduleUpgrade height 2^53 + 2",
      () =>
        rpcPost(
          `{"_tag":"Request","id":"900","tag":"ScheduleUpgrade","payload":{"name":"p1","height":9007199254740994},"headers":[]}\n`
        ),
      typed("InvalidInput", "height")
    ],
    ["ScheduleUpgrade height at or below the head", sched({ name: "p1", height: 1 }), typed("UpgradeConflict")],
    [
      "ScheduleUpgrade duplicate of a pending upgrade",
      sched({ name: "pending1", height: FAR + 9 }),
      typed("UpgradeConflict")
    ],
    [
      "ScheduleUpgrade checksum md5:…",
      sched({ name: "p1", height: FAR, checksums: { "linux/amd64": "md5:00" } }),
      typed("InvalidInput")
    ],
    ["ScheduleUpgrade height as a string", sched({ name: "p1", height: "100" }), typed("InvalidInput", "height")],
    ["ScheduleUpgrade without a name", sched({ height: FAR }), typed("InvalidInput", "name")],
    ["CancelUpgrade unknown name", () => rpcPost(rpcLine("CancelUpgrade", { name: "nope" })), typed("UpgradeNotFound")],
    [
      "CancelUpgrade name '../evil'",
      () => rpcPost(rpcLine("CancelUpgrade", { name: "../evil" })),
      typed("InvalidInput", "name")
    ],
    ["GetStatus without the token", () => rpcPost(rpcLine("GetStatus", {}), {}), typed("Unauthorized")],
    ["an unknown procedure", () => rpcPost(rpcLine("DropAllTables", {})), defect(/Unknown request tag/)],
    ["a line that is not JSON", () => rpcPost("{not json\n"), defect(/JSON/)],
    [
      "a request without headers",
      () => rpcPost(JSON.stringify({ _tag: "Request", id: "77", tag: "GetStatus", payload: {} }) + "\n"),
      defect(/headers|Request/i)
    ]
  ]
  for (const [i, [what, send, expect]] of rpcs.entries()) {
    await row(
      `e.rpc-${String(i + 1).padStart(2, "0")}`,
      `RPC ${what}`,
      "a typed error (or a clear protocol error), nothing written",
      async () => {
        const before = snap()
        const r = await send()
        check(r !== undefined, "no answer")
        const seen = expect(r)
        unchanged(before, "the call")
        return seen
      }
    )
  }
  await row("e.rpc-17", "RPC body over 64 KiB", "413, nothing written", async () => {
    const before = snap()
    const r = await rpcPost(rpcLine("ScheduleUpgrade", { name: "p1", height: FAR, info: "x".repeat(70 * 1024) }))
    check(r?.status === 413, `HTTP ${r?.status}`)
    unchanged(before, "the call")
    return `${r.status} ${r.json?.error}`
  })

  // -------------------------------------------------------------------------
  // CLI arguments: exit 2, a message on stderr, nothing written.

  const missing = path.join(h.home, "no-such-binary")
  const cliCases = [
    ["schedule ../evil", ["upgrade", "schedule", "../evil", String(FAR)]],
    ["schedule a 65-character name", ["upgrade", "schedule", LONG_NAME, String(FAR)]],
    ["schedule height -5", ["upgrade", "schedule", "c1", "-5"]],
    ["schedule height 1.5", ["upgrade", "schedule", "c1", "1.5"]],
    ["schedule height abc", ["upgrade", "schedule", "c1", "abc"]],
    ["schedule height 1e6", ["upgrade", "schedule", "c1", "1e6"]],
    ["schedule height 0x10", ["upgrade", "schedule", "c1", "0x10"]],
    ["schedule height 99999999999999999999", ["upgrade", "schedule", "c1", "99999999999999999999"]],
    ["schedule without a height", ["upgrade", "schedule", "c1"]],
    ["schedule at or below the head", ["upgrade", "schedule", "c1", "1"]],
    ["schedule a duplicate of a pending upgrade", ["upgrade", "schedule", "pending1", String(FAR + 11)]],
    ["schedule --binary that does not exist", ["upgrade", "schedule", "c1", String(FAR), "--binary", missing]],
    ["schedule --binary that is a folder", ["upgrade", "schedule", "c1", String(FAR), "--binary", h.data]],
    ["schedule --remote ftp://…", ["upgrade", "schedule", "c1", String(FAR), "--remote", "ftp://127.0.0.1/"]],
    ["cancel an unknown upgrade", ["upgrade", "cancel", "nope"]],
    ["cancel ../evil", ["upgrade", "cancel", "../evil"]],
    ["an unknown subcommand", ["upgrade", "frobnicate"]],
    ["an unknown flag", ["upgrade", "list", "--bogus"]],
    ["init on an existing home", ["init", path.join(h.root, "genesis", "bin", "gwemix")]],
    ["a second run on the same home", ["run"]]
  ]
  for (const [i, [what, argv]] of cliCases.entries()) {
    await row(
      `e.cli-${String(i + 1).padStart(2, "0")}`,
      `CLI ${what}`,
      "exit 2, message on stderr, nothing written",
      async () => {
        const before = snap()
        const r = cli(argv, h.env, { timeoutMs: 20_000 })
        check(r.code === 2, `exit ${r.code ?? r.signal}, expected 2: ${(r.stderr || r.stdout).trim().slice(0, 300)}`)
        const message = r.stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("{")).join(
          " "
        )
        check(message.length > 0, "nothing on stderr")
        unchanged(before, "the command")
        return message.replace(/^error: /, "").slice(0, 140)
      }
    )
  }

  // -------------------------------------------------------------------------
  // Environment values and config.toml: exit 2 naming the variable, nothing written.

  const envCases = [
    ["DAEMON_POLL_INTERVAL", "abc"],
    ["DAEMON_POLL_INTERVAL", "300"],
    ["DAEMON_SHUTDOWN_GRACE", "-1s"],
    ["DAEMON_RESTART_DELAY", "soon"],
    ["DAEMON_MAX_RESTARTS", "-1"],
    ["DAEMON_MAX_RESTARTS", "1.5"],
    ["DAEMON_ON_UPGRADE_FAILURE", "explode"],
    ["DAEMON_RPC_URL", "ftp://127.0.0.1:8545"],
    ["DAEMON_RPC_URL", "not a url"],
    ["DAEMON_WS_URL", "http://127.0.0.1:8546"],
    ["DAEMON_HOME", "relative/home"],
    ["DAEMON_NAME", "a/b"],
    ["DAEMON_NAME", ""],
    ["WEMIXVISOR_API_ADDR", "nonsense"],
    ["WEMIXVISOR_API_ADDR", "127.0.0.1:99999"],
    ["DAEMON_VERIFY_PROGRESS", "maybe"],
    ["DAEMON_BACKUP", "2"],
    ["DAEMON_DATA_DIR", "data"],
    ["WEMIXVISOR_LOG_FORMAT", "xml"],
    ["DAEMON_RESTART_MAX_DELAY", "100ms"] // shorter than DAEMON_RESTART_DELAY
  ]
  for (const [i, [variable, value]] of envCases.entries()) {
    await row(
      `e.env-${String(i + 1).padStart(2, "0")}`,
      `env ${variable}=${JSON.stringify(value)} (upgrade list)`,
      "exit 2 naming the variable, nothing written",
      async () => {
        const before = snap()
        const r = cli(["upgrade", "list"], { ...h.env, [variable]: value })
        check(r.code === 2, `exit ${r.code ?? r.signal}, expected 2: ${(r.stderr || r.stdout).trim().slice(0, 300)}`)
        check(r.stderr.includes(variable), `stderr does not name ${variable}: ${r.stderr.trim().slice(0, 300)}`)
        unchanged(before, "the command")
        return r.stderr.trim().replace(/^error: /, "").slice(0, 140)
      }
    )
  }
  await row(
    "e.env-21",
    "env DAEMON_SHUTDOWN_GRACE=\"forever\" (run)",
    "exit 2 naming the variable; the running supervisor untouched",
    async () => {
      const before = snap()
      const r = cli(["run"], { ...h.env, DAEMON_SHUTDOWN_GRACE: "forever" })
      check(
        r.code === 2 && r.stderr.includes("DAEMON_SHUTDOWN_GRACE"),
        `exit ${r.code}: ${r.stderr.trim().slice(0, 300)}`
      )
      unchanged(before, "the command")
      return r.stderr.trim().replace(/^error: /, "").slice(0, 140)
    }
  )
  const toml = path.join(h.root, "config.toml")
  const tomlCases = [
    ["daemon_upgrade_delay = \"abc\"", /daemon_upgrade_delay|DAEMON_UPGRADE_DELAY/i],
    ["daemon_max_restarts = -3", /daemon_max_restarts|DAEMON_MAX_RESTARTS/i],
    ["this is = not [toml", /config\.toml/],
    ["[daemon]\npoll = \"1s\"", /config\.toml/]
  ]
  for (const [i, [text, names]] of tomlCases.entries()) {
    await row(
      `e.toml-${String(i + 1).padStart(2, "0")}`,
      `config.toml: ${text.replace(/\n/g, " ")}`,
      "exit 2 naming the key, nothing written",
      async () => {
        const before = snap()
        fs.writeFileSync(toml, text + "\n")
        try {
          const r = cli(["upgrade", "list"], h.env)
          check(r.code === 2, `exit ${r.code}: ${r.stderr.trim().slice(0, 300)}`)
          check(names.test(r.stderr), `stderr does not name the key: ${r.stderr.trim().slice(0, 300)}`)
          return r.stderr.trim().replace(/^error: /, "").slice(0, 140)
        } finally {
          fs.rmSync(toml, { force: true })
          unchanged(before, "the command")
        }
      }
    )
  }

  // -------------------------------------------------------------------------
  // After all of it: the same supervisor, the same node; upgrades still work.

  await row(
    "e.survived",
    "after every bad input",
    "same run pid, same node pid, node running, 0 restarts, /health 200",
    async () => {
      check(run.alive() && run.pid === runPid, "wemixvisor is not the same process")
      const st = JSON.parse(cli(["upgrade", "status", "--json"], h.env).stdout || "{}")
      check(st.node_pid === nodePid && h.nodePid()?.pid === nodePid, `node pid ${nodePid} → ${st.node_pid}`)
      check(st.node_state === "running" && st.restarts === 0, `status: ${JSON.stringify(st)}`)
      check((await h.health())?.status === 200, "/health is not 200")
      check(Buffer.compare(fs.readFileSync(h.planFile), goodPlan) === 0, "the plan differs from the last good one")
      return `run pid ${runPid}, node pid ${nodePid}, running, restarts ${st.restarts}`
    }
  )
  await row(
    "e.resumes",
    "an upgrade after the corrupt-plan spells",
    "scheduled over REST, fires, done; the new node answers",
    async () => {
      h.place("after", h.version("after"))
      const target = (await blockNumber(h.port)) + 40
      const r = await post(JSON.stringify({ name: "after", height: target }))
      check(r?.status === 201, `schedule: HTTP ${r?.status} ${r?.body}`)
      await waitFor("the upgrade to be done", () => h.upgrade("after")?.status === "done", 15_000)
      check((await rpc(h.port, "web3_clientVersion")) === "fake/after", "the node does not answer as 'after'")
      const end = await run.stop()
      check(end.code === 0, `SIGTERM: exit ${end.code ?? end.signal}`)
      check(h.nodeProcesses().length === 0, "node processes left")
      return `done at ${target}; SIGTERM exit 0, nothing left`
    }
  )
  disposeHomes()
}
