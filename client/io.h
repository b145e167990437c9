#ifndef FERRY_CLIENT_IO_H_
#define FERRY_CLIENT_IO_H_

// Arrays to and from files in NumPy's .npy and Hugging Face's .safetensors formats, as MLX's
// load and save: what NumPy, MLX or PyTorch write loads here, and what is saved here loads
// there. Loading reads one tensor at a time into `device` (a daemon receives each as an
// upload), so a checkpoint never sits whole in this process's memory.

#include <string>
#include <unordered_map>
#include <utility>

#include "client/array.h"
#include "client/device.h"

namespace ferry {

// A .safetensors file's arrays by name, and its "__metadata__".
using SafetensorsLoad =
    std::pair<std::unordered_map<std::string, Array>, std::unordered_map<std::string, std::string>>;

// The array of a .npy file (little-endian, C order; any ferry dtype but bfloat16). Throws
// ferry::Error: NOT_FOUND for a file that cannot be opened, INVALID_ARGUMENT naming what
// the file holds that ferry cannot (a big-endian or Fortran-order array, another dtype).
Array load(const std::string& path, Device device = default_device());
// Evaluates `a` and writes it as .npy (".npy" appended to the path when missing, as MLX);
// bfloat16 has no NumPy dtype and throws INVALID_ARGUMENT.
void save(const std::string& path, Array a);

// Both load inside a CachedUploads scope: a daemon that still holds a tensor's bytes (an
// earlier run loaded the same file) makes it resident without them crossing the network.
SafetensorsLoad load_safetensors(const std::string& path, Device device = default_device());
// Evaluates the arrays and writes them in name order (".safetensors" appended when missing).
void save_safetensors(std::string path, std::unordered_map<std::string, Array> arrays,
                      const std::unordered_map<std::string, std::string>& metadata = {});

}  // namespace ferry

#endif  // FERRY_CLIENT_IO_H_
