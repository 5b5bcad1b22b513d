#include "firn/ice.h"
