/**
 * @file firn.h
 * @brief Umbrella header for firn: ICE, STUN, TURN and DTLS-SRTP for real-time media.
 */
#ifndef FIRN_FIRN_H
#define FIRN_FIRN_H

#include "firn/version.h"
#include "firn/common.h"
#include "firn/stun.h"
#include "firn/dtls.h"
#include "firn/ice.h"
#include "firn/sdp.h"
#include "firn/media.h"

#endif
