// The CPU the calling thread runs on, for counters kept per CPU and summed when read (the
// kernel's percpu counters; CacheEngine's DatabaseCounts). glibc's sched_getcpu reads the
// kernel's rseq area (no system call); it is declared here because Swift's Glibc module is built
// without _GNU_SOURCE, which hides it.
#ifndef CPERCPU_H
#define CPERCPU_H

extern int sched_getcpu(void);

/// The current CPU's number, or -1 when the kernel cannot say (callers mask it).
static inline int cpercpu_current(void) { return sched_getcpu(); }

#endif
