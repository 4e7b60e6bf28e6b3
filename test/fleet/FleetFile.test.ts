/*
 * The fleet file and --remote (issue #18 item 5): a valid file in every
 * form a node can take its token, and every bad input refused as one
 * InvalidInput (exit 2) naming the file, the line and the key.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { exitCodeOf } from "../../src/cli/exit.js"
import { fleetOfRemotes, parseFleet, readFleet, resolveFleet } from "../../src/fleet/FleetFile.js"
import { cleanup, tempDir } from "../support/fixtures.js"

const dir = tempDir("wemixvisor-fleet-file-")
afterAll(() => cleanup(dir))
const FILE = path.join(dir, "fleet.toml")

const parse = (text: string, envToken?: string) => Effect.runSync(Effect.either(parseFleet(FILE, text, envToken)))

/** The refusal of `text`: its message (and it is exit 2). */
const refusal = (text: string): string => {
  const r = parse(text)
  if (Either.isRight(r)) throw new Error(`accepted: ${JSON.stringify(r.right)}`)
  expect(r.left._tag).toBe("InvalidInput")
  expect(exitCodeOf(r.left)).toBe(2)
  return r.left.message
}

const tokenFile = (name: string, content: string, mode = 0o600) => {
  const f = path.join(dir, name)
  fs.writeFileSync(f, content, { mode })
  fs.chmodSync(f, mode)
  return f
}

describe("a valid fleet file", () => {
  it("three nodes, in file order: an inline token, a token_file (relative to the file), none (WEMIXVISOR_API_TOKEN)", () => {
    tokenFile("b.token", "tok-b\n")
    const r = parse(
      [
        "# the fleet",
        "[[node]]",
        `name = "node-a"`,
        `url = "http://10.0.0.1:8590"`,
        `token = "tok-a"`,
        "",
        "[[node]]",
        `name = "node-b"`,
        `url = "https://b.example:8590"`,
        `token_file = "b.token"`,
        "",
        "[[node]]",
        `name = "node-c"`,
        `url = "http://10.0.0.3:8590"`
      ].join("\n"),
      "tok-env"
    )
    expect(Either.isRight(r)).toBe(true)
    const fleet = Either.getOrThrow(r)
    expect(fleet.source).toBe(FILE)
    expect(fleet.nodes.map((n) => [n.name, n.url, Option.getOrNull(n.token)])).toEqual([
      ["node-a", "http://10.0.0.1:8590", "tok-a"],
      ["node-b", "https://b.example:8590", "tok-b"],
      ["node-c", "http://10.0.0.3:8590", "tok-env"]
    ])
    expect(fleet.nodes[0]!.tokenSource).toContain(FILE)
    expect(fleet.nodes[1]!.tokenSource).toContain(path.join(dir, "b.token"))
    expect(fleet.nodes[2]!.tokenSource).toBe("WEMIXVISOR_API_TOKEN")
  })

  it("no token anywhere: the node is called without one (and says so when it refuses)", () => {
    const fleet = Either.getOrThrow(parse(`[[node]]\nname = "a"\nurl = "http://h:1"\n`))
    expect(Option.isNone(fleet.nodes[0]!.token)).toBe(true)
  })

  it("inline tokens in a file other users can read: a warning, not a refusal", () => {
    const f = path.join(dir, "open.toml")
    const text = `[[node]]\nname = "a"\nurl = "http://h:1"\ntoken = "t"\n`
    fs.writeFileSync(f, text, { mode: 0o644 })
    fs.chmodSync(f, 0o644)
    const fleet = Effect.runSync(readFleet(f, undefined))
    expect(fleet.warnings).toEqual([
      expect.stringMatching(/holds API tokens \(a\) and is readable by other users; run chmod 600/)
    ])
    fs.chmodSync(f, 0o600)
    expect(Effect.runSync(readFleet(f, undefined)).warnings).toEqual([])
  })
})

