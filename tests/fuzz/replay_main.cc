// Runs a fuzz target without libFuzzer (CI builds with GCC): its seeds, the inputs named on
// the command line (files, or folders of them: a libFuzzer corpus, found crashes), then
// --mutations=N inputs made from those by the target's LLVMFuzzerCustomMutator where it has
// one, else by random byte edits, drawn from --seed=S so a run repeats exactly. --write_seeds=DIR
// writes the seeds as files, to start libFuzzer from. An input that crashes the target is saved
// (crash-input, in Bazel's undeclared outputs when under `bazel test`) and its path printed.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/fuzz/fuzz_target.h"

namespace {

// The input being run, for the crash handler.
const std::string* current = nullptr;
// What LLVMFuzzerMutate draws from and splices in.
std::mt19937* byte_random = nullptr;
const std::vector<std::string>* all_inputs = nullptr;
char crash_path[4096] = "crash-input";

void SaveCurrentAndDie(int signal) {
  if (current != nullptr) {
    const int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      size_t done = 0;
      while (done < current->size()) {
        const ssize_t n = write(fd, current->data() + done, current->size() - done);
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
      close(fd);
    }
    const char message[] = "\nthe input that crashed is saved as ";
    (void)!write(2, message, sizeof(message) - 1);
    (void)!write(2, crash_path, std::strlen(crash_path));
    (void)!write(2, "\n", 1);
  }
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

void Run(const std::string& input) {
  current = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  current = nullptr;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// One to four byte-level edits (one in half the inputs, which keeps more of them parseable),
// libFuzzer's simplest kinds: flip a bit, set a byte to an edge value, erase, insert or
// repeat a range, or splice in part of another input.
std::string Mutate(std::string input, const std::vector<std::string>& inputs, std::mt19937& random,
                   size_t max_length) {
  auto below = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(random() % n); };
  const int edits = below(2) == 0 ? 1 : 2 + static_cast<int>(below(3));
  for (int e = 0; e < edits; ++e) {
    const size_t at = below(input.size() + 1);
    switch (below(6)) {
      case 0:
        if (!input.empty()) input[below(input.size())] ^= static_cast<char>(1 << below(8));
        break;
      case 1: {
        const unsigned char edges[] = {0, 1, 0x7f, 0x80, 0xfe, 0xff};
        if (!input.empty()) input[below(input.size())] = static_cast<char>(edges[below(6)]);
        break;
      }
      case 2:
        input.erase(at, 1 + below(16));
        break;
      case 3:
        for (size_t n = 1 + below(8); n > 0; --n) {
          input.insert(input.begin() + static_cast<std::ptrdiff_t>(at),
                       static_cast<char>(random()));
        }
        break;
      case 4:
        input.insert(at, input.substr(below(input.size()), 1 + below(32)));
        break;
      default: {
        const std::string& other = inputs[below(inputs.size())];
        input.replace(at, below(64), other.substr(below(other.size()), 1 + below(64)));
        break;
      }
    }
  }
  if (input.size() > max_length) input.resize(max_length);
  return input;
}

}  // namespace

// The target's own mutator, where it defines one.
extern "C" __attribute__((weak)) size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size,
                                                                size_t max_size, unsigned int seed);

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size) {
  const std::string mutated =
      Mutate(std::string(reinterpret_cast<char*>(data), size), *all_inputs, *byte_random, max_size);
  std::memcpy(data, mutated.data(), mutated.size());
  return mutated.size();
}

int main(int argc, char** argv) {
  long mutations = 0;
  unsigned seed = 1;
  size_t max_length = 1 << 20;
  std::string write_seeds;
  std::vector<std::string> inputs = ferry::fuzz::Seeds();
  const size_t seed_count = inputs.size();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--mutations=", 0) == 0) {
      mutations = std::atol(arg.c_str() + 12);
    } else if (arg.rfind("--seed=", 0) == 0) {
      seed = static_cast<unsigned>(std::atol(arg.c_str() + 7));
    } else if (arg.rfind("--max_len=", 0) == 0) {
      max_length = static_cast<size_t>(std::atol(arg.c_str() + 10));
    } else if (arg.rfind("--write_seeds=", 0) == 0) {
      write_seeds = arg.substr(14);
    } else if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) inputs.push_back(ReadFile(entry.path()));
      }
    } else if (std::filesystem::is_regular_file(arg)) {
      inputs.push_back(ReadFile(arg));
    } else {
      std::fprintf(stderr, "no such file or folder, nor a flag: %s\n", arg.c_str());
      return 2;
    }
  }
  if (!write_seeds.empty()) {
    std::filesystem::create_directories(write_seeds);
    for (size_t i = 0; i < seed_count; ++i) {
      std::ofstream(std::filesystem::path(write_seeds) / ("seed-" + std::to_string(i)),
                    std::ios::binary)
          << inputs[i];
    }
    std::printf("wrote %zu seeds to %s\n", seed_count, write_seeds.c_str());
    return 0;
  }
  if (const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR")) {
    std::snprintf(crash_path, sizeof(crash_path), "%s/crash-input", outputs);
  }
  for (int signal : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL})
    std::signal(signal, SaveCurrentAndDie);

  for (const std::string& input : inputs) Run(input);
  std::mt19937 random(seed);
  byte_random = &random;
  all_inputs = &inputs;
  for (long m = 0; m < mutations && !inputs.empty(); ++m) {
    std::string input = inputs[random() % inputs.size()];
    if (LLVMFuzzerCustomMutator != nullptr) {
      const size_t size = input.size();
      input.resize(std::max(size, max_length));
      input.resize(LLVMFuzzerCustomMutator(reinterpret_cast<uint8_t*>(input.data()), size,
                                           input.size(), static_cast<unsigned>(random())));
    } else {
      input = Mutate(std::move(input), inputs, random, max_length);
    }
    Run(input);
  }
  std::printf("ran %zu inputs (%zu seeds) and %ld mutations of them (seed %u)\n", inputs.size(),
              seed_count, mutations, seed);
  return 0;
}
