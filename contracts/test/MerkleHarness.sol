// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MerkleRFC9162} from "../src/MerkleRFC9162.sol";

/// MerkleRFC9162 exposed, plus whole trees and proofs built in Solidity: the forge tests build trees
/// with it, and test/chain/merkle.e2e.test.ts deploys it on anvil to check TypeScript's trees
/// against Solidity's and the reverse.
contract MerkleHarness {
    function leafHash(bytes calldata data) external pure returns (bytes32) {
        return MerkleRFC9162.leafHash(data);
    }

    function rootOf(bytes32[] memory leaves) public pure returns (bytes32) {
        return MerkleRFC9162.rootOf(leaves);
    }

    function rootFromProof(bytes32 leaf, uint256 index, uint256 size, bytes32[] calldata proof)
        external
        pure
        returns (bool ok, bytes32 root)
    {
        return MerkleRFC9162.rootFromProof(leaf, index, size, proof);
    }

    /// The inclusion proof of leaf `index` (RFC 9162 §2.1.3.1), nearest sibling first.
    function proofOf(bytes32[] memory leaves, uint256 index) public pure returns (bytes32[] memory proof) {
        require(index < leaves.length, "index out of range");
        bytes32[] memory path = new bytes32[](64);
        uint256 depth = 0;
        uint256 start = 0;
        uint256 n = leaves.length;
        uint256 m = index;
        while (n > 1) {
            uint256 k = 1;
            while (k * 2 < n) k *= 2;
            if (m < k) {
                path[depth++] = _root(leaves, start + k, n - k);
                n = k;
            } else {
                path[depth++] = _root(leaves, start, k);
                start += k;
                m -= k;
                n -= k;
            }
        }
        proof = new bytes32[](depth);
        for (uint256 i = 0; i < depth; ++i) {
            proof[i] = path[depth - 1 - i];
        }
    }

    function _root(bytes32[] memory leaves, uint256 start, uint256 n) private pure returns (bytes32) {
        bytes32[] memory part = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            part[i] = leaves[start + i];
        }
        return MerkleRFC9162.rootOf(part);
    }
}
