// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {MerkleRFC9162} from "./MerkleRFC9162.sol";
import {Groth16} from "./Groth16.sol";

/// @title MonadMesh's anchor registry: batch roots of finished jobs, and the proofs that check them.
/// @notice Relayers (MonadMesh's cron) commit one Merkle root per batch of finished jobs. A batch's
/// leaves are job leaves; each job leaf commits its tasks' root, whose leaves are task leaves, so
/// one proof shows that a job ran and another that one of its tasks gave a given output, verified a
/// given way. Submitters may register a job's spec hash from their own wallet before submitting;
/// an anchored job with the same owner and spec hash then links to that registration.
/// @dev Every write touches only its own slots (a batch's root, a registrant's spec), never a
/// counter every transaction writes: Monad executes transactions in parallel and re-executes the
/// ones that conflict. Leaves are RFC 9162 leaves (see MerkleRFC9162) over fixed-length fields
/// behind a one-byte tag, so no two kinds of leaf, and no leaf and inner node, hash alike.
contract MonadMeshRegistry is Ownable2Step {
    /// A finished job, as its batch's leaf commits it.
    struct JobLeaf {
        /// SHA-256 of the job id's UTF-8.
        bytes32 jobId;
        /// The job's spec hash (`jobSpecHash` in protocol/anchor.ts), what a submitter may register.
        bytes32 specHash;
        /// SHA-256 of the code CID's binary form.
        bytes32 codeCid;
        /// The submitter's wallet.
        address owner;
        /// Root of the tree of the job's input leaves.
        bytes32 inputsRoot;
        /// Root of the tree of the job's task leaves (one per task, in input order).
        bytes32 tasksRoot;
        /// How many tasks (leaves of both trees) the job has.
        uint32 tasks;
        /// 1 succeeded, 2 failed, 3 cancelled.
        uint8 state;
    }

    /// One task of a finished job.
    struct TaskLeaf {
        /// The task's place in the job (its input's index).
        uint32 index;
        /// 1 succeeded, 2 failed, 3 cancelled (never ran to an accepted outcome).
        uint8 state;
        /// SHA-256 of the input's JSON text (the digest of the receipt's `inputCid`).
        bytes32 inputHash;
        /// SHA-256 of the accepted outcome's JSON text (the digest of its `outputHash`); zero if none.
        bytes32 outputHash;
        /// The task's verification digest (`verificationDigest`); zero for a job without verification.
        bytes32 verification;
    }

    bytes1 internal constant JOB_TAG = 0x4a; // 'J'
    bytes1 internal constant TASK_TAG = 0x54; // 'T'

    /// A committed batch (one storage slot).
    struct Batch {
        uint64 blockNumber;
        uint64 timestamp;
        uint32 size;
    }

    /// Committed batches by root.
    mapping(bytes32 root => Batch) private _batches;
    /// Who may commit batches.
    mapping(address relayer => bool allowed) public isRelayer;
    /// Block at which `registrant` registered `specHash` (zero: not registered).
    mapping(address registrant => mapping(bytes32 specHash => uint256 blockNumber)) public specRegisteredAt;

    event BatchCommitted(bytes32 indexed root, address indexed relayer, uint32 size);
    event SpecRegistered(address indexed registrant, bytes32 indexed specHash);
    event RelayerSet(address indexed relayer, bool allowed);

    error ZeroRoot();
    error EmptyBatch();
    error DuplicateRoot(bytes32 root);
    error NotRelayer(address caller);
    error ZeroSpec();
    error SpecAlreadyRegistered(address registrant, bytes32 specHash);
    error ZeroRelayer();
    error RenounceDisabled();

    constructor(address initialOwner, address[] memory relayers) Ownable(initialOwner) {
        for (uint256 i = 0; i < relayers.length; ++i) {
            _setRelayer(relayers[i], true);
        }
    }

    // ---------------------------------------------------------------- writes

    /// Commit the root of a batch of `size` job leaves. Only relayers; a root is committed once.
    function commitBatch(bytes32 root, uint32 size) external {
        if (!isRelayer[msg.sender]) revert NotRelayer(msg.sender);
        if (root == bytes32(0)) revert ZeroRoot();
        if (size == 0) revert EmptyBatch();
        if (_batches[root].size != 0) revert DuplicateRoot(root);
        // forge-lint: disable-next-line(unsafe-typecast) block numbers and times fit 64 bits for ages
        _batches[root] = Batch(uint64(block.number), uint64(block.timestamp), size);
        emit BatchCommitted(root, msg.sender, size);
    }

    /// Register a job's spec hash from the submitter's own wallet, before submitting the job.
    function registerSpec(bytes32 specHash) external {
        if (specHash == bytes32(0)) revert ZeroSpec();
        if (specRegisteredAt[msg.sender][specHash] != 0) revert SpecAlreadyRegistered(msg.sender, specHash);
        specRegisteredAt[msg.sender][specHash] = block.number;
        emit SpecRegistered(msg.sender, specHash);
    }

    /// Ownership cannot be given up: a registry without an owner could never change its relayers
    /// again (not even stop a leaked key). Transfer it instead.
    function renounceOwnership() public view override onlyOwner {
        revert RenounceDisabled();
    }

    /// Allow or stop a relayer. Only the owner.
    function setRelayer(address relayer, bool allowed) external onlyOwner {
        _setRelayer(relayer, allowed);
    }

    function _setRelayer(address relayer, bool allowed) private {
        if (relayer == address(0)) revert ZeroRelayer();
        isRelayer[relayer] = allowed;
        emit RelayerSet(relayer, allowed);
    }

    // ---------------------------------------------------------------- reads

    /// A committed batch: the block and time it was committed in, and its number of leaves (all
    /// zero when `root` was never committed).
    function batch(bytes32 root) public view returns (uint64 blockNumber, uint64 timestamp, uint32 size) {
        Batch storage b = _batches[root];
        return (b.blockNumber, b.timestamp, b.size);
    }

    /// The RFC 9162 leaf hash of a job leaf: `SHA-256(0x00 || 'J' || fields packed in order)`.
    function jobLeafHash(JobLeaf calldata job) public pure returns (bytes32) {
        return MerkleRFC9162.leafHash(
            abi.encodePacked(
                JOB_TAG, job.jobId, job.specHash, job.codeCid, job.owner, job.inputsRoot, job.tasksRoot, job.tasks, job.state
            )
        );
    }

    /// The RFC 9162 leaf hash of a task leaf: `SHA-256(0x00 || 'T' || fields packed in order)`.
    function taskLeafHash(TaskLeaf calldata task) public pure returns (bytes32) {
        return MerkleRFC9162.leafHash(
            abi.encodePacked(TASK_TAG, task.index, task.state, task.inputHash, task.outputHash, task.verification)
        );
    }

    /// Whether `job` is leaf `index` of the committed batch `root` (whose size the contract keeps).
    function verifyJob(bytes32 root, JobLeaf calldata job, uint256 index, bytes32[] calldata proof)
        public
        view
        returns (bool)
    {
        (,, uint32 size) = batch(root);
        if (size == 0) return false;
        (bool ok, bytes32 computed) = MerkleRFC9162.rootFromProof(jobLeafHash(job), index, size, proof);
        return ok && computed == root;
    }

    /// Whether `task` is task `task.index` of `job`, and `job` leaf `jobIndex` of the committed
    /// batch `root`.
    function verifyTask(
        bytes32 root,
        JobLeaf calldata job,
        uint256 jobIndex,
        bytes32[] calldata jobProof,
        TaskLeaf calldata task,
        bytes32[] calldata taskProof
    ) external view returns (bool) {
        (bool ok, bytes32 tasksRoot) = MerkleRFC9162.rootFromProof(taskLeafHash(task), task.index, job.tasks, taskProof);
        return ok && tasksRoot == job.tasksRoot && verifyJob(root, job, jobIndex, jobProof);
    }

    /// Whether a Groth16 `proof` proves `publicSignals` under the verification key `vk`: the
    /// on-demand check of a proven task. A proven job's code CID (in its job leaf) is its circuit
    /// manifest, which holds `vk`; a task leaf's output hash commits the public signals; so with
    /// `verifyTask` this shows on-chain that an anchored output is a circuit's proven result. Any
    /// valid proof will do (a proof can be re-randomised), which is why the anchor commits the
    /// signals, not the proof. A view: call it (`eth_call`), it costs nothing to anyone.
    function verifyProof(Groth16.VerifyingKey calldata vk, Groth16.Proof calldata proof, uint256[] calldata publicSignals)
        external
        view
        returns (bool)
    {
        return Groth16.verify(vk, proof, publicSignals);
    }

    /// Whether `job`'s owner registered its spec hash, and in which block (zero: not registered).
    function specOf(JobLeaf calldata job) external view returns (uint256 blockNumber) {
        return specRegisteredAt[job.owner][job.specHash];
    }
}
