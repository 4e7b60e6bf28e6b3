// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title UpgradeRegistry
/// @notice The reference on-chain upgrade registry that wemixvisor watches.
/// It announces node binary upgrades by name and block height; wemixvisor
/// reads its logs and stages and performs the upgrade at that height.
/// @dev Meant to be owned by a Governor's TimelockController, so an upgrade is
/// scheduled or cancelled only by a passed and executed governance proposal.
/// The events are the whole interface: the contract keeps no state of its own
/// (only Ownable's owner), and wemixvisor decodes the names and info strings
/// from the log data, which is why no parameter is indexed (an indexed string
/// would be logged only as its hash).
contract UpgradeRegistry is Ownable {
    /// @notice An upgrade named `name` is scheduled for block `height`.
    /// @param name The upgrade's name (the folder wemixvisor switches to).
    /// @param height The block height at which the node stops and the new binary starts.
    /// @param info Free-form upgrade info (wemixvisor reads download links and checksums from it).
    event UpgradeScheduled(string name, uint64 height, string info);

    /// @notice The upgrade named `name` is cancelled.
    /// @param name The upgrade's name, as it was scheduled.
    event UpgradeCancelled(string name);

    /// @param owner The account allowed to schedule and cancel: in production the timelock of a Governor.
    constructor(address owner) Ownable(owner) {}

    /// @notice Schedules the upgrade `name` at block `height`. wemixvisor applies it as any other door:
    /// a name already pending is refused (cancel it first), a height the chain has passed is refused.
    function schedule(string calldata name, uint64 height, string calldata info) external onlyOwner {
        emit UpgradeScheduled(name, height, info);
    }

    /// @notice Cancels the upgrade `name`.
    function cancel(string calldata name) external onlyOwner {
        emit UpgradeCancelled(name);
    }
}
