#!/usr/bin/env bash
# The CMake build of the client library (CMakeLists.txt: how a Mac builds it) works: it
# configures with pkg-config, compiles with clang (macOS's compiler) and links, the client's
# tests parse with clang too, and hello_remote evaluates a layer on a ferryd as on the local
# device, named on its command line or by FERRY_DEVICE. GCC, which builds everything else here, accepts things clang does not (a lambda
# capturing a structured binding, __builtin_shuffle).
set -euo pipefail
root="${TEST_SRCDIR}/ferry"
ferryd="${root}/server/ferryd"
build="${TEST_TMPDIR}/build"
# -O0: the test is of the build, not of speed; it halves clang's time.
CXX=clang++ cmake -S "${root}" -B "${build}" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG=-O0 >"${TEST_TMPDIR}/configure.log" 2>&1 ||
  { cat "${TEST_TMPDIR}/configure.log"; exit 1; }
cmake --build "${build}" -j "$(nproc)" >"${TEST_TMPDIR}/build.log" 2>&1 ||
  { grep -B2 -A6 -E 'error|Error' "${TEST_TMPDIR}/build.log" | head -80; exit 1; }

# The client's tests (gtest), ferry::lm's among them, which a Mac developer builds too: parsed
# only.
(cd "${root}" && ls client/*_test.cc client/nn/*_test.cc client/lm/*_test.cc \
  client/lm/tuner/*_test.cc |
  xargs -P "$(nproc)" -n 8 clang++ -std=c++17 -fsyntax-only -I. -I"${build}") \
  >"${TEST_TMPDIR}/tests.log" 2>&1 || true
if grep -q 'error:' "${TEST_TMPDIR}/tests.log"; then
  grep -B2 -A4 'error:' "${TEST_TMPDIR}/tests.log" | head -80
  exit 1
fi
echo "clang parsed $(cd "${root}" && ls client/*_test.cc client/nn/*_test.cc client/lm/*_test.cc \
  client/lm/tuner/*_test.cc | wc -l) test files of the client"

"${ferryd}" --listen=127.0.0.1:0 --port_file="${TEST_TMPDIR}/port" \
  >"${TEST_TMPDIR}/ferryd.log" 2>&1 &
daemon=$!
trap 'kill ${daemon} 2>/dev/null; wait ${daemon} 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "${TEST_TMPDIR}/port" ] && break; sleep 0.1; done
port=$(cat "${TEST_TMPDIR}/port")
env -u FERRY_DEVICE "${build}/hello_remote" | tee "${TEST_TMPDIR}/local.txt"
grep -q '^local: 8192 values' "${TEST_TMPDIR}/local.txt"
"${build}/hello_remote" "127.0.0.1:${port}" | tee "${TEST_TMPDIR}/remote.txt"
grep -q '^remote: 8192 values' "${TEST_TMPDIR}/remote.txt"
# The same program, unchanged, sent to the daemon by its environment.
FERRY_DEVICE="127.0.0.1:${port}" "${build}/hello_remote" | tee "${TEST_TMPDIR}/environment.txt"
grep -q '^remote: 8192 values' "${TEST_TMPDIR}/environment.txt"
echo "PASS: the CMake build with clang runs hello_remote against ferryd"
