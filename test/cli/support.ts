/*
 * The CLI run in this process, as bin.ts runs it: `cli(argv)` with the same
 * platform layers, its Exit fed to the real `teardown` (exit.ts) for the exit
 * code. stdout is what the command prints through Console.log; stderr is what
 * it prints through Console.error (logs, @effect/cli's usage errors) plus the
 * `error: …` line teardown writes to process.stderr. Configuration comes from
 * process.env, as in the binary: `runCli` sets it for the call and
 * `restoreEnv` (afterEach) puts the original back.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { afterAll, afterEach, beforeAll } from "@effect/vitest"
import { Console, Effect, type Exit, Fiber, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as util from "node:util"
import { cli } from "../../src/cli/commands.js"
import { teardown } from "../../src/cli/exit.js"
import * as Runner from "../../src/Runner.js"
import {
  type Anvil,
  blockNumber,
  cleanup,
  freePort,
  startAnvil,
  tempDir,
  waitFor,
  writeScript
} from "../support/fixtures.js"

const CliEnvironment = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer, Runner.layer)

export type Env = Readonly<Record<string, string>>

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

// ---------------------------------------------------------------------------
// Environment

const original = { ...process.env }

/** The variables wemixvisor reads: none may leak in from the machine running the tests. */
const ours = (key: string) => key.startsWith("DAEMON_") || key.startsWith("WEMIXVISOR_")

/** process.env as the binary would see it with `env` exported (and nothing else of ours). */
export const setEnv = (env: Env) => {
  for (const key of Object.keys(process.env)) if (ours(key)) delete process.env[key]
  // JSON logs unless a test asks for pretty ones: the default depends on whether stderr is a TTY.
  Object.assign(process.env, { WEMIXVISOR_LOG_FORMAT: "json" }, env)
}

export const restoreEnv = () => {
  for (const key of Object.keys(process.env)) if (!(key in original)) delete process.env[key]
  Object.assign(process.env, original)
}

// ---------------------------------------------------------------------------
// Running the CLI

const show = (args: ReadonlyArray<unknown>) => args.map((a) => (typeof a === "string" ? a : util.inspect(a))).join(" ")

/** A Console whose log/info go to `out` and whose error/warn/debug go to `err`, one entry per call. */
export const collectingConsole = (out: Array<string>, err: Array<string>): Console.Console => {
  const toOut = (...args: ReadonlyArray<unknown>) => void out.push(show(args))
  const toErr = (...args: ReadonlyArray<unknown>) => void err.push(show(args))
  const ignore = () => {}
  const unsafe: Console.UnsafeConsole = {
    assert: ignore,
    clear: ignore,
    count: ignore,
    countReset: ignore,
    debug: toErr,
    dir: toOut,
    dirxml: toOut,
    error: toErr,
    group: ignore,
    groupCollapsed: ignore,
    groupEnd: ignore,
    info: toOut,
    log: toOut,
    table: toOut,
    time: ignore,
    timeEnd: ignore,
    timeLog: ignore,
    trace: toErr,
    warn: toErr
  }
  const lift = (f: (...args: ReadonlyArray<unknown>) => void) => (...args: ReadonlyArray<unknown>) =>
    Effect.sync(() => f(...args))
  return {
    [Console.TypeId]: Console.TypeId,
    assert: lift(ignore),
    clear: Effect.void,
    count: lift(ignore),
    countReset: lift(ignore),
    debug: lift(toErr),
    dir: lift(toOut),
    dirxml: lift(toOut),
    error: lift(toErr),
    group: lift(ignore),
    groupEnd: Effect.void,
    info: lift(toOut),
    log: lift(toOut),
    table: lift(toOut),
    time: lift(ignore),
    timeEnd: lift(ignore),
    timeLog: lift(ignore),
    trace: lift(toErr),
    warn: lift(toErr),
    unsafe
  }
}

/** Calls `teardown` as runMain would, with process.stderr captured for the call. */
export const exitOf = <E, A>(exit: Exit.Exit<A, E>): { readonly code: number; readonly stderr: string } => {
  let code = -1
  let stderr = ""
  const write = process.stderr.write
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8")
    return true
  }) as typeof process.stderr.write
  try {
    teardown(exit, (c) => {
      code = c
    })
  } finally {
    process.stderr.write = write
  }
  return { code, stderr }
}

const lines = (xs: ReadonlyArray<string>) => xs.map((l) => `${l}\n`).join("")

/** A CLI invocation running in a fiber: its output so far, and its result once it ends. */
export interface Started {
  readonly fiber: Fiber.RuntimeFiber<void, unknown>
  readonly stdout: () => string
  readonly stderr: () => string
  /** Waits for the command to end (or to be interrupted) and maps its Exit as bin.ts does. */
  readonly result: Effect.Effect<CliResult>
}

/** Starts `wemixvisor <args>` with `env` as the environment. */
export const startCli = (args: ReadonlyArray<string>, env: Env = {}): Effect.Effect<Started> =>
  Effect.gen(function*() {
    setEnv(env)
    const out: Array<string> = []
    const err: Array<string> = []
    const fiber = yield* cli(["node", "wemixvisor", ...args]).pipe(
      Effect.provide(CliEnvironment),
      Effect.withConsole(collectingConsole(out, err)),
      Effect.forkDaemon
    )
    const result = Effect.map(Fiber.await(fiber), (exit) => {
      const t = exitOf(exit)
      return { code: t.code, stdout: lines(out), stderr: lines(err) + t.stderr }
    })
    return { fiber, stdout: () => lines(out), stderr: () => lines(err), result }
  })

