#!/bin/sh
# One-shot (compose service temporal-setup, image temporalio/admin-tools): once the server is
# healthy, creates labloop's namespace and registers its custom search attributes. Idempotent:
# what exists already is left alone. The attributes must match SEARCH_ATTRIBUTES in
# workflows/definitions.ts (test/unit/compose-file.test.ts checks that they do).
set -eu
: "${TEMPORAL_ADDRESS:?}"
NAMESPACE="${LABLOOP_NAMESPACE:-default}"
# Closed workflows stay visible this long; results themselves stay open 30 days for corrections.
RETENTION="${LABLOOP_NAMESPACE_RETENTION:-30d}"
# The setup identity's token (docker-compose.yml mounts it): the server's authorizer needs it.
if [ -n "${TEMPORAL_API_KEY_FILE:-}" ]; then
  TEMPORAL_API_KEY="$(cat "${TEMPORAL_API_KEY_FILE}")"
  export TEMPORAL_API_KEY
fi
SEARCH_ATTRIBUTES="LabloopPractice=Keyword LabloopAcuity=Keyword LabloopState=Keyword LabloopSlaDeadline=Datetime"

# The server takes a while to come up, and a new namespace reaches the frontend's cache a few
# seconds after it is created, so each step is retried for up to a minute (30 tries, 2 s apart).
retry() {
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge 30 ]; then
      echo "gave up after 30 tries: $*" >&2
      return 1
    fi
    attempt=$((attempt + 1))
    sleep 2
  done
}

retry temporal operator cluster health --address "${TEMPORAL_ADDRESS}"

if ! temporal operator namespace describe --namespace "${NAMESPACE}" --address "${TEMPORAL_ADDRESS}" >/dev/null 2>&1; then
  temporal operator namespace create --namespace "${NAMESPACE}" --retention "${RETENTION}" --address "${TEMPORAL_ADDRESS}"
fi

registered="$(retry temporal operator search-attribute list --namespace "${NAMESPACE}" --address "${TEMPORAL_ADDRESS}")"
for sa in ${SEARCH_ATTRIBUTES}; do
  name="${sa%%=*}"
  type="${sa##*=}"
  if printf '%s\n' "${registered}" | grep -qw "${name}"; then
    echo "search attribute ${name}: already registered"
  else
    retry temporal operator search-attribute create --namespace "${NAMESPACE}" --name "${name}" --type "${type}" \
      --address "${TEMPORAL_ADDRESS}"
  fi
done
echo "namespace ${NAMESPACE} is ready"
