import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { AppConfig } from "../config/Config.js"
import { BinaryInvalid, HomeExists, UpgradeConflict } from "../domain/Errors.js"
import { type Layout, targetOfLink } from "../domain/Layout.js"
import type { Target } from "../domain/Target.js"
import { fsyncPath, io, replaceAtomically } from "../platform/Files.js"
import { BinaryStore } from "./BinaryStore.js"

/* The BinaryStore (BinaryStore.ts) on the real disk. */

/** A source binary must be a regular, executable file. */
const checkExecutable = (file: string): Effect.Effect<void, BinaryInvalid> =>
  Effect.suspend(() => {
    let st: fs.Stats
    try {
      st = fs.statSync(file)
    } catch {
      return Effect.fail(new BinaryInvalid({ path: file, problem: "does not exist" }))
    }
    if (!st.isFile()) return Effect.fail(new BinaryInvalid({ path: file, problem: "is not a regular file" }))
    try {
      fs.accessSync(file, fs.constants.X_OK)
    } catch {
      return Effect.fail(new BinaryInvalid({ path: file, problem: "is not executable (chmod +x it)" }))
    }
    return Effect.void
  })

const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")

/** Copies a binary in: temp name in the target folder, executable, fsync, rename. */
const copyBinary = (source: string, dest: string) =>
  Effect.flatMap(
    io("create", path.dirname(dest), () => fs.mkdirSync(path.dirname(dest), { recursive: true })),
    () =>
      replaceAtomically(
        dest,
        (tmp) => {
          fs.copyFileSync(source, tmp)
          fs.chmodSync(tmp, 0o755)
        },
        "copy binary to"
      )
  )

/**
 * Points `current` at a target atomically: a new relative link under a temp
 * name, then rename(2) over the old one — at every instant `current` exists.
 */
const switchLink = (layout: Layout, target: Target) =>
  io("switch", layout.current, () => {
    const rel = target === "genesis" ? "genesis" : path.join("upgrades", target)
    const tmp = `${layout.current}.${process.pid}.tmp`
    fs.rmSync(tmp, { force: true })
    fs.symlinkSync(rel, tmp)
    fs.renameSync(tmp, layout.current)
    fsyncPath(layout.root)
  })

/** The text of a symbolic link, or undefined when there is none. */
const readLink = (file: string): string | undefined => {
  try {
    return fs.readlinkSync(file)
  } catch {
    return undefined
  }
}

export const make = (layout: Layout) =>
  BinaryStore.of({
    layout,

    init: (genesisBinary, force) =>
      Effect.gen(function*() {
        const source = path.resolve(genesisBinary)
        yield* checkExecutable(source)
        const link = readLink(layout.current)
        const exists = fs.existsSync(layout.genesis) || link !== undefined
        if (exists && !force) return yield* new HomeExists({ path: layout.root })
        yield* io("create", layout.root, () => {
          fs.mkdirSync(path.join(layout.genesis, "bin"), { recursive: true })
          fs.mkdirSync(layout.upgrades, { recursive: true })
        })
        yield* copyBinary(source, layout.binary("genesis"))
        // --force re-copies the genesis binary but never moves a `current` that works; a broken one
        // (no run could start on it, and no other command repairs it) is pointed at genesis.
        if (link === undefined) {
          yield* switchLink(layout, "genesis")
          return null
        }
        const target = targetOfLink(link)
        const usable = target !== undefined &&
          Either.isRight(yield* Effect.either(checkExecutable(layout.binary(target))))
        if (usable) return null
        yield* switchLink(layout, "genesis")
        return link
      }),

    current: io("read link", layout.current, () => {
      const text = fs.readlinkSync(layout.current)
      const target = targetOfLink(text)
      if (target === undefined) throw new Error(`points at ${text}, which is neither genesis nor upgrades/<name>`)
      return target
    }),

    switchTo: (target) => switchLink(layout, target),

    validate: (target) => checkExecutable(layout.binary(target)),

    place: (name, source) =>
      Effect.gen(function*() {
        const from = path.resolve(source)
        yield* checkExecutable(from)
        const dest = layout.binary(name)
        if (fs.existsSync(dest)) {
          if (sha256(dest) === sha256(from)) return
          return yield* new UpgradeConflict({
            name,
            problem: `a different binary is already at ${dest}; remove it first or choose another name`
          })
        }
        yield* copyBinary(from, dest)
      })
  })

export const layer: Layer.Layer<BinaryStore, never, AppConfig> = Layer.effect(
  BinaryStore,
  Effect.map(AppConfig, (c) => make(c.layout))
)
