/*
 * Shell completions of the built CLI, exercised in the real shells: bash's
 * completion function is called as bash calls it (COMP_WORDS/COMP_CWORD),
 * fish answers `complete -C`, zsh loads the script under compinit. The bash
 * script had a generator bug (nested commands' options never offered).
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fixBashCompletions } from "../../src/cli/completions.js"
import { cleanup, tempDir } from "../support/fixtures.js"

const cli = path.resolve("dist/bin.js")
const script = (shell: string) => {
  const r = spawnSync(process.execPath, [cli, "--completions", shell], { encoding: "utf8" })
  expect(r.status, r.stderr).toBe(0)
  return r.stdout
}

/** The shell, or a skip with the reason where it is not installed (CI installs it: a missing shell fails there). */
const shell = (name: string) => {
  const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim()
  if (found === "" && process.env.CI !== undefined) throw new Error(`${name} is not installed (.ci/run installs it)`)
  return found === "" ? undefined : found
}

const SCHEDULE_OPTIONS = [
  "--binary",
  "--binaries",
  "--url",
  "--checksum",
  "--checksums",
  "--info",
  "--force",
  "--remote"
]

describe("shell completions", () => {
  it("the bash fix: a nested pattern matches the state the walk is in", () => {
    expect(fixBashCompletions("            wemixvisor,upgrade,schedule)\n")).toBe(
      "            wemixvisor__upgrade,schedule)\n"
    )
    expect(fixBashCompletions("            a,b,c,d)")).toBe("            a__b__c,d)")
    // Top-level patterns and everything else unchanged.
    expect(fixBashCompletions("            \",$1\")\n            wemixvisor,init)\n        wemixvisor__upgrade)")).toBe(
      "            \",$1\")\n            wemixvisor,init)\n        wemixvisor__upgrade)"
    )
  })

  it("bash: `upgrade schedule --<TAB>` offers every schedule option; `upgrade <TAB>` the subcommands", () => {
    const dir = tempDir("wemixvisor-completions-")
    try {
      const file = path.join(dir, "wemixvisor.bash")
      fs.writeFileSync(file, script("bash"))
      const complete = (...words: Array<string>) => {
        const r = spawnSync(
          "bash",
          [
            "-c",
            `source "$0"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${
              words.length - 1
            }; _wemixvisor_bash_completions wemixvisor; printf '%s\\n' "\${COMPREPLY[@]}"`,
            file
          ],
          { encoding: "utf8" }
        )
        expect(r.stderr).toBe("")
        return r.stdout.trim().split("\n")
      }
      expect(complete("wemixvisor", "upgrade", "schedule", "--")).toEqual(expect.arrayContaining(SCHEDULE_OPTIONS))
      expect(complete("wemixvisor", "upgrade", "prepare", "--r")).toEqual(["--remote"])
      expect(complete("wemixvisor", "upgrade", "list", "--")).toEqual(expect.arrayContaining(["--json", "--remote"]))
      expect(complete("wemixvisor", "--home", "/srv/node", "upgrade", "st")).toEqual(["status"])
      expect(complete("wemixvisor", "upgrade", "")).toEqual(
        expect.arrayContaining(["schedule", "list", "cancel", "status", "prepare"])
      )
      expect(complete("wemixvisor", "ini")).toEqual(["init"])
      expect(complete("wemixvisor", "dash")).toEqual(["dashboard"])
      expect(complete("wemixvisor", "dashboard", "--")).toEqual(expect.arrayContaining(["--open"]))
    } finally {
      cleanup(dir)
    }
  })

  it("fish: `complete -C` offers the schedule options", (ctx) => {
    const fish = shell("fish")
    if (fish === undefined) return ctx.skip()
    const dir = tempDir("wemixvisor-completions-")
    try {
      const file = path.join(dir, "wemixvisor.fish")
      fs.writeFileSync(file, script("fish"))
      const r = spawnSync(fish, ["--no-config", "-c", `source ${file}; complete -C "wemixvisor upgrade schedule --"`], {
        encoding: "utf8"
      })
      expect(r.stderr).toBe("")
      const offered = r.stdout.trim().split("\n").map((l) => l.split("\t")[0])
      expect(offered).toEqual(expect.arrayContaining(SCHEDULE_OPTIONS))
    } finally {
      cleanup(dir)
    }
  })

  it("zsh: the script parses and loads under compinit; the schedule branch names every option", (ctx) => {
    const zsh = shell("zsh")
    if (zsh === undefined) return ctx.skip()
    const dir = tempDir("wemixvisor-completions-")
    try {
      const text = script("zsh")
      const file = path.join(dir, "_wemixvisor")
      fs.writeFileSync(file, text)
      expect(spawnSync(zsh, ["-n", file], { encoding: "utf8" }).status).toBe(0)
      const r = spawnSync(zsh, [
        "-f",
        "-c",
        `fpath=(${dir} $fpath); autoload -U compinit; compinit -u -D; autoload -U _wemixvisor; whence -w _wemixvisor`
      ], {
        encoding: "utf8",
        env: { ...process.env, HOME: dir }
      })
      expect(r.stderr).toBe("")
      expect(r.stdout.trim()).toBe("_wemixvisor: function")
      const branch = text.slice(text.indexOf("(schedule)"), text.indexOf(";;", text.indexOf("(schedule)")))
      for (const o of SCHEDULE_OPTIONS) expect(branch, o).toContain(`'${o}[`)
    } finally {
      cleanup(dir)
    }
  })
})
