/*
 * The package as a user gets it (issue #18, "Package"): `npm pack` of the
 * already-built dist/ into a tarball, `npm install -g <tarball>` into a fresh
 * prefix, then the installed `<prefix>/bin/wemixvisor` (through its
 * `#!/usr/bin/env node` line, as a shell runs it) and, from a separate
 * project with the installed package in its node_modules, `wemixvisor/api`
 * type-checked by the repo's TypeScript and imported by node. test/api/package.test.ts simulates an install by copying
 * dist/; this one goes through npm itself.
 *
 * npm runs with --prefer-offline: the cache `npm ci` filled serves every
 * dependency, so nothing is downloaded in the usual case. Every step waits
 * for its process to exit; the timeouts are only upper bounds.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { cleanup, repoRoot, tempDir, writeScript } from "./support/fixtures.js"
import { attachOutput } from "./support/output.js"

const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
  readonly name: string
  readonly version: string
}

interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * The environment of every child: no npm_* variables of an outer `npm test`
 * (npm_config_* would reach the inner npm as its configuration), and the Node
 * running this test first on PATH, so the installed bin's `env node` is it.
 */
const childEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.toLowerCase().startsWith("npm_")) env[k] = v
  }
  env.PATH = [path.dirname(process.execPath), process.env.PATH ?? ""].join(path.delimiter)
  env.npm_config_update_notifier = "false"
  return { ...env, ...extra }
}

