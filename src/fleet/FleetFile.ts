import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { parse as parseToml, TomlError } from "smol-toml"
import { InvalidInput } from "../domain/Errors.js"

/*
 * The fleet (issue #18 item 5): the supervisors an operator drives at once
 * with `wemixvisor fleet …`. Either a fleet file — `--fleet FILE`, else
 * WEMIXVISOR_FLEET — with one [[node]] table per supervisor:
 *
 *   [[node]]
 *   name = "node-a"
 *   url = "http://10.0.0.1:8590"
 *   token_file = "tokens/node-a"     # or token = "…", or neither: WEMIXVISOR_API_TOKEN
 *
 * or `--remote URL,URL,…` (names host:port, the token WEMIXVISOR_API_TOKEN,
 * as `upgrade --remote` sends it). Everything wrong with it is one
 * InvalidInput (exit 2) naming the file, the line and the key where it can:
 * nothing is sent to any node before the whole fleet is valid.
 */

/** One supervisor of the fleet: what `upgrade --remote` needs to call it (cli/upgrade-remote.ts `Remote`). */
export interface FleetNode {
  readonly name: string
  /** The wemixvisor API's base URL (`http://10.0.0.1:8590`). */
  readonly url: string
  readonly token: Option.Option<string>
  /** Where the token came from, for the message when the node refuses it. */
  readonly tokenSource: string
}

export interface Fleet {
  readonly nodes: ReadonlyArray<FleetNode>
  /** The fleet file, or `--remote`. */
  readonly source: string
  /** What is not wrong enough to refuse (a fleet file with tokens others can read). */
  readonly warnings: ReadonlyArray<string>
}

/** A node's name as the board prints it: no spaces or control characters, at most 64. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/
const NAME_RULE = "1-64 characters of A-Z a-z 0-9 . _ - : @, starting with a letter or digit"

const KEYS = ["name", "url", "token", "token_file"] as const

const NodeTable = Schema.Struct({
  name: Schema.String,
  url: Schema.String,
  token: Schema.optional(Schema.String),
  token_file: Schema.optional(Schema.String)
})

/** An http(s) URL, or what is wrong with it. */
export const checkUrl = (raw: string): string | undefined => {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    return `${JSON.stringify(raw)} is not a URL (expected e.g. http://10.0.0.1:8590)`
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return `${JSON.stringify(raw)} is not an http(s) URL`
  if (u.username !== "" || u.password !== "") {
    return `${JSON.stringify(raw)} has credentials in it; give the API token as token or token_file`
  }
  return undefined
}

/** A token as one word on one line, or what is wrong with it. */
const checkToken = (token: string): string | undefined =>
  token === "" ? "is empty" : /\s/.test(token) ? "must be one token, without spaces or newlines" : undefined

// ---------------------------------------------------------------------------
// Where things are in the file: the line of each [[node]] header and of each
// key under it (a plain scan; smol-toml keeps no positions). Used for the
// messages only: a layout the scan does not follow (inline tables) just has
// no line in them.

interface Place {
  readonly line: number
  readonly keys: ReadonlyMap<string, number>
}

const scan = (text: string): { readonly top: ReadonlyMap<string, number>; readonly nodes: ReadonlyArray<Place> } => {
  const top = new Map<string, number>()
  const nodes: Array<{ line: number; keys: Map<string, number> }> = []
  let current: Map<string, number> | undefined = top
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (/^\[\[\s*node\s*\]\]/.test(line)) {
      const keys = new Map<string, number>()
      nodes.push({ line: i + 1, keys })
      current = keys
      return
    }
    const header = /^\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line)
    if (header !== null) {
      const name = header[1]!.split(".")[0]!.replace(/^"|"$/g, "")
      if (!top.has(name)) top.set(name, i + 1)
      current = undefined
      return
    }
    const key = /^("([^"]*)"|'([^']*)'|[A-Za-z0-9_-]+)\s*=/.exec(line)
    if (key !== null && current !== undefined) {
      const k = key[2] ?? key[3] ?? key[1]!
      if (!current.has(k)) current.set(k, i + 1)
    }
  })
  return { top, nodes }
}

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date)

const at = (line: number | undefined) => (line === undefined ? "" : `line ${line}: `)

/** Readable by others than its owner (a secret in it is no secret). */
const othersCanRead = (file: string): boolean => {
  try {
    return (fs.statSync(file).mode & 0o077) !== 0
  } catch {
    return false
  }
}

