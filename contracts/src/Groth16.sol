// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Groth16 verification over BN254 with the verification key as an argument.
/// @notice snarkjs exports one verifier contract per circuit, with its key built into the code
/// (GPL-3.0). MonadMesh's proven jobs may use any circuit, so the registry checks a proof against
/// the key the job's circuit manifest carries instead: one contract for every circuit, the key in
/// calldata. The check is the same pairing equation,
///   e(-A, B) · e(α, β) · e(vk_x, γ) · e(C, δ) = 1,  vk_x = IC₀ + Σ sᵢ·ICᵢ₊₁,
/// through the EIP-196/197 precompiles (0x06 add, 0x07 mul, 0x08 pairing), which refuse points off
/// the curve (and G2 points outside the subgroup). Written by hand because no maintained library
/// takes the key as an argument; the arithmetic is the precompiles'.
/// @dev G2 points are in the precompile's order: x = (x.im, x.re), y = (y.im, y.re), the reverse of
/// snarkjs's JSON (`groth16Calldata` in protocol/circuit.ts converts). A point at infinity is (0, 0).
library Groth16 {
    /// BN254's base field modulus: every coordinate is below it.
    uint256 internal constant Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583;
    /// BN254's scalar field order: every public signal is below it (so `s` and `s + r` cannot both pass).
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    struct VerifyingKey {
        uint256[2] alpha1;
        uint256[4] beta2;
        uint256[4] gamma2;
        uint256[4] delta2;
        /// One point per public signal, plus IC₀.
        uint256[2][] ic;
    }

    struct Proof {
        uint256[2] a;
        uint256[4] b;
        uint256[2] c;
    }

    /// Whether `proof` proves `publicSignals` under `vk`. False (never a revert) for a malformed key,
    /// proof or signal: a wrong count, a signal not below R, a coordinate not below Q, a point off
    /// the curve.
    function verify(VerifyingKey calldata vk, Proof calldata proof, uint256[] calldata publicSignals)
        internal
        view
        returns (bool)
    {
        if (vk.ic.length != publicSignals.length + 1) return false;
        if (!_below(proof.a[0], proof.a[1]) || !_below(proof.c[0], proof.c[1])) return false;
        for (uint256 i = 0; i < 4; i++) {
            if (proof.b[i] >= Q) return false;
        }

        uint256[2] memory vkX = [vk.ic[0][0], vk.ic[0][1]];
        for (uint256 i = 0; i < publicSignals.length; i++) {
            uint256 s = publicSignals[i];
            if (s >= R) return false;
            if (s == 0) continue;
            (bool okMul, uint256[2] memory term) = _mul([vk.ic[i + 1][0], vk.ic[i + 1][1]], s);
            if (!okMul) return false;
            bool okAdd;
            (okAdd, vkX) = _add(vkX, term);
            if (!okAdd) return false;
        }

        uint256[24] memory input;
        // e(-A, B)
        input[0] = proof.a[0];
        input[1] = proof.a[1] == 0 ? 0 : Q - proof.a[1];
        (input[2], input[3], input[4], input[5]) = (proof.b[0], proof.b[1], proof.b[2], proof.b[3]);
        // e(α, β)
        (input[6], input[7]) = (vk.alpha1[0], vk.alpha1[1]);
        (input[8], input[9], input[10], input[11]) = (vk.beta2[0], vk.beta2[1], vk.beta2[2], vk.beta2[3]);
        // e(vk_x, γ)
        (input[12], input[13]) = (vkX[0], vkX[1]);
        (input[14], input[15], input[16], input[17]) = (vk.gamma2[0], vk.gamma2[1], vk.gamma2[2], vk.gamma2[3]);
        // e(C, δ)
        (input[18], input[19]) = (proof.c[0], proof.c[1]);
        (input[20], input[21], input[22], input[23]) = (vk.delta2[0], vk.delta2[1], vk.delta2[2], vk.delta2[3]);

        uint256[1] memory result;
        bool ok;
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x08, input, 768, result, 0x20)
        }
        return ok && result[0] == 1;
    }

    function _below(uint256 x, uint256 y) private pure returns (bool) {
        return x < Q && y < Q;
    }

    function _add(uint256[2] memory p, uint256[2] memory q) private view returns (bool ok, uint256[2] memory r) {
        uint256[4] memory input = [p[0], p[1], q[0], q[1]];
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x06, input, 0x80, r, 0x40)
        }
    }

    function _mul(uint256[2] memory p, uint256 s) private view returns (bool ok, uint256[2] memory r) {
        uint256[3] memory input = [p[0], p[1], s];
        assembly ("memory-safe") {
            ok := staticcall(gas(), 0x07, input, 0x60, r, 0x40)
        }
    }
}
