import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { loadConfig } from "../../src/config/Config.js"
import { NETWORK_NAMES, networkConfigToml, NETWORKS } from "../../src/config/Networks.js"
import { makeHome, removeHomes, restoreEnv, runCli } from "../cli/support.js"
import { cleanup, tempDir } from "../support/fixtures.js"

afterEach(() => {
  restoreEnv()
  removeHomes()
})

describe("networks", () => {
  for (const name of NETWORK_NAMES) {
    it(`${name}: its config.toml loads, with its chain id`, () => {
      const home = tempDir("wemixvisor-network-")
      try {
        fs.mkdirSync(path.join(home, "wemixvisor"))
        const text = networkConfigToml(name)
        expect(text.split("\n").find((l) => l !== "" && !l.startsWith("#"))).toBe("version = 2")
        fs.writeFileSync(path.join(home, "wemixvisor", "config.toml"), text)
        const c = Effect.runSync(loadConfig({ env: { DAEMON_HOME: home, DAEMON_NAME: "gwemix" } }))
        expect(c.chainId).toEqual(Option.some(NETWORKS[name].chainId))
      } finally {
        cleanup(home)
      }
    })
  }

  it.effect("init --network writes config.toml once, refuses a second time and an unknown network", () =>
    Effect.gen(function*() {
      const h = makeHome()
      const file = path.join(h.root, "config.toml")
      const first = yield* runCli(["init", "--network", "wemix-mainnet", h.binary("v1")], h.env)
      expect(first.code).toBe(0)
      const written = fs.readFileSync(file, "utf8")
      expect(written).toBe(networkConfigToml("wemix-mainnet"))
      expect(written).toContain("daemon_chain_id = 1111")

      const again = yield* runCli(["init", "--force", "--network", "wemix-testnet", h.binary("v1")], {
        ...h.env
      })
      // --force replaces a config.toml: the testnet's now.
      expect(again.code).toBe(0)
      expect(fs.readFileSync(file, "utf8")).toBe(networkConfigToml("wemix-testnet"))

      const refused = yield* runCli(["init", "--network", "wemix-mainnet", h.binary("v1")], h.env)
      expect(refused.code).toBe(2)
      expect(refused.stderr).toContain("config.toml")
      expect(fs.readFileSync(file, "utf8")).toBe(networkConfigToml("wemix-testnet"))

      const other = makeHome()
      const unknown = yield* runCli(["init", "--network", "wemix-moon", other.binary("v1")], other.env)
      expect(unknown.code).toBe(2)
      expect(unknown.stderr).toContain("wemix-mainnet")
      expect(fs.existsSync(path.join(other.root, "config.toml"))).toBe(false)
      expect(fs.existsSync(path.join(other.root, "genesis"))).toBe(false)
    }))

  it.effect("init --force --network refuses next to a config.yaml: never two config files", () =>
    Effect.gen(function*() {
      const h = makeHome()
      expect((yield* runCli(["init", h.binary("v1")], h.env)).code).toBe(0)
      fs.writeFileSync(path.join(h.root, "config.yaml"), "daemon_chain_id: 1111\n")
      const r = yield* runCli(["init", "--force", "--network", "local", h.binary("v1")], h.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toContain("config.yaml")
      expect(fs.existsSync(path.join(h.root, "config.toml"))).toBe(false)
    }))
})
