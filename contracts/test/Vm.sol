// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// The few Foundry cheatcodes these tests use (forge-std on npm is too old to build here; see
/// ../shared/ENVIRONMENT.md). Signatures as in Foundry's `Vm.sol`.
interface Vm {
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function roll(uint256 blockNumber) external;
    function warp(uint256 timestamp) external;
    function assume(bool condition) external pure;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 revertData) external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter)
        external;
    function assertEq(bytes32 left, bytes32 right, string calldata error) external pure;
    function assertEq(uint256 left, uint256 right, string calldata error) external pure;
    function assertEq(address left, address right, string calldata error) external pure;
    function assertTrue(bool condition, string calldata error) external pure;
    function assertFalse(bool condition, string calldata error) external pure;
}

/// A test contract's base: the cheatcodes, and the target list an invariant campaign reads.
abstract contract TestBase {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    address[] private _targets;

    /// Forge reads this (forge-std's StdInvariant selector) to choose the contracts an invariant
    /// campaign calls.
    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    function targetContract(address target) internal {
        _targets.push(target);
    }

    /// `x` mapped into [lo, hi], uniformly enough for fuzzing.
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        return lo + (x % (hi - lo + 1));
    }
}
