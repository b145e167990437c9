#include "kernels/cuda/cubin_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ferry::kernels::cuda {
namespace {

constexpr char kMagic[] = "ferry cubin 1\n";

// FNV-1a: the same in every process (absl::Hash is seeded per process).
uint64_t StableHash(const std::string& text, uint64_t hash = 14695981039346656037ull) {
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

// The entry's file name; the key is only an address, the entry itself says what it holds.
std::string EntryPath(const std::string& dir, const std::string& compiler,
                      const std::string& source) {
  return absl::StrFormat("%s/%016x.cubin", dir, StableHash(source, StableHash(compiler)));
}

// The header that ties the bytes after it to `compiler` and `source`.
std::string Header(const std::string& compiler, const std::string& source) {
  return absl::StrCat(kMagic, compiler.size(), " ", source.size(), "\n", compiler, source);
}

bool MakeDirs(const std::string& dir) {
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string prefix = dir.substr(0, slash);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return false;
    if (slash == std::string::npos) return true;
  }
}

}  // namespace

std::string CubinCacheDir() {
  const char* chosen = std::getenv("FERRY_KERNEL_CACHE_DIR");
  if (chosen != nullptr) return std::string(chosen) == "off" ? "" : chosen;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
    return absl::StrCat(xdg, "/ferry/kernels");
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
    return absl::StrCat(home, "/.cache/ferry/kernels");
  }
  return "";
}

std::optional<std::string> LoadCubin(const std::string& dir, const std::string& compiler,
                                     const std::string& source) {
  if (dir.empty()) return std::nullopt;
  std::ifstream in(EntryPath(dir, compiler, source), std::ios::binary);
  if (!in) return std::nullopt;
  const std::string contents((std::istreambuf_iterator<char>(in)), {});
  const std::string header = Header(compiler, source);
  if (contents.size() <= header.size() || contents.compare(0, header.size(), header) != 0) {
    return std::nullopt;  // another source with the same hash, or a damaged entry
  }
  return contents.substr(header.size());
}

bool StoreCubin(const std::string& dir, const std::string& compiler, const std::string& source,
                const std::string& cubin) {
  if (dir.empty() || !MakeDirs(dir)) return false;
  const std::string path = EntryPath(dir, compiler, source);
  // Unique per process and call: a plan's groups compile on several threads.
  static std::atomic<uint64_t> stores{0};
  const std::string temporary = absl::StrCat(path, ".", getpid(), ".", stores++, ".tmp");
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << Header(compiler, source) << cubin;
    if (!out.flush()) {
      std::remove(temporary.c_str());
      return false;
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return false;
  }
  return true;
}

}  // namespace ferry::kernels::cuda
