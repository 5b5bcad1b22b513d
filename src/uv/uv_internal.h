/* Internal helpers of the libuv runtime. */
#ifndef FIRN_UV_INTERNAL_H
#define FIRN_UV_INTERNAL_H

#include <sys/socket.h>
#include <uv.h>

#include "firn/common.h"

/* firn_addr <-> struct sockaddr. Returns the sockaddr length, or 0 for an unknown family. */
socklen_t firn_uv_to_sockaddr(const firn_addr *a, struct sockaddr_storage *ss);
int firn_uv_from_sockaddr(firn_addr *a, const struct sockaddr *sa);

#endif
