import { expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { VERSION } from "../src/version.js"
import { repoRoot } from "./support/fixtures.js"

it("VERSION matches package.json", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8"))
  expect(VERSION).toBe(pkg.version)
})
