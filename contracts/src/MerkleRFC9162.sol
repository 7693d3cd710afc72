// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title The Merkle tree hash of RFC 9162 §2.1 over SHA-256, as `protocol/merkle.ts` builds it.
/// @notice A leaf hashes as `SHA-256(0x00 || data)` and an inner node as `SHA-256(0x01 || left ||
/// right)`, so a leaf never passes for an inner node (no 64-byte-leaf ambiguity). A tree of n
/// leaves splits at the largest power of two below n, and an inclusion proof is checked against the
/// tree's size, so it proves one position in one tree. SHA-256 is the EVM's precompile 0x02.
library MerkleRFC9162 {
    /// `SHA-256(0x00 || data)`.
    function leafHash(bytes memory data) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x00), data));
    }

    /// `SHA-256(0x01 || left || right)`.
    function nodeHash(bytes32 left, bytes32 right) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x01), left, right));
    }

    /// The root that `proof` (nearest sibling first) leads to from `leaf` at `index` of a tree of
    /// `size` leaves, with `ok` false when the proof has the wrong length for that position
    /// (RFC 9162 §2.1.3.2).
    function rootFromProof(bytes32 leaf, uint256 index, uint256 size, bytes32[] calldata proof)
        internal
        pure
        returns (bool ok, bytes32 root)
    {
        if (index >= size) return (false, bytes32(0));
        uint256 fn = index;
        uint256 sn = size - 1;
        root = leaf;
        for (uint256 i = 0; i < proof.length; ++i) {
            if (sn == 0) return (false, bytes32(0));
            if (fn & 1 == 1 || fn == sn) {
                root = nodeHash(proof[i], root);
                if (fn & 1 == 0) {
                    while (fn & 1 == 0 && fn != 0) {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                root = nodeHash(root, proof[i]);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return (sn == 0, sn == 0 ? root : bytes32(0));
    }

    /// The root of a tree over `leaves` (leaf hashes), as RFC 9162 §2.1.1 defines it. For tests and
    /// tools: a contract never needs a whole tree.
    function rootOf(bytes32[] memory leaves) internal pure returns (bytes32) {
        require(leaves.length > 0, "empty tree");
        return _subtree(leaves, 0, leaves.length);
    }

    function _subtree(bytes32[] memory leaves, uint256 start, uint256 n) private pure returns (bytes32) {
        if (n == 1) return leaves[start];
        uint256 k = 1;
        while (k * 2 < n) k *= 2;
        return nodeHash(_subtree(leaves, start, k), _subtree(leaves, start + k, n - k));
    }
}
