import type { UpgradeName } from "./Upgrade.js"

/** What `current` points at: the genesis binary or one upgrade's folder. */
export type Target = "genesis" | UpgradeName
