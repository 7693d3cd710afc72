// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {MonadMeshRegistry} from "../src/MonadMeshRegistry.sol";
import {MerkleHarness} from "./MerkleHarness.sol";
import {TestBase} from "./Vm.sol";

contract MonadMeshRegistryTest is TestBase {
    MonadMeshRegistry internal registry;
    MerkleHarness internal merkle;
    address internal constant OWNER = address(0xA11CE);
    address internal constant RELAYER = address(0xBEEF);
    address internal constant STRANGER = address(0xBAD);

    event BatchCommitted(bytes32 indexed root, address indexed relayer, uint32 size);
    event SpecRegistered(address indexed registrant, bytes32 indexed specHash);
    event RelayerSet(address indexed relayer, bool allowed);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    function setUp() public {
        address[] memory relayers = new address[](1);
        relayers[0] = RELAYER;
        registry = new MonadMeshRegistry(OWNER, relayers);
        merkle = new MerkleHarness();
    }

    // ------------------------------------------------------------ access control and ownership

    function test_constructorSetsOwnerAndRelayers() public view {
        vm.assertEq(registry.owner(), OWNER, "owner");
        vm.assertTrue(registry.isRelayer(RELAYER), "relayer allowed");
        vm.assertFalse(registry.isRelayer(STRANGER), "stranger not allowed");
    }

    function test_onlyRelayersCommit() public {
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(MonadMeshRegistry.NotRelayer.selector, STRANGER));
        registry.commitBatch(keccak256("root"), 1);
        // The owner is not a relayer either, unless it makes itself one.
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(MonadMeshRegistry.NotRelayer.selector, OWNER));
        registry.commitBatch(keccak256("root"), 1);
        (,, uint32 size) = registry.batch(keccak256("root"));
        vm.assertEq(size, 0, "nothing committed");
    }

    function test_ownerAllowsAndStopsRelayers() public {
        vm.expectEmit(true, false, false, true, address(registry));
        emit RelayerSet(STRANGER, true);
        vm.prank(OWNER);
        registry.setRelayer(STRANGER, true);
        vm.prank(STRANGER);
        registry.commitBatch(keccak256("a"), 3);

        vm.prank(OWNER);
        registry.setRelayer(STRANGER, false);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(MonadMeshRegistry.NotRelayer.selector, STRANGER));
        registry.commitBatch(keccak256("b"), 3);
    }

    function test_onlyOwnerSetsRelayers() public {
        vm.prank(RELAYER);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, RELAYER));
        registry.setRelayer(STRANGER, true);
        vm.prank(OWNER);
        vm.expectRevert(MonadMeshRegistry.ZeroRelayer.selector);
        registry.setRelayer(address(0), true);
    }

    function test_ownershipTransferTakesTwoSteps() public {
        address next = address(0xC0FFEE);
        vm.expectEmit(true, true, false, false, address(registry));
        emit OwnershipTransferStarted(OWNER, next);
        vm.prank(OWNER);
        registry.transferOwnership(next);
        // Until accepted, the old owner still owns it and the new one cannot act.
        vm.assertEq(registry.owner(), OWNER, "owner until accepted");
        vm.assertEq(registry.pendingOwner(), next, "pending owner");
        vm.prank(next);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, next));
        registry.setRelayer(STRANGER, true);
        // Nobody else can accept.
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, STRANGER));
        registry.acceptOwnership();

        vm.expectEmit(true, true, false, false, address(registry));
        emit OwnershipTransferred(OWNER, next);
        vm.prank(next);
        registry.acceptOwnership();
        vm.assertEq(registry.owner(), next, "new owner");
        vm.assertEq(registry.pendingOwner(), address(0), "no pending owner");
        vm.prank(OWNER);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, OWNER));
        registry.setRelayer(STRANGER, true);
        vm.prank(next);
        registry.setRelayer(STRANGER, true);
        vm.assertTrue(registry.isRelayer(STRANGER), "new owner's relayer");
    }

    function test_ownershipCannotBeRenounced() public {
        vm.prank(OWNER);
        vm.expectRevert(MonadMeshRegistry.RenounceDisabled.selector);
        registry.renounceOwnership();
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, STRANGER));
        registry.renounceOwnership();
        vm.assertEq(registry.owner(), OWNER, "still owned");
    }

    function test_onlyOwnerStartsATransfer() public {
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, STRANGER));
        Ownable2Step(address(registry)).transferOwnership(STRANGER);
    }

    // ------------------------------------------------------------ batches

    function test_commitRecordsTheBatchAndEmits() public {
        bytes32 root = keccak256("batch");
        vm.roll(1234);
        vm.warp(1_800_000_000);
        vm.expectEmit(true, true, false, true, address(registry));
        emit BatchCommitted(root, RELAYER, 256);
        vm.prank(RELAYER);
        registry.commitBatch(root, 256);
        (uint64 blockNumber, uint64 timestamp, uint32 size) = registry.batch(root);
        vm.assertEq(blockNumber, 1234, "block");
        vm.assertEq(timestamp, 1_800_000_000, "time");
        vm.assertEq(size, 256, "size");
    }

    function test_duplicateZeroAndEmptyRootsAreRejected() public {
        bytes32 root = keccak256("once");
        vm.startPrank(RELAYER);
        registry.commitBatch(root, 2);
        vm.expectRevert(abi.encodeWithSelector(MonadMeshRegistry.DuplicateRoot.selector, root));
        registry.commitBatch(root, 2);
        // A different size does not make it a different batch.
        vm.expectRevert(abi.encodeWithSelector(MonadMeshRegistry.DuplicateRoot.selector, root));
        registry.commitBatch(root, 7);
        vm.expectRevert(MonadMeshRegistry.ZeroRoot.selector);
        registry.commitBatch(bytes32(0), 1);
        vm.expectRevert(MonadMeshRegistry.EmptyBatch.selector);
        registry.commitBatch(keccak256("empty"), 0);
        vm.stopPrank();
        (,, uint32 size) = registry.batch(root);
        vm.assertEq(size, 2, "the first commit stands");
    }

    function testFuzz_commitAnyRootOnce(bytes32 root, uint32 size, uint64 blockNumber) public {
        vm.assume(root != bytes32(0) && size != 0 && blockNumber != 0);
        vm.roll(blockNumber);
        vm.prank(RELAYER);
        registry.commitBatch(root, size);
        (uint64 b,, uint32 s) = registry.batch(root);
        vm.assertEq(b, blockNumber, "block");
        vm.assertEq(s, size, "size");
        vm.prank(RELAYER);
        vm.expectRevert(abi.encodeWithSelector(MonadMeshRegistry.DuplicateRoot.selector, root));
        registry.commitBatch(root, size);
    }

    // ------------------------------------------------------------ spec registration

    function test_registerSpecFromOwnWallet() public {
        bytes32 spec = keccak256("spec");
        vm.roll(77);
        vm.expectEmit(true, true, false, false, address(registry));
        emit SpecRegistered(STRANGER, spec);
        vm.prank(STRANGER);
        registry.registerSpec(spec);
        vm.assertEq(registry.specRegisteredAt(STRANGER, spec), 77, "registered block");
        // Per registrant: another wallet's registration neither blocks nor counts for this one.
        vm.assertEq(registry.specRegisteredAt(OWNER, spec), 0, "not the owner's");
        vm.prank(OWNER);
        registry.registerSpec(spec);
        vm.prank(STRANGER);
        vm.expectRevert(abi.encodeWithSelector(MonadMeshRegistry.SpecAlreadyRegistered.selector, STRANGER, spec));
        registry.registerSpec(spec);
        vm.expectRevert(MonadMeshRegistry.ZeroSpec.selector);
        registry.registerSpec(bytes32(0));
    }

    // ------------------------------------------------------------ proofs

    function testFuzz_everyLeafOfARandomTreeVerifies(bytes32 seed, uint256 n) public view {
        n = bound(n, 1, 70);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            leaves[i] = merkle.leafHash(abi.encodePacked(seed, i));
        }
        bytes32 root = merkle.rootOf(leaves);
        for (uint256 i = 0; i < n; ++i) {
            bytes32[] memory proof = merkle.proofOf(leaves, i);
            (bool ok, bytes32 r) = merkle.rootFromProof(leaves[i], i, n, proof);
            vm.assertTrue(ok && r == root, "leaf verifies");
            // The same proof proves nothing for another position, leaf or size.
            if (n > 1) {
                (ok, r) = merkle.rootFromProof(leaves[i], (i + 1) % n, n, proof);
                vm.assertFalse(ok && r == root, "wrong index");
                (ok, r) = merkle.rootFromProof(leaves[(i + 1) % n], i, n, proof);
                vm.assertFalse(ok && r == root, "wrong leaf");
            }
            // A position past the tree's end proves nothing. (Another size may share the proof's
            // path and so its root: the registry checks against the size it stored.)
            (ok,) = merkle.rootFromProof(leaves[i], i, i, proof);
            vm.assertFalse(ok, "index past the end");
            if (proof.length > 0) {
                bytes32[] memory longer = new bytes32[](proof.length + 1);
                for (uint256 k = 0; k < proof.length; ++k) {
                    longer[k] = proof[k];
                }
                (ok, r) = merkle.rootFromProof(leaves[i], i, n, longer);
                vm.assertFalse(ok && r == root, "proof too long");
            }
        }
    }

    function test_anInnerNodeIsNotALeaf() public view {
        // A two-leaf tree's root is H(0x01 || a || b); the 64 bytes a || b as one leaf hash with
        // 0x00 and never equal it.
        bytes32 a = merkle.leafHash("a");
        bytes32 b = merkle.leafHash("b");
        bytes32[] memory two = new bytes32[](2);
        two[0] = a;
        two[1] = b;
        bytes32[] memory one = new bytes32[](1);
        one[0] = merkle.leafHash(abi.encodePacked(a, b));
        vm.assertFalse(merkle.rootOf(two) == merkle.rootOf(one), "domain separated");
    }

    function _job(bytes32 tasksRoot, uint32 tasks) internal pure returns (MonadMeshRegistry.JobLeaf memory) {
        return MonadMeshRegistry.JobLeaf({
            jobId: sha256("job-1"),
            specHash: keccak256("spec"),
            codeCid: sha256("code"),
            owner: STRANGER,
            inputsRoot: keccak256("inputs"),
            tasksRoot: tasksRoot,
            tasks: tasks,
            state: 1
        });
    }

    struct Fixture {
        MonadMeshRegistry.JobLeaf job;
        MonadMeshRegistry.TaskLeaf task;
        bytes32 root;
        uint256 j;
        bytes32[] jobProof;
        bytes32[] taskProof;
    }

    /// A batch of `jobs` leaves whose leaf `j` is a job of `tasks` tasks, and the proofs of its task `t`.
    function _fixture(bytes32 seed, uint256 tasks, uint256 jobs, uint256 t, uint256 j)
        internal
        view
        returns (Fixture memory f)
    {
        bytes32[] memory taskHashes = new bytes32[](tasks);
        for (uint256 i = 0; i < tasks; ++i) {
            MonadMeshRegistry.TaskLeaf memory leaf = MonadMeshRegistry.TaskLeaf({
                index: uint32(i),
                state: 1,
                inputHash: keccak256(abi.encode(seed, "in", i)),
                outputHash: keccak256(abi.encode(seed, "out", i)),
                verification: keccak256(abi.encode(seed, "v", i))
            });
            taskHashes[i] = registry.taskLeafHash(leaf);
            if (i == t) f.task = leaf;
        }
        f.job = _job(merkle.rootOf(taskHashes), uint32(tasks));
        bytes32[] memory jobHashes = new bytes32[](jobs);
        for (uint256 i = 0; i < jobs; ++i) {
            jobHashes[i] = i == j ? registry.jobLeafHash(f.job) : keccak256(abi.encode(seed, "job", i));
        }
        f.root = merkle.rootOf(jobHashes);
        f.j = j;
        f.jobProof = merkle.proofOf(jobHashes, j);
        f.taskProof = merkle.proofOf(taskHashes, t);
    }

    function _verifies(Fixture memory f, MonadMeshRegistry.JobLeaf memory job, MonadMeshRegistry.TaskLeaf memory task)
        internal
        view
        returns (bool)
    {
        return registry.verifyTask(f.root, job, f.j, f.jobProof, task, f.taskProof);
    }

    function testFuzz_jobAndTaskProofs(bytes32 seed, uint256 tasks, uint256 jobs, uint256 pick) public {
        tasks = bound(tasks, 1, 40);
        jobs = bound(jobs, 1, 40);
        Fixture memory f = _fixture(seed, tasks, jobs, pick % tasks, (pick / 64) % jobs);

        // Not committed yet: nothing verifies.
        vm.assertFalse(registry.verifyJob(f.root, f.job, f.j, f.jobProof), "uncommitted root (job)");
        vm.assertFalse(_verifies(f, f.job, f.task), "uncommitted root (task)");
        vm.prank(RELAYER);
        registry.commitBatch(f.root, uint32(jobs));
        vm.assertTrue(registry.verifyJob(f.root, f.job, f.j, f.jobProof), "job verifies");
        vm.assertTrue(_verifies(f, f.job, f.task), "task verifies");

        // Tampered fields fail.
        MonadMeshRegistry.TaskLeaf memory task = f.task;
        task.outputHash = bytes32(uint256(f.task.outputHash) ^ 1);
        vm.assertFalse(_verifies(f, f.job, task), "tampered output");
        task = MonadMeshRegistry.TaskLeaf(f.task.index, f.task.state, f.task.inputHash, f.task.outputHash, 0);
        vm.assertFalse(_verifies(f, f.job, task), "tampered verification");
        task = MonadMeshRegistry.TaskLeaf(f.task.index, 2, f.task.inputHash, f.task.outputHash, f.task.verification);
        vm.assertFalse(_verifies(f, f.job, task), "tampered task state");
        MonadMeshRegistry.JobLeaf memory job = _job(f.job.tasksRoot, f.job.tasks);
        job.owner = OWNER;
        vm.assertFalse(registry.verifyJob(f.root, job, f.j, f.jobProof), "tampered owner");
        job = _job(f.job.tasksRoot, f.job.tasks);
        job.state = 2;
        vm.assertFalse(registry.verifyJob(f.root, job, f.j, f.jobProof), "tampered job state");
        if (f.jobProof.length > 0) {
            f.jobProof[0] = bytes32(uint256(f.jobProof[0]) ^ 1);
            vm.assertFalse(registry.verifyJob(f.root, f.job, f.j, f.jobProof), "tampered proof");
        }
    }
}