/**
 * The fleet in `text` (the file `file`, whose folder relative token_file
 * paths are read from); `envToken` is WEMIXVISOR_API_TOKEN, the token of the
 * nodes that name none.
 */
export const parseFleet = (
  file: string,
  text: string,
  envToken: string | undefined
): Effect.Effect<Fleet, InvalidInput> =>
  Effect.gen(function*() {
    const bad = (problem: string) => new InvalidInput({ field: `fleet file ${file}`, problem })
    let doc: unknown
    try {
      doc = parseToml(text)
    } catch (e) {
      const first = (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "parse error"
      return yield* bad(e instanceof TomlError ? `line ${e.line}, column ${e.column}: ${first}` : first)
    }
    const places = scan(text)
    if (!isTable(doc)) return yield* bad("not a TOML document")
    for (const key of Object.keys(doc)) {
      if (key !== "node") {
        return yield* bad(
          `${at(places.top.get(key))}unknown key ${JSON.stringify(key)} (a fleet file has only [[node]] tables)`
        )
      }
    }
    const tables = doc.node
    if (tables === undefined || (Array.isArray(tables) && tables.length === 0)) {
      return yield* bad(
        "no [[node]] tables: list each supervisor as a [[node]] table with name, url and token or token_file"
      )
    }
    if (!Array.isArray(tables) || !tables.every(isTable)) {
      return yield* bad(`${at(places.top.get("node"))}node must be [[node]] tables, one per supervisor`)
    }
    const nodes: Array<FleetNode & { readonly line: number | undefined }> = []
    const warnings: Array<string> = []
    const inline: Array<string> = []
    for (const [i, table] of tables.entries()) {
      const place = places.nodes.length === tables.length ? places.nodes[i] : undefined
      const where = (key?: string) => at(key === undefined ? place?.line : place?.keys.get(key) ?? place?.line)
      const label = typeof table.name === "string" ? `node ${JSON.stringify(table.name)}` : `node #${i + 1}`
      for (const key of Object.keys(table)) {
        if (!(KEYS as ReadonlyArray<string>).includes(key)) {
          return yield* bad(
            `${where(key)}${label}: unknown key ${JSON.stringify(key)} (expected ${KEYS.join(", ")})`
          )
        }
      }
      const decoded = Schema.decodeUnknownEither(NodeTable, { errors: "first" })(table)
      if (Either.isLeft(decoded)) {
        const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]
        const key = issue?.path[0] !== undefined ? String(issue.path[0]) : undefined
        const missing = key !== undefined && !(key in table)
        return yield* bad(
          `${where(key)}${label}: ${
            key === undefined
              ? (issue?.message ?? "not a node table")
              : missing
              ? `${key} is missing`
              : `${key} must be a string`
          }`
        )
      }
      const n = decoded.right
      if (!NAME.test(n.name)) return yield* bad(`${where("name")}${label}: name must be ${NAME_RULE}`)
      const urlProblem = checkUrl(n.url)
      if (urlProblem !== undefined) return yield* bad(`${where("url")}${label}: url ${urlProblem}`)
      if (n.token !== undefined && n.token_file !== undefined) {
        return yield* bad(`${where("token_file")}${label}: give token or token_file, not both`)
      }
      let token: Option.Option<string>
      let tokenSource: string
      if (n.token !== undefined) {
        const p = checkToken(n.token)
        if (p !== undefined) return yield* bad(`${where("token")}${label}: token ${p}`)
        token = Option.some(n.token)
        tokenSource = `the token of ${label} in ${file}`
        inline.push(n.name)
      } else if (n.token_file !== undefined) {
        const tokenFile = path.resolve(path.dirname(file), n.token_file)
        let content: string
        try {
          content = fs.readFileSync(tokenFile, "utf8")
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code
          return yield* bad(
            `${where("token_file")}${label}: token_file ${tokenFile} cannot be read${
              code !== undefined ? ` (${code})` : ""
            }`
          )
        }
        const p = checkToken(content.trim())
        if (p !== undefined) return yield* bad(`${where("token_file")}${label}: token_file ${tokenFile} ${p}`)
        if (othersCanRead(tokenFile)) {
          return yield* bad(
            `${
              where("token_file")
            }${label}: token_file ${tokenFile} is readable by other users; run chmod 600 ${tokenFile}`
          )
        }
        token = Option.some(content.trim())
        tokenSource = `token_file ${tokenFile} (${label} in ${file})`
      } else {
        token = envToken === undefined || envToken === "" ? Option.none() : Option.some(envToken)
        tokenSource = "WEMIXVISOR_API_TOKEN"
      }
      const line = place?.line
      const twin = nodes.find((m) => m.name === n.name) ?? nodes.find((m) => sameUrl(m.url, n.url))
      if (twin !== undefined) {
        const what = twin.name === n.name ? `name ${JSON.stringify(n.name)}` : `url ${n.url}`
        return yield* bad(
          `${where(twin.name === n.name ? "name" : "url")}${label}: ${what} is already used by node ${
            JSON.stringify(twin.name)
          }${twin.line !== undefined ? ` (line ${twin.line})` : ""}; each node is listed once`
        )
      }
      nodes.push({ name: n.name, url: n.url, token, tokenSource, line })
    }
    if (inline.length > 0 && othersCanRead(file)) {
      warnings.push(
        `${file} holds API tokens (${
          inline.join(", ")
        }) and is readable by other users; run chmod 600 ${file}, or use token_file`
      )
    }
    return {
      nodes: nodes.map(({ line: _line, ...node }) => node),
      source: file,
      warnings
    }
  })

