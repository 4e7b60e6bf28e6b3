import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { checkEntries } from "../../src/binaries/Archive.js"
import { parseChecksum } from "../../src/binaries/Checksum.js"
import { checkDownloadAllowed } from "../../src/binaries/Download.js"
import {
  currentPlatform,
  fromCosmovisorInfo,
  parseBinaryFlags,
  platformKey,
  selectSource,
  validateSources
} from "../../src/binaries/Sources.js"

const SHA = "sha256:" + "ab".repeat(32)
const SHA512 = "sha512:" + "cd".repeat(64)
const URL1 = "https://github.com/wemixarchive/go-wemix/releases/download/w0.10.9/gwemix-linux-amd64.tar.gz"
const URL2 = "https://example.com/gwemix-linux-arm64.tar.gz"

const ok = <A, E>(e: Either.Either<A, E>): A =>
  Either.getOrThrowWith(e, (l) => new Error(`expected Right, got ${String(l)}`))
const bad = <A, E extends { readonly field: string; readonly problem: string }>(e: Either.Either<A, E>) =>
  Either.getOrThrowWith(Either.flip(e), () => new Error("expected Left"))

describe("parseBinaryFlags: the schedule command's forms", () => {
  it("--binaries URL --checksum sha256:… (the seeds' form) → stored under any; --url is an alias", () => {
    expect(ok(parseBinaryFlags({ binaries: URL1, checksum: SHA }))).toEqual({
      binaries: { any: URL1 },
      checksums: { any: SHA }
    })
    expect(ok(parseBinaryFlags({ url: URL1, checksum: SHA512.toUpperCase().replace("SHA512", "sha512") }))).toEqual({
      binaries: { any: URL1 },
      checksums: { any: SHA512 }
    })
    expect(ok(parseBinaryFlags({}))).toEqual({ binaries: {}, checksums: {} })
  })

  it("a JSON map per platform with --checksums", () => {
    const binaries = JSON.stringify({ "linux/amd64": URL1, "linux/arm64": URL2 })
    const checksums = JSON.stringify({ "linux/amd64": SHA, "linux/arm64": SHA512 })
    expect(ok(parseBinaryFlags({ binaries, checksums }))).toEqual({
      binaries: { "linux/amd64": URL1, "linux/arm64": URL2 },
      checksums: { "linux/amd64": SHA, "linux/arm64": SHA512 }
    })
  })

  it("a URL may carry cosmovisor's ?checksum=, which is split off", () => {
    expect(ok(parseBinaryFlags({ binaries: `${URL1}?checksum=${SHA}` }))).toEqual({
      binaries: { any: URL1 },
      checksums: { any: SHA }
    })
    expect(bad(parseBinaryFlags({ binaries: `${URL1}?checksum=${SHA}`, checksum: SHA512 }))).toMatchObject({
      field: "checksum",
      problem: expect.stringContaining("differs")
    })
  })

  it("refusals are InvalidInput naming the field", () => {
    const cases: ReadonlyArray<readonly [Parameters<typeof parseBinaryFlags>[0], string, RegExp]> = [
      [{ binaries: "not a url" }, "binaries", /is not a URL/],
      [{ binaries: "ftp://x/y" }, "binaries", /ftp: URLs are not supported/],
      [{ binaries: URL1, checksum: "md5:123" }, "checksum", /not sha256:<64 hex> or sha512:<128 hex>/],
      [{ binaries: URL1, checksum: "sha256:" + "ab".repeat(31) }, "checksum", /not sha256/],
      [{ checksum: SHA }, "checksum", /needs a binary URL/],
      [{ binaries: URL1, url: URL2 }, "url", /not both/],
      [{ binaries: URL1, checksums: "{}" }, "checksums", /JSON map/],
      [{ binaries: "{\"linux/amd64\": " }, "binaries", /not JSON/],
      [{ binaries: "[1]" }, "binaries", /expected a JSON object/],
      [{ binaries: JSON.stringify({ "linux/amd64": 1 }) }, "binaries.linux/amd64", /expected a string/],
      [{ binaries: JSON.stringify({ "Linux-AMD64": URL1 }) }, "binaries.Linux-AMD64", /not a platform/],
      [{ binaries: JSON.stringify({ "linux/amd64": URL1 }), checksum: SHA }, "checksum", /single --checksum/],
      [
        { binaries: JSON.stringify({ "linux/amd64": URL1 }), checksums: JSON.stringify({ "linux/arm64": SHA }) },
        "checksums.linux/arm64",
        /no binary URL for this platform/
      ],
      [
        { binaries: JSON.stringify({ "linux/amd64": URL1 }), checksums: JSON.stringify({ "linux/amd64": "sha1:00" }) },
        "checksums.linux/amd64",
        /not sha256/
      ]
    ]
    for (const [flags, field, problem] of cases) {
      const e = bad(parseBinaryFlags(flags))
      expect(e._tag).toBe("InvalidInput")
      expect({ field: e.field, flags }).toEqual({ field, flags })
      expect(e.problem).toMatch(problem)
    }
  })

  it("validateSources (the API's maps) applies the same rules", () => {
    expect(ok(validateSources({ "linux/amd64": URL1, any: "file:///opt/gwemix" }, { "linux/amd64": SHA }))).toEqual({
      binaries: { "linux/amd64": URL1, any: "file:///opt/gwemix" },
      checksums: { "linux/amd64": SHA }
    })
    expect(bad(validateSources({ "linux/amd64": URL1 }, { "linux/amd64": "nope" })).field).toBe("checksums.linux/amd64")
  })
})

