#include "matcher/stream_votes.h"

#include <algorithm>
#include <array>
#include <bit>
#include <stdexcept>
#include <utility>

namespace aircheck::matcher {

void sort_by_key(std::vector<Vote>& votes, std::vector<Vote>& tmp) {
  if (votes.size() < 512) {
    std::stable_sort(votes.begin(), votes.end(),
                     [](const Vote& a, const Vote& b) { return a.key < b.key; });
    return;
  }
  // Sort on (track - min track, offset - min offset) packed into as few bits as they need: the
  // same order as the key, in two or three passes of 11 bits.
  uint32_t t_min = UINT32_MAX, t_max = 0, o_min = UINT32_MAX, o_max = 0;
  for (const Vote& v : votes) {
    const auto t = static_cast<uint32_t>(v.key >> 32), o = static_cast<uint32_t>(v.key);
    t_min = std::min(t_min, t);
    t_max = std::max(t_max, t);
    o_min = std::min(o_min, o);
    o_max = std::max(o_max, o);
  }
  const int o_bits = std::bit_width(o_max - o_min);
  const int bits = o_bits + std::bit_width(t_max - t_min);
  const auto packed = [&](const Vote& v) {
    return (uint64_t{static_cast<uint32_t>(v.key >> 32) - t_min} << o_bits) |
           (static_cast<uint32_t>(v.key) - o_min);
  };
  constexpr int kDigit = 11;
  constexpr std::size_t kBuckets = std::size_t{1} << kDigit;
  std::array<uint32_t, kBuckets> count;
  tmp.resize(votes.size());
  for (int shift = 0; shift < bits; shift += kDigit) {
    count.fill(0);
    for (const Vote& v : votes) ++count[(packed(v) >> shift) & (kBuckets - 1)];
    uint32_t sum = 0;
    for (uint32_t& c : count) sum += std::exchange(c, sum);
    for (const Vote& v : votes) tmp[count[(packed(v) >> shift) & (kBuckets - 1)]++] = v;
    votes.swap(tmp);
  }
}

StreamVotes::StreamVotes(uint32_t max_postings_per_hash)
    : max_postings_(max_postings_per_hash), max_counted_(max_postings_per_hash) {}

void StreamVotes::add(uint32_t hash, int64_t frame) { pending_.push_back({hash, frame}); }

void StreamVotes::clear() {
  pending_.clear();
  window_.clear();
  frames_.clear();
  uncast_.clear();
  uncast_sum_ = 0;
  origin_ = end_ = 0;
  capped_ = 0;
}

void StreamVotes::seal(int64_t end, int64_t from, store::PostingLookup& index,
                       SealScratch& scratch) {
  std::vector<Vote>& fresh = scratch.fresh;
  std::vector<uint32_t>& fresh_frames = scratch.frames;
  std::vector<store::Posting>& postings = scratch.postings;
  if (window_.empty() && frames_.empty()) origin_ = from;  // nothing to move: start anew here
  if (from < origin_) throw std::invalid_argument("stream window moved back");
  // Query frames are 32-bit from the origin: a window (and a hop) must stay far below that.
  if (end - from >= int64_t{1} << 30) throw std::length_error("stream window too long");

  // The pending hashes anchored in [from, end), in hash order: one lookup per distinct hash.
  later_.clear();
  std::size_t n = 0;
  for (const Pending& p : pending_) {
    if (p.frame >= end) {
      later_.push_back(p);
    } else if (p.frame >= from) {
      pending_[n++] = p;
    }
  }
  pending_.resize(n);
  std::sort(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.frame < b.frame;
  });
  fresh.clear();
  fresh_frames.clear();
  uncast_fresh_.clear();
  capped_ = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && pending_[j].hash == pending_[i].hash) ++j;
    postings.clear();
    const std::size_t n_postings = index.lookup(pending_[i].hash, postings);
    if (n_postings > max_counted_) {
      ++capped_;
    } else if (n_postings > max_postings_) {
      ++capped_;
      for (std::size_t q = i; q < j; ++q) {
        const auto qt = static_cast<uint32_t>(pending_[q].frame - from);
        fresh_frames.push_back(qt);
        uncast_fresh_.push_back(Uncast{qt, static_cast<uint32_t>(n_postings)});
      }
    } else {
      const uint32_t dt = pending_[i].hash & 0xffu;  // the landmark hash's low byte (dsp::Params)
      for (std::size_t q = i; q < j; ++q) {
        const auto qt = static_cast<uint32_t>(pending_[q].frame - from);
        fresh_frames.push_back(qt);
        for (const store::Posting& p : postings) {
          const auto off = static_cast<int32_t>(static_cast<int64_t>(p.t) - qt);
          fresh.push_back(Vote{vote_key(p.track, off), qt, dt});
        }
      }
    }
    i = j;
  }
  pending_.swap(later_);
  sort_by_key(fresh, scratch.tmp);
  std::sort(fresh_frames.begin(), fresh_frames.end());

  // The window's votes move to the new origin (offsets grow by the shift, query frames shrink
  // by it; the order holds), those anchored before it go, and the fresh ones are merged in.
  const auto shift = static_cast<uint32_t>(from - origin_);
  // In place, so that a stream's buffer only ever grows to its own largest window: first
  // compact the survivors, then merge from the back.
  std::size_t kept = 0;
  for (const Vote& v : window_) {
    if (v.qt >= shift) window_[kept++] = Vote{v.key + shift, v.qt - shift, v.dt};
  }
  window_.resize(kept + fresh.size());
  // A burst of votes (a very common sound) does not pin its memory for good.
  if (window_.capacity() > 4 * window_.size() + 65536) window_.shrink_to_fit();
  std::size_t i = kept, j = fresh.size(), k = window_.size();
  while (j > 0) {
    // Equal keys: the window's (earlier) votes stay before the fresh ones.
    if (i > 0 && window_[i - 1].key > fresh[j - 1].key) {
      window_[--k] = window_[--i];
    } else {
      window_[--k] = fresh[--j];
    }
  }
  std::size_t keep_u = 0;
  for (const Uncast& u : uncast_) {
    if (u.qt >= shift) {
      uncast_[keep_u++] = Uncast{u.qt - shift, u.postings};
    } else {
      uncast_sum_ -= u.postings;
    }
  }
  uncast_.resize(keep_u);
  for (const Uncast& u : uncast_fresh_) {
    uncast_.push_back(u);
    uncast_sum_ += u.postings;
  }
  std::size_t keep = 0;
  for (const uint32_t q : frames_) {
    if (q >= shift) frames_[keep++] = q - shift;
  }
  frames_.resize(keep);
  frames_.insert(frames_.end(), fresh_frames.begin(), fresh_frames.end());
  // Fresh hashes normally all follow the window's (they arrived after its end).
  if (keep > 0 && !fresh_frames.empty() && frames_[keep - 1] > fresh_frames.front())
    std::sort(frames_.begin(), frames_.end());
  origin_ = from;
  end_ = end;
}

}  // namespace aircheck::matcher
