// The votes of a stream's last window of hashes, kept sorted from one window to the next.
//
//   hashes (absolute frames) ─▶ add() ─▶ pending ─▶ seal(end, from): one index lookup per new
//     hash, its votes sorted ─▶ merged into the window's sorted votes, those before `from`
//     dropped ─▶ Matcher::match(StreamVotes) ranks the window [from, end)
//
// A monitor matches a window of the last few seconds every hop (6 s every 1 s): matched from
// scratch, every hash would be looked up and its votes sorted once per window that contains it.
// Here each hash is looked up once and its votes sorted once, with the hashes of its hop; a
// window costs one linear merge.
//
// One StreamVotes per stream; used by one thread at a time (not necessarily the same one).
// Steady state does not allocate once its buffers have grown to their working size.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "store/posting.h"

namespace aircheck::matcher {

/// One vote: a posting of one query hash, as (track, offset) and the query frame.
struct Vote {
  uint64_t key;  ///< vote_key(track, offset): orders by track, then offset
  uint32_t qt;   ///< query frame
  uint32_t dt;   ///< the hash's anchor-to-target distance, in frames
};
static_assert(sizeof(Vote) == 16 && std::is_trivially_copyable_v<Vote>);

/// offset = reference frame - query frame; biased so that keys sort as (track, offset).
constexpr uint64_t vote_key(uint32_t track, int32_t offset) {
  return uint64_t{track} << 32 | (static_cast<uint32_t>(offset) ^ 0x80000000u);
}
constexpr uint32_t key_track(uint64_t k) { return static_cast<uint32_t>(k >> 32); }
constexpr int32_t key_offset(uint64_t k) {
  return static_cast<int32_t>(static_cast<uint32_t>(k) ^ 0x80000000u);
}
static_assert(key_offset(vote_key(3, -5)) == -5 && key_track(vote_key(3, -5)) == 3);
static_assert(vote_key(1, -1) < vote_key(1, 0) && vote_key(1, 7) < vote_key(2, -7));
/// Moving the query origin later by d frames adds d to every offset: the key moves by d.
static_assert(vote_key(4, -3) + 5 == vote_key(4, 2));

/// Buffers seal() works in: a worker's, shared by the streams it serves in turn.
struct SealScratch {
  std::vector<Vote> fresh;  ///< votes of the hashes being sealed
  std::vector<Vote> tmp;    ///< radix-sort buffer
  std::vector<uint32_t> frames;
  std::vector<store::Posting> postings;
};

/// Sorts votes by key (stable, radix over the bits that vary), using `tmp` as the buffer.
void sort_by_key(std::vector<Vote>& votes, std::vector<Vote>& tmp);

class StreamVotes {
 public:
  /// `max_postings_per_hash`: hashes with more postings cast no votes (MatchParams).
  explicit StreamVotes(uint32_t max_postings_per_hash = 4000);

  /// A hash of the stream; `frame` is its anchor's absolute frame. Pending until sealed.
  void add(uint32_t hash, int64_t frame);

  /// Makes the window [from, end): looks up the pending hashes anchored before `end` (once per
  /// distinct hash, in hash order), merges their votes into the window's, and drops the votes
  /// of hashes anchored before `from`. Later hashes stay pending. `from` never moves back.
  void seal(int64_t end, int64_t from, store::PostingLookup& index, SealScratch& scratch);

  /// Changes the cap on postings per hash for the hashes sealed from now on: a hash with more
  /// than `cast` postings casts no votes. With a higher `counted`, a hash with more than `cast`
  /// postings but at most `counted` still counts its frame in frames() and its postings, times
  /// `weight`, in chance_votes(). Very common hashes cost most of a window's votes and decide
  /// nothing, but the chance model (MatchParams::chance_a/b) was fitted on the votes of every
  /// hash up to `counted`: the weight keeps confidences on music that is not indexed where
  /// they were (SourceRunner: kUncastWeight).
  void set_max_postings(uint32_t cast, uint32_t counted = 0, double weight = 1.0) {
    max_postings_ = cast;
    max_counted_ = std::max(cast, counted);
    uncast_weight_ = weight;
  }

  /// Forgets everything (a stream restarted from scratch).
  void clear();

  /// The window's votes, sorted by key; offsets and query frames count from origin().
  std::span<const Vote> votes() const { return window_; }
  int64_t origin() const { return origin_; }
  int64_t end() const { return end_; }
  /// Frames (from origin()) of the window's hashes that were looked up and not capped, voting
  /// or not, ascending: the query span skew scoring measures slopes over.
  std::span<const uint32_t> frames() const { return frames_; }
  /// Hashes of the last seal() that cast no votes for having too many postings.
  uint32_t capped() const { return capped_; }
  /// The votes the chance model counts: the window's, plus its uncast hashes' postings times
  /// their weight.
  double chance_votes() const {
    return static_cast<double>(window_.size()) + uncast_weight_ * static_cast<double>(uncast_sum_);
  }
  std::size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    uint32_t hash;
    int64_t frame;
  };
  uint32_t max_postings_;
  uint32_t max_counted_;
  double uncast_weight_ = 1.0;
  int64_t origin_ = 0;
  int64_t end_ = 0;
  uint32_t capped_ = 0;
  std::vector<Pending> pending_;
  std::vector<Pending> later_;
  std::vector<Vote> window_;
  std::vector<uint32_t> frames_;
  struct Uncast {
    uint32_t qt;        // query frame, from origin_
    uint32_t postings;  // of the hash, between the caps
  };
  std::vector<Uncast> uncast_;        // the window's hashes between the caps
  std::vector<Uncast> uncast_fresh_;  // those of the hashes being sealed
  uint64_t uncast_sum_ = 0;
};

}  // namespace aircheck::matcher
