#!/bin/sh
# One deploy's steps, in order, after the new code and its requirements are in place (docs/deployment.md):
#   sudo -u leadrouter /opt/leadrouter/deploy/release.sh && sudo systemctl reload leadrouter-web && sudo systemctl restart 'leadrouter-qcluster@*'
set -eu
manage="$(dirname "$0")/manage.sh"
"$manage" migrate --noinput                # also creates the django-q2 schedules, without duplicates
"$manage" createcachetable                 # the cache table of CACHE_URL=dbcache://... (nothing for other caches)
"$manage" compilemessages --ignore=.venv -v0   # needs gettext's msgfmt; the committed .mo is rebuilt from the .po
"$manage" collectstatic --noinput -v0      # into STATIC_ROOT, compressed and with hashed names
"$manage" check --deploy --fail-level WARNING
