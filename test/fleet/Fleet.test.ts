/*
 * The fleet core (src/fleet/Fleet.ts) and what the CLI prints of it
 * (src/cli/fleet.ts), over in-memory nodes: the fan-out's bounded
 * concurrency and per-node timeout (TestClock), the readiness board's
 * summary lines and verdict, and the roll — one node at a time, stopped at
 * the first failure with the rest untouched.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Option, Ref, TestClock } from "effect"
import { exitCodeOf } from "../../src/cli/exit.js"
import * as Cli from "../../src/cli/fleet.js"
import { PrepareFailed, UpgradeConflict } from "../../src/domain/Errors.js"
import type { PreflightResult } from "../../src/domain/Preflight.js"
import type { StatusObject, UpgradeWithEta } from "../../src/domain/Status.js"
import { Upgrade, type UpgradeStatus } from "../../src/domain/Upgrade.js"
import { boardVerdict, preflights, summarize } from "../../src/fleet/Board.js"
import { type Clients, failures, fanOut, isUnreachable, type NodeClient, type Outcome } from "../../src/fleet/Fleet.js"
import type { FleetNode } from "../../src/fleet/FleetFile.js"
import { roll, type RollStep } from "../../src/fleet/Roll.js"
import { idleStatus } from "../api/support.js"

const node = (name: string): FleetNode => ({
  name,
  url: `http://${name}:8590`,
  token: Option.some("t"),
  tokenSource: "WEMIXVISOR_API_TOKEN"
})
const NODES = ["node-a", "node-b", "node-c"].map(node)

const upgrade = (name: string, height: number, status: UpgradeStatus, reason: string | null = null) =>
  new Upgrade({
    name: name as Upgrade["name"],
    height: height as Upgrade["height"],
    status,
    info: "",
    binaries: {},
    checksums: {},
    reason,
    created_at: "2026-12-06T00:00:00.000Z",
    updated_at: "2026-12-06T00:00:00.000Z"
  })

const pending = (
  name: string,
  height: number,
  status: UpgradeStatus,
  o: { reason?: string; etaSeconds?: number } = {}
): UpgradeWithEta => ({
  ...upgrade(name, height, status, o.reason ?? null),
  eta: o.etaSeconds !== undefined ? "2026-12-07T02:14:00Z" : null,
  eta_seconds: o.etaSeconds ?? null
})

const status = (s: Partial<StatusObject>): StatusObject => ({
  ...idleStatus,
  current_height: 1_000 as StatusObject["current_height"],
  ...s
})

const unused = Effect.dieMessage("not called")
const client = (c: Partial<NodeClient>): NodeClient => ({
  status: unused,
  list: unused,
  schedule: () => unused,
  cancel: () => unused,
  prepare: () => unused,
  check: () => unused,
  ...c
})

const unreachable = (n: FleetNode) =>
  Object.assign(new Error(`wemixvisor API ${n.url} unreachable: ECONNREFUSED`), { _tag: "ApiUnreachable" })

describe("fan-out", () => {
  it.effect("at most `concurrency` nodes at once, every node called once, results in the fleet's order", () =>
    Effect.gen(function*() {
      const nodes = ["n1", "n2", "n3", "n4", "n5"].map(node)
      const inFlight = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const called = yield* Ref.make<ReadonlyArray<string>>([])
      const slow = (n: FleetNode) =>
        Effect.gen(function*() {
          const now = yield* Ref.updateAndGet(inFlight, (x) => x + 1)
          yield* Ref.update(peak, (p) => Math.max(p, now))
          yield* Ref.update(called, (c) => [...c, n.name])
          // The later nodes answer sooner: the results keep the fleet's order all the same.
          yield* Effect.sleep(Duration.seconds(10 - Number(n.name.slice(1))))
          yield* Ref.update(inFlight, (x) => x - 1)
          return n.name.toUpperCase()
        })
      const fiber = yield* Effect.fork(fanOut(nodes, slow, { concurrency: 2, timeout: Duration.minutes(1) }))
      yield* TestClock.adjust(Duration.minutes(1))
      const out = yield* Fiber.join(fiber)
      expect(yield* Ref.get(peak)).toBe(2)
      expect([...(yield* Ref.get(called))].sort()).toEqual(["n1", "n2", "n3", "n4", "n5"])
      expect(out.map((o) => [o.node.name, Either.getOrNull(o.result)])).toEqual([
        ["n1", "N1"],
        ["n2", "N2"],
        ["n3", "N3"],
        ["n4", "N4"],
        ["n5", "N5"]
      ])
    }))

  it.effect("a node that does not answer within the timeout is its own NoAnswer; the others are not held up", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        fanOut(NODES, (n) => (n.name === "node-b" ? Effect.never : Effect.as(Effect.sleep("1 second"), "ok")), {
          concurrency: 4,
          timeout: Duration.seconds(30)
        })
      )
      yield* TestClock.adjust(Duration.seconds(29))
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust(Duration.seconds(1))
      const out = yield* Fiber.join(fiber)
      expect(out.map((o) => Either.isRight(o.result))).toEqual([true, false, true])
      const e = Either.getLeft(out[1]!.result).pipe(Option.getOrThrow)
      expect(isUnreachable(e)).toBe(true)
      expect(e.message).toBe("wemixvisor API http://node-b:8590 unreachable: no answer within 30s")
      expect(exitCodeOf(e)).toBe(1)
      const f = failures("fleet schedule v2", out)!
      expect(f.message).toBe("fleet schedule v2 failed on 1 of 3 nodes (node-b)")
      expect(exitCodeOf(f)).toBe(1)
    }))

  it.effect("fleet schedule: bad input is refused before any node is called (exit 2); a line per node, exit 1 when one failed", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make<ReadonlyArray<string>>([])
      const clients: Clients = (n) =>
        client({
          schedule: (req) =>
            Effect.zipRight(
              Ref.update(calls, (c) => [...c, `${n.name} ${req.name}@${req.height}`]),
              n.name === "node-b:8590"
                ? Effect.fail(
                  new UpgradeConflict({ name: req.name, problem: "height 5 is at or below the chain head 9" })
                )
                : Effect.succeed(upgrade(req.name, req.height, "scheduled"))
            )
        })
      const base = {
        fleet: Option.none(),
        remote: Option.some("http://node-a:8590,http://node-b:8590,http://node-c:8590"),
        concurrency: Option.none(),
        timeout: Option.none(),
        binaries: Option.none(),
        url: Option.none(),
        checksum: Option.none(),
        checksums: Option.none(),
        info: Option.none(),
        onFailure: Option.none(),
        force: false
      }
      const bad = [
        { ...base, name: "../x", height: "5" },
        { ...base, name: "v2", height: "5x" },
        { ...base, name: "v2", height: "5", checksum: Option.some("sha256:00") },
        { ...base, name: "v2", height: "5", onFailure: Option.some("retry") },
        { ...base, name: "v2", height: "5", concurrency: Option.some(0) },
        { ...base, name: "v2", height: "5", timeout: Option.some("5") },
        { ...base, name: "v2", height: "5", remote: Option.some("http://a:1,,") }
      ]
      for (const o of bad) {
        const r = yield* Effect.either(Cli.schedule(o, clients))
        expect(Either.isLeft(r) && exitCodeOf(r.left), JSON.stringify(o)).toBe(2)
      }
      expect(yield* Ref.get(calls)).toEqual([])
      const r = yield* Effect.either(Cli.schedule({ ...base, name: "v2", height: "5" }, clients))
      expect(Either.isLeft(r) && r.left.message).toBe("fleet schedule v2 failed on 1 of 3 nodes (node-b:8590)")
      expect(Either.isLeft(r) && exitCodeOf(r.left)).toBe(1)
      expect([...(yield* Ref.get(calls))].sort()).toEqual(["node-a:8590 v2@5", "node-b:8590 v2@5", "node-c:8590 v2@5"])
    }))

  it.effect("the default per-node timeouts: 10s for status, 30s for cancel, 30m for prepare (it downloads)", () =>
    Effect.gen(function*() {
      const slow = <A>(a: A, d: Duration.Duration) => Effect.as(Effect.sleep(d), a)
      const clients: Clients = () =>
        client({
          status: slow(status({}), Duration.seconds(11)),
          cancel: () => slow(upgrade("v2", 1500, "cancelled"), Duration.seconds(31)),
          prepare: () => slow(upgrade("v2", 1500, "ready"), Duration.minutes(20))
        })
      const base = {
        fleet: Option.none(),
        remote: Option.some("http://a:1,http://b:1"),
        concurrency: Option.none(),
        timeout: Option.none()
      }
      const run = <A, E>(e: Effect.Effect<A, E>) =>
        Effect.gen(function*() {
          const f = yield* Effect.fork(Effect.either(e))
          yield* TestClock.adjust(Duration.hours(1))
          return yield* Fiber.join(f)
        })
      const st = yield* run(Cli.status({ ...base, json: false }, clients))
      expect(Either.isLeft(st) && st.left.message).toBe("fleet not green: 2 of 2 not answering (a:1, b:1)")
      const ca = yield* run(Cli.cancel({ ...base, name: Option.some("v2") }, clients))
      expect(Either.isLeft(ca) && ca.left.message).toBe("fleet cancel v2 failed on 2 of 2 nodes (a:1, b:1)")
      expect(Either.isRight(yield* run(Cli.prepare({ ...base, name: "v2" }, clients)))).toBe(true)
      // --timeout overrides it.
      const short = yield* run(Cli.prepare({ ...base, name: "v2", timeout: Option.some("5m") }, clients))
      expect(Either.isLeft(short) && short.left.message).toBe("fleet prepare v2 failed on 2 of 2 nodes (a:1, b:1)")
    }))

  it("the result lines: the node, then ✓ and what was done, or ✗ and the error", () => {
    const out: ReadonlyArray<Outcome<Upgrade>> = [
      { node: node("a"), result: Either.right(upgrade("v2", 1500, "scheduled")) },
      { node: node("node-b"), result: Either.left(new PrepareFailed({ name: "v2", reason: "checksum mismatch" })) }
    ]
    expect(Cli.resultLines(out, (u) => `✓ ${u.name} at ${u.height}`)).toBe(
      "a       ✓ v2 at 1500\nnode-b  ✗ upgrade 'v2' is not ready: checksum mismatch"
    )
  })
})

describe("the readiness board", () => {
  const rows = (...rs: ReadonlyArray<Either.Either<StatusObject, Error>>): ReadonlyArray<Outcome<StatusObject>> =>
    rs.map((result, i) => ({ node: NODES[i]!, result }))

  it("all ready: 3/3 with the soonest ETA; the board is green (exit 0)", () => {
    const ready = (eta: number) =>
      Either.right(status({ pending: [pending("v2", 1500000, "ready", { etaSeconds: eta })] }))
    const r = rows(ready(8100), ready(8040), ready(8200))
    expect(summarize(r).map(Cli.summaryLine)).toEqual(["3/3 ready for v2 at 1500000 — in 2h14m (02:14 UTC)"])
    expect(boardVerdict(r)).toBeUndefined()
    expect(Cli.statusText(r)).toContain("node-a  1000  running     genesis  v2 at 1500000: ready, in 2h15m (02:14 UTC)")
  })

  it("who is not ready and why: a preparation's reason, not answering; exit 1", () => {
    const r = rows(
      Either.right(status({ pending: [pending("v2", 1500000, "ready", { etaSeconds: 60 })] })),
      Either.right(status({ pending: [pending("v2", 1500000, "scheduled", { reason: "checksum mismatch" })] })),
      Either.left(unreachable(NODES[2]!))
    )
    expect(summarize(r).map(Cli.summaryLine)).toEqual([
      "1/3 ready for v2 at 1500000 — node-b: checksum mismatch; node-c: unreachable"
    ])
    const v = boardVerdict(r)!
    expect(v.message).toBe("fleet not green: 1 of 3 not answering (node-c); not ready everywhere: v2")
    expect(exitCodeOf(v)).toBe(1)
    const text = Cli.statusText(r)
    expect(text).toMatch(
      /^node-c  -     -           -        UNREACHABLE: wemixvisor API http:\/\/node-c:8590 unreachable: ECONNREFUSED$/m
    )
  })

  it("not scheduled, another height, not prepared, done already; two upgrades, a line each", () => {
    const r = rows(
      Either.right(status({ pending: [pending("v2", 1500, "ready"), pending("v3", 2000, "scheduled")] })),
      Either.right(status({ pending: [pending("v2", 1510, "ready")] })),
      Either.right(status({ current: "v2" as StatusObject["current"], pending: [pending("v3", 2000, "ready")] }))
    )
    expect(summarize(r).map(Cli.summaryLine)).toEqual([
      "2/3 ready for v2 at 1500 (node-c already on it) — node-b: scheduled at 1510, not 1500",
      "1/3 ready for v3 at 2000 — node-a: not prepared yet; node-b: not scheduled"
    ])
  })

  it("every node answered and every upgrade ready, but a node crashed or paused: attention, exit 1", () => {
    const r = rows(
      Either.right(status({ node_state: "crashed" })),
      Either.right(status({ upgrades_paused: { by: "cli", since: "2026-12-06T00:00:00Z", reason: "fork night" } })),
      Either.right(status({}))
    )
    const text = Cli.statusText(r)
    expect(text).toContain("No upgrade pending on any node")
    expect(text).toContain("! node-a: node is crashed")
    expect(text).toContain("! node-b: upgrades PAUSED by cli (fork night)")
    expect(boardVerdict(r)?.message).toBe("fleet not green: needs attention: node-a, node-b")
  })

  it.effect("--check: each node's upgrade check of each upgrade pending there; a NO GO or an unanswered check is not green", () =>
    Effect.gen(function*() {
      const preflight = (name: string, go: boolean): PreflightResult => ({
        name: name as PreflightResult["name"],
        height: 1500 as PreflightResult["height"],
        go,
        findings: [
          { check: "binary", level: "ok", message: "binary in place" },
          ...(go ? [] : [{ check: "DAEMON_PRE_UPGRADE", level: "problem" as const, message: "hook not executable" }])
        ],
        eta: null,
        eta_seconds: null,
        on_failure: "rollback to genesis"
      })
      const r = rows(
        Either.right(status({ pending: [pending("v2", 1500, "ready")] })),
        Either.right(status({ pending: [pending("v2", 1500, "ready")] })),
        Either.right(status({ pending: [pending("v2", 1500, "ready")] }))
      )
      const asked: Array<string> = []
      const clients = (n: FleetNode) =>
        client({
          check: (name) =>
            Effect.sync(() => asked.push(`${n.name} ${name}`)).pipe(
              Effect.zipRight(
                n.name === "node-c" ? Effect.fail(unreachable(n)) : Effect.succeed(preflight(name, n.name === "node-a"))
              )
            )
        })
      const checks = yield* preflights(r, clients, { concurrency: 2, timeout: Duration.seconds(10) })
      expect(asked.sort()).toEqual(["node-a v2", "node-b v2", "node-c v2"])
      expect(boardVerdict(r)).toBeUndefined()
      expect(boardVerdict(r, checks)?.message).toBe("fleet not green: NO GO (or not checked): node-b v2, node-c v2")
      const text = Cli.statusText(r, checks)
      expect(text).toContain("node-a  v2: go: v2 at 1500 would go through now")
      expect(text).toContain("node-b  v2: NO GO: 1 problem — hook not executable")
      expect(text).toMatch(/node-c {2}v2: not checked: wemixvisor API http:\/\/node-c:8590 unreachable/)
      const j = JSON.parse(Cli.statusJson(r, checks))
      expect(j.green).toBe(false)
      expect(j.checks.map((c: { node: string; ok: boolean }) => [c.node, c.ok])).toEqual([
        ["node-a", true],
        ["node-b", true],
        ["node-c", false]
      ])
      expect(j.checks[1].check.go).toBe(false)
      // Without --check, no checks key and nothing asked.
      expect(JSON.parse(Cli.statusJson(r)).checks).toBeUndefined()
    }))

  it("--json: nodes, upgrades with their lines, attention, green", () => {
    const r = rows(
      Either.right(status({ pending: [pending("v2", 1500, "ready")] })),
      Either.right(status({ pending: [pending("v2", 1500, "ready")] })),
      Either.left(unreachable(NODES[2]!))
    )
    const j = JSON.parse(Cli.statusJson(r))
    expect(j.nodes.map((n: { name: string; ok: boolean }) => [n.name, n.ok])).toEqual([
      ["node-a", true],
      ["node-b", true],
      ["node-c", false]
    ])
    expect(j.nodes[2]).toMatchObject({ unreachable: true, error: expect.stringContaining("ECONNREFUSED") })
    expect(j.nodes[0].status.current_height).toBe(1000)
    expect(j.upgrades).toEqual([
      expect.objectContaining({
        name: "v2",
        height: 1500,
        ready: 2,
        total: 3,
        line: "2/3 ready for v2 at 1500 — node-c: unreachable"
      })
    ])
    expect(j.green).toBe(false)
  })
})

// ---------------------------------------------------------------------------
// The roll, over simulated supervisors: an upgrade scheduled on one ends
// `done` (or `failed`, rolled back) after a few looks at its list.

interface SimNode {
  readonly node: FleetNode
  readonly client: NodeClient
  readonly calls: Ref.Ref<ReadonlyArray<string>>
}

const simulate = (
  n: FleetNode,
  o: {
    readonly end?: "done" | "failed" | "never"
    readonly head?: number
    readonly current?: string
    readonly down?: boolean
  } = {}
) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make<ReadonlyArray<string>>([])
    const plan = yield* Ref.make<ReadonlyArray<Upgrade>>([])
    const current = yield* Ref.make(o.current ?? "genesis")
    const looks = yield* Ref.make(0)
    const log = (c: string) => Ref.update(calls, (cs) => [...cs, c])
    const down = <A>(f: Effect.Effect<A, Error>) => (o.down === true ? Effect.fail(unreachable(n)) : f)
    const c: NodeClient = {
      status: down(Effect.gen(function*() {
        yield* log("status")
        return status({
          current: (yield* Ref.get(current)) as StatusObject["current"],
          current_height: (o.head ?? 1000) as StatusObject["current_height"],
          version: "gwemix 1.0"
        })
      })),
      list: down(Effect.gen(function*() {
        yield* log("list")
        const k = yield* Ref.updateAndGet(looks, (x) => x + 1)
        const end = o.end ?? "done"
        if (k >= 3 && end !== "never") {
          const p = yield* Ref.get(plan)
          yield* Ref.set(
            plan,
            p.map((u) => (u.status === "scheduled"
              ? upgrade(
                u.name,
                u.height,
                end,
                end === "failed" ? "verify failed: exited with code 3; rolled back" : null
              )
              : u)
            )
          )
          if (end === "done") yield* Ref.set(current, p[0]?.name ?? "genesis")
        }
        return yield* Ref.get(plan)
      })),
      schedule: (req) =>
        down(Effect.gen(function*() {
          yield* log(`schedule ${req.name}@${req.height}`)
          const u = upgrade(req.name, req.height, "scheduled")
          yield* Ref.update(plan, (p) => [...p, u])
          yield* Ref.set(looks, 0)
          return u
        })),
      cancel: () => unused,
      prepare: () => unused,
      check: () => unused
    }
    return { node: n, client: c, calls } satisfies SimNode
  })

const rollOptions = {
  name: "v2",
  heightOffset: 10,
  request: {},
  timeout: Duration.seconds(30),
  rollTimeout: Duration.minutes(5),
  pollInterval: Duration.seconds(1),
  concurrency: 4
}

const runRoll = (sims: ReadonlyArray<SimNode>, o: Partial<typeof rollOptions> = {}) =>
  Effect.gen(function*() {
    const byName = new Map(sims.map((s) => [s.node.name, s.client]))
    const told = yield* Ref.make<ReadonlyArray<string>>([])
    const fiber = yield* Effect.fork(
      roll(sims.map((s) => s.node), (n) => byName.get(n.name)!, {
        ...rollOptions,
        ...o,
        report: {
          waiting: (n, h) => Ref.update(told, (t) => [...t, `waiting ${n.name}@${h}`]),
          step: (s) => Ref.update(told, (t) => [...t, `${s.node.name} ${s.outcome}`])
        }
      })
    )
    yield* TestClock.adjust(Duration.hours(1))
    const steps = yield* Fiber.join(fiber)
    return { steps, told: yield* Ref.get(told) }
  })

const callsOf = (s: SimNode) => Ref.get(s.calls)

describe("fleet roll", () => {
  it.effect("one node at a time at head + offset, each done before the next is touched", () =>
    Effect.gen(function*() {
      const sims = [
        yield* simulate(NODES[0]!, { head: 1000 }),
        yield* simulate(NODES[1]!, { head: 1003 }),
        yield* simulate(NODES[2]!, { head: 1007 })
      ]
      const { steps, told } = yield* runRoll(sims)
      expect(steps.map((s) => s.outcome)).toEqual(["done", "done", "done"])
      expect(steps.map((s) => (s.outcome === "done" ? [s.height, s.current] : null))).toEqual([
        [1010, "v2"],
        [1013, "v2"],
        [1017, "v2"]
      ])
      // The next node is scheduled only after the one before reported done.
      expect(told).toEqual([
        "waiting node-a@1010",
        "node-a done",
        "waiting node-b@1013",
        "node-b done",
        "waiting node-c@1017",
        "node-c done"
      ])
      expect(Cli.rollLine("v2", steps[0]!)).toBe(
        "node-a  ✓ v2 done at block height 1010 (scheduled at head 1000 + 10); now on v2 (gwemix 1.0)"
      )
    }))

  it.effect("stops at the first failure: node 1 done, node 2 failed and rolled back, node 3 never called", () =>
    Effect.gen(function*() {
      const sims = [
        yield* simulate(NODES[0]!),
        yield* simulate(NODES[1]!, { end: "failed" }),
        yield* simulate(NODES[2]!)
      ]
      const { steps } = yield* runRoll(sims)
      expect(steps.map((s) => s.outcome)).toEqual(["done", "failed", "untouched"])
      const failed = steps[1] as Extract<RollStep, { outcome: "failed" }>
      expect(failed.reason).toMatch(/verify failed: exited with code 3; rolled back/)
      expect(failed.current).toBe("genesis")
      // Node 3: only the pre-flight look at its status, no schedule.
      expect(yield* callsOf(sims[2]!)).toEqual(["status"])
      expect(steps.map((s) => Cli.rollLine("v2", s, 6))).toEqual([
        "node-a  ✓ v2 done at block height 1010 (scheduled at head 1000 + 10); now on v2 (gwemix 1.0)",
        "node-b  ✗ v2 failed at block height 1010: verify failed: exited with code 3; rolled back; now on genesis (node running)",
        "node-c  - not touched"
      ])
    }))

  it.effect("a node that never ends within --roll-timeout stops the roll, and says it may still fire", () =>
    Effect.gen(function*() {
      const sims = [yield* simulate(NODES[0]!, { end: "never" }), yield* simulate(NODES[1]!)]
      const { steps } = yield* runRoll(sims, { rollTimeout: Duration.minutes(2) })
      expect(steps.map((s) => s.outcome)).toEqual(["timeout", "untouched"])
      const t = steps[0] as Extract<RollStep, { outcome: "timeout" }>
      expect(t.lastSeen).toBe("scheduled")
      // Looked at about once a second for two minutes: a schedule, not a busy loop.
      const looks = (yield* callsOf(sims[0]!)).filter((c) => c === "list").length
      expect(looks).toBeGreaterThanOrEqual(100)
      expect(looks).toBeLessThanOrEqual(125)
      expect(Cli.rollLine("v2", t)).toMatch(
        /not done within 2m \(last seen: scheduled\) — it is still in that node's plan and may still fire/
      )
      expect(yield* callsOf(sims[1]!)).toEqual(["status"])
    }))

  it.effect("interrupted (Ctrl-C) while waiting: it says the upgrade is still scheduled on that node", () =>
    Effect.gen(function*() {
      const sim = yield* simulate(NODES[0]!, { end: "never" })
      const told = yield* Ref.make<ReadonlyArray<string>>([])
      const fiber = yield* Effect.fork(
        roll([sim.node], () => sim.client, {
          ...rollOptions,
          report: {
            waiting: () => Effect.void,
            step: () => Effect.void,
            interrupted: (n, h) => Ref.update(told, (t) => [...t, `interrupted ${n.name}@${h}`])
          }
        })
      )
      yield* TestClock.adjust(Duration.seconds(5))
      yield* Fiber.interrupt(fiber)
      expect(yield* Ref.get(told)).toEqual(["interrupted node-a@1010"])
    }))

  it.effect("a node down before the start: nothing is scheduled anywhere", () =>
    Effect.gen(function*() {
      const sims = [yield* simulate(NODES[0]!), yield* simulate(NODES[1]!), yield* simulate(NODES[2]!, { down: true })]
      const { steps } = yield* runRoll(sims)
      expect(steps.map((s) => s.outcome)).toEqual(["untouched", "untouched", "error"])
      expect(Cli.rollLine("v2", steps[2]!)).toMatch(/did not answer: .*ECONNREFUSED; the roll was not started/)
      for (const s of sims) expect((yield* callsOf(s)).filter((c) => c.startsWith("schedule"))).toEqual([])
    }))

  it.effect("a node already on the upgrade is skipped (a roll can be run again after a fix)", () =>
    Effect.gen(function*() {
      const sims = [yield* simulate(NODES[0]!, { current: "v2" }), yield* simulate(NODES[1]!)]
      const { steps } = yield* runRoll(sims)
      expect(steps.map((s) => s.outcome)).toEqual(["skipped", "done"])
      expect((yield* callsOf(sims[0]!)).filter((c) => c.startsWith("schedule"))).toEqual([])
    }))

  it.effect("the CLI: a bad --height-offset is exit 2 with nothing sent; a stopped roll is exit 1 naming the untouched", () =>
    Effect.gen(function*() {
      const sims = [
        yield* simulate(node("a:1")),
        yield* simulate(node("b:1"), { end: "failed" }),
        yield* simulate(node("c:1"))
      ]
      const byName = new Map(sims.map((s) => [s.node.name, s.client]))
      const clients: Clients = (n) => byName.get(n.name)!
      const base = {
        fleet: Option.none(),
        remote: Option.some("http://a:1,http://b:1,http://c:1"),
        concurrency: Option.none(),
        timeout: Option.none(),
        binaries: Option.none(),
        url: Option.none(),
        checksum: Option.none(),
        checksums: Option.none(),
        info: Option.none(),
        onFailure: Option.none(),
        name: "v2",
        heightOffset: Option.none(),
        rollTimeout: Option.none()
      }
      const bad = yield* Effect.either(Cli.roll({ ...base, heightOffset: Option.some(0) }, clients))
      expect(Either.isLeft(bad) && exitCodeOf(bad.left)).toBe(2)
      for (const s of sims) expect(yield* callsOf(s)).toEqual([])
      const fiber = yield* Effect.fork(Effect.either(Cli.roll(base, clients)))
      yield* TestClock.adjust(Duration.hours(1))
      const r = yield* Fiber.join(fiber)
      expect(Either.isLeft(r) && r.left.message).toBe("fleet roll of v2 stopped at b:1: done on a:1; not touched: c:1")
      expect(Either.isLeft(r) && exitCodeOf(r.left)).toBe(1)
    }))
})
