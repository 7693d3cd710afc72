/*
 * A hostile (or just buggy) WASI program for the WebAssembly sandbox tests: the input names what
 * it tries, e.g. {"attack": "fs"}. Built by the tests with clang-14 and wasi-libc, like any user's
 * C program (see scripts/build-wasm.ts).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char input[65536 + 1];
static char scratch[64];

static int is(const char *attack) {
  char quoted[128];
  snprintf(quoted, sizeof quoted, "\"attack\": \"%s\"", attack);
  if (strstr(input, quoted)) return 1;
  snprintf(quoted, sizeof quoted, "\"attack\":\"%s\"", attack);
  return strstr(input, quoted) != NULL;
}

static unsigned long long number(const char *key, unsigned long long fallback) {
  char quoted[64];
  snprintf(quoted, sizeof quoted, "\"%s\":", key);
  const char *at = strstr(input, quoted);
  return at ? strtoull(at + strlen(quoted), NULL, 10) : fallback;
}

/* What an attempt came to: "ok" or the error text, as a JSON string. */
static void outcome(const char *name, int ok, int first) {
  printf("%s\"%s\":\"%s\"", first ? "" : ",", name, ok ? "ok" : strerror(errno));
}

static void fs(void) {
  printf("{");
  FILE *f = fopen("/etc/passwd", "r");
  outcome("passwd", f != NULL, 1);
  f = fopen("etc/passwd", "r");
  outcome("relative", f != NULL, 0);
  f = fopen("/tmp/monadmesh-wasm-escape.txt", "w");
  outcome("write", f != NULL, 0);
  outcome("opendir", opendir("/") != NULL, 0);
  outcome("dot", opendir(".") != NULL, 0);
  struct stat st;
  outcome("stat", stat("/", &st) == 0, 0);
  outcome("urandom", open("/dev/urandom", O_RDONLY) >= 0, 0);
  outcome("mkdir", mkdir("/tmp/monadmesh-wasm-escape", 0700) == 0, 0);
  char buf[16];
  outcome("fd3", read(3, buf, sizeof buf) >= 0, 0);
  outcome("fd9", write(9, "x", 1) >= 0, 0);
  printf("}\n");
}

static void fs_strict(void) {
  FILE *f = fopen("/etc/passwd", "r");
  if (!f) {
    fprintf(stderr, "cannot open /etc/passwd: %s\n", strerror(errno));
    exit(1);
  }
  printf("\"read it\"\n");
}

static void probe(void) {
  struct timespec real, mono1, mono2, before, after;
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_MONOTONIC, &mono1);
  clock_gettime(CLOCK_MONOTONIC, &mono2);
  unsigned char random[16];
  getentropy(random, sizeof random);
  clock_gettime(CLOCK_MONOTONIC, &before);
  struct timespec nap = {2, 0};
  int slept = nanosleep(&nap, NULL);
  clock_gettime(CLOCK_MONOTONIC, &after);
  int env = 0;
  for (char **e = environ; e && *e; e++) env++;
  printf("{\"realtime\":%lld,\"time\":%lld,\"mono\":[%lld,%lld],\"random\":\"", (long long)real.tv_sec * 1000 + real.tv_nsec / 1000000,
         (long long)time(NULL), (long long)mono1.tv_nsec + mono1.tv_sec * 1000000000LL,
         (long long)mono2.tv_nsec + mono2.tv_sec * 1000000000LL);
  for (int i = 0; i < 16; i++) printf("%02x", random[i]);
  printf("\",\"rand\":%d,\"slept\":%d,\"sleptNs\":%lld,\"env\":%d,\"cwd\":%s}\n", rand(), slept,
         (long long)(after.tv_sec - before.tv_sec) * 1000000000LL + (after.tv_nsec - before.tv_nsec), env,
         getcwd((char[256]){0}, 256) ? "\"has one\"" : "null");
}

static int args(int argc, char **argv) {
  printf("{\"argc\":%d,\"argv0\":\"%s\"}\n", argc, argc > 0 ? argv[0] : "");
  return 0;
}

