# Optional front door of pairlab's ngrok service: turns NGROK_FRONT_DOOR and its
# settings from .env into an ngrok traffic-policy file. Sourced by start.sh (busybox
# ash in the official image) and by tests/unit/test_front_door.py; POSIX sh only.
# shellcheck shell=sh

# start.sh reads these two after sourcing this file.
# shellcheck disable=SC2034
# What the last call of write_front_door_policy found wrong, or did, in one sentence.
FRONT_DOOR_ERROR=""
FRONT_DOOR_SUMMARY=""

# Every error ends the same way, so the interviewer always knows the next step.
FRONT_DOOR_FIX="then run docker compose up -d again."

# Splits a comma-separated setting into one item a line, dropping spaces around
# items and empty items, so "a, b," and "a,b" mean the same.
front_door_items() {
  printf '%s\n' "$1" | tr ',' '\n' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' \
    | sed '/^$/d'
}

front_door_count() {
  front_door_items "$1" | wc -l | tr -d ' '
}

# A whole number in [0, max] with no leading zeros, as CIDR parts must be.
front_door_number_at_most() {
  case "$1" in
    '' | *[!0-9]* | 0?*) return 1 ;;
  esac
  [ "${#1}" -le 3 ] && [ "$1" -le "$2" ]
}

front_door_ipv4() {
  case "$1" in
    *.*.*.*.* | *[!0-9.]*) return 1 ;;
    *.*.*.*) ;;
    *) return 1 ;;
  esac
  old_ifs=$IFS
  IFS=.
  # shellcheck disable=SC2086 # splitting on dots is the point here
  set -- $1
  IFS=$old_ifs
  for octet in "$@"; do
    front_door_number_at_most "$octet" 255 || return 1
  done
}

front_door_ipv6() {
  case "$1" in
    *:*) ;;
    *) return 1 ;;
  esac
  case "$1" in
    *[!0-9A-Fa-f:]* | *:::*) return 1 ;;
  esac
}

# Prints the CIDR for one allow-list entry (a bare address gets a one-host prefix),
# or fails when the entry is neither an IPv4 nor an IPv6 address or range.
front_door_cidr() {
  address=${1%%/*}
  prefix=""
  case "$1" in
    */*) prefix=${1#*/} ;;
  esac
  if front_door_ipv4 "$address"; then
    bits=32
  elif front_door_ipv6 "$address"; then
    bits=128
  else
    return 1
  fi
  if [ -z "$prefix" ]; then
    prefix=$bits
  fi
  front_door_number_at_most "$prefix" "$bits" || return 1
  printf '%s/%s\n' "$address" "$prefix"
}

front_door_basic_auth() {
  if [ -z "$(front_door_items "${NGROK_BASIC_AUTH:-}")" ]; then
    FRONT_DOOR_ERROR="NGROK_FRONT_DOOR is basic-auth but NGROK_BASIC_AUTH is empty: set it in .env to name:password (a password of 8 to 128 characters), $FRONT_DOOR_FIX"
    return 1
  fi
  logins=$(front_door_count "$NGROK_BASIC_AUTH")
  if [ "$logins" -gt 10 ]; then
    FRONT_DOOR_ERROR="NGROK_BASIC_AUTH lists $logins logins but ngrok accepts at most 10: remove some in .env, $FRONT_DOOR_FIX"
    return 1
  fi
  for login in $(front_door_items "$NGROK_BASIC_AUTH"); do
    name=${login%%:*}
    password=${login#*:}
    # Quotes, backslashes and '$' would escape the YAML string or start a CEL
    # expression in ngrok's policy, so only plain characters are let through.
    case "$login" in
      *:*) ;;
      *) password="" ;;
    esac
    case "$name" in
      '' | *[!A-Za-z0-9._@-]*) name="" ;;
    esac
    case "$password" in
      *[!A-Za-z0-9._~@#%+=?/!*^-]*) password="" ;;
    esac
    if [ -z "$name" ] || [ "${#password}" -lt 8 ] || [ "${#password}" -gt 128 ]; then
      FRONT_DOOR_ERROR="NGROK_BASIC_AUTH must be name:password, comma-separated for several logins, with a name of letters, digits or . _ @ - and a password of 8 to 128 letters, digits or . _ ~ @ # % + = ? / ! * ^ - in .env, $FRONT_DOOR_FIX"
      return 1
    fi
  done
  {
    printf 'on_http_request:\n'
    printf '  - actions:\n'
    printf '      - type: basic-auth\n'
    printf '        config:\n'
    printf '          realm: pairlab interview\n'
    printf '          credentials:\n'
    for login in $(front_door_items "$NGROK_BASIC_AUTH"); do
      printf '            - "%s"\n' "$login"
    done
  } >"$1"
  FRONT_DOOR_SUMMARY="basic auth in front of Jupyter for $logins login(s) from NGROK_BASIC_AUTH"
}

