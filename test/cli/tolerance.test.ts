/*
 * A bad setting a command never reads does not stop it (issue: `upgrade
 * list` with a bad daemon_hook_timeout); `config` — like `run` — refuses it.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { initHome, removeHomes, runCli } from "./support.js"

afterAll(removeHomes)

describe("settings a command does not read", () => {
  it.effect("upgrade list warns and works; config exits 2 naming the key and the file", () =>
    Effect.gen(function*() {
      const h = yield* initHome()
      fs.writeFileSync(path.join(h.root, "config.toml"), "daemon_hook_timeout = \"5x\"\n")
      const list = yield* runCli(["upgrade", "list"], h.env)
      expect(list.code).toBe(0)
      expect(list.stderr).toContain(
        "warning: invalid DAEMON_HOOK_TIMEOUT=\"5x\" (config.toml): not a duration (use e.g. 500ms, 5s, 2m, 1h)"
      )
      const config = yield* runCli(["config"], h.env)
      expect(config.code).toBe(2)
      expect(config.stderr).toContain("DAEMON_HOOK_TIMEOUT=\"5x\" (config.toml)")
    }))
})
