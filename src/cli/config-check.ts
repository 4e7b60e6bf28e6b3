import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as path from "node:path"
import { parseAbi, toEventSelector } from "viem"
import { checkExposure } from "../api/Auth.js"
import { freeSpaceLive } from "../binaries/Backup.js"
import { backupFindings } from "../binaries/BackupRoom.js"
import { ALIASES } from "../config/Aliases.js"
import { type Finding, invalid, notExecutable, ok, runnableFindings, warning } from "../config/Checks.js"
import { closestKey, CONFIG_NAMES, type WemixvisorConfig } from "../config/Config.js"
import { readConfigFile } from "../config/ConfigFile.js"
import { ConfigInvalid, type ErrorKind } from "../domain/Errors.js"
import { PROPOSAL_CREATED as PROPOSAL_CREATED_EVENT } from "../governance/GovernorAbi.js"
import { REGISTRY_TOPICS } from "../governance/Registry.js"
import { nodeFindings } from "../height/NodeCheck.js"
import { codeAt, makeHttpClient } from "../height/Rpc.js"

/*
 * `wemixvisor config check` (issue #16 item 2): the configuration as `run`
 * would load it, and what only fails later — at `run`'s start or at an
 * upgrade's height — without starting anything. Every finding is printed,
 * not just the first: ✓ ok, ! warning (does not fail), ✗ error (exit 2).
 * Errors are worded as `run` words them (`invalid X="…": …`), so the same
 * line is found in OPERATIONS.md's error table.
 */

/** `config check` found at least one error: exit 2, the lines above say which. */
export class ConfigCheckFailed extends Data.TaggedError("ConfigCheckFailed")<{ readonly errors: number }> {
  get kind(): ErrorKind {
    return "input"
  }
  override get message() {
    return `config check: ${this.errors} error${this.errors === 1 ? "" : "s"} (the ✗ lines)`
  }
}

const MARK = { ok: "✓", warning: "!", error: "✗" } as const

/** Our variables in the environment that wemixvisor does not read: a typo reads as the default. */
const envFindings = (env: Readonly<Record<string, string | undefined>>): ReadonlyArray<Finding> => {
  const ours = Object.keys(env).filter((k) => /^(DAEMON|WEMIXVISOR)_/.test(k) && env[k] !== undefined)
  // WEMIXVISOR_TEST_*: the test suite's own hooks, not configuration.
  // Cosmovisor's names (Aliases.ts) are read, or refused with a reason, by loadConfig itself.
  const unknown = ours.filter((k) => !CONFIG_NAMES.includes(k) && !(k in ALIASES) && !k.startsWith("WEMIXVISOR_TEST_"))
    .sort()
  return unknown.length === 0
    ? [ok("environment", `environment: ${ours.length} DAEMON_/WEMIXVISOR_ variables, none unknown`)]
    : unknown.map((k) =>
      // A warning: DAEMON_* is also Cosmovisor's prefix, and a machine may set one for something else.
      warning(k, `${k} in the environment is not a wemixvisor variable (did you mean ${closestKey(k).toUpperCase()}?)`)
    )
}

/** The config file's keys (it loaded, so it parses and has no unknown key), read by the same reader. */
const fileFinding = (c: WemixvisorConfig): Effect.Effect<Finding> =>
  readConfigFile(c.layout.root).pipe(
    Effect.map((read) => {
      if (read.file === undefined) {
        return ok("config file", `no config file in ${c.layout.root}: flags, the environment and defaults`)
      }
      const keys = Object.keys(read.values).length + (read.notify.length > 0 ? 1 : 0)
      const where = path.join(c.layout.root, read.file)
      return ok(read.file, `${read.file} (${where}): ${keys} key${keys === 1 ? "" : "s"}, no unknown key`)
    }),
    Effect.catchAll((e) => Effect.succeed(invalid(e)))
  )

/** `run` refuses to start without a current binary. */
const currentFinding = (c: WemixvisorConfig): Finding => {
  const problem = notExecutable(c.layout.currentBinary)
  if (problem === undefined) return ok("current", `current binary ${c.layout.currentBinary}: an executable file`)
  return invalid(
    new ConfigInvalid({
      variable: "DAEMON_HOME",
      problem: problem === "does not exist"
        ? `${c.layout.root} has no current binary; run 'wemixvisor init <genesis-binary>' first`
        : `the current binary ${c.layout.currentBinary} ${problem}; run would refuse to start`
    })
  )
}

