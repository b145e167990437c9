// A CPU stand-in for NVRTC, used only by the CUDA emulator's tests and never shipped. Built
// as libnvrtc.so.13, it is what kernels/cuda/nvrtc_loader.cc dlopens when FERRY_CUDA_LIB_DIR
// names kernels/cuda/emulator first, so that the fused groups' generated kernels (fused.cc)
// run on the emulator instead of falling back to their ops.
//
// A program's CUDA source is compiled as host C++ by the system compiler ($CXX, else c++),
// after the emulator's device.h as translate.py does for the .cu files, into a shared
// object; "the cubin" is that object's bytes, which the emulator's cudaLibraryLoadData
// dlopens (runtime.cc). Each extern "C" __global__ function NAME gets an entry
// ferry_emulator_launch_NAME(grid, block, args) for cudaLaunchKernel. The object has no
// scheduler of its own: ferry_emulator_bind hands it the process's (device.cc), so that its
// threads run as the translated kernels' do, one grid at a time. NVRTC's options are
// accepted and ignored: the flags are those the translated kernels are built with.

#include <nvrtc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>

struct _nvrtcProgram {
  std::string source, name;
  std::string log;     // the compiler's output, when it failed
  std::string binary;  // the shared object, once compiled
};

namespace {

// device.h's text (device_h.inc, a string literal made by a genrule), written where the
// programs find it, so that neither the tests nor the daemon need it in their runfiles.
constexpr char kDeviceHeader[] =
#include "kernels/cuda/emulator/device_h.inc"
    ;

// As the translated kernels are built (.bazelrc's -O2, tools/cuda.bzl's -ffp-contract=off),
// so that a fused group gives its ops' results bit for bit. Symbols are hidden but for the
// entries, so that the object's own definitions (the scheduler's below) bind to themselves.
constexpr char kFlags[] =
    "-std=c++17 -O2 -ffp-contract=off -shared -fPIC -fvisibility=hidden -w -I" FERRY_CUDA_INCLUDE;

// Before each program: the CUDA qualifiers and built-ins, the scheduler as calls into the
// process's (set by ferry_emulator_bind), and LaunchWith for the entries.
constexpr char kPrelude[] = R"(#include "device.h"

#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif

#include <tuple>
#include <utility>

#define FERRY_EMULATOR_ENTRY extern "C" __attribute__((visibility("default")))

namespace ferry::cuda_emulator {
namespace {
decltype(&Current) current;
decltype(&RunGrid) run_grid;
decltype(&SyncThreads) sync_threads;
}  // namespace

const ThreadIndex& Current() { return current(); }
bool RunGrid(dim3 grid, dim3 block, const std::function<void()>& body) {
  return run_grid(grid, block, body);
}
void SyncThreads() { sync_threads(); }

// Runs `kernel` on the arguments `args` points to (cudaLaunchKernel's convention), copied
// once as CUDA does; cudaSuccess or the launch's error.
template <typename... P, size_t... K>
int LaunchWith(void (*kernel)(P...), dim3 grid, dim3 block, void** args,
               std::index_sequence<K...>) {
  std::tuple<P...> values{*static_cast<P*>(args[K])...};
  const bool ran = RunGrid(grid, block, [&] { std::apply(kernel, values); });
  return ran ? cudaSuccess : cudaErrorInvalidConfiguration;
}
template <typename... P>
int LaunchWith(void (*kernel)(P...), dim3 grid, dim3 block, void** args) {
  return LaunchWith(kernel, grid, block, args, std::index_sequence_for<P...>());
}

}  // namespace ferry::cuda_emulator

FERRY_EMULATOR_ENTRY void ferry_emulator_bind(decltype(&ferry::cuda_emulator::Current) current,
                                              decltype(&ferry::cuda_emulator::RunGrid) run_grid,
                                              decltype(&ferry::cuda_emulator::SyncThreads) sync) {
  ferry::cuda_emulator::current = current;
  ferry::cuda_emulator::run_grid = run_grid;
  ferry::cuda_emulator::sync_threads = sync;
}
)";

// FNV-1a, for the version: the same in every process.
uint64_t Hash(const std::string& text, uint64_t hash = 14695981039346656037ull) {
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

// The entries after the program: one per extern "C" kernel (templates cannot be).
std::string Entries(const std::string& source) {
  static const std::regex kernel(
      R"(extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\s*\([^()]*\)\s*)?(\w+)\s*\()");
  std::string entries;
  for (std::sregex_iterator it(source.begin(), source.end(), kernel), end; it != end; ++it) {
    const std::string name = (*it)[1];
    entries += "FERRY_EMULATOR_ENTRY int ferry_emulator_launch_" + name +
               "(dim3 grid, dim3 block, void** args) {\n  return "
               "ferry::cuda_emulator::LaunchWith(&" +
               name + ", grid, block, args);\n}\n";
  }
  return entries;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary);
  file << text;
  return static_cast<bool>(file.flush());
}

