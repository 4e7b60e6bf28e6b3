// Prints line and branch coverage per service folder from vitest's
// json-summary (coverage/coverage-summary.json). `npm run coverage` runs it.
// test/e2e/ is left out of the coverage run: it drives the built bundle in
// child processes, which v8 coverage of the test process cannot see. These
// figures count the in-process unit and integration tests only.
import * as fs from "node:fs"
import * as path from "node:path"

const summary = JSON.parse(fs.readFileSync("coverage/coverage-summary.json", "utf8"))
const folders = new Map()
for (const [file, m] of Object.entries(summary)) {
  if (file === "total") continue
  const rel = path.relative(process.cwd(), file)
  const parts = rel.split(path.sep)
  const folder = parts.length > 2 ? `${parts[0]}/${parts[1]}` : rel
  const f = folders.get(folder) ?? { lt: 0, lc: 0, bt: 0, bc: 0 }
  f.lt += m.lines.total
  f.lc += m.lines.covered
  f.bt += m.branches.total
  f.bc += m.branches.covered
  folders.set(folder, f)
}
const pct = (c, t) => (t === 0 ? "   -  " : `${((100 * c) / t).toFixed(1).padStart(5)}%`)
console.log(`${"folder".padEnd(22)} lines    branches`)
for (const [folder, f] of [...folders].sort()) {
  console.log(`${folder.padEnd(22)} ${pct(f.lc, f.lt)}  ${pct(f.bc, f.bt)}`)
}
const t = summary.total
console.log(
  `${"total".padEnd(22)} ${pct(t.lines.covered, t.lines.total)}  ${pct(t.branches.covered, t.branches.total)}`
)
