#include "matcher/matcher.h"

#include <algorithm>
#include <cmath>

namespace aircheck::matcher {
namespace {

// A vote sorts by (track, offset); the query frame rides along for span reporting.
constexpr uint64_t vote_key(uint32_t track, int32_t offset) {
  return uint64_t{track} << 32 | (static_cast<uint32_t>(offset) ^ 0x80000000u);
}
constexpr uint32_t key_track(uint64_t k) { return static_cast<uint32_t>(k >> 32); }
constexpr int32_t key_offset(uint64_t k) {
  return static_cast<int32_t>(static_cast<uint32_t>(k) ^ 0x80000000u);
}
static_assert(key_offset(vote_key(3, -5)) == -5 && key_track(vote_key(3, -5)) == 3);
static_assert(vote_key(1, -1) < vote_key(1, 0) && vote_key(1, 7) < vote_key(2, -7));

}  // namespace

Matcher::Matcher(const dsp::Params& params, const MatchParams& mp) : params_(params), mp_(mp) {}

bool Matcher::accepted(const Candidate& c) const {
  return c.votes >= mp_.min_votes && c.confidence >= mp_.min_confidence;
}

std::span<const Candidate> Matcher::match(std::span<const dsp::TimedHash> hashes,
                                          store::PostingLookup& index) {
  stats_ = MatchStats{};
  stats_.query_hashes = hashes.size();
  candidates_.clear();
  votes_.clear();
  if (hashes.empty()) return {};

  // Batch: one lookup per distinct hash, in key order for locality in the B-tree.
  sorted_.assign(hashes.begin(), hashes.end());
  std::sort(sorted_.begin(), sorted_.end(), [](const dsp::TimedHash& a, const dsp::TimedHash& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.t < b.t;
  });
  uint32_t qmin = sorted_.front().t, qmax = sorted_.front().t;
  for (std::size_t i = 0; i < sorted_.size();) {
    std::size_t j = i;
    while (j < sorted_.size() && sorted_[j].hash == sorted_[i].hash) ++j;
    ++stats_.distinct_hashes;
    postings_.clear();
    const std::size_t n = index.lookup(sorted_[i].hash, postings_);
    if (n > mp_.max_postings_per_hash) {
      ++stats_.capped_hashes;
    } else {
      for (std::size_t q = i; q < j; ++q) {
        const uint32_t qt = sorted_[q].t;
        qmin = std::min(qmin, qt);
        qmax = std::max(qmax, qt);
        for (const store::Posting& p : postings_) {
          const int32_t off = static_cast<int32_t>(static_cast<int64_t>(p.t) - qt);
          votes_.push_back(Vote{vote_key(p.track, off), qt});
        }
      }
      stats_.postings += n * (j - i);
    }
    i = j;
  }
  if (votes_.empty()) return {};
  std::sort(votes_.begin(), votes_.end(), [](const Vote& a, const Vote& b) {
    return a.key != b.key ? a.key < b.key : a.qt < b.qt;
  });

  // Histogram cells (track, offset) with their counts, in key order.
  cells_.clear();
  for (std::size_t i = 0; i < votes_.size();) {
    std::size_t j = i;
    while (j < votes_.size() && votes_[j].key == votes_[i].key) ++j;
    cells_.push_back(Cell{votes_[i].key, static_cast<uint32_t>(j - i), static_cast<uint32_t>(i)});
    i = j;
  }
  // Score = votes within +-1 frame of the cell's offset.
  for (std::size_t c = 0; c < cells_.size(); ++c) {
    uint32_t s = cells_[c].count;
    if (c > 0 && cells_[c - 1].key + 1 == cells_[c].key) s += cells_[c - 1].count;
    if (c + 1 < cells_.size() && cells_[c + 1].key == cells_[c].key + 1) s += cells_[c + 1].count;
    cells_[c].score = s;
  }
  // Best cells first; a cell within +-2 frames of a better one on the same track is the same
  // alignment and is suppressed.
  order_.resize(cells_.size());
  for (std::size_t c = 0; c < cells_.size(); ++c) order_[c] = static_cast<uint32_t>(c);
  const std::size_t want = std::min<std::size_t>(cells_.size(), mp_.top_k * 4 + 8);
  std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(want),
                    order_.end(), [&](uint32_t a, uint32_t b) {
                      if (cells_[a].score != cells_[b].score)
                        return cells_[a].score > cells_[b].score;
                      if (cells_[a].count != cells_[b].count)
                        return cells_[a].count > cells_[b].count;
                      return cells_[a].key < cells_[b].key;
                    });

  const double log_votes = std::log(std::max(1.0, static_cast<double>(votes_.size())));

  for (std::size_t r = 0; r < want && candidates_.size() < mp_.top_k; ++r) {
    const Cell& cell = cells_[order_[r]];
    const uint32_t track = key_track(cell.key);
    const int32_t off = key_offset(cell.key);
    bool dup = false;
    for (const Candidate& k : candidates_)
      if (k.track == track && std::abs(k.offset - off) <= 2) dup = true;
    if (dup) continue;
    Candidate cand{};
    cand.track = track;
    cand.offset = off;
    cand.votes = cell.score;
    cand.query_first = UINT32_MAX;
    cand.query_last = 0;
    // Spans from the votes of the cell and its two neighbours.
    const uint64_t lo_key = cell.key - 1, hi_key = cell.key + 1;
    auto it = std::lower_bound(votes_.begin(), votes_.end(), lo_key,
                               [](const Vote& v, uint64_t k) { return v.key < k; });
    int64_t ref_first = INT64_MAX, ref_last = INT64_MIN;
    qts_.clear();
    for (; it != votes_.end() && it->key <= hi_key; ++it) {
      qts_.push_back(it->qt);
      cand.query_first = std::min(cand.query_first, it->qt);
      cand.query_last = std::max(cand.query_last, it->qt);
      const int64_t rt = static_cast<int64_t>(it->qt) + key_offset(it->key);
      ref_first = std::min(ref_first, rt);
      ref_last = std::max(ref_last, rt);
    }
    std::sort(qts_.begin(), qts_.end());
    cand.anchors = static_cast<uint32_t>(std::unique(qts_.begin(), qts_.end()) - qts_.begin());
    cand.ref_first = static_cast<uint32_t>(std::max<int64_t>(0, ref_first));
    cand.ref_last = static_cast<uint32_t>(std::max<int64_t>(0, ref_last));
    // Confidence: 1 - probability that the best chance cell reaches this many anchors.
    const double log_p = log_votes + mp_.chance_a - mp_.chance_b * cand.anchors;
    cand.confidence = log_p >= 0 ? 0.0f : static_cast<float>(-std::expm1(log_p));
    candidates_.push_back(cand);
  }
  return candidates_;
}

}  // namespace aircheck::matcher
