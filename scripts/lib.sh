# Shared set-up steps for scripts/quickstart and scripts/test. Idempotent: a second run on
# the same machine reuses what the first one installed, built and started.
set -euo pipefail
shopt -s inherit_errexit

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
export SWITCHBOARD_ROOTFS="${SWITCHBOARD_ROOTFS:-$REPO/.cache/asterisk-rootfs}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "Switchboard's set-up runs Asterisk under chroot and installs Debian packages:" >&2
    echo "run it as root (as another user: sudo $0)." >&2
    exit 1
  fi
}

apt_updated=no
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$apt_updated" = no ]; then
    say "apt-get update"
    apt-get update -qq
    apt_updated=yes
  fi
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

pick_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Switchboard needs Python 3.11 or newer" >&2
  return 1
}

system_packages() {
  apt_install mmdebstrap debian-archive-keyring sip-tester ca-certificates python3
  local python
  python="$(pick_python)"
  if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv
  fi
}

# What only the tests need: the agent page is tested in headless Chromium.
test_packages() {
  apt_install chromium chromium-driver
}

# Start the local PostgreSQL, installing it from Debian's packages if there is none.
ensure_postgres() {
  # A server already answering (any kind: Debian cluster, container, pg_ctl) is used as is.
  if pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
    return 0
  fi
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt_install postgresql
  fi
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    apt_install postgresql-common
  fi
  if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    local version
    version="$(basename "$(dirname "$(dirname "$(ls /usr/lib/postgresql/*/bin/postgres \
      | sort -V | tail -n 1)")")")"
    say "creating a PostgreSQL $version cluster"
    pg_createcluster "$version" main >/dev/null
  fi
  local version cluster _port status _rest
  while read -r version cluster _port status _rest; do
    case "$status" in
      online* | *binaries_missing*) ;;
      *)
        say "starting PostgreSQL $version/$cluster"
        pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start \
          || echo "could not start PostgreSQL $version/$cluster" >&2
        ;;
    esac
  done < <(pg_lsclusters -h)
  for _ in $(seq 1 30); do
    { pg_isready -q || pg_isready -q -h 127.0.0.1; } && return 0
    sleep 1
  done
  echo "PostgreSQL did not come up" >&2
  return 1
}

# Print a server URL that works here: TCP as postgres where trust auth allows it (this
# workplace), else the local socket as a superuser role named after us (a fresh Debian).
server_url() {
  if [ -n "${SWITCHBOARD_TEST_DATABASE_URL:-}" ]; then
    echo "$SWITCHBOARD_TEST_DATABASE_URL"
    return 0
  fi
  if PGCONNECT_TIMEOUT=3 psql -w -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' \
      >/dev/null 2>&1; then
    echo "postgresql://postgres@127.0.0.1:5432/postgres"
    return 0
  fi
  local me socket
  me="$(id -un)"
  socket="$(ls /var/run/postgresql/.s.PGSQL.[0-9]* 2>/dev/null | grep -v '\.lock$' | head -n 1)" \
    || { echo "no PostgreSQL socket in /var/run/postgresql" >&2; return 1; }
  local port="${socket##*.}"
  su postgres -c "psql -Atqc \"SELECT 1 FROM pg_roles WHERE rolname = '$me'\"" | grep -q 1 \
    || su postgres -c "psql -qc 'CREATE ROLE \"$me\" SUPERUSER LOGIN'" >/dev/null
  echo "postgresql://$me@/postgres?host=/var/run/postgresql&port=$port"
}

ensure_venv() {
  local python
  python="$(pick_python)"
  if [ ! -x "$VENV/bin/python" ] || [ ! -x "$VENV/bin/pip" ]; then
    say "creating $VENV"
    "$python" -m venv --clear "$VENV"
    rm -f "$VENV/.installed"
  fi
  local stamp="$VENV/.installed"
  if [ ! -f "$stamp" ] || [ "$REPO/pyproject.toml" -nt "$stamp" ]; then
    say "installing Switchboard and its dependencies"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q -e "$REPO[dev]"
    touch "$stamp"
  fi
}

ensure_rootfs() {
  say "Asterisk 22 root at $SWITCHBOARD_ROOTFS"
  "$VENV/bin/switchboard" asterisk build
}
