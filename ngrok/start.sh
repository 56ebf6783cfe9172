#!/bin/sh
# Entrypoint of pairlab's ngrok service: start the agent, read the public URL from its
# local API and print the two interview links. Runs under the official image's sh.
set -u

CONFIG=/etc/pairlab/ngrok/ngrok.yml
LINKS_DIR=/run/pairlab/links
AGENT_LOG=/tmp/ngrok-agent.log
API=http://127.0.0.1:4040/api/tunnels
POLICY=/tmp/front-door.yml
UPSTREAM=${NGROK_UPSTREAM:-http://jupyter:8888}
WAIT_SECONDS=${NGROK_WAIT_SECONDS:-60}

log() {
  printf '%s[%s] %s\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%S)" "$2" >&2
}

# A setting the user must fix: say so once, then stay up without restarting, so the
# sentence is not buried under a restart loop; `docker compose ps` shows it unhealthy.
give_up() {
  log ERROR "$1"
  exec sleep 2147483647
}

if [ -z "${NGROK_AUTHTOKEN:-}" ]; then
  give_up "NGROK_AUTHTOKEN is empty: paste your authtoken from https://dashboard.ngrok.com/get-started/your-authtoken into NGROK_AUTHTOKEN in .env, then run docker compose up -d again."
fi
case "$NGROK_AUTHTOKEN" in
  *[!A-Za-z0-9_-]*)
    give_up "NGROK_AUTHTOKEN in .env has characters an ngrok authtoken never has (spaces or quotes?): copy it again from https://dashboard.ngrok.com/get-started/your-authtoken, then run docker compose up -d again." ;;
esac
for role in candidate interviewer; do
  if [ ! -s "$LINKS_DIR/$role.token" ]; then
    give_up "$LINKS_DIR/$role.token is missing: the datagen service writes it, so run docker compose up -d for the whole stack, not for ngrok alone."
  fi
done

# As the image's own entrypoint does, hand the token over in a second config file, so
# it never shows in the process list; /tmp is a private tmpfs.
AUTH_CONFIG=/tmp/ngrok-auth.yml
umask 077
printf 'version: 3\nagent:\n  authtoken: \"%s\"\n' "$NGROK_AUTHTOKEN" >"$AUTH_CONFIG"
set -- http "$UPSTREAM" --config "$CONFIG" --config "$AUTH_CONFIG" \
  --log "$AGENT_LOG" --log-format logfmt

# The optional front door: ngrok's edge checks visitors before Jupyter sees them.
# shellcheck source=ngrok/front_door.sh
# shellcheck source=ngrok/front_door.sh
. "$(dirname "$0")/front_door.sh"
if ! write_front_door_policy "$POLICY"; then
  give_up "$FRONT_DOOR_ERROR"
fi
if [ -s "$POLICY" ]; then
  set -- "$@" --traffic-policy-file "$POLICY"
  log INFO "front door: $FRONT_DOOR_SUMMARY"
fi
ngrok "$@" &
agent_pid=$!

public_url=""
waited=0
while [ -z "$public_url" ]; do
  if ! kill -0 "$agent_pid" 2>/dev/null; then
    if grep -qE 'ERR_NGROK_(105|106|107|302|4018)|authtoken' "$AGENT_LOG" 2>/dev/null; then
      give_up "ngrok rejected NGROK_AUTHTOKEN: copy it again from https://dashboard.ngrok.com/get-started/your-authtoken into NGROK_AUTHTOKEN in .env, then run docker compose up -d again."
    fi
    log ERROR "the ngrok agent stopped before its tunnel came up; its last words were:"
    tail -n 5 "$AGENT_LOG" >&2
    exit 1
  fi
  if [ "$waited" -ge "$WAIT_SECONDS" ]; then
    log ERROR "no tunnel after ${WAIT_SECONDS}s; check that this machine reaches ngrok, then run docker compose restart ngrok."
    kill "$agent_pid"
    exit 1
  fi
  public_url=$(wget -q -O - "$API" 2>/dev/null \
    | sed -n 's/.*"public_url": *"\(https\{0,1\}:\/\/[^"]*\)".*/\1/p' | head -n 1)
  if [ -z "$public_url" ]; then
    sleep 1
    waited=$((waited + 1))
  fi
done
log INFO "ngrok tunnel is up at $public_url after ${waited}s"

candidate_token=$(cat "$LINKS_DIR/candidate.token")
interviewer_token=$(cat "$LINKS_DIR/interviewer.token")
# The one place tokens are printed: these links are what the interviewer came for.
deadline=$(cat "$LINKS_DIR/deadline" 2>/dev/null || true)
printf '\n'
printf '  CANDIDATE LINK for %s (send this one): %s/lab?token=%s\n' \
  "${CANDIDATE_NAME:-Candidate}" "$public_url" "$candidate_token"
printf '  INTERVIEWER LINK for %s (keep it to yourself): %s/lab?token=%s\n' \
  "${INTERVIEWER_NAME:-Interviewer}" "$public_url" "$interviewer_token"
if [ -n "$deadline" ]; then
  printf '  The candidate link works until %s (INTERVIEW_MINUTES in .env).\n' "$deadline"
else
  printf '  The candidate link has no time limit (INTERVIEW_MINUTES=0 in .env).\n'
fi
printf '\n'

wait "$agent_pid"
status=$?
log ERROR "the ngrok agent exited with status $status; docker restarts it, and the links above may change."
exit "$status"
