#include <cblas.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>
double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
template <typename Fn> double Best(Fn f) { double best = 1e9; for (int i = 0; i < 7; ++i) { double a = Now(); f(); best = std::min(best, Now() - a); } return best * 1e3; }
int main() {
  const int m = 25088, n = 64, k = 576;
  std::vector<float> big(size_t(m) * k, 0.5f), w(n * k, 0.25f), y(size_t(m) * n);
  std::printf("one gemm %.2f ms\n", Best([&] { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, big.data(), k, w.data(), k, 0, y.data(), n); }));
  for (int band : {512, 1024, 1820, 4096, 8192}) {
    std::vector<float> buf(size_t(band) * k, 0.5f);
    std::printf("bands of %d: %.2f ms\n", band, Best([&] { for (int r = 0; r < m; r += band) { int b = std::min(band, m - r);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, n, k, 1, buf.data(), k, w.data(), k, 0, y.data() + size_t(r) * n, n); } }));
  }
  std::vector<float> x(size_t(8) * 56 * 56 * 64, 1.0f);
  std::printf("copy 58MB memcpy %.2f ms\n", Best([&] { std::memcpy(big.data(), y.data(), y.size() * 4); for (int t = 0; t < 9; ++t) std::memcpy(big.data() + t * x.size() % (big.size() - x.size()), x.data(), x.size() * 4); }));
}
