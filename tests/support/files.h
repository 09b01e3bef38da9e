// Small file-system helpers shared by tests.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace aircheck::test {

/// The whole of `file`, as bytes; empty if it cannot be read.
inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// Regular files under `dir` (recursive) whose path ends with `suffix`; 0 if `dir` is missing.
inline std::size_t count_files(const std::filesystem::path& dir, const std::string& suffix) {
  std::size_t n = 0;
  if (!std::filesystem::exists(dir)) return 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string p = f.path().string();
    if (f.is_regular_file() && p.size() >= suffix.size() &&
        p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0)
      ++n;
  }
  return n;
}

/// Damage: overwrites `count` bytes of `file` at positions drawn (a fixed generator seeded with
/// `seed`) between the fractions `from` and `to` of its size, each with a drawn byte.
inline void overwrite_bytes(const std::filesystem::path& file, int count, double from, double to,
                            uint32_t seed) {
  std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
  const auto size = static_cast<double>(std::filesystem::file_size(file));
  const auto lo = static_cast<uint64_t>(from * size);
  const auto span = std::max<uint64_t>(1, static_cast<uint64_t>((to - from) * size));
  uint32_t x = seed;
  for (int i = 0; i < count; ++i) {
    x = x * 1103515245u + 12345u;
    io.seekp(static_cast<std::streamoff>(lo + x % span));
    io.put(static_cast<char>(x >> 24));
  }
}

}  // namespace aircheck::test
