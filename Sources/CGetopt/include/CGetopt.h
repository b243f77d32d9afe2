// glibc's getopt_long, reached through functions: Swift 6 refuses the optarg/optind globals and
// <getopt.h> is not part of the Glibc module. Also stderr output, which Swift 6 cannot name.
#ifndef CGETOPT_H
#define CGETOPT_H
#include <getopt.h>

/// Resets getopt's state before a new parse.
void cgetopt_reset(void);
/// getopt_long; `*argument` is set to optarg (or NULL).
int cgetopt_long(int argc, char *const argv[], const char *optstring, const struct option *longopts,
                 const char **argument);
/// optind after the parse.
int cgetopt_index(void);
/// Writes a line to stderr.
void cgetopt_stderr(const char *text);
#endif
