/* Imports a WASI socket call (preview 1 has sock_accept/recv/send/shutdown): refused before it runs. */
#include <stdint.h>
#include <stdio.h>

__attribute__((import_module("wasi_snapshot_preview1"), import_name("sock_accept")))
uint16_t sock_accept(int fd, int flags, int *out);

int main(void) {
  int fd = -1;
  printf("{\"errno\":%d,\"fd\":%d}\n", sock_accept(3, 0, &fd), fd);
  return 0;
}
