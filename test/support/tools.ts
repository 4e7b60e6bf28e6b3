import { spawnSync } from "node:child_process"

/*
 * System tools some suites need (promtool, prometheus: Debian's `prometheus`
 * package). Outside CI a missing tool skips those tests with a printed
 * reason; with CI set it fails them, so a CI that lost an install step is red.
 */

const found = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).status === 0

/** True when every tool is on PATH; otherwise false (and a printed reason), or a failure under CI. */
export const haveTools = (tools: ReadonlyArray<string>, apt: string): boolean => {
  const missing = tools.filter((t) => !found(t))
  if (missing.length === 0) return true
  const reason = `${missing.join(", ")} not on PATH (apt-get install -y ${apt})`
  if (process.env.CI) throw new Error(`CI: ${reason}`)
  console.warn(`skipping: ${reason}`)
  return false
}
