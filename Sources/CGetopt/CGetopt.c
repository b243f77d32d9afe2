#include "CGetopt.h"
#include <stdio.h>

void cgetopt_reset(void) {
    // 0, not 1: glibc then forgets everything of the last parse. With 1 it kept its place inside a
    // cluster of short flags (`-v%v`, refused at %, stopped at the second v), in the argv of that
    // parse, freed since: a second parse in the same process read freed memory (FuzzOptions).
    optind = 0;
    opterr = 1;
}

int cgetopt_long(int argc, char *const argv[], const char *optstring, const struct option *longopts,
                 const char **argument) {
    int c = getopt_long(argc, argv, optstring, longopts, NULL);
    *argument = optarg;
    return c;
}

int cgetopt_index(void) { return optind; }

void cgetopt_stderr(const char *text) {
    fputs(text, stderr);
    fflush(stderr);
}
