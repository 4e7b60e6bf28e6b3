import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { make } from "../../src/binaries/BinaryStoreLive.js"
import { makeLayout } from "../../src/domain/Layout.js"
import type { UpgradeName } from "../../src/domain/Upgrade.js"
import { cleanup, tempDir, writeScript } from "../support/fixtures.js"

const setup = () => {
  const home = tempDir()
  const layout = makeLayout(home, "gwemix")
  const genesis = writeScript(path.join(home, "src", "gwemix-v1"), "echo v1\n")
  return { home, layout, store: make(layout), genesis }
}

const v2 = "v2" as UpgradeName

describe("BinaryStore", () => {
  it("init creates the layout, copies the binary executable and points current at genesis", () => {
    const { home, layout, store, genesis } = setup()
    try {
      Effect.runSync(store.init(genesis, false))
      expect(fs.readFileSync(layout.binary("genesis"), "utf8")).toBe(fs.readFileSync(genesis, "utf8"))
      expect(fs.statSync(layout.binary("genesis")).mode & 0o111).not.toBe(0)
      expect(fs.statSync(layout.upgrades).isDirectory()).toBe(true)
      expect(fs.readlinkSync(layout.current)).toBe("genesis")
      expect(fs.existsSync(layout.currentBinary)).toBe(true)
      expect(Effect.runSync(store.current)).toBe("genesis")
    } finally {
      cleanup(home)
    }
  })

  it("init refuses an existing home without --force, and --force never moves current", () => {
    const { home, layout, store, genesis } = setup()
    try {
      Effect.runSync(store.init(genesis, false))
      expect(Effect.runSync(Effect.flip(store.init(genesis, false)))._tag).toBe("HomeExists")
      const upgrade = writeScript(path.join(home, "src", "gwemix-v2"), "echo v2\n")
      Effect.runSync(store.place(v2, upgrade))
      Effect.runSync(store.switchTo(v2))
      Effect.runSync(store.init(genesis, true))
      expect(Effect.runSync(store.current)).toBe("v2")
      expect(fs.readlinkSync(layout.current)).toBe("upgrades/v2")
    } finally {
      cleanup(home)
    }
  })

  it("init refuses a missing or non-executable binary and writes nothing", () => {
    const { home, layout, store } = setup()
    try {
      const missing = Effect.runSync(Effect.flip(store.init(path.join(home, "nope"), false)))
      expect(missing._tag).toBe("BinaryInvalid")
      expect(missing.message).toContain("does not exist")
      const plain = path.join(home, "plain")
      fs.writeFileSync(plain, "data", { mode: 0o644 })
      const notExec = Effect.runSync(Effect.flip(store.init(plain, false)))
      expect(notExec.message).toContain("not executable")
      expect(Effect.runSync(Effect.flip(store.init(home, false))).message).toContain("not a regular file")
      expect(fs.existsSync(layout.root)).toBe(false)
    } finally {
      cleanup(home)
    }
  })

  it("switchTo is atomic: current always exists, the old link is replaced by rename", () => {
    const { home, layout, store, genesis } = setup()
    try {
      Effect.runSync(store.init(genesis, false))
      Effect.runSync(store.place(v2, writeScript(path.join(home, "src", "v2"), "echo v2\n")))
      for (let i = 0; i < 50; i++) {
        Effect.runSync(store.switchTo(i % 2 === 0 ? v2 : "genesis"))
        expect(fs.lstatSync(layout.current).isSymbolicLink()).toBe(true)
      }
      expect(Effect.runSync(store.current)).toBe("genesis")
      // no temp links left behind
      expect(fs.readdirSync(layout.root).filter((f) => f.includes(".tmp"))).toEqual([])
    } finally {
      cleanup(home)
    }
  })

  it("place copies a binary in, accepts the same one again, refuses a different one", () => {
    const { home, layout, store, genesis } = setup()
    try {
      Effect.runSync(store.init(genesis, false))
      const a = writeScript(path.join(home, "src", "a"), "echo a\n")
      const b = writeScript(path.join(home, "src", "b"), "echo b\n")
      Effect.runSync(store.place(v2, a))
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toContain("echo a")
      Effect.runSync(store.place(v2, a))
      const e = Effect.runSync(Effect.flip(store.place(v2, b)))
      expect(e._tag).toBe("UpgradeConflict")
      expect(fs.readFileSync(layout.binary(v2), "utf8")).toContain("echo a")
    } finally {
      cleanup(home)
    }
  })

  it("validate reports a missing or non-executable upgrade binary", () => {
    const { home, layout, store, genesis } = setup()
    try {
      Effect.runSync(store.init(genesis, false))
      expect(Effect.runSync(Effect.flip(store.validate(v2))).message).toContain("does not exist")
      fs.mkdirSync(path.dirname(layout.binary(v2)), { recursive: true })
      fs.writeFileSync(layout.binary(v2), "x", { mode: 0o644 })
      expect(Effect.runSync(Effect.flip(store.validate(v2))).message).toContain("not executable")
      fs.chmodSync(layout.binary(v2), 0o755)
      Effect.runSync(store.validate(v2))
    } finally {
      cleanup(home)
    }
  })

  it("current fails clearly on a home without a layout", () => {
    const { home, store } = setup()
    try {
      expect(Effect.runSync(Effect.flip(store.current))._tag).toBe("IoError")
    } finally {
      cleanup(home)
    }
  })
})