/* Recursion that lives on the engine's stack only (no locals in linear memory). */
__attribute__((noinline)) static unsigned long long deep(unsigned long long n) {
  if (n == 0) return 1;
  return deep(n - 1) * 31 + (n ^ (deep(0) << 3));
}

/* Recursion with a frame in linear memory: the C (shadow) stack runs out first. */
__attribute__((noinline)) static int framed(int n) {
  volatile char frame[4096];
  frame[n % 4096] = (char)n;
  return n == 0 ? frame[0] : framed(n - 1) + frame[n % 4096];
}

int main(int argc, char **argv) {
  size_t length = fread(input, 1, sizeof input - 1, stdin);
  input[length] = '\0';

  if (is("fs")) fs();
  else if (is("fs-strict")) fs_strict();
  else if (is("probe")) probe();
  else if (is("args")) return args(argc, argv);
  else if (is("echo")) printf("{\"stdin\":%s}\n", input);
  else if (is("remember")) {
    static const char secret[] = "a secret of the previous task";
    memcpy(scratch, secret, sizeof secret);
    char *heap = malloc(64);
    memcpy(heap, secret, sizeof secret);
    printf("{\"static\":\"%s\",\"heap\":\"%s\"}\n", scratch, heap);
  } else if (is("recall")) {
    char *heap = malloc(64);
    printf("{\"static\":\"%s\",\"heapByte\":%d}\n", scratch, heap[0]);
  }
  else if (is("loop")) {
    fprintf(stderr, "spinning\n");
    for (volatile unsigned long long i = 0;; i++) {
    }
  } else if (is("grow")) {
    /* Each block is kept (a volatile store), or the compiler drops malloc and memset altogether. */
    static char *volatile kept;
    size_t mib = 0;
    for (;;) {
      char *block = malloc(1 << 20);
      if (!block) {
        fprintf(stderr, "out of memory after %zu MiB\n", mib);
        return 1;
      }
      memset(block, 1, 1 << 20);
      kept = block;
      mib++;
    }
  } else if (is("alloc")) {
    unsigned long long mib = number("mib", 1);
    char *block = malloc(mib << 20);
    if (!block) {
      fprintf(stderr, "cannot allocate %llu MiB\n", mib);
      return 1;
    }
    memset(block, 7, mib << 20);
    printf("{\"allocated\":%llu,\"check\":%d}\n", mib, block[(mib << 20) - 1]);
  } else if (is("recurse")) printf("%llu\n", deep(number("depth", 100000000)));
  else if (is("framed")) printf("%d\n", framed((int)number("depth", 100000)));
  else if (is("flood")) {
    static char block[1024];
    memset(block, ' ', sizeof block);
    printf("[");
    for (;;) fwrite(block, 1, sizeof block, stdout);
  } else if (is("log-flood")) {
    static char line[1000];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    for (int i = 0; i < 1000; i++) fwrite(line, 1, sizeof line, stderr);
    printf("\"done\"\n");
  } else if (is("not-json")) printf("hello, world\n");
  else if (is("empty")) return 0;
  else if (is("bad-utf8")) printf("\"\xff\xfe\"\n");
  else if (is("exit")) {
    printf("{\"partial\":");
    fprintf(stderr, "step 1 ok\nsomething went wrong: code 42\n");
    exit(3);
  } else if (is("trap")) __builtin_trap();
  else if (is("oob")) printf("%d\n", *(volatile int *)(uintptr_t)0xfffffff0u);
  else if (is("huge-json")) {
    printf("[");
    for (int i = 0; i < 200000; i++) printf("%s1e5", i ? "," : "");
    printf("]\n");
  } else if (is("deep-json")) {
    for (int i = 0; i < 100; i++) putchar('[');
    for (int i = 0; i < 100; i++) putchar(']');
    putchar('\n');
  } else {
    fprintf(stderr, "unknown attack: %s\n", input);
    return 2;
  }
  return 0;
}
