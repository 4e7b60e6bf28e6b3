/*
 * The UpgradeSource module (DESIGN §1): the tag lives next to PlanStore's, the
 * live layer watches upgrade-plan.json and merges the upgrade-info.json drop-in.
 */
export { type PlanSnapshot, UpgradeSource, type UpgradeSourceService, upgradeSourceLayer as layer } from "./PlanStore.js"
