#!/usr/bin/env bash
# What a Mac app links (client/, core/, kernels/ and kernels/cpu/) and the client's tests
# parse with clang in C++17, the compiler macOS has: GCC accepts things clang does not (a
# lambda capturing a structured binding, __builtin_shuffle), and this build is GCC's. The
# platform's own differences (no SOCK_CLOEXEC, MSG_NOSIGNAL or sigtimedwait on macOS) are
# handled where they are used, with feature checks.
set -euo pipefail
cd "${TEST_SRCDIR}/ferry"
errors="${TEST_TMPDIR}/clang_errors.txt"
ls client/*.cc client/vjp/*.cc core/*.cc core/ops/*.cc kernels/*.cc kernels/cpu/*.cc |
  grep -v -E '(core|kernels)/.*_test\.cc$' |
  xargs -P "$(nproc)" -n 8 clang++ -std=c++17 -fsyntax-only -I. >"${errors}" 2>&1 || true
if grep -q 'error:' "${errors}"; then
  grep -B2 -A4 'error:' "${errors}" | head -100
  echo "FAIL: clang cannot parse the files above (macOS builds the client with clang)"
  exit 1
fi
echo "PASS: $(ls client/*.cc client/vjp/*.cc core/*.cc core/ops/*.cc kernels/*.cc kernels/cpu/*.cc | grep -v -c -E '(core|kernels)/.*_test\.cc$') files parse with clang"