const exposureFinding = (c: WemixvisorConfig): Effect.Effect<Finding> =>
  Effect.match(checkExposure(c), {
    onFailure: invalid,
    onSuccess: () =>
      ok(
        "WEMIXVISOR_API_ADDR",
        `WEMIXVISOR_API_ADDR=${c.apiAddr}: ${Option.isSome(c.apiToken) ? "WEMIXVISOR_API_TOKEN set" : "loopback"}`
      )
  })

const downloadFindings = (c: WemixvisorConfig): ReadonlyArray<Finding> =>
  c.unsafeSkipChecksum
    ? [warning("DAEMON_UNSAFE_SKIP_CHECKSUM", "DAEMON_UNSAFE_SKIP_CHECKSUM=true: downloaded binaries are not verified")]
    : []

/*
 * The governance source (ARCHITECTURE §10), asked of the node at
 * DAEMON_RPC_URL. A registry is any contract that emits UpgradeScheduled and
 * UpgradeCancelled: an event's topic hash is a PUSH32 constant in the runtime
 * code of every contract that emits it, so the code is searched for both.
 * No code, or a code without them, is an error: the source would watch it
 * forever and no upgrade would ever come from it. The Governor (only what
 * `upgrade proposals` shows) must have code and answer name() and
 * votingPeriod(), or at least emit ProposalCreated.
 */
const PROPOSAL_CREATED = toEventSelector(PROPOSAL_CREATED_EVENT)
/** What any Governor answers: enough to tell one from another contract. */
const GOVERNOR_IDENTITY_ABI = parseAbi([
  "function name() view returns (string)",
  "function votingPeriod() view returns (uint256)"
])
const REGISTRY_EVENTS = [
  ["UpgradeScheduled(string name, uint64 height, string info)", REGISTRY_TOPICS[0]],
  ["UpgradeCancelled(string name)", REGISTRY_TOPICS[1]]
] as const

const hasTopic = (code: string, topic: string) => code.toLowerCase().includes(topic.slice(2).toLowerCase())

/** An error found on chain (no ConfigInvalid: `run` starts with it, and logs it). */
const onChain = (check: string, message: string): Finding => ({ level: "error", check, message })

const governanceAddresses = (c: WemixvisorConfig): ReadonlyArray<readonly [string, string]> => [
  ...Option.toArray(c.governanceRegistry).map((a) => ["DAEMON_GOVERNANCE_REGISTRY", a] as const),
  ...Option.toArray(c.governanceGovernor).map((a) => ["DAEMON_GOVERNANCE_GOVERNOR", a] as const)
]

/** The RPC does not answer: the governance addresses cannot be checked, said as DAEMON_CHAIN_ID is. */
const governanceUnverified = (c: WemixvisorConfig): ReadonlyArray<Finding> =>
  governanceAddresses(c).map(([variable, a]) =>
    warning(variable, `${variable}=${a}: not verified, the RPC does not answer`)
  )

