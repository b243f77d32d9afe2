#include "CGetopt.h"
#include <stdio.h>

void cgetopt_reset(void) {
    optind = 1;
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
