// Compiles the reference upgrade registry (contracts/UpgradeRegistry.sol) and
// the test-only governance contracts (contracts/test/: a voting token, an
// OpenZeppelin Governor, and OpenZeppelin's TimelockController) with the
// pinned npm solc, and writes their ABI and creation bytecode:
//   contracts/UpgradeRegistry.json  {"abi": [...], "bytecode": "0x..."}
//   contracts/test/artifacts.json   {"GovToken": {abi, bytecode}, "UpgradeGovernor": ..., "TimelockController": ...}
// Reproducible: the same solc, the same settings and no metadata hash or CBOR
// trailer in the bytecode, so running it twice writes byte-identical files
// (test/contracts/registry.test.ts checks the registry's artifact is current).
// `npm run build:contracts`.
import { readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

/** The solc settings every artifact is built with (optimizer 200 runs, cancun, no metadata in the bytecode). */
export const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  metadata: { bytecodeHash: "none", appendCBOR: false },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } }
}

/** Where a source unit name lives: `@openzeppelin/...` in node_modules, anything else relative to the repo root. */
const sourceFile = (unit) =>
  unit.startsWith("@openzeppelin/") ? path.join(root, "node_modules", unit) : path.join(root, unit)

/**
 * Compiles the source units `units` (paths relative to the repo root, or
 * `@openzeppelin/...`) in one solc job and returns every contract they define
 * or import, by contract name: `{ abi, bytecode }` (bytecode "0x"-prefixed).
 * Throws on any compiler error.
 */
export const compile = (units) => {
  const solc = require("solc")
  const input = {
    language: "Solidity",
    sources: Object.fromEntries(units.map((u) => [u, { content: readFileSync(sourceFile(u), "utf8") }])),
    settings
  }
  const findImports = (unit) => {
    try {
      return { contents: readFileSync(sourceFile(unit), "utf8") }
    } catch (e) {
      return { error: `cannot read ${unit}: ${e.message}` }
    }
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }))
  const errors = (output.errors ?? []).filter((e) => e.severity === "error")
  for (const w of (output.errors ?? []).filter((e) => e.severity !== "error")) {
    console.error(w.formattedMessage ?? w.message)
  }
  if (errors.length > 0) {
    throw new Error(`solc ${solc.version()}:\n${errors.map((e) => e.formattedMessage ?? e.message).join("\n")}`)
  }
  const contracts = {}
  for (const unit of Object.keys(output.contracts ?? {}).sort()) {
    for (const [name, c] of Object.entries(output.contracts[unit])) {
      contracts[name] = { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` }
    }
  }
  return contracts
}

/** The registry alone, in its own job (test/contracts/registry.test.ts compiles it the same way). */
export const registryUnit = "contracts/UpgradeRegistry.sol"
export const compileRegistry = () => {
  const { UpgradeRegistry } = compile([registryUnit])
  return UpgradeRegistry
}

const testUnits = [
  "contracts/test/GovToken.sol",
  "contracts/test/UpgradeGovernor.sol",
  "@openzeppelin/contracts/governance/TimelockController.sol"
]
const testContracts = ["GovToken", "UpgradeGovernor", "TimelockController"]

const write = (file, value) => {
  const text = `${JSON.stringify(value, null, 2)}\n`
  writeFileSync(path.join(root, file), text)
  console.log(`wrote ${file} (${text.length} bytes)`)
}

const main = () => {
  const solc = require("solc")
  console.log(`solc ${solc.version()}`)
  const registry = compileRegistry()
  write("contracts/UpgradeRegistry.json", registry)
  console.log(`  UpgradeRegistry: ${(registry.bytecode.length - 2) / 2} bytes of creation code`)
  const all = compile(testUnits)
  const artifacts = {}
  for (const name of testContracts) {
    if (all[name] === undefined) throw new Error(`${name} not in the compiler output`)
    artifacts[name] = all[name]
  }
  write("contracts/test/artifacts.json", artifacts)
  for (const name of testContracts) {
    console.log(`  ${name}: ${(artifacts[name].bytecode.length - 2) / 2} bytes of creation code`)
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()
