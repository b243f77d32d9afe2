// A worker thread's "kept" item-lock stripe (CacheEngine's ItemLocks.swift explains why): one
// thread-local record, reached from Swift through these static inline functions (Swift has no
// thread-local storage of its own that is one load; the record is defined once, in
// CStripeLock.c, so every module that inlines these reads the same one).
#ifndef CSTRIPELOCK_H
#define CSTRIPELOCK_H

#include <pthread.h>

typedef struct {
    /// The stripe this thread holds past its last unlock (0: none).
    pthread_mutex_t *kept;
    /// How many of this thread's lock calls on `kept` are not yet unlocked.
    int depth;
    /// Whether an unlock that ends the depth keeps the stripe.
    int keeping;
} cstripe_state_t;

extern __thread cstripe_state_t cstripe_state __attribute__((tls_model("initial-exec")));

/// Gives the kept stripe back when no lock call of this thread holds it.
static inline void cstripe_release(void) {
    cstripe_state_t *s = &cstripe_state;
    if (s->kept && s->depth == 0) {
        pthread_mutex_t *m = s->kept;
        s->kept = 0;
        pthread_mutex_unlock(m);
    }
}

static inline void cstripe_lock(pthread_mutex_t *m) {
    cstripe_state_t *s = &cstripe_state;
    if (s->kept) {
        if (s->kept == m) { s->depth += 1; return; }
        // Another stripe: the kept one goes first (a thread waits for a stripe holding at most
        // what its lock calls hold, as without keeping).
        cstripe_release();
    }
    pthread_mutex_lock(m);
    if (s->keeping && !s->kept) { s->kept = m; s->depth = 1; }
}

static inline void cstripe_unlock(pthread_mutex_t *m) {
    cstripe_state_t *s = &cstripe_state;
    if (s->kept == m) {
        s->depth -= 1;
        if (s->depth > 0 || s->keeping) return;
        s->kept = 0;
    }
    pthread_mutex_unlock(m);
}

/// 1 when locked. A kept stripe no lock call holds is taken again; one a call holds fails, as
/// a non-recursive mutex's trylock by its holder.
static inline int cstripe_trylock(pthread_mutex_t *m) {
    cstripe_state_t *s = &cstripe_state;
    if (s->kept == m) {
        if (s->depth > 0) return 0;
        s->depth = 1;
        return 1;
    }
    return pthread_mutex_trylock(m) == 0;
}

/// From here on, an unlock keeps its stripe (until `cstripe_stop_keeping`, another stripe's
/// lock or `cstripe_release`).
static inline void cstripe_start_keeping(void) { cstripe_state.keeping = 1; }

/// Unlocks give their stripes back again; a kept stripe no call holds is given back now.
static inline void cstripe_stop_keeping(void) {
    cstripe_state.keeping = 0;
    cstripe_release();
}

#endif