/** Runs a command to its exit (and the end of its output); SIGKILL after `timeoutMs`. */
const exec = (
  cmd: string,
  args: ReadonlyArray<string>,
  opts: { readonly cwd?: string; readonly env?: Record<string, string>; readonly timeoutMs?: number } = {}
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {
      cwd: opts.cwd ?? repoRoot,
      env: childEnv(opts.env),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    attachOutput(`${cmd} ${args.join(" ")}`, () => `stdout:\n${stdout}\nstderr:\n${stderr}`)
    p.stdout.on("data", (c) => (stdout += String(c)))
    p.stderr.on("data", (c) => (stderr += String(c)))
    const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 60_000)
    p.on("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    p.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })

const ok = (what: string, r: Result): Result => {
  if (r.code !== 0) {
    throw new Error(`${what} exited ${r.code ?? r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
  }
  return r
}

const npmFlags = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"]

const root = tempDir("wemixvisor-package-")
const packDir = path.join(root, "pack")
const prefix = path.join(root, "prefix")
const project = path.join(root, "project")
const bin = path.join(prefix, "bin", "wemixvisor")
let tarball = ""
let entries: Array<string> = []

beforeAll(async () => {
  expect(fs.existsSync(path.join(repoRoot, "dist", "bin.js")), "run `npm run build` first").toBe(true)
  // A snapshot of the checkout (without node_modules and .git) to pack from:
  // others rebuild dist/ (a swap of the folder) while the suite runs, and npm
  // lists a tree before it reads it. Everything else is there, so "files"
  // in package.json is what keeps src/, test/ … out of the tarball.
  const stage = path.join(root, "stage")
  fs.mkdirSync(stage)
  for (const entry of fs.readdirSync(repoRoot)) {
    if (entry === "node_modules" || entry === ".git" || /^dist\..+\.(tmp|old)$/.test(entry)) continue
    fs.cpSync(path.join(repoRoot, entry), path.join(stage, entry), { recursive: true, verbatimSymlinks: true })
  }
  fs.mkdirSync(packDir)
  // --ignore-scripts: no prepack, so no rebuild of dist/ here.
  const packed = ok(
    "npm pack",
    await exec("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", packDir, ...npmFlags], {
      cwd: stage
    })
  )
  const [info] = JSON.parse(packed.stdout) as Array<{ readonly filename: string }>
  tarball = path.join(packDir, info!.filename)
  entries = ok("tar tzf", await exec("tar", ["tzf", tarball])).stdout.split("\n").filter((l) => l !== "")

  ok(
    "npm install -g",
    await exec("npm", ["install", "-g", tarball, "--prefix", prefix, ...npmFlags], { timeoutMs: 240_000 })
  )

  // A project that imports the package: its node_modules holds the installed
  // package (and effect, which check.ts imports too, as hoisting would give
  // it), linked from the global install rather than installed a second time.
  const installed = path.join(prefix, "lib", "node_modules", pkg.name)
  fs.mkdirSync(path.join(project, "node_modules"), { recursive: true })
  fs.symlinkSync(installed, path.join(project, "node_modules", pkg.name))
  fs.symlinkSync(path.join(installed, "node_modules", "effect"), path.join(project, "node_modules", "effect"))
  fs.writeFileSync(
    path.join(project, "package.json"),
    JSON.stringify({ name: "importer", version: "1.0.0", private: true, type: "module" }, null, 2) + "\n"
  )
}, 300_000)

// The install is some 23 000 files (200 MB): `rm -rf` in a child, awaited, keeps
// this worker's event loop free (a synchronous fs.rmSync took 2 minutes on a
// loaded machine, and vitest's worker RPC timed out meanwhile).
afterAll(async () => {
  await exec("rm", ["-rf", root], { timeoutMs: 170_000 })
  cleanup(root)
}, 180_000)

describe("the npm package", () => {
  it("the tarball holds dist/ and what npm always adds, nothing else", () => {
    expect(path.basename(tarball)).toBe(`${pkg.name}-${pkg.version}.tgz`)
    const files = entries.filter((e) => !e.endsWith("/")).map((e) => e.replace(/^package\//, ""))
    expect(entries.every((e) => e.startsWith("package/"))).toBe(true)
    const outside = files.filter((f) => !f.startsWith("dist/"))
    expect(outside.sort()).toEqual(
      ["package.json", "README.md", ...(fs.existsSync(path.join(repoRoot, "LICENSE")) ? ["LICENSE"] : [])].sort()
    )
    for (const dir of ["src", "test", "scripts", "contracts", "deploy", "docs", ".ci", "node_modules"]) {
      expect(files.filter((f) => f.startsWith(`${dir}/`)), dir).toEqual([])
    }
    expect(files.filter((f) => /(^|\/)(tsconfig[^/]*\.json|\.gitignore|eslint\.config\.mjs)$/.test(f))).toEqual([])
    // What the bin, the API entry and `run`'s dashboard need at run time.
    for (
      const f of [
        "dist/bin.js",
        "dist/api.js",
        "dist/types/api/index.d.ts",
        "dist/dashboard/index.html",
        "dist/dashboard/app.js",
        "dist/dashboard/app.css"
      ]
    ) {
      expect(files, f).toContain(f)
    }
    // Every module a shipped .js file imports by a relative path (bin.js its chunks, chunks each other) is shipped.
    const shipped = new Set(files)
    const missing: Array<string> = []
    let imports = 0
    for (const f of files.filter((f) => f.endsWith(".js") && !f.startsWith("dist/dashboard/"))) {
      const text = fs.readFileSync(path.join(prefix, "lib/node_modules", pkg.name, f), "utf8")
      for (const m of text.matchAll(/(?:\bfrom|\bimport\()\s*"(\.\.?\/[^"]+)"/g)) {
        imports++
        const target = path.posix.join(path.posix.dirname(f), m[1]!)
        if (!shipped.has(target)) missing.push(`${f} -> ${target}`)
      }
    }
    expect(imports).toBeGreaterThan(10)
    expect(missing).toEqual([])
  }, 30_000)

  it("npm install -g puts a working `wemixvisor` on <prefix>/bin: version", async () => {
    expect(fs.realpathSync(bin)).toBe(path.join(fs.realpathSync(prefix), "lib/node_modules", pkg.name, "dist/bin.js"))
    const v = ok("wemixvisor version", await exec(bin, ["version"]))
    expect(v.stdout).toBe(`wemixvisor ${pkg.version}\n`)
  }, 30_000)

  it("init a home with a genesis binary; upgrade list, schedule, list again", async () => {
    const home = path.join(root, "home")
    fs.mkdirSync(home)
    const genesis = writeScript(path.join(root, "bins", "gwemix"), "exec sleep 1000\n")
    const env = { DAEMON_HOME: home, DAEMON_NAME: "gwemix" }

    const init = ok("wemixvisor init", await exec(bin, ["init", genesis], { env }))
    expect(init.stdout).toContain("current -> genesis")
    expect(fs.readlinkSync(path.join(home, "wemixvisor", "current"))).toBe("genesis")
    expect(fs.readFileSync(path.join(home, "wemixvisor", "genesis", "bin", "gwemix"))).toEqual(
      fs.readFileSync(genesis)
    )

    expect(ok("upgrade list", await exec(bin, ["upgrade", "list"], { env })).stdout).toBe("No upgrades scheduled\n")
    // No node answers here: --force schedules without the head check.
    ok("upgrade schedule", await exec(bin, ["upgrade", "schedule", "v2", "1500000", "--force"], { env }))
    const list = ok("upgrade list", await exec(bin, ["upgrade", "list"], { env }))
    expect(list.stdout.split("\n")[0]).toMatch(/^NAME\s+HEIGHT\s+STATUS\s+ETA\s+INFO$/)
    expect(list.stdout).toMatch(/^v2\s+1500000\s+scheduled\s/m)
  }, 60_000)

  it("`wemixvisor/api` resolves, with its types, for a project with the package in its node_modules", async () => {
    expect(fs.existsSync(path.join(project, "node_modules", pkg.name, "package.json"))).toBe(true)
    fs.writeFileSync(
      path.join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          strict: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          // The package's .d.ts files are checked too, not only what check.ts uses of them.
          skipLibCheck: false,
          // A Node program's types (the repo's @types/node): msgpackr's .d.ts, which
          // @effect/rpc's declarations reach, names Buffer and "stream".
          typeRoots: [path.join(repoRoot, "node_modules/@types")],
          types: ["node"]
        },
        files: ["check.ts"]
      })
    )
    fs.writeFileSync(
      path.join(project, "check.ts"),
      `import * as Effect from "effect/Effect"
import { layerProtocol, makeClient, rpcUrl, Upgrade, type UpgradeClient } from "wemixvisor/api"

export const url: string = rpcUrl("http://127.0.0.1:8590")
export const schedule = Effect.gen(function*() {
  const client: UpgradeClient = yield* makeClient
  const upgrade: Upgrade = yield* client.ScheduleUpgrade({ name: "v2", height: 1500000 })
  if (false as boolean) {
    // @ts-expect-error heights are numbers: the declarations are typed, not any
    yield* client.ScheduleUpgrade({ name: "v3", height: "1500000" })
  }
  return upgrade instanceof Upgrade ? upgrade.name : "?"
}).pipe(Effect.scoped, Effect.provide(layerProtocol({ url, token: "secret" })))
`
    )
    const tsc = await exec(
      process.execPath,
      [path.join(repoRoot, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", project],
      { cwd: project, timeoutMs: 120_000 }
    )
    expect(tsc.stdout + tsc.stderr).toBe("")
    expect(tsc.code).toBe(0)

    // The same import, resolved and run by node from the project (ESM, package "exports").
    const node = ok(
      "node -e import(wemixvisor/api)",
      await exec(process.execPath, [
        "--input-type=module",
        "-e",
        "const api = await import(\"wemixvisor/api\"); console.log(api.rpcUrl(\"http://127.0.0.1:8590\"), typeof api.makeClient)"
      ], { cwd: project })
    )
    expect(node.stdout).toBe("http://127.0.0.1:8590/rpc object\n")
  }, 150_000)
})
