import { makeHeight } from "../../src/domain/Height.js"
import type { UpgradeWithEta } from "../../src/domain/Status.js"
import { Upgrade, type UpgradeName, type UpgradeStatus } from "../../src/domain/Upgrade.js"

/**
 * A pending upgrade as the status carries it, its ETA `eta_seconds` away
 * (null: unknown). `eta` defaults to that many seconds after 2026-01-01.
 */
export const pendingUpgrade = (
  name: string,
  height: number,
  eta_seconds: number | null,
  status: UpgradeStatus = "ready",
  reason: string | null = null,
  eta: string | null = eta_seconds === null ? null : new Date(Date.UTC(2026, 0, 1) + eta_seconds * 1000).toISOString()
): UpgradeWithEta => ({
  ...new Upgrade({
    name: name as UpgradeName,
    height: makeHeight(height),
    status,
    info: "",
    binaries: {},
    checksums: {},
    reason,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z"
  }),
  eta,
  eta_seconds
})
