#!/bin/sh
# manage.py with the production environment, as the service user:
#   sudo -u leadrouter /opt/leadrouter/deploy/manage.sh migrate --noinput
# The environment file is the one the systemd units read (LEADROUTER_ENV to use another).
set -eu
cd "$(dirname "$0")/.."
set -a
. "${LEADROUTER_ENV:-/etc/leadrouter/leadrouter.env}"
set +a
exec .venv/bin/python manage.py "$@"