std::string Quoted(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string Compiler() {
  const char* cxx = getenv("CXX");
  // $CXX unquoted: it may hold arguments ("ccache g++").
  return cxx != nullptr && *cxx != '\0' ? cxx : "c++";
}

// Runs `command`; true when it exits 0. Its output goes to `output`.
bool Run(const std::string& command, std::string& output) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return false;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, n);
  const int status = pclose(pipe);
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Bazel's test directory, else $TMPDIR, else /tmp.
std::string TemporaryBase() {
  for (const char* variable : {"TEST_TMPDIR", "TMPDIR"}) {
    const char* dir = getenv(variable);
    if (dir != nullptr && *dir != '\0') return dir;
  }
  return "/tmp";
}

std::string TemporaryDirectory() {
  std::string dir = TemporaryBase() + "/nvrtc-XXXXXX";
  return mkdtemp(dir.data()) != nullptr ? dir : "";
}

// A directory holding device.h and the prelude as prelude.h, with the prelude precompiled
// (prelude.h.gch) where the compiler can: parsing the CUDA headers is most of a compile
// (0.5 s; 0.1 s with it). Made once, under a name its contents decide, and shared by every
// process (made aside and renamed into place, so none sees it half written).
const std::string& PreludeDirectory() {
  static const std::string* dir = [] {
    char name[64];
    snprintf(name, sizeof(name), "/ferry-emulated-nvrtc-%016llx",
             static_cast<unsigned long long>(
                 Hash(std::string(kDeviceHeader) + kPrelude + kFlags + Compiler())));
    auto* shared = new std::string(TemporaryBase() + name);
    if (access((*shared + "/prelude.h").c_str(), R_OK) == 0) return shared;
    const std::string made = TemporaryDirectory();
    const std::string header = made + "/device.h", prelude = made + "/prelude.h",
                      precompiled = prelude + ".gch";
    if (made.empty() || !WriteFile(header, kDeviceHeader) || !WriteFile(prelude, kPrelude)) {
      shared->clear();
      return shared;
    }
    std::string output;
    if (!Run(Compiler() + " " + kFlags + " -x c++-header " + Quoted(prelude) + " -o " +
                 Quoted(precompiled) + " 2>&1",
             output)) {
      unlink(precompiled.c_str());  // the programs read prelude.h itself
    }
    if (rename(made.c_str(), shared->c_str()) != 0) {  // another process's came first
      for (const std::string& path : {header, prelude, precompiled}) unlink(path.c_str());
      rmdir(made.c_str());
      if (access((*shared + "/prelude.h").c_str(), R_OK) != 0) shared->clear();
    }
    return shared;
  }();
  return *dir;
}

// Compiles `program` into program->binary, or says why not in program->log.
nvrtcResult Compile(nvrtcProgram program) {
  const std::string& prelude = PreludeDirectory();
  const std::string dir = prelude.empty() ? "" : TemporaryDirectory();
  if (dir.empty()) {
    program->log = "emulated NVRTC: cannot make a temporary directory\n";
    return NVRTC_ERROR_INTERNAL_ERROR;
  }
  const std::string source = dir + "/program.cc", object = dir + "/program.so";
  nvrtcResult result = NVRTC_ERROR_INTERNAL_ERROR;
  if (WriteFile(source, "#include \"prelude.h\"\n#line 1 \"" + program->name + "\"\n" +
                            program->source + "\n#line 1 \"<emulator entries>\"\n" +
                            Entries(program->source))) {
    const std::string command = Compiler() + " " + kFlags + " -iquote " + Quoted(prelude) + " " +
                                Quoted(source) + " -o " + Quoted(object) + " 2>&1";
    std::string output;
    if (Run(command, output)) {
      std::ifstream file(object, std::ios::binary);
      program->binary.assign(std::istreambuf_iterator<char>(file), {});
      result = program->binary.empty() ? NVRTC_ERROR_INTERNAL_ERROR : NVRTC_SUCCESS;
    } else {
      program->log = command + "\n" + output;
      result = NVRTC_ERROR_COMPILATION;
    }
  }
  if (result == NVRTC_ERROR_INTERNAL_ERROR && program->log.empty()) {
    program->log = "emulated NVRTC: cannot run the compiler in " + dir + "\n";
  }
  for (const std::string& path : {source, object}) unlink(path.c_str());
  rmdir(dir.c_str());
  return result;
}

}  // namespace

