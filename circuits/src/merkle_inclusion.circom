pragma circom 2.1.6;

include "circomlib/circuits/poseidon.circom";

// Merkle inclusion in a binary Poseidon tree of depth DEPTH (2^DEPTH leaves): proves that `leaf`
// sits at the position `pathIndices` gives (bit i: 1 when the node at level i is a right child)
// under `root`, the siblings on the way being `pathElements`. Inner nodes are Poseidon(left, right),
// leaves are used as they are (hash them first if they are not field elements). An input that is
// not in the tree cannot be proven. Every input is public (a MonadMesh job refuses private inputs),
// so the output `leafIndex` (the position, from the bits) is what a task adds.
// Public signals: [leafIndex, leaf, pathElements, pathIndices, root].
template MerkleInclusion(DEPTH) {
    signal input leaf;
    signal input pathElements[DEPTH];
    signal input pathIndices[DEPTH];
    signal input root;
    signal output leafIndex;

    component hashes[DEPTH];
    signal nodes[DEPTH + 1];
    signal lefts[DEPTH];
    signal rights[DEPTH];
    signal index[DEPTH + 1];
    nodes[0] <== leaf;
    index[0] <== 0;
    for (var i = 0; i < DEPTH; i++) {
        // Each index bit is 0 or 1.
        pathIndices[i] * (1 - pathIndices[i]) === 0;
        // bit 0: (node, sibling); bit 1: (sibling, node).
        lefts[i] <== nodes[i] + pathIndices[i] * (pathElements[i] - nodes[i]);
        rights[i] <== pathElements[i] + pathIndices[i] * (nodes[i] - pathElements[i]);
        hashes[i] = Poseidon(2);
        hashes[i].inputs[0] <== lefts[i];
        hashes[i].inputs[1] <== rights[i];
        nodes[i + 1] <== hashes[i].out;
        index[i + 1] <== index[i] + pathIndices[i] * (1 << i);
    }
    root === nodes[DEPTH];
    leafIndex <== index[DEPTH];
}

component main {public [leaf, pathElements, pathIndices, root]} = MerkleInclusion(7);
