import { CONFIG_VERSION } from "./Aliases.js"

/*
 * The networks `wemixvisor init --network <name>` knows: for each, the
 * config.toml it writes (keys are the env names in lower case, Keys.ts).
 * Adding a network is one entry in NETWORKS; nothing else names them.
 */

/** One key of a network's config file: its value, and the one-line comment written above it. */
export interface NetworkKey {
  readonly value: string | number | boolean
  readonly comment: string
}

export interface Network {
  readonly description: string
  /** The chain id the node must report (written as daemon_chain_id). */
  readonly chainId: number
  readonly keys: Readonly<Record<string, NetworkKey>>
}

/** The keys every gwemix network shares: gwemix's default ports, and a 1 s block time. */
const gwemix = (chainId: number): Readonly<Record<string, NetworkKey>> => ({
  daemon_chain_id: { value: chainId, comment: "an upgrade runs only while the node reports this chain id" },
  daemon_rpc_url: { value: "http://127.0.0.1:8588", comment: "gwemix's HTTP JSON-RPC (default port)" },
  daemon_ws_url: {
    value: "ws://127.0.0.1:8598",
    comment: "gwemix's WebSocket: new heights are pushed, not polled"
  },
  // There is no block-time key: a 1 s chain that has not moved for a minute is stalled.
  wemixvisor_stall_after: { value: "60s", comment: "blocks come every 1 s: a minute without one is a stall" },
  daemon_verify_min_up: { value: "10s", comment: "the new binary must stay up this long after an upgrade" },
  daemon_verify_timeout: {
    value: "5m",
    comment: "mainnet's big database can take minutes to open before the RPC answers"
  },
  daemon_verify_progress: { value: true, comment: "an upgrade is verified only once the height moves again" },
  daemon_shutdown_grace: { value: "60s", comment: "gwemix flushes its database on SIGTERM: give it time" }
})

/** Every network `init --network` knows, by name. */
export const NETWORKS = {
  "wemix-mainnet": { description: "WEMIX3.0 mainnet", chainId: 1111, keys: gwemix(1111) },
  "wemix-testnet": { description: "WEMIX3.0 testnet", chainId: 1112, keys: gwemix(1112) },
  "local": {
    description: "a local dev chain (anvil, hardhat)",
    chainId: 31337,
    keys: {
      daemon_chain_id: { value: 31337, comment: "anvil's and hardhat's default chain id" },
      daemon_rpc_url: { value: "http://127.0.0.1:8545", comment: "the dev node's HTTP JSON-RPC (default port)" },
      daemon_ws_url: { value: "ws://127.0.0.1:8545", comment: "the same port serves the WebSocket" },
      wemixvisor_stall_after: { value: "30s", comment: "a dev chain may mine only on transactions: be lenient" },
      daemon_verify_min_up: { value: "2s", comment: "a dev node starts in a moment" },
      daemon_verify_timeout: { value: "30s", comment: "no big database to open" },
      daemon_verify_progress: {
        value: false,
        comment: "a dev chain may not mine without transactions: the height need not move"
      },
      daemon_shutdown_grace: { value: "10s", comment: "nothing much to flush" }
    }
  }
} as const satisfies Record<string, Network>

export type NetworkName = keyof typeof NETWORKS

export const NETWORK_NAMES = Object.keys(NETWORKS) as ReadonlyArray<NetworkName>

export const isNetworkName = (name: string): name is NetworkName => Object.hasOwn(NETWORKS, name)

const tomlValue = (v: string | number | boolean): string => (typeof v === "string" ? JSON.stringify(v) : String(v))

/*
 * The governance source (ARCHITECTURE §10), off unless the operator turns it
 * on: written commented out, each key under what it does, since there is no
 * registry address a network could ship with.
 */
const GOVERNANCE: ReadonlyArray<
  { readonly key: string; readonly example: string; readonly comment: ReadonlyArray<string> }
> = [
  {
    key: "daemon_governance_registry",
    example: "\"0x0000000000000000000000000000000000000000\"",
    comment: [
      "upgrades decided on chain: the contract whose UpgradeScheduled(string name, uint64 height, string info)",
      "and UpgradeCancelled(string name) events schedule and cancel upgrades, as `upgrade schedule` does.",
      "Any contract emitting both works (contracts/UpgradeRegistry.sol is the reference); `config check` checks it."
    ]
  },
  {
    key: "daemon_governance_governor",
    example: "\"0x0000000000000000000000000000000000000000\"",
    comment: [
      "an OpenZeppelin Governor whose proposals call the registry: `upgrade proposals` shows them before",
      "they pass. Optional; only the registry's events change the plan."
    ]
  },
  {
    key: "daemon_governance_confirmations",
    example: "5",
    comment: [
      "blocks an event must be buried under before it is read: more survive deeper reorganisations,",
      "fewer apply an upgrade sooner: an event counts only this many blocks after its own block."
    ]
  },
  {
    key: "daemon_governance_from_block",
    example: "0",
    comment: [
      "the first block read on a home without governance.json (default: the head at the first start);",
      "set it to the registry's deployment block to apply what was scheduled before."
    ]
  }
]

/** The commented config.toml for `name`: a header, `version`, then each key under its comment. */
export const networkConfigToml = (name: NetworkName): string => {
  const network: Network = NETWORKS[name]
  const lines = [
    `# wemixvisor config for ${name} (${network.description}, chain id ${network.chainId}),`,
    "# written by `wemixvisor init --network`. Keys are the env names in lower case;",
    "# an env var that is set wins over its key here.",
    "",
    "# the config file format version",
    `version = ${CONFIG_VERSION}`
  ]
  for (const [key, { comment, value }] of Object.entries(network.keys)) {
    lines.push("", `# ${comment}`, `${key} = ${tomlValue(value)}`)
  }
  lines.push("", "# --- governance: off until daemon_governance_registry is set (uncomment to use) ---")
  for (const { comment, example, key } of GOVERNANCE) {
    lines.push("", ...comment.map((l) => `# ${l}`), `# ${key} = ${example}`)
  }
  return lines.join("\n") + "\n"
}
