/* A WASI reactor (a library: exports functions, no main), built with -mexec-model=reactor. */
__attribute__((export_name("square"))) int square(int x) { return x * x; }
