#include "matcher/matcher.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace aircheck::matcher {
namespace {

/// Queries shorter than this (in frames, ~1 s) drift too little to be worth skew scoring.
constexpr uint32_t kMinSkewSpan = 60;

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
  cur_ = {};
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
          votes_.push_back(Vote{vote_key(p.track, off), qt, sorted_[q].hash & 0xffu});
        }
      }
      stats_.postings += n * (j - i);
    }
    i = j;
  }
  cur_ = votes_;
  if (votes_.empty()) return {};
  // Sorted by (key, qt): a counting pass on the query frame, then a stable radix sort on the key.
  qcount_.assign(static_cast<std::size_t>(qmax - qmin) + 2, 0);
  for (const Vote& v : votes_) ++qcount_[v.qt - qmin + 1];
  for (std::size_t i = 1; i < qcount_.size(); ++i) qcount_[i] += qcount_[i - 1];
  vote_tmp_.resize(votes_.size());
  for (const Vote& v : votes_) vote_tmp_[qcount_[v.qt - qmin]++] = v;
  votes_.swap(vote_tmp_);
  sort_by_key(votes_, vote_tmp_);
  cur_ = votes_;
  chance_votes_ = static_cast<double>(votes_.size());
  return rank(qmin, qmax);
}

std::span<const Candidate> Matcher::match(const StreamVotes& votes) {
  stats_ = MatchStats{};
  candidates_.clear();
  const auto frames = votes.frames();
  stats_.query_hashes = frames.size();
  stats_.capped_hashes = votes.capped();
  stats_.postings = votes.votes().size();
  cur_ = votes.votes();
  chance_votes_ = votes.chance_votes();
  if (cur_.empty()) return {};
  return rank(frames.front(), frames.back());
}

void Matcher::agreeing(const Candidate& c, std::vector<std::pair<uint32_t, uint32_t>>& out) const {
  const uint64_t lo = vote_key(c.track, c.offset - 1), hi = vote_key(c.track, c.offset + 1);
  auto it = std::lower_bound(cur_.begin(), cur_.end(), lo,
                             [](const Vote& v, uint64_t k) { return v.key < k; });
  for (; it != cur_.end() && it->key <= hi; ++it) out.emplace_back(it->qt, it->qt + it->dt);
}

namespace {
/// Bins of Matcher::support: agreeing hashes lie within this many frames of a candidate's line.
constexpr int kSupportReach = 4;
}  // namespace

void Matcher::support(std::span<const dsp::TimedHash> hashes, store::PostingLookup& index,
                      std::span<const Candidate> cands, double shift, std::span<uint32_t> anchors) {
  stats_ = MatchStats{};
  stats_.query_hashes = hashes.size();
  sorted_.assign(hashes.begin(), hashes.end());
  std::sort(sorted_.begin(), sorted_.end(), [](const dsp::TimedHash& a, const dsp::TimedHash& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.t < b.t;
  });
  support_.clear();
  for (std::size_t i = 0; i < sorted_.size();) {
    std::size_t j = i;
    while (j < sorted_.size() && sorted_[j].hash == sorted_[i].hash) ++j;
    ++stats_.distinct_hashes;
    for (std::size_t c = 0; c < cands.size(); ++c) {
      bool seen = false;  // the track's postings were read for an earlier candidate
      for (std::size_t e = 0; e < c; ++e) seen |= cands[e].track == cands[c].track;
      if (seen) continue;
      postings_.clear();
      const std::size_t n = index.lookup_track(sorted_[i].hash, cands[c].track, postings_);
      stats_.postings += n * (j - i);
      for (const store::Posting& p : postings_) {
        for (std::size_t d = c; d < cands.size(); ++d) {
          if (cands[d].track != p.track) continue;
          for (std::size_t q = i; q < j; ++q) {
            const double u = sorted_[q].t + shift;
            add_support(d, sorted_[q].t, static_cast<double>(p.t) - u, cands[d], u);
          }
        }
      }
    }
    i = j;
  }
  tally_support(anchors);
}