describe("fromCosmovisorInfo", () => {
  it("reads {binaries: {platform: url?checksum=…}} from an object or JSON text; nothing when absent", () => {
    const info = { binaries: { "linux/amd64": `${URL1}?checksum=${SHA}`, "linux/arm64": URL2 } }
    const expected = { binaries: { "linux/amd64": URL1, "linux/arm64": URL2 }, checksums: { "linux/amd64": SHA } }
    expect(ok(fromCosmovisorInfo(info))).toEqual(expected)
    expect(ok(fromCosmovisorInfo(JSON.stringify(info)))).toEqual(expected)
    expect(ok(fromCosmovisorInfo("plain notes"))).toEqual({ binaries: {}, checksums: {} })
    expect(ok(fromCosmovisorInfo(undefined))).toEqual({ binaries: {}, checksums: {} })
  })

  it("refuses a bad entry, naming it", () => {
    expect(bad(fromCosmovisorInfo({ binaries: { "linux/amd64": `${URL1}?checksum=sha256:12` } }))).toMatchObject({
      field: "info.binaries[\"linux/amd64\"]",
      problem: "checksum \"sha256:12\" is not sha256:<64 hex> or sha512:<128 hex>"
    })
    expect(bad(fromCosmovisorInfo({ binaries: { "linux/amd64": 7 } })).field).toBe("info.binaries[\"linux/amd64\"]")
    expect(bad(fromCosmovisorInfo({ binaries: "x" })).field).toBe("info.binaries")
  })
})

describe("platforms", () => {
  it("Node's x64/arm64 are the manifests' amd64/arm64", () => {
    expect(platformKey("linux", "x64")).toBe("linux/amd64")
    expect(platformKey("linux", "arm64")).toBe("linux/arm64")
    expect(platformKey("darwin", "arm64")).toBe("darwin/arm64")
    expect(currentPlatform()).toBe(platformKey(process.platform, process.arch))
    if (process.platform === "linux" && process.arch === "x64") expect(currentPlatform()).toBe("linux/amd64")
  })

  it("selectSource: the platform's key first, then any", () => {
    const sources = {
      binaries: { "linux/amd64": URL1, "linux/arm64": URL2, any: "https://x/any" },
      checksums: { "linux/amd64": SHA }
    }
    expect(ok(selectSource("v2", sources, "linux/amd64"))).toEqual({
      platform: "linux/amd64",
      url: URL1,
      checksum: SHA
    })
    expect(ok(selectSource("v2", sources, "linux/arm64"))).toEqual({
      platform: "linux/arm64",
      url: URL2,
      checksum: undefined
    })
    expect(ok(selectSource("v2", sources, "linux/riscv64"))).toEqual({
      platform: "any",
      url: "https://x/any",
      checksum: undefined
    })
    const none = Either.getOrThrowWith(
      Either.flip(selectSource("v2", { binaries: {}, checksums: {} }, "linux/amd64")),
      () => new Error()
    )
    expect(none.message).toBe(`upgrade 'v2' has no binary for linux/amd64 or "any" (it has no binaries)`)
  })
})