const governanceFindings = (c: WemixvisorConfig): Effect.Effect<ReadonlyArray<Finding>> =>
  Effect.gen(function*() {
    if (Option.isNone(c.governanceRegistry) && Option.isNone(c.governanceGovernor)) return []
    const client = yield* Effect.orDie(makeHttpClient(c.rpcUrl))
    const codeOf = (address: `0x${string}`) => Effect.either(codeAt(client, c.rpcUrl, address))
    const out: Array<Finding> = []
    if (Option.isSome(c.governanceRegistry)) {
      const variable = "DAEMON_GOVERNANCE_REGISTRY"
      const registry = c.governanceRegistry.value
      const code = yield* codeOf(registry)
      if (Either.isLeft(code)) {
        out.push(warning(variable, `${variable}=${registry}: its code could not be read: ${code.left.reason}`))
      } else if (code.right === "0x") {
        out.push(onChain(
          variable,
          `${variable}=${registry} has no contract code on the node at ${c.rpcUrl}: no upgrade can come from it (wrong address or network?)`
        ))
      } else {
        const missing = REGISTRY_EVENTS.filter(([, topic]) => !hasTopic(code.right, topic)).map(([event]) => event)
        out.push(
          missing.length === 0
            ? ok(variable, `${variable}=${registry}: a contract that emits UpgradeScheduled and UpgradeCancelled`)
            : onChain(
              variable,
              `${variable}=${registry}: its code never emits ${
                missing.join(" nor ")
              }: not a registry, no upgrade can come from it (the registry must emit UpgradeScheduled and UpgradeCancelled)`
            )
        )
      }
    }
    if (Option.isSome(c.governanceGovernor)) {
      const variable = "DAEMON_GOVERNANCE_GOVERNOR"
      const governor = c.governanceGovernor.value
      const code = yield* codeOf(governor)
      if (Either.isLeft(code)) {
        out.push(warning(variable, `${variable}=${governor}: its code could not be read: ${code.left.reason}`))
      } else if (code.right === "0x") {
        out.push(onChain(
          variable,
          `${variable}=${governor} has no contract code on the node at ${c.rpcUrl}: 'upgrade proposals' would show nothing (wrong address or network?)`
        ))
      } else {
        const read = (functionName: "name" | "votingPeriod") =>
          Effect.tryPromise(() => client.readContract({ address: governor, abi: GOVERNOR_IDENTITY_ABI, functionName }))
        const answers = yield* Effect.either(Effect.all([read("name"), read("votingPeriod")]))
        out.push(
          Either.isRight(answers)
            ? ok(
              variable,
              `${variable}=${governor}: a Governor (name() ${JSON.stringify(answers.right[0])}, votingPeriod() ${
                answers.right[1]
              })`
            )
            : hasTopic(code.right, PROPOSAL_CREATED)
            ? ok(
              variable,
              `${variable}=${governor}: a contract that emits ProposalCreated (it does not answer name() and votingPeriod())`
            )
            : onChain(
              variable,
              `${variable}=${governor}: not a Governor: it answers neither name() nor votingPeriod() and never emits ProposalCreated; 'upgrade proposals' would show nothing`
            )
        )
      }
    }
    return out
  })

/*
 * The node's RPC and its chain id (height/NodeCheck.ts, shared with `upgrade
 * check`), then the governance addresses, which need the RPC to be verified.
 */
const rpcFindings = (c: WemixvisorConfig): Effect.Effect<ReadonlyArray<Finding>> =>
  Effect.gen(function*() {
    const node = yield* nodeFindings(c)
    return [...node.findings, ...(node.answers ? yield* governanceFindings(c) : governanceUnverified(c))]
  })

/** Every finding for a configuration that loaded (or the one that says why it did not). */
export const findings = (
  loaded: Either.Either<WemixvisorConfig, ConfigInvalid>,
  env: Readonly<Record<string, string | undefined>>
): Effect.Effect<ReadonlyArray<Finding>> =>
  Effect.gen(function*() {
    const fromEnv = envFindings(env)
    // Loaded tolerating every bad value (each is in `ignored`); what still fails it (no home, a file that does not
    // parse) leaves nothing to check beyond.
    if (Either.isLeft(loaded)) return [...fromEnv, invalid(loaded.left)]
    const c = loaded.right
    const [runnable, exposure, backup, rpc] = yield* Effect.all([
      runnableFindings(c),
      exposureFinding(c),
      Effect.provide(backupFindings(c), freeSpaceLive),
      rpcFindings(c)
    ], { concurrency: "unbounded" })
    return [
      ...fromEnv,
      ...(c.ignored.length === 0 ? [yield* fileFinding(c)] : c.ignored.map(invalid)),
      ...c.notes.map((n) => warning("renamed", n)),
      currentFinding(c),
      ...runnable,
      exposure,
      ...downloadFindings(c),
      ...backup,
      ...rpc
    ]
  })

/** `config check [--json]`: a line per finding (or a JSON array), then exit 2 if one is an error. */
export const configCheck = (
  loaded: Either.Either<WemixvisorConfig, ConfigInvalid>,
  o: { readonly json: boolean }
) =>
  Effect.gen(function*() {
    const all = yield* findings(loaded, process.env)
    yield* o.json
      ? Console.log(JSON.stringify(all.map((f) => ({ level: f.level, check: f.check, message: f.message })), null, 2))
      : Console.log(all.map((f) => `${MARK[f.level]} ${f.message}`).join("\n"))
    const errors = all.filter((f) => f.level === "error").length
    if (errors > 0) return yield* new ConfigCheckFailed({ errors })
  })