const sameUrl = (a: string, b: string) => {
  try {
    return new URL(a).toString() === new URL(b).toString()
  } catch {
    return a === b
  }
}

/** Reads and parses the fleet file `file`. */
export const readFleet = (file: string, envToken: string | undefined): Effect.Effect<Fleet, InvalidInput> =>
  Effect.gen(function*() {
    const full = path.resolve(file)
    let text: string
    try {
      text = fs.readFileSync(full, "utf8")
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      return yield* new InvalidInput({
        field: "--fleet",
        problem: `${full} cannot be read${code !== undefined ? ` (${code})` : ""}`
      })
    }
    return yield* parseFleet(full, text, envToken)
  })

/** `host:port` of a URL, the scheme's default port spelled out. */
const hostPort = (u: URL) =>
  `${u.hostname.replace(/^\[|\]$/g, "")}:${u.port !== "" ? u.port : u.protocol === "https:" ? "443" : "80"}`

/** `--remote a,b,c`: the nodes named host:port, each with WEMIXVISOR_API_TOKEN. */
export const fleetOfRemotes = (list: string, envToken: string | undefined): Either.Either<Fleet, InvalidInput> => {
  const bad = (problem: string) => Either.left(new InvalidInput({ field: "--remote", problem }))
  const urls = list.split(",").map((s) => s.trim())
  if (urls.every((u) => u === "")) return bad("no URL given (expected URL,URL,…)")
  if (urls.some((u) => u === "")) return bad(`an empty entry in ${JSON.stringify(list)} (expected URL,URL,…)`)
  const nodes: Array<FleetNode> = []
  for (const url of urls) {
    const p = checkUrl(url)
    if (p !== undefined) return bad(p)
    const name = hostPort(new URL(url))
    if (nodes.some((n) => n.name === name)) return bad(`${name} is listed twice`)
    nodes.push({
      name,
      url,
      token: envToken === undefined || envToken === "" ? Option.none() : Option.some(envToken),
      tokenSource: "WEMIXVISOR_API_TOKEN"
    })
  }
  return Either.right({ nodes, source: "--remote", warnings: [] })
}

/**
 * The fleet a command drives: `--remote` (a list of URLs), else the fleet
 * file of `--fleet`, else of WEMIXVISOR_FLEET. Both flags at once is a
 * mistake (which fleet did the operator mean?), and so is neither.
 */
export const resolveFleet = (o: {
  readonly fleet: Option.Option<string>
  readonly remote: Option.Option<string>
  readonly env: { readonly [k: string]: string | undefined }
}): Effect.Effect<Fleet, InvalidInput> => {
  const envToken = o.env.WEMIXVISOR_API_TOKEN
  if (Option.isSome(o.fleet) && Option.isSome(o.remote)) {
    return Effect.fail(new InvalidInput({ field: "--fleet", problem: "give --fleet FILE or --remote URL,…, not both" }))
  }
  if (Option.isSome(o.remote)) return fleetOfRemotes(o.remote.value, envToken)
  const file = Option.orElse(
    o.fleet,
    () => Option.fromNullable(o.env.WEMIXVISOR_FLEET).pipe(Option.filter((f) => f !== ""))
  )
  if (Option.isNone(file)) {
    return Effect.fail(
      new InvalidInput({
        field: "--fleet",
        problem: "no fleet given: --fleet FILE (or WEMIXVISOR_FLEET), or --remote URL,URL,…"
      })
    )
  }
  return readFleet(file.value, envToken)
}
