/*
 * @effect/cli 0.77's bash completion script never completes a nested
 * command's options (`wemixvisor upgrade schedule --<TAB>` lacks --binary,
 * --info, --force, --remote): it walks the words building
 * `cmd="wemixvisor__upgrade"` but then matches `wemixvisor,upgrade,schedule)`,
 * a pattern that state never produces. The fix is in the script itself: each
 * such pattern becomes `<parent state>,<word>)`. zsh and fish scripts are
 * generated right and pass through unchanged.
 */

/** `wemixvisor,upgrade,schedule)` → `wemixvisor__upgrade,schedule)`: the state the walk is in, then the word. */
export const fixBashCompletions = (script: string): string =>
  script.replace(/^(\s*)([\w-]+(?:,[\w-]+){2,})\)$/gm, (_, indent: string, pattern: string) => {
    const parts = pattern.split(",")
    return `${indent}${parts.slice(0, -1).join("__")},${parts[parts.length - 1]})`
  })

/** `wemixvisor --completions bash` (exactly): the only invocation whose output needs the fix. */
export const isBashCompletions = (args: ReadonlyArray<string>): boolean =>
  args.length === 2 && args[0] === "--completions" && args[1] === "bash"
