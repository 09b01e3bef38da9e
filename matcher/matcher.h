// Hash batch -> ranked candidates (offset-histogram voting) -> decided matches.
//
// Pure logic: no threads, no I/O besides PostingLookup. A Matcher owns reusable scratch and is
// used by one thread at a time; after warm-up, match() does not allocate.
#pragma once

#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "dsp/params.h"
#include "dsp/types.h"
#include "matcher/stream_votes.h"
#include "store/posting.h"

namespace aircheck::matcher {

/// A (track, offset) hypothesis. Frames are fingerprint frames (dsp::Params::hop samples).
struct Candidate {
  uint32_t track;
  int32_t offset;      ///< reference frame minus query frame (reference frame of query t=0)
  uint32_t votes;      ///< hashes agreeing within +-1 frame of `offset`
  uint32_t anchors;    ///< distinct query frames among those votes (the evidence counted)
  uint32_t ref_first;  ///< first / last reference frame among the agreeing hashes
  uint32_t ref_last;
  uint32_t query_first;  ///< first / last query frame among the agreeing hashes
  uint32_t query_last;
  float confidence;  ///< 0..1: 1 - probability that chance alone explains the anchors
  /// Playback speed of the query relative to the reference (1.02: 2 % fast), from the drift
  /// of the agreeing hashes' offsets across the query; 1 when not measured.
  float speed;
  /// The offset to a fraction of a frame: reference frame of query t=0 is offset + offset_frac
  /// (|offset_frac| <= 0.5 but where a line's fit moves it). Hashes fall on whole frames, but a
  /// passage starting between two frames splits its votes over two offsets in proportion; their
  /// mean places it (exact_offset()).
  float offset_frac;
  /// Where the line's votes would place query t=0 if it did not drift (their mean offset),
  /// relative to exact_offset(): 0 unless a drifting line moved the offset. A slope read from
  /// noisy votes moves the offset by extrapolation; a later measurement that finds no drift
  /// takes this offset instead.
  float flat_shift;
  [[nodiscard]] double exact_offset() const { return offset + static_cast<double>(offset_frac); }
};
static_assert(std::is_trivially_copyable_v<Candidate>);

struct MatchParams {
  /// A candidate is a match only with at least this many agreeing hashes ...
  uint32_t min_votes = 8;
  /// ... and at least this confidence (1 - chance probability; 0.999 keeps false matches on
  /// music that is not indexed near 0.1 % of queries).
  float min_confidence = 0.999f;
  /// Chance model behind `confidence`. On music that is not in the index, the best cell's
  /// count of distinct query anchors has a geometric tail that grows with the votes cast:
  /// P(best >= k) ~= votes * exp(chance_a - chance_b * k). Fitted on non-indexed real music
  /// (README, "Decision rule").
  double chance_a = -9.0;
  double chance_b = 0.3;
  /// Postings read per query hash at most (very common hashes carry no information).
  uint32_t max_postings_per_hash = 4000;
  /// Candidates kept after ranking.
  uint32_t top_k = 5;
  /// Candidates of one track kept, at most (0: no limit): the places of the top_k left to
  /// other tracks when one track matches along many repeats of its own audio at once.
  uint32_t max_per_track = 0;
  /// Speed changes up to this fraction are voted for: a query played faster or slower than
  /// the reference drifts across offset cells, so the best candidates are also scored along
  /// offset lines of every slope up to this (the speed estimate). 0 turns this off.
  double max_skew = 0.035;
  /// Where most audio plays at normal speed: a line whose slope is under this (a speed within
  /// this of the pass's) replaces a cell only when chance explains it less well than the
  /// straight cell it runs through (its own, or another candidate's of the track within a frame
  /// of the line at the query's middle), counting the 2K + 1 slopes it was chosen from. In
  /// heavy noise the best of those slopes holds a few more anchors than the straight cell by
  /// chance, and its offset at the query's start, extrapolated along that slope, lies a frame
  /// or two off; a weak cell nearby, whose search reaches the true alignment's votes, then
  /// outranks the true straight cell. 0 turns this off (every slope is weighed alike).
  double flat_slope = 0;
};

/// Work counters of the last match() call.
struct MatchStats {
  uint64_t query_hashes = 0;
  uint64_t distinct_hashes = 0;
  uint64_t postings = 0;       ///< postings read (= votes cast)
  uint64_t capped_hashes = 0;  ///< hashes whose postings were truncated
};

class Matcher {
 public:
  Matcher(const dsp::Params& params, const MatchParams& mp = {});