void Matcher::support(std::span<const Candidate> cands, std::span<uint32_t> anchors) {
  support_.clear();
  const double max_shift = std::abs(static_cast<double>(qmax_)) * mp_.max_skew + kSupportReach + 1;
  for (std::size_t c = 0; c < cands.size(); ++c) {
    const auto reach = static_cast<int32_t>(std::ceil(max_shift));
    const auto lo = std::lower_bound(cur_.begin(), cur_.end(),
                                     vote_key(cands[c].track, cands[c].offset - reach),
                                     [](const Vote& v, uint64_t k) { return v.key < k; });
    const uint64_t hi = vote_key(cands[c].track, cands[c].offset + reach);
    for (auto it = lo; it != cur_.end() && it->key <= hi; ++it)
      add_support(c, it->qt, key_offset(it->key), cands[c], it->qt);
  }
  tally_support(anchors);
}

// A hash at query frame `qt` (u in the candidates' frames) whose posting lies `offset` frames
// after u: binned by its distance from the candidate's line.
void Matcher::add_support(std::size_t c, uint32_t qt, double offset, const Candidate& cand,
                          double u) {
  const double slope = static_cast<double>(cand.speed) - 1.0;
  const long bin = std::lround(offset - cand.offset - slope * u);
  if (bin >= -kSupportReach && bin <= kSupportReach)
    support_.push_back(static_cast<uint64_t>(c) << 40 | static_cast<uint64_t>(qt) << 8 |
                       static_cast<uint64_t>(bin + kSupportReach));
}

// A candidate's offset can be a frame or two from where a phase's hashes agree best (it may
// be a cell's, valid where its votes lay): its support is the best +-1-frame band's distinct
// query frames.
void Matcher::tally_support(std::span<uint32_t> anchors) {
  std::sort(support_.begin(), support_.end());
  std::array<uint32_t, 2 * kSupportReach + 1> band{};
  for (std::size_t i = 0; i < support_.size();) {
    const uint64_t cand = support_[i] >> 40;
    band.fill(0);
    while (i < support_.size() && support_[i] >> 40 == cand) {
      const uint64_t frame = support_[i] >> 8;
      uint32_t mask = 0;
      for (; i < support_.size() && support_[i] >> 8 == frame; ++i)
        mask |= 1u << (support_[i] & 0xffu);
      for (int center = 1; center < 2 * kSupportReach; ++center)
        band[static_cast<std::size_t>(center)] += (mask >> (center - 1) & 7u) != 0;
    }
    anchors[cand] += *std::max_element(band.begin(), band.end());
  }
}

std::span<const Candidate> Matcher::rerank(uint32_t top_k) {
  candidates_.clear();
  if (cur_.empty()) return {};
  // As the last match() ranked them, but for the places kept.
  const MatchParams keep = mp_;
  mp_.top_k = top_k;
  mp_.flat_slope = ranked_flat_slope_;
  rank(qmin_, qmax_);
  mp_ = keep;
  return candidates_;
}

