// The one definition of the thread-local record the header's inline functions use.
#include "CStripeLock.h"

__thread cstripe_state_t cstripe_state __attribute__((tls_model("initial-exec")));
