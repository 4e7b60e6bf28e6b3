import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { probeVersion } from "../../src/binaries/VersionProbe.js"
import { cleanup, isAlive, tempDir, writeScript } from "../support/fixtures.js"

const dir = Effect.acquireRelease(
  Effect.sync(() => tempDir()),
  (d) => Effect.sync(() => cleanup(d))
)

const pidFrom = (file: string) => Number(fs.readFileSync(file, "utf8").trim())

describe("probeVersion", () => {
  it.scopedLive("returns the first non-empty line, from stdout, else stderr; passes the version args", () =>
    Effect.gen(function*() {
      const d = yield* dir
      const out = writeScript(
        path.join(d, "out"),
        `printf '\\n  \\nGeth\\nVersion: 1.10.0\\n'; echo "$@" > "${d}/args"\n`
      )
      expect(yield* probeVersion(out, ["version", "--short"])).toBe("Geth")
      expect(fs.readFileSync(path.join(d, "args"), "utf8").trim()).toBe("version --short")
      const err = writeScript(path.join(d, "err"), "echo 'gwemix 0.10.9-stable' >&2\n")
      expect(yield* probeVersion(err, ["version"])).toBe("gwemix 0.10.9-stable")
    }))

  it.scopedLive("fails clearly: non-zero exit, nothing printed, missing, not executable", () =>
    Effect.gen(function*() {
      const d = yield* dir
      const failing = writeScript(path.join(d, "failing"), "echo 'flag provided but not defined: -x' >&2\nexit 2\n")
      const e1 = yield* Effect.flip(probeVersion(failing, ["-x"]))
      expect(e1._tag).toBe("VersionProbeFailed")
      expect(e1.message).toBe(
        `version probe of ${failing} failed: \`${failing} -x\` exited with code 2: flag provided but not defined: -x`
      )
      // It ran: only the version is unknown (a binary that cannot run at all is `cannotRun`).
      expect(e1.cannotRun).toBe(false)
      expect((yield* Effect.flip(probeVersion(path.join(d, "missing"), ["version"]))).cannotRun).toBe(true)
      const silent = writeScript(path.join(d, "silent"), "exit 0\n")
      expect((yield* Effect.flip(probeVersion(silent, ["version"]))).message).toContain("printed nothing")
      expect((yield* Effect.flip(probeVersion(path.join(d, "missing"), ["version"]))).message).toContain(
        "could not run it: no such file"
      )
      const plain = path.join(d, "plain")
      fs.writeFileSync(plain, "#!/bin/sh\necho hi\n", { mode: 0o644 })
      expect((yield* Effect.flip(probeVersion(plain, ["version"]))).message).toContain("permission denied")
    }))

  it.scopedLive("a binary that starts a node instead is killed at the timeout, with everything it started", () =>
    Effect.gen(function*() {
      const d = yield* dir
      const hang = writeScript(path.join(d, "hang"), `sleep 60 &\necho $! > "${d}/child"\necho starting node\nwait\n`)
      const started = Date.now()
      const e = yield* Effect.flip(probeVersion(hang, ["version"], "300 millis"))
      expect(Date.now() - started).toBeLessThan(3000)
      expect(e.message).toContain("did not finish within 300ms and was killed")
      const child = pidFrom(path.join(d, "child"))
      expect(isAlive(child)).toBe(false)
    }))

  it.scopedLive("something left running after a clean exit is reaped", () =>
    Effect.gen(function*() {
      const d = yield* dir
      const leaky = writeScript(
        path.join(d, "leaky"),
        `sleep 60 >/dev/null 2>&1 &\necho $! > "${d}/child"\necho v1.2.3\n`
      )
      expect(yield* probeVersion(leaky, ["version"])).toBe("v1.2.3")
      const child = pidFrom(path.join(d, "child"))
      expect(isAlive(child)).toBe(false)
    }))
})
