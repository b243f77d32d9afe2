// Everything is in the header (one static inline call); SwiftPM needs a source file per C target.
#include "CPerCPU.h"
