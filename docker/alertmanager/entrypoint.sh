#!/bin/sh
# Alertmanager's entrypoint: the API's admin key, from the environment, goes to the file
# alertmanager.yml's webhook reads (never into the config or the image); then Alertmanager.
set -eu
: "${WORKBENCH_ADMIN_KEY:?set WORKBENCH_ADMIN_KEY: the API's admin key, for its /admin/alerts}"
umask 077
printf '%s' "$WORKBENCH_ADMIN_KEY" > /run/alertmanager/admin_key
unset WORKBENCH_ADMIN_KEY
exec prometheus-alertmanager "$@"
