// The one definition of the thread-local key hints the header's inline functions use.
#include "CPrefetch.h"

__thread cprefetch_hint_t cprefetch_hint __attribute__((tls_model("initial-exec")));
