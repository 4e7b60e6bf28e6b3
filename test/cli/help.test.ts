/*
 * Help as an operator reads it (issue #12 item 20), from the built CLI in a
 * pipe: plain text, the full usage line, no filler, each command's
 * environment and exit codes; `--version` and `version` agree; `config`
 * prints durations as given.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { helpEntries } from "../../src/cli/commands.js"
import { helpRequest } from "../../src/cli/help.js"

const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [path.resolve("dist/bin.js"), ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", ...env }
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe("help", () => {
  it("every command's help in a pipe: no ANSI, `Usage: wemixvisor <path>`, environment and exit codes, no filler", () => {
    for (const e of helpEntries) {
      const r = cli([...e.path, "--help"])
      const what = e.path.join(" ") || "(root)"
      expect(r.code, what).toBe(0)
      expect(r.stdout, what).not.toContain("\u001b")
      expect(r.stdout, what).toContain(`Usage: ${["wemixvisor", ...e.path].join(" ")}`)
      expect(r.stdout, what).not.toMatch(/^\$ /m)
      expect(r.stdout, what).toContain("\nExit codes:\n")
      for (
        const filler of [
          "A user-defined piece of text.",
          "This setting is optional.",
          "A true or false value.",
          "A file."
        ]
      ) {
        expect(r.stdout, `${what}: ${filler}`).not.toContain(filler)
      }
    }
  })

  it("upgrade schedule --help lists its arguments, every option and what it reads", () => {
    const r = cli(["upgrade", "schedule", "--help"])
    for (
      const o of [
        "<name>",
        "<height>",
        "--binary",
        "--binaries",
        "--url",
        "--checksum",
        "--checksums",
        "--info",
        "--force",
        "--remote"
      ]
    ) {
      expect(r.stdout, o).toMatch(new RegExp(`^  ${o}[ \\n]`, "m"))
    }
    expect(r.stdout).toContain("DAEMON_RPC_URL (the head check)")
    expect(r.stdout).toContain("  2 bad input, a taken name, a height at or below the head")
  })

  it("the help asked for is the deepest command named, root options and their values skipped", () => {
    const path = (args: Array<string>) => helpRequest(helpEntries, args)?.path.join(" ")
    expect(path(["--help"])).toBe("")
    expect(path(["upgrade", "-h"])).toBe("upgrade")
    expect(path(["--home", "/srv/upgrade", "upgrade", "list", "--help"])).toBe("upgrade list")
    expect(path(["upgrade", "schedule", "v2", "100", "--help"])).toBe("upgrade schedule")
    expect(path(["run", "--", "--help"])).toBeUndefined() // the node's own flag
    expect(path(["upgrade", "list"])).toBeUndefined()
  })

  it("`--version` and `version` print the same line", () => {
    const a = cli(["--version"])
    const b = cli(["version"])
    expect(a.stdout).toMatch(/^wemixvisor \d+\.\d+\.\d+/)
    expect(a).toEqual(b)
  })

  it("config prints durations as they were given (60s stays 60s); defaults as documented", () => {
    const r = cli(["config"], {
      DAEMON_HOME: "/srv/node",
      DAEMON_NAME: "gwemix",
      DAEMON_SHUTDOWN_GRACE: "60s",
      DAEMON_RESTART_DELAY: "1500ms"
    })
    expect(r.code).toBe(0)
    const lines = r.stdout.split("\n")
    expect(lines).toContain("DAEMON_SHUTDOWN_GRACE=60s")
    expect(lines).toContain("DAEMON_RESTART_DELAY=1500ms")
    expect(lines).toContain("DAEMON_VERIFY_TIMEOUT=5m")
    expect(lines).toContain("DAEMON_POLL_INTERVAL=300ms")
  })
})
