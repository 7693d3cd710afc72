pragma circom 2.1.6;

// A small matrix product C = A · B of N×N matrices over the field: A and B public inputs, C the
// public output, so a verifier checks a product without computing it. Public signals: [C (row by
// row), A (row by row), B (row by row)].
template MatMul(N) {
    signal input a[N][N];
    signal input b[N][N];
    signal output c[N][N];
    signal terms[N][N][N];
    for (var i = 0; i < N; i++) {
        for (var j = 0; j < N; j++) {
            var acc = 0;
            for (var k = 0; k < N; k++) {
                terms[i][j][k] <== a[i][k] * b[k][j];
                acc += terms[i][j][k];
            }
            c[i][j] <== acc;
        }
    }
}

component main {public [a, b]} = MatMul(3);
