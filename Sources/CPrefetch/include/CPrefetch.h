// A cache-line prefetch for Swift, which has no prefetch of its own: static inline, so the
// compiler emits one prefetch instruction where it is called (no call, no module boundary).
// CacheEngine's skip-list descents use it to start a node's second line, and the node a descent
// drops a level to, while the current load is still waiting (CacheEngine+ZSetOrder.swift).
//
// The key hints: a connection that has the next requests of a pipelined read in hand names
// their keys' hashes here before it runs the current one (`cprefetch_hint_set`), and the engine
// operation that runs it, holding its own item lock, starts loading the next key's chain head
// and the key after's bucket (CacheEngine+KeyHints.swift); when those requests look up a field
// of the key the operation holds (HSET, SADD, ZADD... on one key), the field index's bucket and
// first entry the same way. One thread-local record, defined once
// in CPrefetch.c, so every module that inlines these reads the same one.
#ifndef CPREFETCH_H
#define CPREFETCH_H

#include <stdint.h>

/// Starts loading the cache line holding `p` for reading (kept in every cache level).
static inline void cprefetch_read(const void *p) { __builtin_prefetch(p, 0, 3); }

typedef struct {
    /// The next request's key hash, and the one's after (bit 32 set: present).
    uint64_t next;
    uint64_t after;
    /// The hash of the field or member each of them looks up in its key's hash, set or sorted
    /// set (HSET key field ..., SADD key member, ZADD key score member; bit 32 set: present).
    uint64_t next_field;
    uint64_t after_field;
} cprefetch_hint_t;

extern __thread cprefetch_hint_t cprefetch_hint __attribute__((tls_model("initial-exec")));

/// Names the hashes of the keys the next two requests will look up (0: none; else bit 32 set
/// and the hash in the low 32 bits).
static inline void cprefetch_hint_set(uint64_t next, uint64_t after) {
    cprefetch_hint.next = next;
    cprefetch_hint.after = after;
    cprefetch_hint.next_field = 0;
    cprefetch_hint.after_field = 0;
}

/// The key hints with the fields the two requests look up in their keys.
static inline void cprefetch_hint_set_fields(uint64_t next, uint64_t after, uint64_t next_field, uint64_t after_field) {
    cprefetch_hint.next = next;
    cprefetch_hint.after = after;
    cprefetch_hint.next_field = next_field;
    cprefetch_hint.after_field = after_field;
}

/// The hints, taken (a hint serves one operation).
static inline cprefetch_hint_t cprefetch_hint_take(void) {
    cprefetch_hint_t h = cprefetch_hint;
    cprefetch_hint.next = 0;
    cprefetch_hint.after = 0;
    cprefetch_hint.next_field = 0;
    cprefetch_hint.after_field = 0;
    return h;
}

/// A hash-table bucket read or written by a thread that may not hold its item lock: the
/// prefetch's look at another key's chain head (a value that may be stale the moment it is
/// read, used only as a prefetch address), and every store into a bucket, so the two are
/// atomic accesses of the same word (on x86 the same `mov` as a plain one).
static inline uint32_t cprefetch_bucket_load(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void cprefetch_bucket_store(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

#endif
