/* A compiled program, unmodified: reads the secret the key broker released into its
 * environment and asks the in-guest API for evidence about itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *token = getenv("API_TOKEN");
    if (token == NULL) {
        fprintf(stderr, "no API_TOKEN\n");
        return 2;
    }
    printf("hello from C; the token has %zu bytes\n", strlen(token));
    return 0;
}
