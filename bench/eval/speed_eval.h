// `aircheck eval speed`: what users buy — x real time per core, ingest rate, index size per
// hour of audio, and query latency as the index grows.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "dsp/params.h"
#include "matcher/matcher.h"

namespace aircheck::eval {

struct SpeedEvalOptions {
  std::filesystem::path refs_dir;
  std::vector<std::filesystem::path> extra;  ///< more audio to grow the index with (negatives)
  std::filesystem::path index_dir;           ///< a scratch index (emptied first); empty = temp
  std::filesystem::path out;                 ///< speed.md, speed.json
  uint64_t seed = 1;
  double fingerprint_minutes = 20;  ///< audio used for the x-real-time measurement
  int steps = 4;                    ///< index sizes at which latency is measured
  int queries = 200;                ///< queries per size (5 s, clean and white:10)
  bool verbose = true;
  std::string command_line;
  dsp::Params params;
  matcher::MatchParams match;
};

/// Runs single-threaded (per-core figures) and writes the reports. Throws on unusable input.
void run_speed_eval(const SpeedEvalOptions& opt);

}  // namespace aircheck::eval
