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

  for (const name of NETWORK_NAMES) {
    it(`${name}: the four governance keys are written commented out, each explained, and load once uncommented`, () => {
      const home = tempDir("wemixvisor-network-")
      try {
        fs.mkdirSync(path.join(home, "wemixvisor"))
        const text = networkConfigToml(name)
        const keys = [
          "daemon_governance_registry",
          "daemon_governance_governor",
          "daemon_governance_confirmations",
          "daemon_governance_from_block"
        ]
        const all = text.split("\n")
        for (const key of keys) {
          // Never set as written; commented out, under at least two lines that say what it does.
          expect(all.some((l) => l.startsWith(key))).toBe(false)
          const at = all.findIndex((l) => l.startsWith(`# ${key} = `))
          expect(at, key).toBeGreaterThan(1)
          expect(all[at - 1]).toMatch(/^# \S/)
          expect(all[at - 2]).toMatch(/^# \S/)
        }
        expect(text).toContain("UpgradeScheduled(string name, uint64 height, string info)")
        expect(text).toContain("UpgradeCancelled(string name)")
        expect(text).toMatch(/reorganisations/)
        // As written: the source is off.
        const file = path.join(home, "wemixvisor", "config.toml")
        fs.writeFileSync(file, text)
        const off = Effect.runSync(loadConfig({ env: { DAEMON_HOME: home, DAEMON_NAME: "gwemix" } }))
        expect(off.governanceRegistry).toEqual(Option.none())
        expect(off.governanceConfirmations).toBe(5)
        // Uncommented (an operator's edit): every key is one the reader knows, with a valid example value.
        const registry = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
        fs.writeFileSync(
          file,
          all.map((l) => l.replace(/^# (daemon_governance_\w+ = )/, "$1")).join("\n")
            .replace(/^(daemon_governance_registry = )".*"$/m, `$1"${registry}"`)
        )
        const on = Effect.runSync(loadConfig({ env: { DAEMON_HOME: home, DAEMON_NAME: "gwemix" } }))
        expect(on.governanceRegistry).toEqual(Option.some(registry))
        expect(on.governanceConfirmations).toBe(5)
        expect(on.governanceFromBlock).toEqual(Option.some(0))
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
