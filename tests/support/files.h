// Small file-system helpers shared by tests.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace aircheck::test {

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

}  // namespace aircheck::test
