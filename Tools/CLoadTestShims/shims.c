// Nothing to compile: the target exists to export include/CLoadTestShims.h to Swift.
#include "CLoadTestShims.h"
