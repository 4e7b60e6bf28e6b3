import { setFlagsFromString } from "node:v8"

/*
 * The executable. V8's young generation doubles each time a scavenge finds
 * it busy, up to 16 MB per semi-space, and a supervisor that runs for months
 * then carries that peak in its RSS although it keeps little: an idle `run`
 * peaked at 91-102 MB with the default and at 74 MB with no growth, at the
 * same CPU (docs/BENCHMARKS.md, "Idle cost"). The flag is one V8 reads at
 * each collection, so it is set here, before the CLI is loaded and anything
 * is allocated; `node --semi-space-growth-factor=N` on the command line is
 * overridden. Every Node line wemixvisor supports (20, 22, 24) knows it.
 */
setFlagsFromString("--semi-space-growth-factor=1")

await import("./program.js")
