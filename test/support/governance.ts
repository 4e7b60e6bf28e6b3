/*
 * A governance test kit over viem, for tests and benchmarks against a real
 * anvil (test/support/fixtures.ts startAnvil): deploys the reference
 * UpgradeRegistry (contracts/UpgradeRegistry.sol) alone or owned by an
 * OpenZeppelin Governor's TimelockController (contracts/test/), proposes
 * registry.schedule / registry.cancel, votes, and mines a proposal through
 * its vote and the timelock to execution. The artifacts are those
 * `npm run build:contracts` writes.
 *
 * Works whether anvil mines each transaction at once (automine) or on a
 * timer (--block-time): every write waits for its receipt, and the kit mines
 * only to move past a vote's start or end or the timelock's delay.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  createPublicClient,
  createTestClient,
  createWalletClient,
  decodeEventLog,
  defineChain,
  encodeFunctionData,
  type Hex,
  http,
  keccak256,
  type Log,
  type PublicClient,
  stringToHex,
  type TestClient,
  type TransactionReceipt,
  type WalletClient,
  zeroAddress
} from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { repoRoot } from "./fixtures.js"

export interface Artifact {
  readonly abi: Abi
  readonly bytecode: Hex
}

const readJson = <A>(file: string): A => JSON.parse(fs.readFileSync(path.join(repoRoot, file), "utf8")) as A

/** contracts/UpgradeRegistry.json */
export const registryArtifact: Artifact = readJson("contracts/UpgradeRegistry.json")
const testArtifacts: {
  readonly GovToken: Artifact
  readonly UpgradeGovernor: Artifact
  readonly TimelockController: Artifact
} = readJson("contracts/test/artifacts.json")
export const { GovToken: tokenArtifact, TimelockController: timelockArtifact, UpgradeGovernor: governorArtifact } =
  testArtifacts

