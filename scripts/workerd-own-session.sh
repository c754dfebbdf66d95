#!/bin/sh
# workerd for `npm start`, in a session of its own (MINIFLARE_WORKERD_PATH
# points here; scripts/local-edge.ts sets it). A terminal's Ctrl-C signals
# every process of its foreground group, and workerd dies of SIGINT at once,
# before npm start has told its clients that the broker is going away.
# npm start stops workerd itself once it has (Miniflare's dispose, or a kill
# when forced). setsid does not fork here: this shell is not a group leader,
# so workerd keeps the pid Miniflare knows.
exec setsid "$EDGE_WORKERD_BINARY" "$@"
