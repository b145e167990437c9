#include "client/lm/tuner/training_config.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/error.h"
#include "yaml-cpp/yaml.h"

namespace ferry::lm::tuner {
namespace {

using json = nlohmann::json;

[[noreturn]] void Fail(ErrorCode code, const std::string& message) {
  throw Error(code, absl::StrCat("[lora config] ", message));
}

// A plain scalar resolved as PyYAML's SafeLoader resolves it, with the float pattern
// mlx_lm.lora adds (so 1e-5 is a number, not a string).
json PlainScalar(const std::string& text) {
  static const std::regex kNull(R"(~|null|Null|NULL|)");
  static const std::regex kTrue(R"(yes|Yes|YES|true|True|TRUE|on|On|ON)");
  static const std::regex kFalse(R"(no|No|NO|false|False|FALSE|off|Off|OFF)");
  static const std::regex kInt(R"([-+]?[0-9][0-9_]*)");
  static const std::regex kFloat(
      R"([-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)|\.[0-9_]+(?:[eE][-+][0-9]+)?)");
  static const std::regex kInf(R"([-+]?\.(?:inf|Inf|INF))");
  static const std::regex kNan(R"(\.(?:nan|NaN|NAN))");
  std::string digits = text;
  digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
  if (std::regex_match(text, kNull)) return nullptr;
  if (std::regex_match(text, kTrue)) return true;
  if (std::regex_match(text, kFalse)) return false;
  try {
    if (std::regex_match(text, kInt)) return std::stoll(digits);
    if (std::regex_match(text, kFloat)) return std::stod(digits);
  } catch (const std::out_of_range&) {
    return text;  // past int64 or double: refused by the option's type check, by name
  }
  if (std::regex_match(text, kInf)) {
    return text[0] == '-' ? -std::numeric_limits<double>::infinity()
                          : std::numeric_limits<double>::infinity();
  }
  if (std::regex_match(text, kNan)) return std::numeric_limits<double>::quiet_NaN();
  return text;
}

json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const YAML::Node& item : node) out.push_back(ToJson(item));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& item : node) out[item.first.Scalar()] = ToJson(item.second);
      return out;
    }
    case YAML::NodeType::Scalar:  // a quoted scalar's tag is "!": a string as written
      return node.Tag() == "!" ? json(node.Scalar()) : PlainScalar(node.Scalar());
    default:
      return nullptr;
  }
}

int Int(const std::string& key, const json& value) {
  if (!value.is_number_integer() || value.get<int64_t>() < std::numeric_limits<int>::min() ||
      value.get<int64_t>() > std::numeric_limits<int>::max()) {
    Fail(ErrorCode::kInvalidArgument, absl::StrCat(key, " must be an integer, got ", value.dump()));
  }
  return value.get<int>();
}

double Number(const std::string& key, const json& value) {
  if (!value.is_number()) {
    Fail(ErrorCode::kInvalidArgument, absl::StrCat(key, " must be a number, got ", value.dump()));
  }
  return value.get<double>();
}

bool Bool(const std::string& key, const json& value) {
  if (!value.is_boolean()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat(key, " must be true or false, got ", value.dump()));
  }
  return value.get<bool>();
}

// A string; null (mlx-lm's None) as empty.
std::string String(const std::string& key, const json& value) {
  if (value.is_null()) return "";
  if (!value.is_string()) {
    Fail(ErrorCode::kInvalidArgument, absl::StrCat(key, " must be a string, got ", value.dump()));
  }
  return value.get<std::string>();
}

std::string OneOf(const std::string& key, const json& value,
                  const std::vector<std::string>& choices) {
  const std::string text = String(key, value);
  if (std::find(choices.begin(), choices.end(), text) == choices.end()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat(key, " must be one of ", absl::StrJoin(choices, ", "), ", got \"", text,
                      "\""));
  }
  return text;
}

ScheduleConfig Schedule(const json& value) {
  if (!value.is_object()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("lr_schedule must be a mapping of name, arguments, warmup and "
                      "warmup_init, got ",
                      value.dump()));
  }
  ScheduleConfig schedule;
  for (const auto& [key, item] : value.items()) {
    const std::string name = "lr_schedule." + key;
    if (key == "name") {
      schedule.name = String(name, item);
    } else if (key == "arguments") {
      if (!item.is_array() || item.empty()) {
        Fail(ErrorCode::kInvalidArgument,
             absl::StrCat(name, " must be a non-empty list of numbers, got ", item.dump()));
      }
      for (const json& argument : item) schedule.arguments.push_back(Number(name, argument));
    } else if (key == "warmup") {
      schedule.warmup = Int(name, item);
    } else if (key == "warmup_init") {
      schedule.warmup_init = Number(name, item);
    } else {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat(name,
                        " is not a key of mlx-lm's lr_schedule (name, arguments, "
                        "warmup, warmup_init)"));
    }
  }
  if (schedule.name.empty() || schedule.arguments.empty()) {
    Fail(ErrorCode::kInvalidArgument, "lr_schedule needs a name and arguments");
  }
  return schedule;
}

LoRAConfig LoraParameters(const json& value) {
  LoRAConfig lora;
  if (value.is_null()) return lora;  // mlx-lm's full fine-tuning writes None
  if (!value.is_object()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("lora_parameters must be a mapping, got ", value.dump()));
  }
  for (const auto& [key, item] : value.items()) {
    const std::string name = "lora_parameters." + key;
    if (key == "rank") {
      lora.rank = Int(name, item);
    } else if (key == "scale") {
      lora.scale = Number(name, item);
    } else if (key == "dropout") {
      lora.dropout = Number(name, item);
    } else if (key == "keys") {
      if (item.is_null()) continue;
      if (!item.is_array()) {
        Fail(ErrorCode::kInvalidArgument,
             absl::StrCat(name, " must be a list of layer paths, got ", item.dump()));
      }
      lora.keys.emplace();
      for (const json& path : item) lora.keys->push_back(String(name, path));
    } else {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat(name,
                        " is not a key of mlx-lm's lora_parameters (rank, scale, "
                        "dropout, keys)"));
    }
  }
  return lora;
}

