#include "firn/stun.h"