std::span<const Candidate> Matcher::rank(uint32_t qmin, uint32_t qmax) {
  qmin_ = qmin;
  qmax_ = qmax;
  ranked_flat_slope_ = mp_.flat_slope;
  // Histogram cells (track, offset) with their counts, in key order, scored with the votes
  // within +-1 frame of their offset. Most cells hold one chance vote and can only matter when
  // fewer than `want` cells score more: they are counted, and kept only then (a second pass).
  const std::size_t best = mp_.top_k * 4 + 8;
  std::size_t singles = 0;
  for (const uint32_t min_score : {2u, 1u}) {
    cells_.clear();
    singles = 0;
    Cell prev{}, cur{};
    bool have_prev = false, have_cur = false;
    const auto emit = [&](const Cell& next, bool have_next) {
      uint32_t score = cur.count;
      if (have_prev && prev.key + 1 == cur.key) score += prev.count;
      if (have_next && next.key == cur.key + 1) score += next.count;
      if (score >= min_score) {
        cells_.push_back(cur);
        cells_.back().score = score;
      } else {
        ++singles;
      }
    };
    for (std::size_t i = 0; i < cur_.size();) {
      std::size_t j = i + 1;
      while (j < cur_.size() && cur_[j].key == cur_[i].key) ++j;
      const Cell next{cur_[i].key, static_cast<uint32_t>(j - i), static_cast<uint32_t>(i)};
      if (have_cur) emit(next, true);
      prev = cur;
      have_prev = have_cur;
      cur = next;
      have_cur = true;
      i = j;
    }
    if (have_cur) emit(Cell{}, false);
    if (cells_.size() >= std::min(best, cells_.size() + singles)) break;
  }
  // Only cells that can be among the `want` best are sorted: those scoring at least the
  // highest score that `want` cells reach (most cells hold one chance vote).
  const std::size_t want = std::min(cells_.size(), best);
  std::array<uint32_t, 64> per_score{};
  for (const Cell& c : cells_) ++per_score[std::min<uint32_t>(c.score, 63)];
  uint32_t floor = 0;
  for (std::size_t s = per_score.size(), at_least = 0; s-- > 1;) {
    at_least += per_score[s];
    if (at_least >= want) {
      floor = static_cast<uint32_t>(s);
      break;
    }
  }
  order_.clear();
  for (std::size_t c = 0; c < cells_.size(); ++c) {
    if (cells_[c].score >= floor) order_.push_back(static_cast<uint32_t>(c));
  }
  std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(want),
                    order_.end(), [&](uint32_t a, uint32_t b) {
                      if (cells_[a].score != cells_[b].score)
                        return cells_[a].score > cells_[b].score;
                      if (cells_[a].count != cells_[b].count)
                        return cells_[a].count > cells_[b].count;
                      return cells_[a].key < cells_[b].key;
                    });

  const double log_votes = std::log(std::max(1.0, chance_votes_));

  // With skew scoring, more candidates are scored than kept: a drifting alignment spreads its
  // votes over several cells, and scoring along lines can lift it above others.
  const bool skew = mp_.max_skew > 0 && qmax - qmin >= kMinSkewSpan;
  const std::size_t scored = skew ? 2 * mp_.top_k : mp_.top_k;
  for (std::size_t r = 0; r < want && candidates_.size() < scored; ++r) {
    const Cell& cell = cells_[order_[r]];
    const uint32_t track = key_track(cell.key);
    const int32_t off = key_offset(cell.key);
    bool dup = false;
    uint32_t same = 0;
    for (const Candidate& k : candidates_) {
      if (k.track == track && std::abs(k.offset - off) <= 2) dup = true;
      same += k.track == track;
    }
    if (dup || (mp_.max_per_track > 0 && same >= mp_.max_per_track)) continue;
    Candidate cand{};
    cand.speed = 1.0f;
    cand.track = track;
    cand.offset = off;
    cand.votes = cell.score;
    cand.query_first = UINT32_MAX;
    cand.query_last = 0;
    // Spans from the votes of the cell and its two neighbours.
    const uint64_t lo_key = cell.key - 1, hi_key = cell.key + 1;
    auto it = std::lower_bound(cur_.begin(), cur_.end(), lo_key,
                               [](const Vote& v, uint64_t k) { return v.key < k; });
    int64_t ref_first = INT64_MAX, ref_last = INT64_MIN;
    qts_.clear();
    // The offset is the mean of the three cells' votes: a fractional offset splits its votes
    // over two cells, and the cell scored highest can be a neighbour of the right one.
    int64_t off_sum = 0;
    uint32_t off_n = 0;
    for (; it != cur_.end() && it->key <= hi_key; ++it) {
      off_sum += key_offset(it->key);
      ++off_n;
      qts_.push_back(it->qt);
      cand.query_first = std::min(cand.query_first, it->qt);
      cand.query_last = std::max(cand.query_last, it->qt);
      const int64_t rt = static_cast<int64_t>(it->qt) + key_offset(it->key);
      ref_first = std::min(ref_first, rt);
      ref_last = std::max(ref_last, rt);
    }
    if (off_n > 0) {
      const double mean = static_cast<double>(off_sum) / static_cast<double>(off_n);
      cand.offset = static_cast<int32_t>(std::lround(mean));
      cand.offset_frac = static_cast<float>(mean - cand.offset);
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
  if (skew) {
    if (mp_.flat_slope > 0) straight_.assign(candidates_.begin(), candidates_.end());
    for (Candidate& c : candidates_) rescore_skewed(c, qmin, qmax, log_votes);
    std::stable_sort(candidates_.begin(), candidates_.end(),
                     [](const Candidate& a, const Candidate& b) {
                       if (a.anchors != b.anchors) return a.anchors > b.anchors;
                       return a.votes > b.votes;
                     });
    // Cells of one drifting alignment converge on one line: keep its best.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < candidates_.size(); ++i) {
      bool dup = false;
      for (std::size_t k = 0; k < kept; ++k) {
        dup |= candidates_[k].track == candidates_[i].track &&
               std::abs(candidates_[k].offset - candidates_[i].offset) <= 2;
      }
      if (!dup) candidates_[kept++] = candidates_[i];
    }
    candidates_.resize(std::min<std::size_t>(kept, mp_.top_k));
  }
  return candidates_;
}

