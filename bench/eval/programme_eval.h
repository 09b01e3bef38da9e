// `aircheck eval programme`: a generated broadcast programme through the real daemon.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/eval/scorer.h"
#include "dsp/params.h"

namespace aircheck::eval {

struct ProgrammeEvalOptions {
  std::filesystem::path index_dir;
  std::filesystem::path refs_dir;
  std::vector<std::filesystem::path> negatives;  ///< non-indexed music for the gaps
  uint64_t seed = 1;
  double minutes = 30;
  std::filesystem::path out;        ///< programme.md, programme.json, truth.json, airings.jsonl
  std::filesystem::path aircheckd;  ///< the daemon binary
  /// A configuration file for the daemon (e.g. profiles.default.speeds); empty = defaults.
  std::filesystem::path daemon_config;
  std::filesystem::path work;  ///< where the programme WAV goes; empty = a temp folder
  bool keep_audio = false;
  int threads = 0;  ///< for indexing missing references; 0 = all cores
  bool verbose = true;
  std::string command_line;
  dsp::Params params;
};

/// Parses aircheckd's JSON-lines events: each `airing_end` (or an `airing_start` never
/// closed) becomes one detection. Lines of other types are ignored; malformed lines throw
/// std::runtime_error naming the line number.
std::vector<DetectedAiring> parse_airings(const std::filesystem::path& jsonl);

/// Generates the programme, runs `aircheckd --foreground --index DIR --source
/// prog=file:PATH?pace=fast --jsonl FILE` on it, scores its airings and writes the reports.
/// Throws if the daemon cannot be run or exits with an error.
void run_programme_eval(const ProgrammeEvalOptions& opt);

}  // namespace aircheck::eval
