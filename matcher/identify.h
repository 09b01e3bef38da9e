// Query identification with speed hypotheses: PCM -> fingerprint -> match, repeated on the
// query resampled to a few playback speeds until one is decided.
//
//   pcm ─▶ [speed 1] fingerprint ─▶ match ─▶ accepted? ─▶ done
//            └─▶ [0.98, 1.02, 0.96, 1.04] resample ─▶ fingerprint ─▶ match ─▶ ...
//
// The matcher's skew scoring follows speed changes of about ±2.5 % by itself, but beyond
// about ±1.5 % fewer and fewer landmark hashes survive (a frequency or time difference moves
// to the next bin). Resampling the query by a hypothesised speed brings its peaks back to
// within ±1 % of the reference, where they match again. Each hypothesis tried is one more
// chance for noise, so the chance probability is multiplied by the number tried.
//
// One Identifier per thread; identify() reuses its buffers.
#pragma once

#include <span>
#include <vector>

#include "dsp/fingerprinter.h"
#include "matcher/matcher.h"

namespace aircheck::matcher {

struct IdentifyOptions {
  /// Playback speeds tried, in order, until the best candidate passes the decision rule. The
  /// first should be 1. Speeds step by 2 % so that every speed within ±5 % is within ±1 % of
  /// one of them.
  std::vector<double> speeds = {1.0, 0.98, 1.02, 0.96, 1.04};
};

struct Identification {
  /// Candidates of the decisive hypothesis (the first accepted, else the most confident),
  /// best first; query_first/query_last in frames of the original query; speed is the
  /// overall estimate (hypothesis times the residual the matcher measured).
  std::vector<Candidate> candidates;
  bool accepted = false;
  double hypothesis = 1.0;  ///< speed hypothesis the candidates come from
  int tried = 0;            ///< hypotheses tried
  std::size_t hashes = 0;   ///< query hashes, summed over hypotheses
  uint64_t postings = 0;    ///< postings read, summed over hypotheses
  double fingerprint_ms = 0, match_ms = 0;
};

class Identifier {
 public:
  Identifier(const dsp::Params& params, const MatchParams& mp = {},
             const IdentifyOptions& opt = {});

  /// `pcm`: mono at params.sample_rate. The result is valid until the next call.
  const Identification& identify(std::span<const float> pcm, store::PostingLookup& index);

  const Matcher& matcher() const { return matcher_; }

 private:
  dsp::Params params_;
  IdentifyOptions opt_;
  dsp::Fingerprinter fp_;
  Matcher matcher_;
  std::vector<dsp::TimedHash> hashes_;
  Identification result_;
  std::vector<Candidate> best_;
};

}  // namespace aircheck::matcher
