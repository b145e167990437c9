#ifndef FERRY_CLIENT_EXPORT_H_
#define FERRY_CLIENT_EXPORT_H_

// Functions saved to a file and loaded back, as MLX's export_function and import_function:
// trace a model's forward pass on a laptop, then run the same computation in a C++ service
// or on another daemon without the code that built it.
//
//   ferry::export_function("mlp.ferryfn", forward, {ferry::zeros({8, 784})});
//   auto mlp = ferry::import_function("mlp.ferryfn");
//   ferry::Array logits = mlp({x})[0];  // lazy, like any op, on x's device
//
// The file holds one graph of core ops (the wire format's `Graph`), after an 8-byte magic
// number: the arrays the function captured (its weights) are saved in it as constants.
// Collectives keep the group handle they were traced with.

#include <functional>
#include <string>
#include <vector>

#include "client/array.h"

namespace ferry {

using ExportedFunction = std::function<std::vector<Array>(const std::vector<Array>&)>;

// Calls `fun` on `example` (evaluated first; their shapes and dtypes are what the saved
// function takes, their values are not kept) and writes the graph of its outputs to
// `path`. Throws Error: INVALID_ARGUMENT when `fun` returns no array or arrays on more than
// one device, PERMISSION_DENIED or DATA_LOSS when the file cannot be written.
void export_function(const std::string& path, const ExportedFunction& fun,
                     const std::vector<Array>& example);

// The function saved at `path`. Called with arrays of the saved shapes and dtypes, all on
// one device, it builds the saved graph on them, lazily; INVALID_ARGUMENT naming the input
// otherwise. Throws NOT_FOUND when the file cannot be opened and INVALID_ARGUMENT when it
// is not a saved function or its graph is not valid (it is checked as a daemon checks
// one).
ExportedFunction import_function(const std::string& path);

}  // namespace ferry

#endif  // FERRY_CLIENT_EXPORT_H_