extern "C" {

const char* nvrtcGetErrorString(nvrtcResult result) {
  switch (result) {
    case NVRTC_SUCCESS:
      return "NVRTC_SUCCESS";
    case NVRTC_ERROR_OUT_OF_MEMORY:
      return "NVRTC_ERROR_OUT_OF_MEMORY";
    case NVRTC_ERROR_INVALID_INPUT:
      return "NVRTC_ERROR_INVALID_INPUT";
    case NVRTC_ERROR_INVALID_PROGRAM:
      return "NVRTC_ERROR_INVALID_PROGRAM";
    case NVRTC_ERROR_COMPILATION:
      return "NVRTC_ERROR_COMPILATION";
    case NVRTC_ERROR_INTERNAL_ERROR:
      return "NVRTC_ERROR_INTERNAL_ERROR";
    default:
      return "NVRTC_ERROR unknown";
  }
}

// 0.N, a version no NVRTC has, so that the kernel cache (cubin_cache.cc, keyed by it) never
// gives these objects to a GPU or a GPU's cubins to the emulator; N changes with what goes
// into every object, so that the cache never gives an object built by an older emulator.
nvrtcResult nvrtcVersion(int* major, int* minor) {
  if (major == nullptr || minor == nullptr) return NVRTC_ERROR_INVALID_INPUT;
  *major = 0;
  *minor = 1 + static_cast<int>(Hash(std::string(kDeviceHeader) + kPrelude + kFlags) % 999999);
  return NVRTC_SUCCESS;
}

// Headers passed by name are not supported (fused.cc passes none).
nvrtcResult nvrtcCreateProgram(nvrtcProgram* prog, const char* src, const char* name,
                               int numHeaders, const char* const* headers,
                               const char* const* includeNames) {
  if (prog == nullptr || src == nullptr || numHeaders != 0) return NVRTC_ERROR_INVALID_INPUT;
  *prog = new _nvrtcProgram{src, name != nullptr ? name : "default_program"};
  return NVRTC_SUCCESS;
}

nvrtcResult nvrtcDestroyProgram(nvrtcProgram* prog) {
  if (prog == nullptr) return NVRTC_ERROR_INVALID_PROGRAM;
  delete *prog;
  *prog = nullptr;
  return NVRTC_SUCCESS;
}

nvrtcResult nvrtcCompileProgram(nvrtcProgram prog, int numOptions, const char* const* options) {
  if (prog == nullptr) return NVRTC_ERROR_INVALID_PROGRAM;
  if (numOptions < 0 || (numOptions > 0 && options == nullptr)) return NVRTC_ERROR_INVALID_INPUT;
  prog->log.clear();
  prog->binary.clear();
  return Compile(prog);
}

// The log's size counts its terminating NUL, as NVRTC's does.
nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram prog, size_t* logSizeRet) {
  if (prog == nullptr) return NVRTC_ERROR_INVALID_PROGRAM;
  if (logSizeRet == nullptr) return NVRTC_ERROR_INVALID_INPUT;
  *logSizeRet = prog->log.size() + 1;
  return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetProgramLog(nvrtcProgram prog, char* log) {
  if (prog == nullptr) return NVRTC_ERROR_INVALID_PROGRAM;
  if (log == nullptr) return NVRTC_ERROR_INVALID_INPUT;
  std::copy(prog->log.c_str(), prog->log.c_str() + prog->log.size() + 1, log);
  return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetCUBINSize(nvrtcProgram prog, size_t* cubinSizeRet) {
  if (prog == nullptr || prog->binary.empty()) return NVRTC_ERROR_INVALID_PROGRAM;
  if (cubinSizeRet == nullptr) return NVRTC_ERROR_INVALID_INPUT;
  *cubinSizeRet = prog->binary.size();
  return NVRTC_SUCCESS;
}

nvrtcResult nvrtcGetCUBIN(nvrtcProgram prog, char* cubin) {
  if (prog == nullptr || prog->binary.empty()) return NVRTC_ERROR_INVALID_PROGRAM;
  if (cubin == nullptr) return NVRTC_ERROR_INVALID_INPUT;
  std::copy(prog->binary.begin(), prog->binary.end(), cubin);
  return NVRTC_SUCCESS;
}

}  // extern "C"