/** anvil's first dev account: deploys everything and holds every vote. */
export const deployer = privateKeyToAccount("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
/** anvil's second dev account: someone who owns nothing. */
export const stranger = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")

/** The token supply minted to the deployer (1,000,000 tokens of 18 decimals). */
export const tokenSupply = 1_000_000n * 10n ** 18n

interface Clients {
  readonly public: PublicClient
  readonly wallet: WalletClient
  readonly test: TestClient<"anvil">
  readonly chain: Chain
}

const clientCache = new Map<string, Promise<Clients>>()

/** viem clients for the node at `url` (its chain id asked once). */
const clientsFor = (url: string): Promise<Clients> => {
  let c = clientCache.get(url)
  if (c === undefined) {
    c = (async () => {
      const transport = http(url, { retryCount: 0 })
      const probe = createPublicClient({ transport })
      const chain = defineChain({
        id: await probe.getChainId(),
        name: "anvil",
        nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
        rpcUrls: { default: { http: [url] } }
      })
      return {
        public: createPublicClient({ chain, transport, pollingInterval: 50 }),
        wallet: createWalletClient({ chain, transport, pollingInterval: 50 }),
        test: createTestClient({ chain, mode: "anvil", transport, pollingInterval: 50 }),
        chain
      }
    })()
    c.catch(() => clientCache.delete(url))
    clientCache.set(url, c)
  }
  return c
}

/** Waits for `hash`'s receipt; throws if it reverted. */
const receiptOf = async (c: Clients, hash: Hex, what: string): Promise<TransactionReceipt> => {
  const receipt = await c.public.waitForTransactionReceipt({ hash, pollingInterval: 50, timeout: 30_000 })
  if (receipt.status !== "success") throw new Error(`${what}: transaction ${hash} reverted`)
  return receipt
}

/** Sends a contract call from `account` and waits for its receipt (a revert throws, decoded by viem where it can). */
const send = async (
  url: string,
  call: {
    readonly address: Address
    readonly abi: Abi
    readonly functionName: string
    readonly args: ReadonlyArray<unknown>
    readonly account?: Account
  }
): Promise<TransactionReceipt> => {
  const c = await clientsFor(url)
  const hash = await c.wallet.writeContract({
    address: call.address,
    abi: call.abi,
    functionName: call.functionName,
    args: call.args,
    account: call.account ?? deployer,
    chain: c.chain
  })
  return receiptOf(c, hash, call.functionName)
}

const read = async <A>(
  url: string,
  call: {
    readonly address: Address
    readonly abi: Abi
    readonly functionName: string
    readonly args?: ReadonlyArray<unknown>
  }
): Promise<A> => {
  const c = await clientsFor(url)
  return (await c.public.readContract({
    address: call.address,
    abi: call.abi,
    functionName: call.functionName,
    args: call.args ?? []
  })) as A
}

/** Deploys `artifact` from the deployer; resolves to its address once mined. */
export const deploy = async (url: string, artifact: Artifact, args: ReadonlyArray<unknown> = []): Promise<Address> => {
  const c = await clientsFor(url)
  const hash = await c.wallet.deployContract({
    abi: artifact.abi,
    bytecode: artifact.bytecode,
    args,
    account: deployer,
    chain: c.chain
  })
  const receipt = await receiptOf(c, hash, "deploy")
  if (receipt.contractAddress === null || receipt.contractAddress === undefined) {
    throw new Error(`deploy: no contract address in ${hash}'s receipt`)
  }
  return receipt.contractAddress
}

// ---------------------------------------------------------------------------
// anvil

/** Mines `n` blocks at once (anvil_mine). */
export const mine = async (url: string, n = 1): Promise<void> => {
  if (n <= 0) return
  await (await clientsFor(url)).test.mine({ blocks: n })
}

/** The latest block number (asked afresh: viem would otherwise answer from its cache right after a mine). */
export const blockNumber = async (url: string): Promise<bigint> =>
  (await clientsFor(url)).public.getBlockNumber({ cacheTime: 0 })

/** Mines until the latest block is at least `height` (a timer-mining anvil may get there by itself first). */
export const mineTo = async (url: string, height: bigint): Promise<void> => {
  const head = await blockNumber(url)
  if (head < height) await mine(url, Number(height - head))
}

/** Moves the clock `seconds` forward (evm_increaseTime) and mines a block that carries the new time. */
export const increaseTime = async (url: string, seconds: number): Promise<void> => {
  const c = await clientsFor(url)
  await c.test.increaseTime({ seconds })
  await c.test.mine({ blocks: 1 })
}

/** evm_snapshot: an id to `revert` to. */
export const snapshot = async (url: string): Promise<Hex> => (await clientsFor(url)).test.snapshot()

/** evm_revert to a `snapshot` id (which is used up: take a new one to revert again). */
export const revert = async (url: string, id: Hex): Promise<void> => {
  await (await clientsFor(url)).test.revert({ id })
}

// ---------------------------------------------------------------------------
// the registry

/** Deploys an UpgradeRegistry owned by `owner`. */
export const deployRegistry = (url: string, owner: Address): Promise<Address> => deploy(url, registryArtifact, [owner])

/** registry.schedule(name, height, info) sent by `from` (the deployer unless said). */
export const schedule = (
  url: string,
  registry: Address,
  name: string,
  height: bigint | number,
  info: string,
  from: Account = deployer
): Promise<TransactionReceipt> =>
  send(url, {
    address: registry,
    abi: registryArtifact.abi,
    functionName: "schedule",
    args: [name, BigInt(height), info],
    account: from
  })

/** registry.cancel(name) sent by `from` (the deployer unless said). */
export const cancel = (url: string, registry: Address, name: string, from: Account = deployer) =>
  send(url, { address: registry, abi: registryArtifact.abi, functionName: "cancel", args: [name], account: from })

export type RegistryEvent =
  | { readonly event: "UpgradeScheduled"; readonly name: string; readonly height: bigint; readonly info: string }
  | { readonly event: "UpgradeCancelled"; readonly name: string }

/** The registry events among `logs` (of a receipt or eth_getLogs), in order; `registry` keeps only that contract's. */
export const registryEvents = (logs: ReadonlyArray<Log>, registry?: Address): Array<RegistryEvent> => {
  const out: Array<RegistryEvent> = []
  for (const log of logs) {
    if (registry !== undefined && log.address.toLowerCase() !== registry.toLowerCase()) continue
    try {
      const d = decodeEventLog({ abi: registryArtifact.abi, data: log.data, topics: log.topics })
      const a = d.args as unknown as { name: string; height?: bigint; info?: string }
      if (d.eventName === "UpgradeScheduled") {
        out.push({ event: "UpgradeScheduled", name: a.name, height: a.height!, info: a.info! })
      } else if (d.eventName === "UpgradeCancelled") {
        out.push({ event: "UpgradeCancelled", name: a.name })
      }
    } catch {
      // not an event of the registry's ABI
    }
  }
  return out
}

/** Every registry event `registry` has emitted so far. */
export const registryHistory = async (url: string, registry: Address): Promise<Array<RegistryEvent>> => {
  const c = await clientsFor(url)
  const logs = await c.public.getLogs({ address: registry, fromBlock: 0n, toBlock: "latest" })
  return registryEvents(logs, registry)
}

// ---------------------------------------------------------------------------
// governance

export interface Governance {
  readonly url: string
  readonly token: Address
  readonly timelock: Address
  readonly governor: Address
  /** Owned by the timelock. */
  readonly registry: Address
  readonly votingDelay: number
  readonly votingPeriod: number
  readonly timelockDelay: number
}

/**
 * Deploys a voting token (all of it to the deployer, who delegates the votes
 * to itself), a TimelockController with `timelockDelay` seconds (the governor
 * proposes and cancels, anyone executes, and the deployer renounces its admin
 * role), an UpgradeGovernor (`votingDelay` and `votingPeriod` in blocks,
 * threshold 0, quorum 4%) and an UpgradeRegistry owned by the timelock.
 */
export const deployGovernance = async (
  url: string,
  opts: { readonly votingDelay: number; readonly votingPeriod: number; readonly timelockDelay: number }
): Promise<Governance> => {
  const token = await deploy(url, tokenArtifact, [tokenSupply])
  await send(url, { address: token, abi: tokenArtifact.abi, functionName: "delegate", args: [deployer.address] })
  const timelock = await deploy(url, timelockArtifact, [
    BigInt(opts.timelockDelay),
    [],
    [zeroAddress],
    deployer.address
  ])
  const governor = await deploy(url, governorArtifact, [token, timelock, opts.votingDelay, opts.votingPeriod])
  const role = (name: string) => read<Hex>(url, { address: timelock, abi: timelockArtifact.abi, functionName: name })
  const grant = (r: Hex, who: Address) =>
    send(url, { address: timelock, abi: timelockArtifact.abi, functionName: "grantRole", args: [r, who] })
  await grant(await role("PROPOSER_ROLE"), governor)
  await grant(await role("CANCELLER_ROLE"), governor)
  await send(url, {
    address: timelock,
    abi: timelockArtifact.abi,
    functionName: "renounceRole",
    args: [await role("DEFAULT_ADMIN_ROLE"), deployer.address]
  })
  const registry = await deployRegistry(url, timelock)
  return { url, token, timelock, governor, registry, ...opts }
}

/** A governor proposal: what `propose` returns and `queue`/`execute` need. */
export interface Proposal {
  readonly id: bigint
  readonly description: string
  readonly targets: ReadonlyArray<Address>
  readonly values: ReadonlyArray<bigint>
  readonly calldatas: ReadonlyArray<Hex>
}

let proposals = 0

/** Proposes one registry call (from the deployer); the description is made unique so an equal call may be proposed again. */
const proposeRegistryCall = async (gov: Governance, calldata: Hex, what: string): Promise<Proposal> => {
  const description = `${what} (#${++proposals} ${Date.now()})`
  const targets = [gov.registry]
  const values = [0n]
  const calldatas = [calldata]
  await send(gov.url, {
    address: gov.governor,
    abi: governorArtifact.abi,
    functionName: "propose",
    args: [targets, values, calldatas, description]
  })
  const id = await read<bigint>(gov.url, {
    address: gov.governor,
    abi: governorArtifact.abi,
    functionName: "hashProposal",
    args: [targets, values, calldatas, keccak256(stringToHex(description))]
  })
  return { id, description, targets, values, calldatas }
}

/** Proposes registry.schedule(name, height, info). */
export const proposeSchedule = (gov: Governance, name: string, height: bigint | number, info: string) =>
  proposeRegistryCall(
    gov,
    encodeFunctionData({ abi: registryArtifact.abi, functionName: "schedule", args: [name, BigInt(height), info] }),
    `schedule ${name} at ${height}`
  )

/** Proposes registry.cancel(name). */
export const proposeCancel = (gov: Governance, name: string) =>
  proposeRegistryCall(
    gov,
    encodeFunctionData({ abi: registryArtifact.abi, functionName: "cancel", args: [name] }),
    `cancel ${name}`
  )

/** OpenZeppelin's IGovernor.ProposalState, by its number. */
export const proposalStates = [
  "Pending",
  "Active",
  "Canceled",
  "Defeated",
  "Succeeded",
  "Queued",
  "Expired",
  "Executed"
] as const
export type ProposalState = (typeof proposalStates)[number]

export const proposalState = async (gov: Governance, id: bigint): Promise<ProposalState> => {
  const n = await read<number>(gov.url, {
    address: gov.governor,
    abi: governorArtifact.abi,
    functionName: "state",
    args: [id]
  })
  return proposalStates[Number(n)]!
}

const proposalBlock = (gov: Governance, id: bigint, functionName: "proposalSnapshot" | "proposalDeadline") =>
  read<bigint>(gov.url, { address: gov.governor, abi: governorArtifact.abi, functionName, args: [id] })

/** Mines until the vote on `id` is open (the latest block is past its snapshot). */
export const mineToVote = async (gov: Governance, id: bigint): Promise<void> =>
  mineTo(gov.url, (await proposalBlock(gov, id, "proposalSnapshot")) + 1n)

/** Mines until the vote on `id` has ended (the latest block is past its deadline): it is Succeeded or Defeated. */
export const mineToEnd = async (gov: Governance, id: bigint): Promise<void> =>
  mineTo(gov.url, (await proposalBlock(gov, id, "proposalDeadline")) + 1n)

export type Support = "against" | "for" | "abstain"
const supportCode: Record<Support, number> = { against: 0, for: 1, abstain: 2 }

/** The deployer (every vote) votes on `id`, first mining until the vote is open. */
export const vote = async (gov: Governance, id: bigint, support: Support | 0 | 1 | 2): Promise<TransactionReceipt> => {
  await mineToVote(gov, id)
  return send(gov.url, {
    address: gov.governor,
    abi: governorArtifact.abi,
    functionName: "castVote",
    args: [id, typeof support === "number" ? support : supportCode[support]]
  })
}

/** The proposal `id` as its ProposalCreated event has it (targets, values and calldatas). */
const proposalOf = async (gov: Governance, id: bigint, description: string): Promise<Proposal> => {
  const c = await clientsFor(gov.url)
  const events = await c.public.getContractEvents({
    address: gov.governor,
    abi: governorArtifact.abi,
    eventName: "ProposalCreated",
    fromBlock: 0n,
    toBlock: "latest"
  })
  for (const e of events) {
    const a = (e as unknown as {
      args: {
        proposalId: bigint
        targets: Array<Address>
        values: Array<bigint>
        calldatas: Array<Hex>
        description: string
      }
    }).args
    if (a.proposalId === id) {
      if (a.description !== description) throw new Error(`proposal ${id} has another description: ${a.description}`)
      return { id, description, targets: a.targets, values: a.values, calldatas: a.calldatas }
    }
  }
  throw new Error(`no ProposalCreated event for proposal ${id}`)
}

/**
 * Mines past the vote's end, queues the proposal in the timelock, moves the
 * clock past the timelock's delay and executes it. Throws when the vote did
 * not pass (the proposal is not Succeeded then). Resolves to the execute
 * transaction's receipt (the registry's event is among its logs).
 */
export const passAndExecute = async (gov: Governance, id: bigint, description: string): Promise<TransactionReceipt> => {
  const p = await proposalOf(gov, id, description)
  await mineToEnd(gov, id)
  const state = await proposalState(gov, id)
  if (state !== "Succeeded") throw new Error(`proposal ${id} is ${state}, not Succeeded`)
  const args = [p.targets, p.values, p.calldatas, keccak256(stringToHex(p.description))]
  await send(gov.url, { address: gov.governor, abi: governorArtifact.abi, functionName: "queue", args })
  await increaseTime(gov.url, gov.timelockDelay + 1)
  return send(gov.url, { address: gov.governor, abi: governorArtifact.abi, functionName: "execute", args })
}
