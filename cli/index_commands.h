// `aircheck index add|rm|ls|stats|upgrade` and `aircheck query`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace aircheck::cli {

struct AddOptions {
  std::vector<std::string> inputs;         ///< files and folders
  std::string manifest;                    ///< CSV/TSV: path,title,artist,external_id
  std::string title, artist, external_id;  ///< overrides for a single file
  unsigned jobs = 0;                       ///< 0 = one per core
  bool quiet = false;
};

/// Each returns an Exit code; throws CliError for fatal, one-line errors.
int index_add(const std::filesystem::path& dir, const AddOptions& opts);
int index_rm(const std::filesystem::path& dir, const std::vector<uint32_t>& ids);
int index_ls(const std::filesystem::path& dir, bool as_json);
int index_stats(const std::filesystem::path& dir, bool as_json);
/// Adds what this build stores to the tracks indexed before it (their fine words), reading
/// each track's source file again; a track whose file is gone or changed is named and skipped.
int index_upgrade(const std::filesystem::path& dir, bool quiet);

struct QueryOptions {
  std::vector<std::string> files;
  bool json = false;
  unsigned top = 3;        ///< matches shown per query
  uint32_t min_votes = 0;  ///< 0 = default decision rule
  float min_confidence = -1;
  std::vector<double> speeds;  ///< speed hypotheses; empty = the default set
};
int query(const std::filesystem::path& dir, const QueryOptions& opts);

}  // namespace aircheck::cli
