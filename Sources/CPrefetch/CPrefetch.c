// CPrefetch is a header-only module (include/CPrefetch.h); SwiftPM needs one source file.
#include "CPrefetch.h"
