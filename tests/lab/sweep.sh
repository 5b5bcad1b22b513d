#!/bin/bash
# sweep.sh [--all]: remove network namespaces (and /tmp dirs) left by killed lab runs.
# Default: only firnlab-<pid>-* whose <pid> is dead. --all: every firnlab-* namespace
# (use only when no lab test is running). Never touches other namespaces.
. "$(dirname "$0")/lib.sh"
lab_skip_unless_root
lab_sweep "${1:-}"
left=$(ip netns list | awk '{print $1}' | grep '^firnlab-' || true)
if [ -n "$left" ]; then
    echo "firnlab namespaces still present (owners alive):"
    echo "$left"
fi
exit 0