void ReadKey(const std::string& key, const json& value, TrainingConfig& config) {
  using Setter = std::function<void(const json&, TrainingConfig&)>;
  static const std::map<std::string, Setter> kSetters = {
      {"model", [](const json& v, TrainingConfig& c) { c.model = String("model", v); }},
      {"train", [](const json& v, TrainingConfig& c) { c.train = Bool("train", v); }},
      {"data", [](const json& v, TrainingConfig& c) { c.data = String("data", v); }},
      {"fine_tune_type",
       [](const json& v, TrainingConfig& c) {
         c.fine_tune_type = OneOf("fine_tune_type", v, {"lora", "dora", "full"});
       }},
      {"optimizer",
       [](const json& v, TrainingConfig& c) {
         c.optimizer = OneOf("optimizer", v, {"adam", "adamw", "muon", "sgd", "adafactor"});
       }},
      {"optimizer_config",
       [](const json& v, TrainingConfig& c) {
         if (!v.is_object()) {
           Fail(ErrorCode::kInvalidArgument,
                absl::StrCat("optimizer_config must map optimizer names to their options, got ",
                             v.dump()));
         }
         for (const auto& [name, options] : v.items()) {
           if (!options.is_object() && !options.is_null()) {
             Fail(ErrorCode::kInvalidArgument,
                  absl::StrCat("optimizer_config.", name, " must be a mapping, got ",
                               options.dump()));
           }
           c.optimizer_config[name] = options.is_null() ? json::object() : options;
         }
       }},
      {"seed", [](const json& v, TrainingConfig& c) { c.seed = Int("seed", v); }},
      {"num_layers", [](const json& v, TrainingConfig& c) { c.num_layers = Int("num_layers", v); }},
      {"batch_size", [](const json& v, TrainingConfig& c) { c.batch_size = Int("batch_size", v); }},
      {"iters", [](const json& v, TrainingConfig& c) { c.iters = Int("iters", v); }},
      {"val_batches",
       [](const json& v, TrainingConfig& c) { c.val_batches = Int("val_batches", v); }},
      {"learning_rate",
       [](const json& v, TrainingConfig& c) { c.learning_rate = Number("learning_rate", v); }},
      {"steps_per_report",
       [](const json& v, TrainingConfig& c) { c.steps_per_report = Int("steps_per_report", v); }},
      {"steps_per_eval",
       [](const json& v, TrainingConfig& c) { c.steps_per_eval = Int("steps_per_eval", v); }},
      {"resume_adapter_file",
       [](const json& v, TrainingConfig& c) {
         c.resume_adapter_file = String("resume_adapter_file", v);
       }},
      {"adapter_path",
       [](const json& v, TrainingConfig& c) { c.adapter_path = String("adapter_path", v); }},
      {"save_every", [](const json& v, TrainingConfig& c) { c.save_every = Int("save_every", v); }},
      {"test", [](const json& v, TrainingConfig& c) { c.test = Bool("test", v); }},
      {"test_batches",
       [](const json& v, TrainingConfig& c) { c.test_batches = Int("test_batches", v); }},
      {"max_seq_length",
       [](const json& v, TrainingConfig& c) { c.max_seq_length = Int("max_seq_length", v); }},
      {"grad_checkpoint",
       [](const json& v, TrainingConfig& c) { c.grad_checkpoint = Bool("grad_checkpoint", v); }},
      {"grad_accumulation_steps",
       [](const json& v, TrainingConfig& c) {
         c.grad_accumulation_steps = Int("grad_accumulation_steps", v);
       }},
      {"lr_schedule",
       [](const json& v, TrainingConfig& c) {
         if (!v.is_null()) c.lr_schedule = Schedule(v);
       }},
      {"lora_parameters",
       [](const json& v, TrainingConfig& c) { c.lora_parameters = LoraParameters(v); }},
      {"mask_prompt",
       [](const json& v, TrainingConfig& c) { c.mask_prompt = Bool("mask_prompt", v); }},
      // mlx-lm's, for services ferry has no part in.
      {"config", [](const json&, TrainingConfig&) {}},
      {"clear_cache_threshold", [](const json&, TrainingConfig&) {}},
      {"report_to", [](const json&, TrainingConfig&) {}},
      {"project_name", [](const json&, TrainingConfig&) {}},
      {"trust_remote_code", [](const json&, TrainingConfig&) {}},
  };
  auto setter = kSetters.find(key);
  if (setter == kSetters.end()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("\"", key, "\" is not an option of mlx_lm.lora that ferry reads"));
  }
  setter->second(value, config);
}

}  // namespace

TrainingConfig training_config_from_yaml(const std::string& text) {
  json document;
  try {
    document = ToJson(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    Fail(ErrorCode::kInvalidArgument, absl::StrCat("not YAML: ", e.what()));
  }
  TrainingConfig config;
  if (document.is_null()) return config;  // an empty file
  if (!document.is_object()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("the configuration must be a mapping of options, got ", document.dump()));
  }
  for (const auto& [key, value] : document.items()) ReadKey(key, value, config);
  return config;
}

TrainingConfig load_training_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) Fail(ErrorCode::kNotFound, absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  try {
    return training_config_from_yaml(text.str());
  } catch (const Error& e) {
    throw Error(e.code(), absl::StrCat(path, ": ", e.what()));
  }
}

}  // namespace ferry::lm::tuner
