pragma circom 2.1.6;

include "circomlib/circuits/comparators.circom";

// Statistics of a vector of N values with a range check: proves that every value lies in [lo, hi]
// (each below 2^BITS) and outputs their sum, minimum and maximum; the mean is sum / N. Every input
// is public, so a proof is about the task's own values (a MonadMesh job refuses private inputs: a
// proof would not show which values were used). Public signals: [sum, min, max, values, lo, hi].
template SumRange(N, BITS) {
    signal input values[N];
    signal input lo;
    signal input hi;
    signal output sum;
    signal output min;
    signal output max;

    // The comparators are sound only for numbers below 2^BITS: check every input is one (a field
    // element such as r - 5 would otherwise pass as "small").
    component bitsLo = Num2Bits(BITS);
    bitsLo.in <== lo;
    component bitsHi = Num2Bits(BITS);
    bitsHi.in <== hi;
    component bits[N];
    for (var i = 0; i < N; i++) {
        bits[i] = Num2Bits(BITS);
        bits[i].in <== values[i];
    }

    component geLo[N];
    component leHi[N];
    component lessMin[N];
    component moreMax[N];
    signal sums[N + 1];
    signal mins[N + 1];
    signal maxs[N + 1];
    sums[0] <== 0;
    mins[0] <== hi;
    maxs[0] <== lo;
    for (var i = 0; i < N; i++) {
        geLo[i] = GreaterEqThan(BITS);
        geLo[i].in[0] <== values[i];
        geLo[i].in[1] <== lo;
        geLo[i].out === 1;
        leHi[i] = LessEqThan(BITS);
        leHi[i].in[0] <== values[i];
        leHi[i].in[1] <== hi;
        leHi[i].out === 1;
        sums[i + 1] <== sums[i] + values[i];
        lessMin[i] = LessThan(BITS);
        lessMin[i].in[0] <== values[i];
        lessMin[i].in[1] <== mins[i];
        mins[i + 1] <== lessMin[i].out * (values[i] - mins[i]) + mins[i];
        moreMax[i] = GreaterThan(BITS);
        moreMax[i].in[0] <== values[i];
        moreMax[i].in[1] <== maxs[i];
        maxs[i + 1] <== moreMax[i].out * (values[i] - maxs[i]) + maxs[i];
    }
    sum <== sums[N];
    min <== mins[N];
    max <== maxs[N];
}

component main {public [values, lo, hi]} = SumRange(8, 32);
