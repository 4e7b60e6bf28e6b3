import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { parse as parseToml, TomlError } from "smol-toml"
import { parse as parseYaml, YAMLParseError } from "yaml"
import { ConfigInvalid } from "../domain/Errors.js"
import { isErrno } from "../platform/Errno.js"
import { migrateDocument } from "./Aliases.js"
import { closestKey, CONFIG_NAMES } from "./Keys.js"

/*
 * The config file of `$DAEMON_HOME/wemixvisor/` (ARCHITECTURE §4): TOML, YAML
 * or JSON, parsed by its format's library into a plain value, then checked by
 * one Schema — the same keys and shapes whatever the format. A problem with
 * one key is reported for that key (ConfigFile.problems), so a command that
 * does not read it can go on (Config.ts decides which may).
 */

/** The config files of `$DAEMON_HOME/wemixvisor/`; at most one may be there. */
export const CONFIG_FILES = ["config.toml", "config.yaml", "config.json"] as const
export type ConfigFileName = typeof CONFIG_FILES[number]

/** A key's value as a file may write it: text, a number, a boolean, or a list of those (`daemon_version_args`). */
const Scalar = Schema.Union(Schema.String, Schema.Number, Schema.Boolean)
const Value = Schema.Union(Scalar, Schema.Array(Scalar))
/** The channel tables; their keys are checked by Channels.ts, which knows each kind. */
const NotifyTables = Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown }))

/** Every config file, whatever its format: each env name in lower case, and `notify`. */
export const ConfigDocument = Schema.Struct({
  ...Object.fromEntries(CONFIG_NAMES.map((n) => [n.toLowerCase(), Schema.optional(Value)])) as Record<
    string,
    Schema.optional<typeof Value>
  >,
  notify: Schema.optional(NotifyTables)
})

/** One key the file got wrong: `key` is its env name (or the unknown key as written), the error says what. */
export interface FileProblem {
  readonly key: string
  readonly unknown: boolean
  readonly error: ConfigInvalid
}

export interface ConfigFile {
  /** Which file it was; undefined: there is none. */
  readonly file: ConfigFileName | undefined
  /** The keys that were read, upper-cased (env names), as text. */
  readonly values: Readonly<Record<string, string>>
  /** The `notify` tables (`[[notify]]` in TOML, a list of objects in YAML and JSON), as written. */
  readonly notify: ReadonlyArray<Readonly<Record<string, unknown>>>
  /** The keys that could not be read, in the file's order; their values are left out. */
  readonly problems: ReadonlyArray<FileProblem>
  /** What reading an older file's keys as today's did (Aliases.migrateDocument): one line each, to log. */
  readonly notes: ReadonlyArray<string>
}

const NONE: ConfigFile = { file: undefined, values: {}, notify: [], problems: [], notes: [] }

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date)

const at = (line: number, column: number) => `line ${line}, column ${column}: `

