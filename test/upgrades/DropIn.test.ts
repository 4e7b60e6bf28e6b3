import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { parseDropIn } from "../../src/upgrades/DropIn.js"

const SHA = "sha256:" + "ab".repeat(32)
const parse = (json: unknown) =>
  parseDropIn("upgrade-info.json", typeof json === "string" ? json : JSON.stringify(json))

describe("parseDropIn", () => {
  it("reads name, height, info text; unknown fields (cosmovisor's time) are ignored", () => {
    expect(parse({ name: "v2", height: 1500, info: "see notes", time: "0001-01-01T00:00:00Z" })).toEqual(
      Either.right({ name: "v2", height: 1500, info: "see notes", binaries: {}, checksums: {} })
    )
  })

  it("on_failure: rollback or halt is taken as the upgrade's policy; absent follows the default; anything else is refused", () => {
    expect(parse({ name: "v2", height: 1500, on_failure: "halt" })).toEqual(
      Either.right({ name: "v2", height: 1500, info: "", binaries: {}, checksums: {}, onFailure: "halt" })
    )
    expect(Either.getOrThrow(parse({ name: "v2", height: 1500 }))).not.toHaveProperty("onFailure")
    const refused = parse({ name: "v2", height: 1500, on_failure: "pray" })
    expect(Either.isLeft(refused)).toBe(true)
    if (Either.isLeft(refused)) {
      expect(refused.left.name).toBe("v2")
      expect(refused.left.reason).toMatch(/on_failure/)
      expect(refused.left.reason).toMatch(/rollback or halt/)
    }
  })

  it("stores an info object as JSON text and keeps explicit binaries/checksums", () => {
    expect(
      parse({
        name: "v2",
        height: 10,
        info: { note: "x" },
        binaries: { "linux/amd64": "https://example.com/gwemix" },
        checksums: { "linux/amd64": SHA }
      })
    ).toEqual(
      Either.right({
        name: "v2",
        height: 10,
        info: "{\"note\":\"x\"}",
        binaries: { "linux/amd64": "https://example.com/gwemix" },
        checksums: { "linux/amd64": SHA }
      })
    )
  })

  it("takes binaries and checksums from cosmovisor's info form, as an object or as JSON text", () => {
    const info = {
      binaries: {
        "linux/amd64": `https://example.com/gwemix.tar.gz?checksum=${SHA}`,
        "linux/arm64": "https://example.com/arm"
      }
    }
    const expected = {
      binaries: { "linux/amd64": "https://example.com/gwemix.tar.gz", "linux/arm64": "https://example.com/arm" },
      checksums: { "linux/amd64": SHA }
    }
    expect(parse({ name: "v2", height: 10, info })).toEqual(
      Either.right({ name: "v2", height: 10, info: JSON.stringify(info), ...expected })
    )
    expect(parse({ name: "v2", height: 10, info: JSON.stringify(info) })).toEqual(
      Either.right({ name: "v2", height: 10, info: JSON.stringify(info), ...expected })
    )
    // The file's own maps win over what info carries.
    const own = parse({ name: "v2", height: 10, info, binaries: { "linux/amd64": "file:///opt/gwemix" } })
    expect(Either.getOrThrow(own).binaries).toEqual({ ...expected.binaries, "linux/amd64": "file:///opt/gwemix" })
  })

  it("refuses, naming the problem and the upgrade (or the file when there is no valid name)", () => {
    const problem = (json: unknown) => Either.flip(parse(json)).pipe(Either.getOrThrow)
    expect(problem("{\"name\": \"v2\", \"height\": ")).toMatchObject({
      name: "upgrade-info.json",
      reason: expect.stringMatching(/^not JSON/)
    })
    expect(problem({ name: "../v2", height: 10 })).toMatchObject({
      name: "upgrade-info.json",
      reason: expect.stringMatching(/^name: an upgrade name/)
    })
    expect(problem({ name: "v2", height: -1 })).toMatchObject({
      name: "v2",
      reason: "height: a height must not be negative"
    })
    expect(problem({ name: "v2", height: "10" })).toMatchObject({
      name: "v2",
      reason: expect.stringMatching(/^height: Expected number/)
    })
    expect(problem({ name: "v2" })).toMatchObject({ name: "v2", reason: "height: is missing" })
    expect(problem({ name: "v2", height: 10, checksums: { "linux/amd64": "md5:1" } })).toMatchObject({
      reason: expect.stringMatching(/^checksums\.linux\/amd64: a checksum is/)
    })
    expect(problem({ name: "v2", height: 10, info: { binaries: { "linux/amd64": "https://x/y?checksum=sha256:12" } } }))
      .toMatchObject({
        reason: expect.stringMatching(/checksum "sha256:12" is not/)
      })
  })
})
