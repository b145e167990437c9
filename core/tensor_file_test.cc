#include "core/tensor_file.h"

#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A .npy file's bytes (version 1) with the given header dict and `data_bytes` of data.
std::string Npy(const std::string& dict, size_t data_bytes) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string file("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(header.size() & 0xff);
  file += static_cast<char>(header.size() >> 8);
  return file + header + std::string(data_bytes, '\0');
}

std::string Safetensors(const std::string& json, size_t data_bytes) {
  std::string file(8, '\0');
  uint64_t length = json.size();
  std::memcpy(file.data(), &length, 8);  // little-endian hosts only, as ferry
  return file + json + std::string(data_bytes, '\0');
}

TEST(TensorFile, NpyFloat32Matrix) {
  std::string file = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
  auto tensors = ParseNpy(file, file.size());
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ(tensors->size(), 1u);
  EXPECT_EQ((*tensors)[0].dtype, DType::kFloat32);
  EXPECT_THAT((*tensors)[0].shape, ElementsAre(2, 3));
  EXPECT_EQ((*tensors)[0].offset, file.size() - 24);  // headers pad the data to 64 bytes
  EXPECT_EQ((*tensors)[0].offset % 64, 0u);
  EXPECT_EQ((*tensors)[0].nbytes, 24u);
  EXPECT_EQ(DescribeTensor((*tensors)[0]), "float32[2, 3]");
}

TEST(TensorFile, NpyScalarAndOneDim) {
  std::string scalar = Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", 8);
  auto tensors = ParseNpy(scalar, scalar.size());
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_TRUE((*tensors)[0].shape.empty());
  EXPECT_EQ((*tensors)[0].nbytes, 8u);
  std::string vector = Npy("{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }", 5);
  tensors = ParseNpy(vector, vector.size());
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_THAT((*tensors)[0].shape, ElementsAre(5));
}

TEST(TensorFile, NpyEveryIntegerWidth) {
  const std::pair<const char*, const char*> kinds[] = {
      {"|i1", "int8[3]"}, {"<i2", "int16[3]"}, {"<u2", "uint16[3]"}, {"<u8", "uint64[3]"}};
  for (const auto& [descr, described] : kinds) {
    const size_t size = descr[2] == '1' ? 1 : descr[2] == '2' ? 2 : 8;
    std::string file =
        Npy(std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (3,), }",
            3 * size);
    auto tensors = ParseNpy(file, file.size());
    ASSERT_TRUE(tensors.ok()) << tensors.status();
    EXPECT_EQ((*tensors)[0].nbytes, 3 * size);
    EXPECT_EQ(DescribeTensor((*tensors)[0]), described);
  }
}

TEST(TensorFile, NpyRefusals) {
  std::string big_endian = Npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8);
  EXPECT_THAT(ParseNpy(big_endian, big_endian.size()).status().ToString(),
              HasSubstr("[npy] dtype >f4 is not one ferry holds"));
  std::string fortran = Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16);
  EXPECT_THAT(ParseNpy(fortran, fortran.size()).status().ToString(), HasSubstr("Fortran-order"));
  std::string short_data = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 8);
  EXPECT_THAT(ParseNpy(short_data, short_data.size()).status().ToString(),
              HasSubstr("needs 16 bytes"));
  EXPECT_THAT(ParseNpy("not numpy", 9).status().ToString(), HasSubstr("no \\x93NUMPY magic"));
}

TEST(TensorFile, SafetensorsInFileOrderSkippingMetadata) {
  std::string file = Safetensors(R"({"__metadata__":{"format":"pt"},)"
                                 R"("w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                                 R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}})",
                                 22);
  auto tensors = ParseSafetensors(file, file.size());
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ(tensors->size(), 2u);
  const uint64_t data_start = file.size() - 22;
  EXPECT_EQ((*tensors)[0].name, "w");
  EXPECT_EQ((*tensors)[0].offset, data_start);
  EXPECT_EQ((*tensors)[1].name, "b");
  EXPECT_EQ((*tensors)[1].dtype, DType::kBFloat16);
  EXPECT_EQ((*tensors)[1].offset, data_start + 16);
  EXPECT_EQ((*tensors)[1].nbytes, 6u);
}

TEST(TensorFile, SafetensorsNullMetadataAsMlxWritesIt) {
  std::string file = Safetensors(
      R"({"__metadata__":null,"z":{"dtype":"C64","shape":[2],"data_offsets":[0,16]}})", 16);
  auto tensors = ParseSafetensors(file, file.size());
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ(tensors->size(), 1u);
  EXPECT_EQ((*tensors)[0].dtype, DType::kComplex64);
}

TEST(TensorFile, SafetensorsRefusals) {
  std::string wrong_size =
      Safetensors(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 8);
  EXPECT_THAT(ParseSafetensors(wrong_size, wrong_size.size()).status().ToString(),
              HasSubstr("[safetensors] tensor \"w\": data_offsets [0, 4) do not hold"));
  std::string past_end =
      Safetensors(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  EXPECT_THAT(ParseSafetensors(past_end, past_end.size()).status().ToString(),
              HasSubstr("but the file has"));
  std::string unknown =
      Safetensors(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1);
  EXPECT_THAT(ParseSafetensors(unknown, unknown.size()).status().ToString(),
              HasSubstr("dtype F8_E4M3 is not one ferry holds"));
  std::string not_json = Safetensors("{nope", 0);
  EXPECT_THAT(ParseSafetensors(not_json, not_json.size()).status().ToString(),
              HasSubstr("not a JSON object"));
}

TEST(TensorFile, WrittenHeadersParseBack) {
  absl::StatusOr<std::string> npy = NpyHeader(DType::kInt16, {2, 3});
  ASSERT_TRUE(npy.ok()) << npy.status();
  EXPECT_EQ(npy->size() % 64, 0u);  // as NumPy pads it
  EXPECT_THAT(*npy, HasSubstr("{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }"));
  std::string file = *npy + std::string(12, '\0');
  auto tensors = ParseNpy(file, file.size());
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_EQ(DescribeTensor((*tensors)[0]), "int16[2, 3]");
  EXPECT_EQ((*tensors)[0].offset, npy->size());
  EXPECT_THAT(*NpyHeader(DType::kFloat32, {5}), HasSubstr("'shape': (5,)"));
  EXPECT_THAT(*NpyHeader(DType::kFloat32, {}), HasSubstr("'shape': ()"));
  EXPECT_THAT(NpyHeader(DType::kBFloat16, {1}).status().ToString(),
              HasSubstr("NumPy has no bfloat16 dtype"));

  std::vector<FileTensor> written = {{"b", DType::kBFloat16, {3}, 0, 0},
                                     {"w", DType::kUInt64, {2, 2}, 0, 0}};
  const std::string header = *SafetensorsHeader(written, {{"step", "7"}});
  EXPECT_EQ(header.size() % 8, 0u);
  EXPECT_EQ(written[0].offset, header.size());
  EXPECT_EQ(written[1].offset, header.size() + 6);
  std::map<std::string, std::string> metadata;
  std::string st = header + std::string(38, '\0');
  auto parsed = ParseSafetensors(st, st.size(), &metadata);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ(DescribeTensor((*parsed)[1]), "uint64[2, 2]");
  EXPECT_EQ((*parsed)[1].offset, written[1].offset);
  EXPECT_THAT(metadata, ElementsAre(std::pair<const std::string, std::string>("step", "7")));
}

}  // namespace
}  // namespace ferry::core