describe("checksums and the download policy", () => {
  it("parseChecksum accepts sha256/sha512 in either case and normalizes to lower case", () => {
    expect(ok(parseChecksum(SHA.toUpperCase().replace("SHA256", "sha256")))).toEqual({
      algorithm: "sha256",
      hex: "ab".repeat(32)
    })
    expect(ok(parseChecksum(SHA512))).toEqual({ algorithm: "sha512", hex: "cd".repeat(64) })
    expect(Either.isLeft(parseChecksum("sha256:" + "ab".repeat(64)))).toBe(true)
    expect(Either.isLeft(parseChecksum("SHA256:" + "ab".repeat(32)))).toBe(true)
  })

  it("checkDownloadAllowed: disabled, no checksum, unsafe skip", () => {
    const msg = (e: Either.Either<unknown, { readonly message: string }>) =>
      Either.getOrThrowWith(Either.flip(e), () => new Error()).message
    expect(msg(checkDownloadAllowed({ allowDownloadBinaries: false, unsafeSkipChecksum: true }, URL1, SHA))).toBe(
      `will not download ${URL1}: downloads are disabled; set DAEMON_ALLOW_DOWNLOAD_BINARIES=true`
    )
    expect(msg(checkDownloadAllowed({ allowDownloadBinaries: true, unsafeSkipChecksum: false }, URL1, undefined)))
      .toContain(
        "DAEMON_UNSAFE_SKIP_CHECKSUM=true"
      )
    expect(msg(checkDownloadAllowed({ allowDownloadBinaries: true, unsafeSkipChecksum: true }, "ftp://x/gwemix", SHA)))
      .toContain(
        "ftp: URLs are not supported"
      )
    expect(ok(checkDownloadAllowed({ allowDownloadBinaries: true, unsafeSkipChecksum: true }, URL1, undefined)))
      .toBeUndefined()
    expect(ok(checkDownloadAllowed({ allowDownloadBinaries: true, unsafeSkipChecksum: true }, URL1, SHA))).toEqual({
      algorithm: "sha256",
      hex: "ab".repeat(32)
    })
  })
})

describe("checkEntries", () => {
  const refused = (...entries: Parameters<typeof checkEntries>[0]) => Either.isLeft(checkEntries(entries))
  it("accepts ./-prefixed trees, inner links and hard links; refuses every way out", () => {
    expect(
      refused(
        { path: "./", type: "directory" },
        { path: "./bin/gwemix", type: "file" },
        { path: "bin/link", type: "symlink", linkpath: "gwemix" },
        { path: "lib/a/b", type: "symlink", linkpath: "../../bin/gwemix" },
        { path: "hard", type: "hardlink", linkpath: "./bin/gwemix" }
      )
    ).toBe(false)
    expect(refused({ path: "a/../../x", type: "file" })).toBe(true)
    expect(refused({ path: "..", type: "directory" })).toBe(true)
    expect(refused({ path: "/x", type: "file" })).toBe(true)
    expect(refused({ path: "C:/x", type: "file" })).toBe(true)
    expect(refused({ path: "a\\..\\x", type: "file" })).toBe(true)
    expect(refused({ path: "lib/a/b", type: "symlink", linkpath: "../../../x" })).toBe(true)
    expect(refused({ path: "l", type: "symlink", linkpath: "/" })).toBe(true)
    expect(refused({ path: "l", type: "symlink", linkpath: "" })).toBe(true)
    expect(refused({ path: "h", type: "hardlink", linkpath: "../x" })).toBe(true)
    expect(refused({ path: "d", type: "symlink", linkpath: "sub" }, { path: "d/file", type: "file" })).toBe(true)
  })
})
