// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MonadMeshRegistry} from "../src/MonadMeshRegistry.sol";
import {TestBase, Vm} from "./Vm.sol";

/// Random calls from a handful of actors (the owner, relayers, strangers), kept in a model that the
/// invariants compare the registry with. Every call is tried from any actor, allowed or not.
contract RegistryHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    MonadMeshRegistry public immutable registry;
    address[] public actors;

    // The model.
    address public owner;
    address public pendingOwner;
    mapping(address => bool) public relayer;
    bytes32[] public roots;
    mapping(bytes32 => uint32) public sizeOf;
    mapping(bytes32 => uint64) public blockOf;
    /// Writes that succeeded though the model said the caller could not make them (must stay 0).
    uint256 public unauthorized;
    /// Writes that failed though the model said they were allowed (must stay 0).
    uint256 public wronglyRefused;
    uint256 public calls;

    constructor(MonadMeshRegistry registry_, address[] memory actors_, address owner_, address relayer_) {
        registry = registry_;
        actors = actors_;
        owner = owner_;
        relayer[relayer_] = true;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function commit(uint256 who, uint256 rootSeed, uint32 size, uint64 blockNumber) external {
        calls++;
        address caller = _actor(who);
        // Now and then a zero root, or one already committed.
        bytes32 root = rootSeed % 17 == 0
            ? bytes32(0)
            : rootSeed % 5 == 0 && roots.length > 0 ? roots[rootSeed % roots.length] : keccak256(abi.encode(rootSeed));
        vm.roll(bound64(blockNumber));
        bool allowed = relayer[caller] && root != bytes32(0) && size != 0 && sizeOf[root] == 0;
        vm.prank(caller);
        try registry.commitBatch(root, size) {
            if (!allowed) unauthorized++;
            roots.push(root);
            sizeOf[root] = size;
            blockOf[root] = uint64(block.number);
        } catch {
            if (allowed) wronglyRefused++;
        }
    }

    function setRelayer(uint256 who, uint256 target, bool allowed) external {
        calls++;
        address caller = _actor(who);
        address subject = _actor(target);
        vm.prank(caller);
        try registry.setRelayer(subject, allowed) {
            if (caller != owner) unauthorized++;
            relayer[subject] = allowed;
        } catch {
            if (caller == owner) wronglyRefused++;
        }
    }

    function transferOwnership(uint256 who, uint256 target) external {
        calls++;
        address caller = _actor(who);
        address next = _actor(target);
        vm.prank(caller);
        try registry.transferOwnership(next) {
            if (caller != owner) unauthorized++;
            pendingOwner = next;
        } catch {
            if (caller == owner) wronglyRefused++;
        }
    }

    function acceptOwnership(uint256 who) external {
        calls++;
        address caller = _actor(who);
        vm.prank(caller);
        try registry.acceptOwnership() {
            if (caller != pendingOwner) unauthorized++;
            owner = caller;
            pendingOwner = address(0);
        } catch {
            if (caller == pendingOwner) wronglyRefused++;
        }
    }

    function renounceOwnership(uint256 who) external {
        calls++;
        vm.prank(_actor(who));
        try registry.renounceOwnership() {
            unauthorized++;
        } catch {}
    }

    function registerSpec(uint256 who, bytes32 spec) external {
        calls++;
        address caller = _actor(who);
        bool allowed = spec != bytes32(0) && registry.specRegisteredAt(caller, spec) == 0;
        vm.prank(caller);
        try registry.registerSpec(spec) {
            if (!allowed) unauthorized++;
        } catch {
            if (allowed) wronglyRefused++;
        }
    }

    function rootCount() external view returns (uint256) {
        return roots.length;
    }

    function bound64(uint64 x) internal pure returns (uint64) {
        return 1 + (x % 1_000_000_000);
    }
}

contract MonadMeshRegistryInvariantTest is TestBase {
    MonadMeshRegistry internal registry;
    RegistryHandler internal handler;

    function setUp() public {
        address[] memory actors = new address[](5);
        for (uint256 i = 0; i < actors.length; ++i) {
            actors[i] = address(uint160(0x1000 + i));
        }
        address[] memory relayers = new address[](1);
        relayers[0] = actors[1];
        registry = new MonadMeshRegistry(actors[0], relayers);
        handler = new RegistryHandler(registry, actors, actors[0], actors[1]);
        targetContract(address(handler));
    }

    function invariant_onlyAllowedWritesSucceed() public view {
        vm.assertEq(handler.unauthorized(), 0, "a write succeeded that the caller was not allowed to make");
        vm.assertEq(handler.wronglyRefused(), 0, "an allowed write was refused");
    }

    function invariant_committedBatchesNeverChange() public view {
        uint256 n = handler.rootCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 root = handler.roots(i);
            (uint64 blockNumber,, uint32 size) = registry.batch(root);
            vm.assertEq(size, handler.sizeOf(root), "batch size");
            vm.assertEq(blockNumber, handler.blockOf(root), "batch block");
        }
        (,, uint32 zero) = registry.batch(bytes32(0));
        vm.assertEq(zero, 0, "the zero root is never committed");
    }

    function invariant_ownershipMatchesTheModel() public view {
        vm.assertEq(registry.owner(), handler.owner(), "owner");
        vm.assertEq(registry.pendingOwner(), handler.pendingOwner(), "pending owner");
        for (uint256 i = 0; i < 5; ++i) {
            address a = handler.actors(i);
            vm.assertTrue(registry.isRelayer(a) == handler.relayer(a), "relayer set");
        }
    }
}
