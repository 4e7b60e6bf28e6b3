/*
 * What a test prints is kept for that test and shown only when it fails
 * (test/support/quiet.setup.ts). Output that never passes through `console`
 * — a child process's stderr read into a string — is handed over here, so a
 * failing test shows it too, and a passing one stays quiet.
 */

interface Attached {
  readonly label: string
  readonly read: () => string
}

const key = Symbol.for("wemixvisor/test/attached-output")
const registry = (): Array<Attached> => {
  const g = globalThis as { [key]?: Array<Attached> }
  return (g[key] ??= [])
}

/** Shows `read()` under `label` if the running test fails (e.g. a child's stderr, read at that moment). */
export const attachOutput = (label: string, read: () => string): void => {
  registry().push({ label, read })
}

/** Everything attached since the last call, emptied. */
export const takeAttached = (): ReadonlyArray<Attached> => registry().splice(0)