/** The file's text as a plain value, or what is wrong with it: the parser's first line, after the line it names. */
const parseText = (file: ConfigFileName, text: string): Either.Either<unknown, string> => {
  try {
    switch (file) {
      case "config.toml":
        return Either.right(parseToml(text))
      case "config.yaml":
        return Either.right(parseYaml(text) ?? {})
      case "config.json":
        return Either.right(JSON.parse(text))
    }
  } catch (e) {
    const first = (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "parse error"
    if (e instanceof TomlError) return Either.left(at(e.line, e.column) + first)
    if (e instanceof YAMLParseError && e.linePos !== undefined) {
      return Either.left(at(e.linePos[0].line, e.linePos[0].col) + first.replace(/ at line \d+, column \d+:?$/, ""))
    }
    // Node 20's JSON.parse gives an offset ("… in JSON at position 42"); later ones also a line.
    const pos = /at position (\d+)/.exec(first)
    if (pos !== null) {
      const before = text.slice(0, Number(pos[1])).split("\n")
      return Either.left(at(before.length, before[before.length - 1]!.length + 1) + first)
    }
    return Either.left(first)
  }
}

/** What is wrong with `value` of `key`, in an operator's words (the Schema's own says `Expected string | …`). */
const describeBadValue = (file: ConfigFileName, key: string, value: unknown): string =>
  key === "notify"
    ? file === "config.toml"
      ? "must be [[notify]] tables, one per channel"
      : "must be a list of tables, one per channel"
    : value === null
    ? "has no value (leave the key out for the default)"
    : isTable(value)
    ? "tables are not supported (but notify); keys are the env names in lower case"
    : "expected text, a number, true/false or a list of them"

/**
 * A parsed document checked against ConfigDocument. Every key the Schema
 * refuses becomes a problem of that key; the others are read.
 */
export const fromDocument = (
  file: ConfigFileName,
  where: string,
  doc: unknown
): Either.Either<ConfigFile, ConfigInvalid> => {
  if (!isTable(doc)) {
    return Either.left(
      new ConfigInvalid({
        variable: file,
        value: where,
        problem: "must be a table of keys (the env names in lower case)"
      })
    )
  }
  const refused = new Map<string, FileProblem>()
  const decoded = Schema.decodeUnknownEither(ConfigDocument, { errors: "all", onExcessProperty: "error" })(doc)
  if (Either.isLeft(decoded)) {
    for (const issue of ParseResult.ArrayFormatter.formatErrorSync(decoded.left)) {
      const key = String(issue.path[0])
      if (refused.has(key)) continue
      const unknown = issue._tag === "Unexpected"
      refused.set(key, {
        key: unknown ? key : key.toUpperCase(),
        unknown,
        // A table under an unknown name is a table first: `[api]` is no misspelt key.
        error: unknown && !isTable(doc[key])
          // No value in the message: an unknown key's value could be a misplaced secret.
          ? new ConfigInvalid({
            variable: `${file} key ${key}`,
            problem: `unknown key (did you mean ${closestKey(key)}?)`
          })
          : new ConfigInvalid({
            variable: `${file} ${key}`,
            value: where,
            problem: describeBadValue(file, key, doc[key])
          })
      })
    }
  }
  const values: Record<string, string> = {}
  let notify: ReadonlyArray<Record<string, unknown>> = []
  const problems: Array<FileProblem> = []
  for (const [k, v] of Object.entries(doc)) {
    const problem = refused.get(k)
    if (problem !== undefined) problems.push(problem)
    else if (k === "notify") notify = v as ReadonlyArray<Record<string, unknown>>
    else values[k.toUpperCase()] = Array.isArray(v) ? v.join(" ") : String(v)
  }
  return Either.right({ file, values, notify, problems, notes: [] })
}

/**
 * The config file of `dir`, if there is one. Two or more are refused (which
 * would win is not obvious), and so is a file that cannot be read or parsed:
 * nothing in it can be trusted then.
 */
export const readConfigFile = (dir: string): Effect.Effect<ConfigFile, ConfigInvalid> =>
  Effect.suspend(() => {
    const found: Array<{ readonly file: ConfigFileName; readonly text: string }> = []
    for (const file of CONFIG_FILES) {
      try {
        found.push({ file, text: fs.readFileSync(path.join(dir, file), "utf8") })
      } catch (e) {
        if (!isErrno(e, "ENOENT")) {
          return Effect.fail(new ConfigInvalid({ variable: file, value: path.join(dir, file), problem: String(e) }))
        }
      }
    }
    if (found.length === 0) return Effect.succeed(NONE)
    if (found.length > 1) {
      return Effect.fail(
        new ConfigInvalid({
          variable: "config file",
          problem: `${found.map((f) => path.join(dir, f.file)).join(" and ")} are ${
            found.length === 2 ? "both" : "all"
          } present: keep one`
        })
      )
    }
    const { file, text } = found[0]!
    const where = path.join(dir, file)
    return parseText(file, text).pipe(
      Either.mapLeft((problem) => new ConfigInvalid({ variable: file, value: where, problem })),
      Either.flatMap((doc) => {
        if (!isTable(doc)) return fromDocument(file, where, doc)
        // An older file's keys read as today's, `version` taken out, before the Schema sees them.
        const migrated = migrateDocument(doc)
        if (Either.isLeft(migrated)) {
          // No value in the message: the key could hold a misplaced secret.
          const { variable, problem } = migrated.left
          return Either.left(new ConfigInvalid({ variable: `${file} ${variable}`, problem }))
        }
        return Either.map(
          fromDocument(file, where, migrated.right.doc),
          (read) => ({ ...read, notes: migrated.right.notes.map((n) => `${where}: ${n}`) })
        )
      })
    )
  })
