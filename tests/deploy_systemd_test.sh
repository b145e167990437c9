#!/usr/bin/env bash
# shellcheck disable=SC2016  # literal $FERRYD_FLAGS strings are what the unit must contain
# deploy/systemd/ferryd.service passes `systemd-analyze verify` with no output at all, keeps
# its `systemd-analyze security` exposure at or under 1.4, and carries the settings ferryd
# relies on (Type=notify, the watchdog, a stop timeout above the drain) and its hardening.
#
# verify checks that ExecStart's binary exists, and /opt/ferry/bin/ferryd is not installed on a
# test machine, so verify and security read a copy of the unit whose ExecStart runs /bin/true
# with the same arguments; everything else is the unit as shipped.
set -uo pipefail

if [[ -n "${TEST_SRCDIR:-}" ]]; then
  root="${TEST_SRCDIR}/${TEST_WORKSPACE:-ferry}"
else
  root="$(cd "$(dirname "$0")/.." && pwd)"
fi
unit="${root}/deploy/systemd/ferryd.service"
env_file="${root}/deploy/systemd/ferryd.env"
tmp="$(mktemp -d "${TEST_TMPDIR:-/tmp}/ferryd-unit.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT

failures=0
ok() { echo "ok    $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }

# The value of KEY in [Service] (the last one, as systemd reads single-valued keys), or
# every value of KEY, one a line, with `all`.
service_values() {
  awk -v key="$1" '
    /^\[/ { in_service = ($0 == "[Service]") }
    in_service && index($0, key "=") == 1 { print substr($0, length(key) + 2) }
  ' "${unit}"
}
service_value() { service_values "$1" | tail -n 1; }

expect() {  # expect KEY VALUE: [Service] sets KEY=VALUE
  local got
  got="$(service_value "$1")"
  if [[ "${got}" == "$2" ]]; then ok "$1=$2"; else fail "$1=$2 (got '${got}')"; fi
}

# ---- systemd's own checks ----------------------------------------------------------------
sed 's|^ExecStart=/opt/ferry/bin/ferryd |ExecStart=/bin/true |' "${unit}" > "${tmp}/ferryd.service"
if ! grep -q '^ExecStart=/bin/true \$FERRYD_FLAGS$' "${tmp}/ferryd.service"; then
  fail "ExecStart=/opt/ferry/bin/ferryd \$FERRYD_FLAGS is the line the copy rewrites"
fi

if ! command -v systemd-analyze > /dev/null; then
  echo "SKIPPED verify and security: systemd-analyze is not installed (package systemd)"
else
  output="$(cd "${tmp}" && systemd-analyze verify --man=no ./ferryd.service 2>&1)"
  status=$?
  if [[ ${status} -eq 0 && -z "${output}" ]]; then
    ok "systemd-analyze verify: no errors, no warnings"
  else
    fail "systemd-analyze verify (exit ${status}):"
    printf '%s\n' "${output}"
  fi

  # --threshold fails the command when exposure (0-100, shown /10) exceeds it.
  output="$(cd "${tmp}" && systemd-analyze security --offline=yes --threshold=14 --no-pager \
            ./ferryd.service 2>&1)"
  status=$?
  level="$(printf '%s\n' "${output}" | grep -o 'Overall exposure level for ferryd.service: [0-9.]* [A-Z]*')"
  if [[ ${status} -eq 0 && -n "${level}" ]]; then
    ok "systemd-analyze security: ${level#Overall exposure level for } (at most 1.4)"
  else
    fail "systemd-analyze security exposure rose above 1.4 (exit ${status}): ${level}"
    printf '%s\n' "${output}" | grep '✗'
  fi
fi

# ---- what ferryd relies on ---------------------------------------------------------------
expect Type notify
expect NotifyAccess main
expect WatchdogSec 30
expect EnvironmentFile -/etc/default/ferryd
expect ExecStart '/opt/ferry/bin/ferryd $FERRYD_FLAGS'
expect Restart on-failure
expect KillSignal SIGTERM

# The env file is plain KEY="value" lines (systemd's EnvironmentFile syntax, also valid shell).
bad_lines="$(grep -vE '^(#.*|[[:space:]]*|[A-Z_]+="[^"]*")$' "${env_file}")"
if [[ -z "${bad_lines}" ]]; then ok "ferryd.env holds only comments and KEY=\"value\" lines"
else fail "ferryd.env lines systemd may misread: ${bad_lines}"; fi
flags="$(env -i bash -c 'set -a; . "$1"; printf "%s" "${FERRYD_FLAGS:-}"' _ "${env_file}")"
drain=30  # ferryd's --drain_seconds default
if [[ "${flags}" =~ --drain_seconds=([0-9]+) ]]; then drain="${BASH_REMATCH[1]}"; fi
stop="$(service_value TimeoutStopSec)"
if [[ "${stop}" =~ ^[0-9]+$ && ${stop} -gt ${drain} ]]; then
  ok "TimeoutStopSec (${stop}) > --drain_seconds (${drain}) from ferryd.env"
else
  fail "TimeoutStopSec (${stop}) must exceed --drain_seconds (${drain}) from ferryd.env"
fi

# ---- hardening ---------------------------------------------------------------------------
for setting in DynamicUser=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    NoNewPrivileges=yes ProtectKernelTunables=yes ProtectKernelModules=yes \
    ProtectKernelLogs=yes ProtectControlGroups=yes ProtectClock=yes ProtectHostname=yes \
    RestrictNamespaces=yes RestrictRealtime=yes RestrictSUIDSGID=yes LockPersonality=yes \
    SystemCallArchitectures=native CapabilityBoundingSet= DevicePolicy=closed \
    PrivateDevices=no UMask=0077 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
  expect "${setting%%=*}" "${setting#*=}"
done
if service_values SystemCallFilter | grep -qx '@system-service'; then
  ok "SystemCallFilter=@system-service"
else
  fail "SystemCallFilter=@system-service"
fi
# CUDA needs writable+executable mappings: MemoryDenyWriteExecute must not be switched on.
mdwe="$(service_value MemoryDenyWriteExecute)"
if [[ -z "${mdwe}" || "${mdwe}" == no ]]; then ok "MemoryDenyWriteExecute stays off (CUDA JIT)"
else fail "MemoryDenyWriteExecute=${mdwe} breaks the CUDA driver"; fi
devices="$(service_values DeviceAllow)"
for device in 'char-nvidia-frontend rw' 'char-nvidia-uvm rw' '/dev/nvidiactl rw' \
    '/dev/nvidia-uvm rw' '/dev/nvidia-uvm-tools rw'; do
  if grep -qx "${device}" <<< "${devices}"; then ok "DeviceAllow=${device}"
  else fail "DeviceAllow=${device}"; fi
done

if [[ ${failures} -eq 0 ]]; then
  echo "all checks passed"
else
  echo "${failures} check(s) failed"
  exit 1
fi
