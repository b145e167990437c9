#ifndef FERRY_CLIENT_IO_H_
#define FERRY_CLIENT_IO_H_

// Arrays to and from files in NumPy's .npy, Hugging Face's .safetensors and llama.cpp's
// .gguf formats, as MLX's load and save: what NumPy, MLX, PyTorch or llama.cpp's tools write
// loads here, and what is saved here loads there. Loading reads one tensor at a time into `device`
// (a daemon receives each as an upload), so a checkpoint never sits whole in this process's memory.

#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

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

// A GGUF metadata value, as MLX's: numbers and bools as an array (a scalar, or 1-D for a
// GGUF array; float64 stays float64, where MLX narrows it to float32), a string, or strings.
using GGUFMetaData = std::variant<std::monostate, Array, std::string, std::vector<std::string>>;
using GGUFLoad = std::pair<std::unordered_map<std::string, Array>,
                           std::unordered_map<std::string, GGUFMetaData>>;

// A .gguf file's tensors and metadata (versions 2 and 3), as MLX's load_gguf gives them:
// F32, F16, BF16, F64 and I8 to I64 as they are; Q4_0, Q4_1 and Q8_0 as MLX's affine
// quantization (`name`: uint32 codes; `name` less ".weight" plus ".scales" and ".biases":
// float16 per 32 elements; quantized_matmul(x, w, scales, biases, true, 32, bits) computes
// with them); Q5_0, Q5_1, Q2_K to Q6_K, IQ4_NL and IQ4_XS dequantized to float16 as
// llama.cpp does, on the device, from their blocks; MXFP4 as MLX's mxfp4 quantization
// (core/gguf_tensors.h). INVALID_ARGUMENT naming the tensor for the other quantizations
// (IQ3_S, Q8_1...), and for a malformed file.
GGUFLoad load_gguf(const std::string& path, Device device = default_device());

// What load_gguf may do beyond MLX's.
struct GGUFOptions {
  // Q4_K and Q5_K tensors (most of a Q4_K_M or Q5_K_M file) as MLX's affine quantization,
  // named as Q4_0's are (codes, then float32 scales and biases per 32, for
  // quantized_matmul(x, w, scales, biases, true, 32, 4 or 5)), instead of float16: 6 or 7
  // bits per weight on the device rather than 16, the same values (dequantize gives
  // llama.cpp's exactly; a product with float16 x comes out in float32, the scales'
  // dtype). Q2_K, Q3_K and Q6_K, whose groups of 16 MLX's affine quantization does not
  // have, stay float16.
  bool k_quants_affine = false;
};
GGUFLoad load_gguf(const std::string& path, Device device, const GGUFOptions& options);

// Evaluates the arrays and writes them, in name order, as GGUF version 3 (".gguf" appended
// when missing): float32, float16, bfloat16, float64, int8, int16, int32 and int64 arrays;
// metadata arrays of at most one dimension, not empty, of any dtype but the half-precision
// and complex ones. INVALID_ARGUMENT naming what cannot be written.
void save_gguf(std::string path, std::unordered_map<std::string, Array> arrays,
               std::unordered_map<std::string, GGUFMetaData> metadata = {});

}  // namespace ferry

#endif  // FERRY_CLIENT_IO_H_