/** Runs `wemixvisor <args>` to completion. */
export const runCli = (args: ReadonlyArray<string>, env: Env = {}): Effect.Effect<CliResult> =>
  Effect.flatMap(startCli(args, env), (s) => s.result)

// ---------------------------------------------------------------------------
// Homes

/** A fake node binary: answers `version` like gwemix, otherwise sleeps (exec, so a signal reaches it). */
export const fakeNode = (file: string, version: string): string =>
  writeScript(file, `case "$1" in version|--version) echo "gwemix ${version}"; exit 0 ;; esac\nexec sleep 1000\n`)

export interface Home {
  readonly home: string
  readonly root: string
  readonly planFile: string
  readonly env: Env
  /** A binary file outside the home (a fake node reporting `version`). */
  readonly binary: (version: string) => string
  readonly planText: () => string | undefined
  readonly plan: () => { readonly upgrades: ReadonlyArray<Record<string, unknown>> }
  readonly upgradeDirs: () => ReadonlyArray<string>
}

const homes: Array<string> = []

/** A fresh temp home (not initialised), with `env` over DAEMON_HOME/DAEMON_NAME. Removed by `removeHomes`. */
export const makeHome = (env: Env = {}): Home => {
  const home = tempDir("wemixvisor-cli-")
  homes.push(home)
  const root = path.join(home, "wemixvisor")
  const planFile = path.join(root, "upgrade-plan.json")
  const planText = () => (fs.existsSync(planFile) ? fs.readFileSync(planFile, "utf8") : undefined)
  return {
    home,
    root,
    planFile,
    env: { DAEMON_HOME: home, DAEMON_NAME: "gwemix", ...env },
    binary: (version) => fakeNode(path.join(home, "bins", `gwemix-${version}`), version),
    planText,
    plan: () => JSON.parse(planText() ?? "{\"upgrades\":[]}") as { upgrades: Array<Record<string, unknown>> },
    upgradeDirs:
      () => (fs.existsSync(path.join(root, "upgrades")) ? fs.readdirSync(path.join(root, "upgrades")).sort() : [])
  }
}

export const removeHomes = () => {
  for (const h of homes.splice(0)) cleanup(h)
}

/** A home initialised (through the CLI) with a fake genesis binary "v1". */
export const initHome = (env: Env = {}) =>
  Effect.gen(function*() {
    const h = makeHome(env)
    const r = yield* runCli(["init", h.binary("v1")], h.env)
    if (r.code !== 0) return yield* Effect.dieMessage(`init exited ${r.code}: ${r.stderr}`)
    return h
  })

/** A plan row as the plan file stores it. */
export const planRow = (name: string, height: number, status: string, extra: Record<string, unknown> = {}) => {
  const at = "2026-01-01T00:00:00.000Z"
  return {
    name,
    height,
    status,
    info: "",
    binaries: {},
    checksums: {},
    reason: null,
    created_at: at,
    updated_at: at,
    ...extra
  }
}

export const writePlan = (h: Home, rows: ReadonlyArray<Record<string, unknown>>) =>
  fs.writeFileSync(h.planFile, JSON.stringify({ version: 1, upgrades: rows }, null, 2) + "\n")

/** Stdout parsed as JSON. */
export const json = (r: CliResult): unknown => JSON.parse(r.stdout)

export interface LogLine {
  readonly message: string
  readonly logLevel: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** The JSON log lines on stderr (WEMIXVISOR_LOG_FORMAT=json). */
export const logsOf = (r: Pick<CliResult, "stderr">): ReadonlyArray<LogLine> =>
  r.stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as LogLine)

/** stderr without the log lines: what teardown (or @effect/cli) printed. */
export const errorText = (r: Pick<CliResult, "stderr">): string =>
  r.stderr
    .split("\n")
    .filter((l) => !l.startsWith("{"))
    .join("\n")

// ---------------------------------------------------------------------------
// A real node for a test file

/**
 * One anvil for the calling test file (started before its tests, a few blocks
 * mined, stopped after), plus the per-test reset of the environment and the
 * homes. `url()` is its RPC URL once started.
 */
export const useAnvil = (): { readonly port: () => number; readonly url: () => string } => {
  let anvil: Anvil | undefined
  const dir = tempDir("wemixvisor-cli-anvil-")
  beforeAll(async () => {
    const started = await startAnvil({ port: await freePort(), dataDir: dir })
    anvil = started
    await waitFor("a few blocks", async () => ((await blockNumber(started.port)) ?? 0) >= 3)
  })
  afterAll(async () => {
    await anvil?.stop()
    cleanup(dir)
  })
  afterEach(() => {
    restoreEnv()
    removeHomes()
  })
  const port = () => {
    if (anvil === undefined) throw new Error("useAnvil: the node is not started yet (ask inside a test)")
    return anvil.port
  }
  return { port, url: () => `http://127.0.0.1:${port()}` }
}
