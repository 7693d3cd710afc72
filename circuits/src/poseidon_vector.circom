pragma circom 2.1.6;

include "circomlib/circuits/poseidon.circom";

// The Poseidon hash of a private vector of N field elements: proves knowledge of values whose hash
// is the public output (a commitment), without showing them. Public signals: [hash].
template PoseidonVector(N) {
    signal input values[N];
    signal output hash;
    component h = Poseidon(N);
    for (var i = 0; i < N; i++) {
        h.inputs[i] <== values[i];
    }
    hash <== h.out;
}

component main = PoseidonVector(8);