front_door_google_oauth() {
  emails=$(front_door_items "${NGROK_OAUTH_ALLOWED_EMAILS:-}" | tr '[:upper:]' '[:lower:]')
  if [ -z "$emails" ]; then
    FRONT_DOOR_ERROR="NGROK_FRONT_DOOR is google-oauth but NGROK_OAUTH_ALLOWED_EMAILS is empty, which would let every Google account through: list the candidate's and your own addresses, comma-separated, in .env, $FRONT_DOOR_FIX"
    return 1
  fi
  quoted=""
  for email in $emails; do
    case "$email" in
      *@*@* | *[!a-z0-9._%+@-]* | @* | *. | *@.*) email="" ;;
      ?*@?*.?*) ;;
      *) email="" ;;
    esac
    if [ -z "$email" ]; then
      FRONT_DOOR_ERROR="NGROK_OAUTH_ALLOWED_EMAILS must be email addresses such as ada@example.com, comma-separated, in .env, $FRONT_DOOR_FIX"
      return 1
    fi
    quoted="${quoted:+$quoted, }'$email'"
  done
  {
    printf 'on_http_request:\n'
    printf '  - actions:\n'
    printf '      - type: oauth\n'
    printf '        config:\n'
    printf '          provider: google\n'
    # Signing in proves only that someone has a Google account; this rule turns
    # away everyone whose address is not on the interviewer's list.
    printf '  - expressions:\n'
    printf '      - "!(actions.ngrok.oauth.identity.email in [%s])"\n' "$quoted"
    printf '    actions:\n'
    printf '      - type: deny\n'
  } >"$1"
  FRONT_DOOR_SUMMARY="Google sign-in in front of Jupyter for $(front_door_count "$emails") address(es) from NGROK_OAUTH_ALLOWED_EMAILS"
}

front_door_ip_allowlist() {
  if [ -z "$(front_door_items "${NGROK_ALLOWED_IPS:-}")" ]; then
    FRONT_DOOR_ERROR="NGROK_FRONT_DOOR is ip-allowlist but NGROK_ALLOWED_IPS is empty: list the candidate's and your own public addresses, comma-separated, in .env, $FRONT_DOOR_FIX"
    return 1
  fi
  cidrs=""
  for entry in $(front_door_items "$NGROK_ALLOWED_IPS"); do
    if ! cidr=$(front_door_cidr "$entry"); then
      FRONT_DOOR_ERROR="NGROK_ALLOWED_IPS has '$entry', which is no IPv4 or IPv6 address or range: write addresses such as 203.0.113.7 or 198.51.100.0/24, comma-separated, in .env, $FRONT_DOOR_FIX"
      return 1
    fi
    cidrs="$cidrs $cidr"
  done
  {
    printf 'on_http_request:\n'
    printf '  - actions:\n'
    printf '      - type: restrict-ips\n'
    printf '        config:\n'
    printf '          enforce: true\n'
    printf '          allow:\n'
    for cidr in $cidrs; do
      printf '            - "%s"\n' "$cidr"
    done
  } >"$1"
  FRONT_DOOR_SUMMARY="only$cidrs may reach Jupyter, from NGROK_ALLOWED_IPS"
}

# Writes the policy file for NGROK_FRONT_DOOR to $1, or removes $1 when the front
# door is off. Returns 1 with FRONT_DOOR_ERROR set when a setting is wrong.
write_front_door_policy() {
  FRONT_DOOR_ERROR=""
  FRONT_DOOR_SUMMARY=""
  rm -f "$1"
  # Settings are split on commas and spaces; a '*' in a password must stay a '*'.
  set -f
  front_door_dispatch "$1"
  status=$?
  set +f
  return "$status"
}

front_door_dispatch() {
  case "${NGROK_FRONT_DOOR:-none}" in
    none | '') return 0 ;;
    basic-auth) front_door_basic_auth "$1" ;;
    google-oauth) front_door_google_oauth "$1" ;;
    ip-allowlist) front_door_ip_allowlist "$1" ;;
    *)
      FRONT_DOOR_ERROR="NGROK_FRONT_DOOR is '$NGROK_FRONT_DOOR' but must be none, basic-auth, google-oauth or ip-allowlist: fix it in .env, $FRONT_DOOR_FIX"
      return 1 ;;
  esac
}
