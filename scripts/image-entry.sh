#!/bin/sh
# The container image's entry point (/usr/local/bin/vendorfetch): picks the program by name;
# anything else runs as given. VF_NODE_FLAGS (e.g. --watch, used by the Tiltfile) goes to node.
#   IMAGE api | worker | controller | mocks | local   (default: api)
set -e
program="${1:-api}"
[ "$#" -gt 0 ] && shift
case "$program" in
  api)        exec node ${VF_NODE_FLAGS:-} dist/api/main.js "$@" ;;
  worker)     exec node ${VF_NODE_FLAGS:-} dist/worker/main.js "$@" ;;
  controller) exec node ${VF_NODE_FLAGS:-} dist/controller/main.js "$@" ;;
  mocks)      exec node ${VF_NODE_FLAGS:-} dist/vendor-mocks/main.js "$@" ;;
  local)      exec node ${VF_NODE_FLAGS:-} dist/controller/local-main.js "$@" ;;
  *)          exec "$program" "$@" ;;
esac
