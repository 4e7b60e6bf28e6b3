import * as path from "node:path"
import type { Target } from "./Target.js"

/** The on-disk layout of ARCHITECTURE §3, computed once from DAEMON_HOME and DAEMON_NAME. */
export interface Layout {
  readonly home: string
  readonly root: string
  readonly daemonName: string
  readonly genesis: string
  readonly upgrades: string
  readonly current: string
  readonly plan: string
  readonly planLock: string
  readonly dropIn: string
  readonly history: string
  readonly journal: string
  readonly runLock: string
  readonly nodePid: string
  readonly backups: string
  readonly configToml: string
  /** The API bearer token `run` generates when WEMIXVISOR_API_TOKEN is unset (0600). */
  readonly apiToken: string
  /** The operator's pause of upgrades (`upgrade pause`), absent when not paused: it outlives a restart. */
  readonly pauseMarker: string
  /** The governance source's cursor: the last block whose registry events were applied (ARCHITECTURE §10). */
  readonly governance: string
  /** The Governor's proposals that call the registry, and how far its logs were read (ProposalsLive.ts). */
  readonly proposals: string
  /** Folder of a target: `genesis` or `upgrades/<name>`. */
  readonly targetDir: (target: Target) => string
  /** `<target folder>/bin/$DAEMON_NAME`. */
  readonly binary: (target: Target) => string
  /** The binary the node runs: `current/bin/$DAEMON_NAME`. */
  readonly currentBinary: string
}

export const makeLayout = (home: string, daemonName: string): Layout => {
  const root = path.join(home, "wemixvisor")
  const upgrades = path.join(root, "upgrades")
  const targetDir = (target: Target) => target === "genesis" ? path.join(root, "genesis") : path.join(upgrades, target)
  return {
    home,
    root,
    daemonName,
    genesis: path.join(root, "genesis"),
    upgrades,
    current: path.join(root, "current"),
    plan: path.join(root, "upgrade-plan.json"),
    planLock: path.join(root, "upgrade-plan.lock"),
    dropIn: path.join(root, "upgrade-info.json"),
    history: path.join(root, "upgrade-history.jsonl"),
    journal: path.join(root, "journal.json"),
    runLock: path.join(root, "run.lock"),
    nodePid: path.join(root, "node.pid"),
    backups: path.join(root, "backups"),
    configToml: path.join(root, "config.toml"),
    apiToken: path.join(root, "api.token"),
    pauseMarker: path.join(root, "upgrades-paused.json"),
    governance: path.join(root, "governance.json"),
    proposals: path.join(root, "proposals.json"),
    targetDir,
    binary: (target) => path.join(targetDir(target), "bin", daemonName),
    currentBinary: path.join(root, "current", "bin", daemonName)
  }
}

/** The target a `current` link text names (`genesis` or `upgrades/<name>`), if any. */
export const targetOfLink = (linkText: string): Target | undefined => {
  const norm = linkText.replace(/\/+$/, "")
  if (norm === "genesis" || norm.endsWith("/genesis")) return "genesis"
  const m = /(?:^|\/)upgrades\/([^/]+)$/.exec(norm)
  return m ? (m[1] as Target) : undefined
}