// A query played at speed s against its reference has ref_t = s * q_t + c: the offset
// ref_t - q_t drifts by (s - 1) per query frame. For the slopes b = k / span (one frame of drift
// across the query per step, |b| <= max_skew) the votes of the candidate's track near its
// offset are counted in a band of +-1 frame along the line offset = o + b * (q_t - mid). Trying
// 2K + 1 slopes is 2K + 1 chances for noise, so the chance probability is multiplied by that
// before it is compared with the straight cell's.
//
// The band tolerates a little drift, so several neighbouring slopes usually reach the best
// count: the middle of that plateau is the grid's estimate, not its edge nearest 0 (which
// would bias every speed towards 1). The line is then fitted to the band's votes by least
// squares and the band moved onto the fitted line twice, so that votes the grid's band cut off
// at the ends of the query are taken back; the offset at query frame 0 is read off the final
// line.
void Matcher::rescore_skewed(Candidate& c, uint32_t qmin, uint32_t qmax, double log_votes) {
  const double span = static_cast<double>(qmax - qmin);
  const int k_max = static_cast<int>(std::ceil(mp_.max_skew * span));
  const int reach = k_max + 2;  // largest offset change across the query, in frames
  const double mid = 0.5 * (qmin + qmax);
  const auto lo = std::lower_bound(cur_.begin(), cur_.end(), vote_key(c.track, c.offset - reach),
                                   [](const Vote& v, uint64_t k) { return v.key < k; });
  const auto hi = std::upper_bound(lo, cur_.end(), vote_key(c.track, c.offset + reach),
                                   [](uint64_t k, const Vote& v) { return k < v.key; });
  if (hi - lo < 4) return;
  const int width = 4 * reach + 3;  // adjusted offsets relative to c.offset, shifted by 2*reach
  uint32_t best_score = 0;
  slopes_.clear();
  for (int k = -k_max; k <= k_max; ++k) {
    const double b = k / span;
    hist_.assign(static_cast<std::size_t>(width), 0);
    for (auto it = lo; it != hi; ++it) {
      const double adj = key_offset(it->key) - c.offset - b * (it->qt - mid);
      const long i = std::lround(adj) + 2 * reach;
      if (i >= 0 && i < width) ++hist_[static_cast<std::size_t>(i)];
    }
    SlopeScore best{k, 0, 0};
    for (int i = 1; i + 1 < width; ++i) {
      const uint32_t s = hist_[i - 1] + hist_[i] + hist_[i + 1];
      const int center = i - 2 * reach;
      if (s > best.score || (s == best.score && std::abs(center) < std::abs(best.center))) {
        best = SlopeScore{k, s, center};
      }
    }
    slopes_.push_back(best);
    best_score = std::max(best_score, best.score);
  }
  // The middle of the slopes that reach the best count.
  std::size_t plateau = 0;
  for (const SlopeScore& s : slopes_) plateau += s.score == best_score;
  std::size_t seen = 0;
  SlopeScore grid{};
  for (const SlopeScore& s : slopes_) {
    if (s.score == best_score && seen++ == plateau / 2) grid = s;
  }

  // The band's votes around the line offset = a + slope * (q_t - mid); returns how many.
  const auto select = [&](double a, double slope) {
    band_.clear();
    for (auto it = lo; it != hi; ++it) {
      const double y = key_offset(it->key);
      const double x = it->qt - mid;
      if (std::abs(y - (a + slope * x)) < 1.5) band_.push_back(&*it);
    }
    return band_.size();
  };
  double a = c.offset + grid.center, slope = grid.k / span;
  select(a, slope);
  for (int round = 0; round < 2 && band_.size() >= 3; ++round) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    uint32_t q_first = UINT32_MAX, q_last = 0;
    for (const Vote* v : band_) {
      const double x = v->qt - mid, y = key_offset(v->key);
      sx += x;
      sy += y;
      sxx += x * x;
      sxy += x * y;
      q_first = std::min(q_first, v->qt);
      q_last = std::max(q_last, v->qt);
    }
    const auto n = static_cast<double>(band_.size());
    const double var = sxx - sx * sx / n;
    // Bunched votes (a short stretch of the query) do not measure a slope: keep the grid's.
    if (var <= 0 || q_last - q_first < span / 3) break;
    const double fitted = (sxy - sx * sy / n) / var;
    if (std::abs(fitted) > mp_.max_skew + 1.0 / span) break;
    const double a_fit = sy / n - fitted * sx / n;
    band_keep_.swap(band_);
    if (select(a_fit, fitted) <
        band_keep_.size()) {  // fewer votes on the fitted line: keep the last
      band_.swap(band_keep_);
      break;
    }
    a = a_fit;
    slope = fitted;
  }

  qts_.clear();
  uint32_t q_first = UINT32_MAX, q_last = 0;
  int64_t r_first = INT64_MAX, r_last = INT64_MIN;
  at_zero_.clear();
  for (const Vote* v : band_) {
    qts_.push_back(v->qt);
    q_first = std::min(q_first, v->qt);
    q_last = std::max(q_last, v->qt);
    const int64_t rt = static_cast<int64_t>(v->qt) + key_offset(v->key);
    r_first = std::min(r_first, rt);
    r_last = std::max(r_last, rt);
    at_zero_.push_back(key_offset(v->key) - slope * v->qt);
  }
  if (qts_.empty()) return;
  std::sort(qts_.begin(), qts_.end());
  const auto anchors = static_cast<uint32_t>(std::unique(qts_.begin(), qts_.end()) - qts_.begin());
  // The straight cell stays when the line explains no more; its offset also stays when the
  // line drifts less than a frame across the query (a slope fitted to noisy votes would only
  // move the offset at frame 0 by extrapolation).
  // The line is fitted to hold the most votes, so under noise it holds a few more than the
  // straight cell by chance; it replaces the cell only when it holds clearly more.
  c.speed = static_cast<float>(1.0 + slope);
  if (anchors < c.anchors + std::max(2u, c.anchors / 16)) return;
  const double slopes_tried = std::log(2.0 * k_max + 1);
  if (std::abs(slope) < mp_.flat_slope) {
    // Against the straight cell the line runs through: its own, or another candidate's of the
    // track where the line lies at the query's middle (a line searched from a weak cell nearby
    // can settle on another cell's alignment).
    uint32_t straight = c.anchors;
    for (const Candidate& s : straight_) {
      if (s.track == c.track && std::abs(s.exact_offset() - a) <= 1.0)
        straight = std::max(straight, s.anchors);
    }
    if (anchors < straight || mp_.chance_b * (anchors - straight) <= slopes_tried) return;
  }
  const bool drifts = std::abs(slope) * span >= 1.0;
  const double log_p = log_votes + slopes_tried + mp_.chance_a - mp_.chance_b * anchors;
  const float confidence = log_p >= 0 ? 0.0f : static_cast<float>(-std::expm1(log_p));
  // Offset at query frame 0: the band's votes' offsets moved along the line to frame 0, their
  // mean within a frame of their median (the band's edges hold chance votes).
  if (drifts) {
    std::nth_element(at_zero_.begin(), at_zero_.begin() + at_zero_.size() / 2, at_zero_.end());
    const double median = at_zero_[at_zero_.size() / 2];
    double sum = 0;
    int n = 0;
    for (const double v : at_zero_) {
      if (std::abs(v - median) > 1.0) continue;
      sum += v;
      ++n;
    }
    const double exact = sum / n;  // the median itself is among them
    // Without the drift, the band's votes place the passage at their mean offset.
    double flat = 0;
    for (const Vote* v : band_) flat += key_offset(v->key);
    flat /= static_cast<double>(band_.size());
    c.flat_shift = static_cast<float>(flat - exact);
    c.offset = static_cast<int32_t>(std::lround(exact));
    c.offset_frac = static_cast<float>(exact - c.offset);
  }
  c.votes = static_cast<uint32_t>(band_.size());
  c.anchors = anchors;
  c.confidence = std::max(c.confidence, confidence);
  c.query_first = q_first;
  c.query_last = q_last;
  c.ref_first = static_cast<uint32_t>(std::max<int64_t>(0, r_first));
  c.ref_last = static_cast<uint32_t>(std::max<int64_t>(0, r_last));
}

}  // namespace aircheck::matcher
