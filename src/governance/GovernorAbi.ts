import { parseAbi, parseAbiItem } from "viem"

/*
 * The parts of an OpenZeppelin Governor (IGovernor, GovernorCountingSimple)
 * and of the upgrade registry that the proposal tracker reads. Written out
 * here rather than taken from contracts/test/artifacts.json: any Governor
 * with this interface is a source, not only the test one.
 */

export const PROPOSAL_CREATED = parseAbiItem(
  "event ProposalCreated(uint256 proposalId, address proposer, address[] targets, uint256[] values, string[] signatures, bytes[] calldatas, uint256 voteStart, uint256 voteEnd, string description)"
)

export const GOVERNOR_ABI = parseAbi([
  "function state(uint256 proposalId) view returns (uint8)",
  "function proposalVotes(uint256 proposalId) view returns (uint256 againstVotes, uint256 forVotes, uint256 abstainVotes)",
  "function proposalSnapshot(uint256 proposalId) view returns (uint256)",
  "function proposalDeadline(uint256 proposalId) view returns (uint256)",
  "function quorum(uint256 timepoint) view returns (uint256)"
])

/** The registry's two writes (contracts/UpgradeRegistry.sol): what a proposal's calldata to it can say. */
export const REGISTRY_WRITES_ABI = parseAbi([
  "function schedule(string name, uint64 height, string info)",
  "function cancel(string name)"
])
