/* Imports a function from the host (as an embedder-specific fetch would be): refused before it runs. */
#include <stdio.h>

__attribute__((import_module("env"), import_name("http_get"))) int http_get(const char *url);

int main(void) {
  printf("%d\n", http_get("http://127.0.0.1:1/"));
  return 0;
}
