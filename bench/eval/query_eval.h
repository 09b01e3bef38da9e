// `aircheck eval queries`: the query-level protocol of the fingerprinting literature.
//
// Excerpts of several lengths are drawn from the references (seeded), degraded by each
// condition, fingerprinted on the query side and matched against the index; ranks, offsets,
// latencies and matcher work are collected per (length, condition) cell. Excerpts of audio
// not in the index (negative folders and generated speech) measure the false-match rate.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/eval/condition.h"
#include "dsp/fingerprinter.h"
#include "dsp/params.h"
#include "matcher/identify.h"
#include "matcher/matcher.h"
#include "store/index.h"

namespace aircheck::eval {

/// Sample rate at which excerpts are cut and degraded, in Hz (then resampled to the
/// fingerprint rate, as a decoder would).
inline constexpr int kEvalRate = 44100;

struct QueryEvalOptions {
  std::filesystem::path index_dir;               ///< created and filled if empty
  std::filesystem::path refs_dir;                ///< see list_refs()
  std::vector<std::filesystem::path> negatives;  ///< folders of non-indexed audio
  uint64_t seed = 1;
  int n = 100;                                     ///< excerpts per (length, condition) cell
  std::vector<double> lengths = {1, 2, 3, 5, 10};  ///< in seconds
  std::vector<Condition> conditions;
  int speech_negatives = -1;  ///< speech excerpts per length; -1 = max(10, n/4)
  std::filesystem::path out;  ///< report.md, report.json, *.png
  int threads = 0;            ///< 0 = all cores
  bool plots = true;
  bool details = false;  ///< also write queries.tsv: one line per query
  bool verbose = true;
  std::string command_line;  ///< recorded in the report
  /// Fingerprint parameters: the index in index_dir must be (or is made) of this format.
  dsp::Params params;
  /// The "KEY=VALUE" overrides `params` was made with (see param_overrides.h), for the report.
  std::vector<std::string> overrides;
  matcher::MatchParams match;
  matcher::IdentifyOptions identify;  ///< speed hypotheses tried per query
};

/// One query's outcome.
struct QueryOutcome {
  std::vector<matcher::Candidate> candidates;  ///< best first (copied from the matcher)
  bool accepted = false;                       ///< the best candidate passes the decision rule
  double fingerprint_ms = 0;                   ///< wall time of fingerprinting
  double match_ms = 0;                         ///< wall time of matching
  uint64_t hashes = 0;                         ///< query hashes
  uint64_t postings = 0;                       ///< postings the matcher read
  double speed = 1;                            ///< speed estimate of the best candidate
  int tried = 1;                               ///< speed hypotheses tried
  int screened = 0;                            ///< speeds screened with rescaled hashes
  int verified = 0;                            ///< repeats weighed at every frame phase
};

/// Fingerprints (query side) and matches PCM at the fingerprint rate against an index. Holds
/// its own Fingerprinter, Matcher and Reader: one per thread. Construct on the thread that
/// uses it or hand it over; not shareable.
class QueryProbe {
 public:
  QueryProbe(const dsp::Params& params, const matcher::MatchParams& mp,
             const matcher::IdentifyOptions& io, store::Index& index);
  ~QueryProbe();
  QueryOutcome run(std::span<const float> pcm);

 private:
  matcher::Identifier id_;
  std::unique_ptr<store::Reader> reader_;
};

/// Runs the evaluation and writes the reports. Deterministic in everything but timings for
/// given options and input files. Throws on unusable inputs (no refs, decode errors) with a
/// one-line message; store::FormatMismatchError when index_dir holds an index of other
/// fingerprint parameters than `params`.
void run_query_eval(const QueryEvalOptions& opt);

}  // namespace aircheck::eval
