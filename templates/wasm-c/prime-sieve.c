/*
 * MonadMesh WebAssembly template (C, WASI): count the primes in [lo, hi).
 *
 * The contract of a WebAssembly function: a WASI command (`main`) that reads one input as JSON on
 * stdin and writes one output as JSON on stdout; stderr becomes the task's logs; exit code 0 means
 * success. This one takes {"lo": 1000000, "hi": 2000000} and answers
 * {"lo":…,"hi":…,"count":…,"twins":…,"largest":…,"sum":…} using a segmented sieve of Eratosthenes,
 * so a job can split a huge range into many small tasks.
 *
 * Build: clang-14 --target=wasm32-wasi -O2 -Wl,--stack-first -o prime-sieve.wasm prime-sieve.c
 * (`npm run build:wasm` builds it into templates/dist/; --stack-first makes a C stack overflow trap
 * instead of overwriting data).
 * The same file builds natively (gcc -O2 prime-sieve.c), which the tests use as the reference.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ranges wider than this are refused: split the work over more inputs instead. */
#define MAX_SPAN 100000000ULL
#define SEGMENT_BYTES 65536

/* The input is small (the platform caps it at 64 KiB), so it is read whole. */
static char input[65536 + 1];

/* Reads the unsigned integer after "key": in a flat JSON object; 0 if it is not there. A real
 * program would use a JSON library (cJSON, jsmn); this keeps the template self-contained. */
static int read_uint(const char *json, const char *key, uint64_t *out) {
  char quoted[64];
  snprintf(quoted, sizeof quoted, "\"%s\"", key);
  const char *at = strstr(json, quoted);
  if (!at) return 0;
  at += strlen(quoted);
  while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r') at++;
  if (*at++ != ':') return 0;
  while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r') at++;
  if (*at < '0' || *at > '9') return 0;
  uint64_t value = 0;
  for (; *at >= '0' && *at <= '9'; at++) {
    if (value > (UINT64_MAX - 9) / 10) return 0;
    value = value * 10 + (uint64_t)(*at - '0');
  }
  *out = value;
  return 1;
}

static uint64_t isqrt(uint64_t n) {
  uint64_t r = 0;
  while ((r + 1) * (r + 1) <= n) r++;
  return r;
}

int main(void) {
  size_t length = fread(input, 1, sizeof input - 1, stdin);
  input[length] = '\0';

  uint64_t lo, hi;
  if (!read_uint(input, "lo", &lo) || !read_uint(input, "hi", &hi) || lo > hi) {
    fprintf(stderr, "expected input like {\"lo\": 0, \"hi\": 1000}, got: %.200s\n", input);
    return 2;
  }
  if (hi - lo > MAX_SPAN || hi > (1ULL << 40)) {
    fprintf(stderr, "range [%llu, %llu) is too large: at most %llu numbers below 2^40 per task\n",
            (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)MAX_SPAN);
    return 2;
  }

  /* Base primes up to sqrt(hi), by a plain sieve. */
  uint64_t root = isqrt(hi) + 1;
  unsigned char *small = calloc(root + 1, 1);
  uint32_t *base = malloc(sizeof(uint32_t) * (root / 2 + 2));
  unsigned char *segment = malloc(SEGMENT_BYTES);
  if (!small || !base || !segment) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  size_t nbase = 0;
  for (uint64_t i = 2; i <= root; i++) {
    if (small[i]) continue;
    base[nbase++] = (uint32_t)i;
    for (uint64_t j = i * i; j <= root; j += i) small[j] = 1;
  }

  uint64_t count = 0, twins = 0, sum = 0, largest = 0, previous = 0;
  for (uint64_t start = lo; start < hi; start += SEGMENT_BYTES) {
    uint64_t end = start + SEGMENT_BYTES < hi ? start + SEGMENT_BYTES : hi;
    memset(segment, 0, (size_t)(end - start));
    for (size_t k = 0; k < nbase; k++) {
      uint64_t p = base[k];
      if (p * p >= end) break;
      uint64_t first = (start + p - 1) / p * p;
      if (first < p * p) first = p * p;
      for (uint64_t m = first; m < end; m += p) segment[m - start] = 1;
    }
    for (uint64_t n = start < 2 ? 2 : start; n < end; n++) {
      if (segment[n - start]) continue;
      count++;
      sum += n;
      if (previous && n - previous == 2) twins++;
      previous = n;
      largest = n;
    }
  }

  fprintf(stderr, "sieved [%llu, %llu) with %zu base primes\n", (unsigned long long)lo,
          (unsigned long long)hi, nbase);
  printf("{\"lo\":%llu,\"hi\":%llu,\"count\":%llu,\"twins\":%llu,\"largest\":", (unsigned long long)lo,
         (unsigned long long)hi, (unsigned long long)count, (unsigned long long)twins);
  if (count) printf("%llu", (unsigned long long)largest);
  else printf("null");
  printf(",\"sum\":%llu}\n", (unsigned long long)sum);
  free(segment);
  free(base);
  free(small);
  return 0;
}
