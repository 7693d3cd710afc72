pragma circom 2.1.6;

include "circomlib/circuits/poseidon.circom";

// The Poseidon hash of a vector of N field elements: proves that a committed hash (the output) is
// the hash of the given values, e.g. of a MonadMesh result, so a contract or a client can trust
// the commitment without hashing. Public signals: [hash, values].
template PoseidonVector(N) {
    signal input values[N];
    signal output hash;
    component h = Poseidon(N);
    for (var i = 0; i < N; i++) {
        h.inputs[i] <== values[i];
    }
    hash <== h.out;
}

component main {public [values]} = PoseidonVector(8);
