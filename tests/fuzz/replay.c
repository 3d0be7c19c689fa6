/*
 * replay.c - run a fuzz target's inputs once, without libFuzzer.
 *
 * Usage: replay_<target> FILE|DIR...  Each file (each file of each
 * directory) is fed to LLVMFuzzerTestOneInput once; a target's FUZZ_CHECK
 * aborts and the sanitizers stop the run on the first bad input, which is
 * named before it runs.  `make test` runs every corpus in tests/fuzz/ this
 * way under the gcc ASan+UBSan build.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* weak: a target that needs set-up defines it */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* s_run_file - feed one file; 0, or -1 when it cannot be read */
static int s_run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return -1;
    fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
    /* a copy of exactly n bytes, so ASan sees a read past the input */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int runs = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            bad++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            bad += s_run_file(argv[i]) != 0;
            runs++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, alphasort);
        if (n < 0) {
            perror(argv[i]);
            bad++;
            continue;
        }
        for (int k = 0; k < n; k++) {
            if (names[k]->d_name[0] != '.') {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
                bad += s_run_file(path) != 0;
                runs++;
            }
            free(names[k]);
        }
        free(names);
    }
    printf("%d inputs replayed, %d unreadable\n", runs, bad);
    return bad || runs == 0 ? 1 : 0;
}