  /// Ranks (track, offset) candidates for `hashes` (any order; times in frames from any
  /// origin). Returns up to top_k candidates, best first, valid until the next call.
  std::span<const Candidate> match(std::span<const dsp::TimedHash> hashes,
                                   store::PostingLookup& index);

  /// The same for the window of a stream that `votes` holds (sealed up to its end), from the
  /// votes its hashes already cast. Candidates and spans are in frames from votes.origin(), as
  /// if the window's hashes had been passed to the call above with t = frame - origin; the
  /// ranking is the same. `votes` must stay unchanged while candidates are used.
  std::span<const Candidate> match(const StreamVotes& votes);

  /// Ranks the votes of the last match() again, as it ranked them (its flat_slope), keeping up
  /// to `top_k` candidates (valid until the next call): more places for a track that matches
  /// along many repeats of its own audio.
  std::span<const Candidate> rerank(uint32_t top_k);

  /// The hashes of the last match() that agree with `c` (votes for c.track within +-1 frame of
  /// c.offset): appends (query frame, query frame + dt), dt being the hash's anchor-to-target
  /// distance, so the second is where the target peak lay.
  void agreeing(const Candidate& c, std::vector<std::pair<uint32_t, uint32_t>>& out) const;

  /// Verification of candidates of one query: adds to `anchors[i]` the distinct frames of
  /// `hashes` that agree with `cands[i]`: a posting of its track at reference frame
  /// u + offset + d + (speed - 1) * u, u = t + shift being the hash's frame in the candidates'
  /// query frames (`shift`: where frame 0 of `hashes` lies in them; a query read from a later
  /// sample has shift > 0), and d within +-1 frame of the shift (|shift| <= 3) that finds the
  /// most. Only the candidates' tracks' postings are read (PostingLookup::lookup_track), so
  /// this costs a seek per distinct hash and track, not a pass over every posting.
  void support(std::span<const dsp::TimedHash> hashes, store::PostingLookup& index,
               std::span<const Candidate> cands, double shift, std::span<uint32_t> anchors);
  /// The same from the votes of the last match() (its hashes, shift 0), without lookups.
  void support(std::span<const Candidate> cands, std::span<uint32_t> anchors);

  /// Whether a candidate passes the decision rule (min_votes and min_confidence).
  bool accepted(const Candidate& c) const;

  const MatchStats& stats() const { return stats_; }
  const MatchParams& match_params() const { return mp_; }
  void set_match_params(const MatchParams& mp) { mp_ = mp; }
  const dsp::Params& params() const { return params_; }

 private:
  dsp::Params params_;
  MatchParams mp_;
  MatchStats stats_;
  std::vector<dsp::TimedHash> sorted_;
  std::vector<store::Posting> postings_;
  struct Cell {
    uint64_t key;
    uint32_t count;
    uint32_t first;  // index of its first vote
    uint32_t score = 0;
  };
  std::vector<Vote> votes_;     // the votes of match(hashes)
  std::vector<Vote> vote_tmp_;  // sort buffer
  std::vector<uint32_t> qcount_;
  std::span<const Vote> cur_;  // the votes being ranked: votes_ or a stream's
  double chance_votes_ = 0;    // the votes the chance model counts (StreamVotes::chance_votes)
  std::vector<Cell> cells_;
  std::vector<uint32_t> order_;
  std::vector<uint32_t> qts_;
  std::vector<Candidate> candidates_;
  std::vector<Candidate> straight_;  // the candidates as their straight cells, before rescoring
  std::vector<uint32_t> hist_;
  std::vector<double> at_zero_;
  struct SlopeScore {
    int k;           // slope step
    uint32_t score;  // votes in the best +-1-frame band along it
    int center;      // where that band lies, relative to the candidate's offset
  };
  std::vector<SlopeScore> slopes_;
  std::vector<const Vote*> band_, band_keep_;
  std::vector<uint64_t> support_;  // (candidate << 40 | query frame << 8 | bin) of agreeing hashes
  uint32_t qmin_ = 0, qmax_ = 0;   // first / last query frame of the last match()
  double ranked_flat_slope_ = 0;   // MatchParams::flat_slope the last match() ranked with
  void add_support(std::size_t c, uint32_t qt, double offset, const Candidate& cand, double u);
  void tally_support(std::span<uint32_t> anchors);

  /// Ranks the candidates of cur_ (sorted by key) spanning query frames [qmin, qmax].
  std::span<const Candidate> rank(uint32_t qmin, uint32_t qmax);
  /// Scores `c` along drifting offset lines; updates it when that explains more anchors.
  void rescore_skewed(Candidate& c, uint32_t qmin, uint32_t qmax, double log_votes);
};

}  // namespace aircheck::matcher