describe("every bad fleet file is refused, naming the file, the line and the key", () => {
  const node = (...lines: Array<string>) => ["[[node]]", ...lines].join("\n")

  it("not TOML: the parser's line and column", () => {
    expect(refusal(`[[node]]\nname = "a\n`)).toMatch(
      new RegExp(`^invalid fleet file ${FILE}: line 2, column \\d+: `)
    )
  })

  it("an unknown key in a node: the key, its line, the keys there are", () => {
    expect(refusal(node(`name = "a"`, `url = "http://h:1"`, `tokn = "x"`))).toBe(
      `invalid fleet file ${FILE}: line 4: node "a": unknown key "tokn" (expected name, url, token, token_file)`
    )
  })

  it("an unknown key or table at the top", () => {
    expect(refusal(`timeout = 5\n${node(`name = "a"`, `url = "http://h:1"`)}`)).toBe(
      `invalid fleet file ${FILE}: line 1: unknown key "timeout" (a fleet file has only [[node]] tables)`
    )
    expect(refusal(`[[nodes]]\nname = "a"\n`)).toMatch(/line 1: unknown key "nodes"/)
  })

  it("no nodes, or node not tables", () => {
    expect(refusal("")).toMatch(/no \[\[node\]\] tables/)
    expect(refusal("# nothing yet\n")).toMatch(/no \[\[node\]\] tables/)
    expect(refusal(`node = "a"\n`)).toMatch(/line 1: node must be \[\[node\]\] tables/)
  })

  it("a missing name or url: the node's line", () => {
    expect(refusal(`${node(`name = "a"`, `url = "http://h:1"`)}\n\n${node(`name = "b"`)}`)).toBe(
      `invalid fleet file ${FILE}: line 5: node "b": url is missing`
    )
    expect(refusal(node(`url = "http://h:1"`))).toBe(`invalid fleet file ${FILE}: line 1: node #1: name is missing`)
  })

  it("a value of the wrong type", () => {
    expect(refusal(node(`name = "a"`, `url = 8590`))).toBe(
      `invalid fleet file ${FILE}: line 3: node "a": url must be a string`
    )
    expect(refusal(node(`name = 1`, `url = "http://h:1"`))).toMatch(/line 2: node #1: name must be a string/)
    expect(refusal(node(`name = "a"`, `url = "http://h:1"`, `token = 42`))).toMatch(
      /line 4: node "a": token must be a string/
    )
  })

  it("a bad name", () => {
    expect(refusal(node(`name = "node a"`, `url = "http://h:1"`))).toMatch(
      /line 2: node "node a": name must be 1-64 characters/
    )
    expect(refusal(node(`name = ""`, `url = "http://h:1"`))).toMatch(/name must be/)
    expect(refusal(node(`name = "-a"`, `url = "http://h:1"`))).toMatch(/name must be/)
  })

  it("a bad url: not a URL, not http(s), credentials in it", () => {
    expect(refusal(node(`name = "a"`, `url = "10.0.0.1:8590"`))).toMatch(/line 3: node "a": url "10.0.0.1:8590" is not/)
    expect(refusal(node(`name = "a"`, `url = "ftp://h:1"`))).toMatch(/url "ftp:\/\/h:1" is not an http\(s\) URL/)
    expect(refusal(node(`name = "a"`, `url = "http://u:p@h:1"`))).toMatch(/has credentials in it/)
  })

  it("token and token_file both; an empty token; a token with spaces", () => {
    expect(refusal(node(`name = "a"`, `url = "http://h:1"`, `token = "t"`, `token_file = "f"`))).toBe(
      `invalid fleet file ${FILE}: line 5: node "a": give token or token_file, not both`
    )
    expect(refusal(node(`name = "a"`, `url = "http://h:1"`, `token = ""`))).toMatch(/line 4: node "a": token is empty/)
    expect(refusal(node(`name = "a"`, `url = "http://h:1"`, `token = "a b"`))).toMatch(/token must be one token/)
  })

  it("a token_file that is missing, empty, two words, or readable by others", () => {
    expect(refusal(node(`name = "a"`, `url = "http://h:1"`, `token_file = "nope.token"`))).toBe(
      `invalid fleet file ${FILE}: line 4: node "a": token_file ${path.join(dir, "nope.token")} cannot be read (ENOENT)`
    )
    tokenFile("empty.token", "\n")
    expect(refusal(node(`name = "a"`, `url = "http://h:1"`, `token_file = "empty.token"`))).toMatch(
      /empty\.token is empty/
    )
    tokenFile("two.token", "a b\n")
    expect(refusal(node(`name = "a"`, `url = "http://h:1"`, `token_file = "two.token"`))).toMatch(/must be one token/)
    const open = tokenFile("open.token", "t\n", 0o644)
    expect(refusal(node(`name = "a"`, `url = "http://h:1"`, `token_file = "${open}"`))).toMatch(
      /is readable by other users; run chmod 600 .*open\.token/
    )
  })

  it("a name or a URL listed twice: both lines", () => {
    const twice = (a: Array<string>, b: Array<string>) => `${node(...a)}\n${node(...b)}`
    expect(refusal(twice([`name = "a"`, `url = "http://h:1"`], [`name = "a"`, `url = "http://h:2"`]))).toBe(
      `invalid fleet file ${FILE}: line 5: node "a": name "a" is already used by node "a" (line 1); each node is listed once`
    )
    expect(refusal(twice([`name = "a"`, `url = "http://h:1"`], [`name = "b"`, `url = "http://h:1/"`]))).toMatch(
      /line 6: node "b": url http:\/\/h:1\/ is already used by node "a" \(line 1\)/
    )
  })

  it("a missing fleet file: --fleet and the path", () => {
    const r = Effect.runSync(Effect.either(readFleet(path.join(dir, "missing.toml"), undefined)))
    expect(Either.isLeft(r) && r.left.message).toBe(
      `invalid --fleet: ${path.join(dir, "missing.toml")} cannot be read (ENOENT)`
    )
  })
})

describe("--remote a,b,c and which fleet a command drives", () => {
  it("--remote: names host:port (the default port spelled out), each with WEMIXVISOR_API_TOKEN", () => {
    const fleet = Either.getOrThrow(fleetOfRemotes("http://10.0.0.1:8590, https://b.example ,http://[::1]:9", "t"))
    expect(fleet.nodes.map((n) => [n.name, Option.getOrNull(n.token), n.tokenSource])).toEqual([
      ["10.0.0.1:8590", "t", "WEMIXVISOR_API_TOKEN"],
      ["b.example:443", "t", "WEMIXVISOR_API_TOKEN"],
      ["::1:9", "t", "WEMIXVISOR_API_TOKEN"]
    ])
  })

  it("--remote refused: empty, an empty entry, not a URL, a node twice", () => {
    const msg = (list: string) => {
      const r = fleetOfRemotes(list, undefined)
      if (Either.isRight(r)) throw new Error("accepted")
      expect(exitCodeOf(r.left)).toBe(2)
      return r.left.message
    }
    expect(msg("")).toMatch(/^invalid --remote: no URL given/)
    expect(msg("http://a:1,,http://b:1")).toMatch(/an empty entry/)
    expect(msg("http://a:1,b:1")).toMatch(/"b:1" is not an http\(s\) URL/)
    expect(msg("http://a:1,http://a:1/rpc")).toMatch(/a:1 is listed twice/)
  })

  it("--fleet over WEMIXVISOR_FLEET; --remote and --fleet together, or no fleet at all, refused", () => {
    const f = path.join(dir, "env.toml")
    fs.writeFileSync(f, `[[node]]\nname = "from-env"\nurl = "http://h:1"\n`)
    const resolve = (o: { fleet?: string; remote?: string; env?: Record<string, string> }) =>
      Effect.runSync(
        Effect.either(
          resolveFleet({ fleet: Option.fromNullable(o.fleet), remote: Option.fromNullable(o.remote), env: o.env ?? {} })
        )
      )
    expect(Either.getOrThrow(resolve({ env: { WEMIXVISOR_FLEET: f } })).nodes[0]!.name).toBe("from-env")
    expect(Either.getOrThrow(resolve({ remote: "http://x:1", env: { WEMIXVISOR_FLEET: f } })).nodes[0]!.name).toBe(
      "x:1"
    )
    const both = resolve({ fleet: f, remote: "http://x:1" })
    expect(Either.isLeft(both) && both.left.message).toBe(
      "invalid --fleet: give --fleet FILE or --remote URL,…, not both"
    )
    const none = resolve({})
    expect(Either.isLeft(none) && none.left.message).toMatch(/no fleet given: --fleet FILE \(or WEMIXVISOR_FLEET\)/)
    expect(Either.isLeft(none) && exitCodeOf(none.left)).toBe(2)
  })
})
