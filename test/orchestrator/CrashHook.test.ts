import { describe, expect, it } from "@effect/vitest"
import { build } from "esbuild"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { cleanup, repoRoot, tempDir } from "../support/fixtures.js"

/*
 * The live crash hook really SIGKILLs the process, at the named point only.
 * A tiny program bundled from the real module runs in a child process.
 */
describe("WEMIXVISOR_TEST_CRASH_AT (live hook)", () => {
  it("kills the process at <step>:<phase> and nowhere else", async () => {
    const dir = tempDir("wemixvisor-crash-")
    try {
      const entry = path.join(dir, "main.ts")
      fs.writeFileSync(
        entry,
        `import { Effect } from "effect"
import { crashHookFromEnv } from ${JSON.stringify(path.join(repoRoot, "src/orchestrator/CrashPoints.ts"))}
const program = Effect.gen(function* () {
  const hook = yield* crashHookFromEnv(process.env.WEMIXVISOR_TEST_CRASH_AT)
  for (const [step, phase] of [["stop", "journaled"], ["stop", "applied"], ["switch", "journaled"], ["switch", "applied"]] as const) {
    process.stdout.write(step + ":" + phase + "\\n")
    yield* hook(step, phase)
  }
  process.stdout.write("survived\\n")
})
Effect.runPromise(program)
`
      )
      const out = path.join(dir, "main.mjs")
      await build({
        entryPoints: [entry],
        outfile: out,
        bundle: true,
        format: "esm",
        platform: "node",
        logLevel: "error",
        nodePaths: [path.join(repoRoot, "node_modules")]
      })

      const killed = spawnSync(process.execPath, [out], {
        env: { ...process.env, WEMIXVISOR_TEST_CRASH_AT: "switch:journaled" },
        encoding: "utf8"
      })
      expect(killed.signal).toBe("SIGKILL")
      expect(killed.stdout.trim().split("\n")).toEqual(["stop:journaled", "stop:applied", "switch:journaled"])

      const env = { ...process.env }
      delete env.WEMIXVISOR_TEST_CRASH_AT
      const unset = spawnSync(process.execPath, [out], { env, encoding: "utf8" })
      expect(unset.status).toBe(0)
      expect(unset.stdout).toContain("survived")
    } finally {
      cleanup(dir)
    }
  })
})
