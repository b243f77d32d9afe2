// A cache-line prefetch for Swift, which has no prefetch of its own: static inline, so the
// compiler emits one prefetch instruction where it is called (no call, no module boundary).
// CacheEngine's skip-list descents use it to start a node's second line, and the node a descent
// drops a level to, while the current load is still waiting (CacheEngine+ZSetOrder.swift).
#ifndef CPREFETCH_H
#define CPREFETCH_H

/// Starts loading the cache line holding `p` for reading (kept in every cache level).
static inline void cprefetch_read(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
