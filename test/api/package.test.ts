/*
 * The typed client the way a user gets it: a separate project with
 * `wemixvisor` installed (package.json + the built dist/), importing
 * `wemixvisor/api` through the package's "exports". tsc type-checks the
 * client against the emitted declarations, then the client runs under node
 * against a live API server.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { transformSync } from "esbuild"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { cleanup, repoRoot, tempDir } from "../support/fixtures.js"
import { setupApi } from "./support.js"

const CLIENT = `
import { Effect, Stream } from "effect"
import * as RpcClient from "@effect/rpc/RpcClient"
import { layerProtocol, makeClient, Upgrade, UpgradeConflict, UpgradeRpcs, type StatusObject } from "wemixvisor/api"

const url = process.argv[2]!
const protocol = layerProtocol({ url, token: process.argv[3]! })

// The group itself, as any Effect RPC client would use it (one client per protocol layer)…
const scheduleOne = Effect.gen(function* () {
  const raw = yield* RpcClient.make(UpgradeRpcs)
  return yield* raw.ScheduleUpgrade({ name: "v9", height: 1000, info: "from a user" })
}).pipe(Effect.scoped, Effect.provide(protocol))

const program = Effect.gen(function* () {
  const scheduled: Upgrade = yield* scheduleOne
  // …or the helper.
  const client = yield* makeClient
  const conflict: string = yield* client.ScheduleUpgrade({ name: "v9", height: 1000 }).pipe(
    Effect.flatMap(() => Effect.succeed("no error")),
    Effect.catchTag("UpgradeConflict", (e: UpgradeConflict) => Effect.succeed(e.problem))
  )
  const invalid = yield* client.ScheduleUpgrade({ name: "../x", height: 1 }).pipe(
    Effect.flip,
    Effect.map((e) => (e._tag === "InvalidInput" ? e.field : e._tag))
  )
  const list = yield* client.ListUpgrades()
  const status: StatusObject = yield* client.GetStatus()
  if (false as boolean) {
    // @ts-expect-error heights are numbers: the payload is typed
    yield* client.ScheduleUpgrade({ name: "v9", height: "1000" })
    yield* client.WatchEvents().pipe(Stream.runDrain)
  }
  console.log(JSON.stringify({
    name: scheduled.name,
    isUpgrade: scheduled instanceof Upgrade,
    conflict,
    invalid,
    count: list.count,
    supervisor: status.supervisor
  }))
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(protocol))).catch((e) => {
  console.error(e)
  process.exit(1)
})
`

/** A project with wemixvisor "installed": its package.json and dist/, and the peer packages linked in. */
const userProject = () => {
  const dir = tempDir("wemixvisor-user-")
  const nm = path.join(dir, "node_modules")
  const pkg = path.join(nm, "wemixvisor")
  fs.mkdirSync(pkg, { recursive: true })
  fs.copyFileSync(path.join(repoRoot, "package.json"), path.join(pkg, "package.json"))
  fs.mkdirSync(path.join(pkg, "dist"))
  for (const f of ["api.js", "api.js.map", "types"]) {
    fs.cpSync(path.join(repoRoot, "dist", f), path.join(pkg, "dist", f), { recursive: true })
  }
  for (const dep of ["effect", "@effect/rpc", "@effect/platform", "@types/node"]) {
    fs.mkdirSync(path.dirname(path.join(nm, dep)), { recursive: true })
    fs.symlinkSync(fs.realpathSync(path.join(repoRoot, "node_modules", dep)), path.join(nm, dep))
  }
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "user", type: "module", private: true }))
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        exactOptionalPropertyTypes: true,
        noEmit: true,
        skipLibCheck: true,
        types: ["node"]
      },
      files: ["client.ts"]
    })
  )
  fs.writeFileSync(path.join(dir, "client.ts"), CLIENT)
  fs.writeFileSync(path.join(dir, "client.mjs"), transformSync(CLIENT, { loader: "ts", format: "esm" }).code)
  return dir
}

const run = (cmd: string, args: ReadonlyArray<string>, cwd: string) =>
  Effect.async<{ code: number | null; stdout: string; stderr: string }>((resume) => {
    const p = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    p.stdout.on("data", (c) => (stdout += String(c)))
    p.stderr.on("data", (c) => (stderr += String(c)))
    p.on("exit", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => p.kill("SIGKILL"))
  })

describe("package exports: wemixvisor/api", () => {
  it.scopedLive(
    "another program type-checks against the published declarations and is a typed client",
    () =>
      Effect.gen(function*() {
        expect(fs.existsSync(path.join(repoRoot, "dist", "api.js")), "run `npm run build` first").toBe(true)
        const dir = yield* Effect.acquireRelease(Effect.sync(userProject), (d) => Effect.sync(() => cleanup(d)))

        const tsc = yield* run(process.execPath, [
          path.join(repoRoot, "node_modules/typescript/bin/tsc"),
          "-p",
          "tsconfig.json"
        ], dir)
        expect(tsc.stdout + tsc.stderr).toBe("")
        expect(tsc.code).toBe(0)

        const w = yield* setupApi({ head: 100 })
        const client = yield* run(process.execPath, ["client.mjs", w.base, w.token], dir)
        expect(client.stderr).toBe("")
        expect(client.code).toBe(0)
        expect(JSON.parse(client.stdout)).toEqual({
          name: "v9",
          isUpgrade: true,
          conflict: "already exists with status 'scheduled' (cancel it first)",
          invalid: "name",
          count: 1,
          supervisor: "running"
        })
      }),
    60_000
  )
})
