/* Demultiplexing of packets sharing one 5-tuple by their first byte (RFC 7983 section 7,
 * which updates RFC 5764 section 5.1.2), and RTP vs RTCP on a muxed port (RFC 5761
 * section 4). Only the first one or two bytes are looked at: the caller still validates
 * each protocol's minimum length before parsing. */
#ifndef FIRN_DTLS_DEMUX_H
#define FIRN_DTLS_DEMUX_H

#include <stddef.h>
#include <stdint.h>

/** What a received packet is. */
typedef enum firn_demux_kind {
  FIRN_DEMUX_UNKNOWN = 0,      /* empty, or a first byte no protocol here uses: drop */
  FIRN_DEMUX_STUN = 1,         /* 0..3 */
  FIRN_DEMUX_ZRTP = 2,         /* 16..19 */
  FIRN_DEMUX_DTLS = 3,         /* 20..63 */
  FIRN_DEMUX_TURN_CHANNEL = 4, /* 64..79 (ChannelData) */
  FIRN_DEMUX_RTP = 5,          /* 128..191 with a payload type outside 64..95 */
  FIRN_DEMUX_RTCP = 6          /* 128..191 with second byte 192..223 (RTCP packet types
                                  192..223, i.e. RTP payload types 64..95 with marker) */
} firn_demux_kind;

/** Classify a packet. RTP/RTCP need a second byte; a 1-byte packet in 128..191 is
 *  UNKNOWN. */
static inline firn_demux_kind firn_demux_classify(const uint8_t *p, size_t len) {
  if (p == NULL || len == 0) return FIRN_DEMUX_UNKNOWN;
  uint8_t b = p[0];
  if (b <= 3) return FIRN_DEMUX_STUN;
  if (b >= 16 && b <= 19) return FIRN_DEMUX_ZRTP;
  if (b >= 20 && b <= 63) return FIRN_DEMUX_DTLS;
  if (b >= 64 && b <= 79) return FIRN_DEMUX_TURN_CHANNEL;
  if (b >= 128 && b <= 191) {
    if (len < 2) return FIRN_DEMUX_UNKNOWN;
    return (p[1] >= 192 && p[1] <= 223) ? FIRN_DEMUX_RTCP : FIRN_DEMUX_RTP;
  }
  return FIRN_DEMUX_UNKNOWN;
}

#endif
