/*
 * A green run reads green: the expected ERROR/WARN lines a test provokes (the
 * Effect logger prints through `console`), its console.* calls and the output
 * attached with `attachOutput` (test/support/output.ts) are kept per test and
 * printed, in order, only when it fails. WEMIXVISOR_TEST_OUTPUT=all prints
 * everything as it comes. Tests that assert on logs provide their own Logger,
 * as before.
 */
import { afterEach, beforeEach } from "vitest"
import { takeAttached } from "./output.js"

const methods = ["log", "info", "warn", "error", "debug", "trace"] as const
type Method = (typeof methods)[number]
type Print = (...args: Array<unknown>) => void

/** The last lines of a long child log: the end is where a failure shows. */
const tail = (text: string, lines = 400) => {
  const all = text.trimEnd().split("\n")
  return all.length <= lines
    ? all.join("\n")
    : [`… ${all.length - lines} earlier lines left out`, ...all.slice(-lines)].join("\n")
}

if (process.env.WEMIXVISOR_TEST_OUTPUT !== "all") {
  const target = globalThis.console
  const original = new Map<Method, Print>(methods.map((m) => [m, target[m]]))
  const restore = () => {
    for (const [m, f] of original) target[m] = f
  }

  beforeEach((ctx) => {
    takeAttached() // whatever the file's setup attached outside a test
    const buffered: Array<readonly [Method, Array<unknown>]> = []
    for (const m of methods) target[m] = (...args: Array<unknown>) => void buffered.push([m, args])
    ctx.onTestFinished(() => {
      restore()
      const attached = takeAttached()
      if (ctx.task.result?.state !== "fail") return
      for (const [m, args] of buffered) original.get(m)!(...args)
      for (const a of attached) {
        const text = a.read()
        if (text.trim() !== "") original.get("error")!(`--- ${a.label} ---\n${tail(text)}`)
      }
    })
  })
  // Runs after the file's own afterEach hooks (they are buffered too), and even when onTestFinished does not.
  afterEach(restore)
}
