#!/usr/bin/env bash
# Packs MLX's CUDA build (the pinned mlx and mlx-cuda-13 wheels from PyPI, for the GPU
# machine's Python 3.12) into .mlx_bundle/ (gitignored), so bench/cuda/mlx_compare.py can run
# where nothing can be downloaded. Packed it is ~72 MiB, more than one device run may carry
# (64 MiB with the working tree), so it travels in two pieces:
#   .mlx_bundle/1/  carried by a first run, which only keeps it:   .mlx_bundle/1/keep.sh
#   .mlx_bundle/2/  carried with .gpu_bundle by the next run, while the machine is warm:
#                   .gpu_bundle/run_all.sh joins both and installs them (.mlx_bundle/2/install.sh).
# Only what MLX loads at run time is kept: the C++ headers for extension builds are dropped,
# except CCCL's, which its JIT compiles against. cuBLAS, cuDNN, NCCL, NVRTC and the CUDA
# runtime come from the machine's PyTorch (its nvidia-* wheels), as the mlx-cuda-13 wheel's
# RPATH expects them beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
MLX_VERSION=0.32.4
OUT=.mlx_bundle
# The first piece leaves room for the working tree; the second travels beside .gpu_bundle.
FIRST_PIECE_MIB=56

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_35_x86_64 --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_17_x86_64 -d "$work/wheels" \
  "mlx==$MLX_VERSION" "mlx-cuda-13==$MLX_VERSION"

# A wheel is a zip laid out as site-packages: unzipping both merges mlx-cuda-13's
# mlx/lib/libmlx.so into mlx's package, as pip would.
mkdir -p "$work/site"
for wheel in "$work"/wheels/*.whl; do unzip -q -o "$wheel" -d "$work/site"; done
rm -rf "$work/site/mlx/include/cutlass" "$work/site/mlx/include/cute" \
  "$work/site/mlx/include/mlx" "$work/site/mlx/share"
tar -C "$work/site" -cf - . | xz -T0 -9 > "$work/mlx.tar.xz"

rm -rf "$OUT"
mkdir -p "$OUT/1" "$OUT/2"
split -b "${FIRST_PIECE_MIB}M" -d -a 1 "$work/mlx.tar.xz" "$work/piece-"
[ -f "$work/piece-2" ] && { echo "MLX packs into more than two pieces" >&2; exit 1; }
mv "$work/piece-0" "$OUT/1/mlx.tar.xz.0"
mv "$work/piece-1" "$OUT/2/mlx.tar.xz.1"
(cd "$OUT/1" && sha256sum mlx.tar.xz.0 > ../2/SHA256SUMS)

cat > "$OUT/1/keep.sh" <<'KEEP'
#!/usr/bin/env bash
# The first device run: keeps MLX's first piece on the machine for the next run.
set -euo pipefail
mkdir -p /tmp/ferry_mlx
cp "$(dirname "$0")/mlx.tar.xz.0" /tmp/ferry_mlx/
echo "kept MLX's first piece in /tmp/ferry_mlx"
KEEP

cat > "$OUT/2/install.sh" <<'INSTALL'
#!/usr/bin/env bash
# Joins MLX's pieces (the first kept by keep.sh or carried here, the second carried here),
# installs them in SITE (default /tmp/mlx_site) and prints the PYTHONPATH to use.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SITE="${1:-/tmp/mlx_site}"
first=""
for f in /tmp/ferry_mlx/mlx.tar.xz.0 "$HERE/../1/mlx.tar.xz.0"; do
  [ -f "$f" ] && { first="$f"; break; }
done
if [ -z "$first" ] || [ ! -f "$HERE/mlx.tar.xz.1" ]; then
  echo "MLX's pieces are not both here (run keep.sh in the previous run)" >&2; exit 1
fi
expected="$(awk '{print $1}' "$HERE/SHA256SUMS")"
if [ "$(sha256sum "$first" | cut -d' ' -f1)" != "$expected" ]; then
  echo "MLX's first piece differs from the one packed with the second" >&2; exit 1
fi
mkdir -p "$SITE"
cat "$first" "$HERE/mlx.tar.xz.1" | xz -d | tar -C "$SITE" -xf -
# libmlx.so looks for cuBLAS, cuDNN, NCCL, NVRTC beside it ($ORIGIN/../../nvidia/...):
# PyTorch's nvidia-* packages are those.
torch_site="$(python3 -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null || true)"
if [ -n "$torch_site" ] && [ -d "$torch_site/nvidia" ] && [ ! -e "$SITE/nvidia" ]; then
  ln -s "$torch_site/nvidia" "$SITE/nvidia"
fi
echo "$SITE"
INSTALL
chmod +x "$OUT/1/keep.sh" "$OUT/2/install.sh"
du -sh "$OUT"/1 "$OUT"/2
