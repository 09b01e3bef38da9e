#include "matcher/identify.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>

#include "dsp/decode/resample.h"

namespace aircheck::matcher {
namespace {
using Clock = std::chrono::steady_clock;
constexpr double kPreferNormal = 10.0;
/// Candidates a screen ranks: its best and the other tracks that set its chance level.
constexpr uint32_t kScreenCandidates = 5;
/// A screen estimate this close (relative) to the first pass's speed adds nothing to that
/// pass: its hashes are the same but for a few.
constexpr double kFirstReach = 0.0075;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Whether a measured residual speed lies in the range the matcher scores (a slope fitted to a
// few bunched hashes can lie far outside it).
bool plausible(double residual, const MatchParams& mp) {
  return std::abs(residual - 1.0) <= mp.max_skew + 0.005;
}

int rate_for(const dsp::Params& p, double speed) {
  return static_cast<int>(std::lround(p.sample_rate * speed));
}

}  // namespace

Identifier::Identifier(const dsp::Params& params, const MatchParams& mp, const IdentifyOptions& opt)
    : params_(params), opt_(opt), fp_(params, dsp::Side::query), matcher_(params, mp) {
  if (opt_.speeds.empty()) opt_.speeds = {1.0};
  fp_.collect_subband(&words_);
  fp_.collect_fine(&fine_);
}

// A query played `speed` times fast is `speed` times too short: stretching it by that much
// (resampling to rate * speed, then reading it at rate) restores the reference's time and
// frequency scale.
std::span<const float> Identifier::at_speed(std::span<const float> pcm, double speed) {
  const int to_rate = rate_for(params_, speed);
  if (to_rate == params_.sample_rate) return pcm;
  stretched_ = dsp::decode::resample(pcm, params_.sample_rate, to_rate);
  return stretched_;
}

void Identifier::hash(std::span<const float> x, std::vector<dsp::TimedHash>& out) {
  const auto t0 = Clock::now();
  out.clear();
  words_.clear();
  fine_.clear();
  fp_.reset();
  fp_.feed(x, out);
  fp_.flush(out);
  result_.fingerprint_ms += ms_since(t0);
}

std::span<const Candidate> Identifier::pass(std::span<const float> pcm, double speed,
                                            std::vector<dsp::TimedHash>& out,
                                            store::PostingLookup& index, double& ratio) {
  ++result_.tried;
  const std::span<const float> x = at_speed(pcm, speed);
  ratio = pcm.empty() ? 1.0 : static_cast<double>(x.size()) / static_cast<double>(pcm.size());
  hash(x, out);
  const auto t0 = Clock::now();
  ++match_gen_;
  // At normal speed, where most audio plays, with the slope rule (IdentifyOptions::flat_slope).
  const MatchParams mp = matcher_.match_params();
  MatchParams here = mp;
  if (speed == 1.0) here.flat_slope = opt_.flat_slope;
  matcher_.set_match_params(here);
  const auto cands = matcher_.match(out, index);
  matcher_.set_match_params(mp);
  result_.match_ms += ms_since(t0);
  result_.hashes += out.size();
  result_.postings += matcher_.stats().postings;
  return cands;
}

void Identifier::verify_repeats(std::span<const float> pcm, double speed, bool accepted,
                                store::PostingLookup& index) {
  if (opt_.verify_phases < 2) return;
  const Candidate top = best_.front();
  // Only an answer whose track stands out has repeats worth telling apart.
  if (top.votes < matcher_.match_params().min_votes || top.confidence < opt_.verify_min_confidence)
    return;
  ties_.clear();
  tie_at_.clear();
  for (std::size_t i = 0; i < best_.size(); ++i) {
    const Candidate& c = best_[i];
    if (c.track != top.track) continue;
    if (i > 0 && (std::abs(c.offset - top.offset) <= 2 ||
                  c.anchors < opt_.verify_share * static_cast<double>(top.anchors)))
      continue;
    // Repeats of one passage share the query's speed: the top candidate's residual speed
    // (in the pass's frames) is the line all are weighed along.
    Candidate r = c;
    r.speed = static_cast<float>(top.speed / speed);
    ties_.push_back(r);
    tie_at_.push_back(i);
  }
  if (ties_.size() < 2) return;
  result_.verified = static_cast<int>(ties_.size());
  auto t0 = Clock::now();
  tie_support_.assign(ties_.size(), 0);
  // Phase 0 is the pass's own: counted from its votes when the matcher still holds them.
  const bool have_votes = best_gen_ == match_gen_;
  if (have_votes) matcher_.support(ties_, tie_support_);
  // The other phases read the query as the pass did and, when the decided top candidate's
  // speed is measurably off the pass's (a drift of two frames or more across the query), also
  // stretched to that speed. A speed change (pitch with it) then hashes as at normal speed; a
  // tempo change (pitch kept) hashes worse stretched, so the reading whose top candidate
  // explains more is kept. In stretched frames (u' = stretch * u) every line keeps its offset
  // at frame 0 and loses its slope.
  phase_words_used_ = 0;
  bool first_reading = true;
  const auto phases = [&](std::span<const float> x, std::vector<uint32_t>& support) {
    for (int j = have_votes ? 1 : 0; j < opt_.verify_phases; ++j) {
      const auto skip = static_cast<std::size_t>(j * params_.hop / opt_.verify_phases);
      if (skip >= x.size()) break;
      hash(x.subspan(skip), scratch_);
      // Phase 0's words are the deciding pass's own (best_words_).
      if (first_reading && j > 0) keep_phase_words(static_cast<double>(j) / opt_.verify_phases);
      matcher_.support(scratch_, index, ties_, static_cast<double>(skip) / params_.hop, support);
      result_.postings += matcher_.stats().postings;
    }
    if (first_reading) read_word_phases(x);
  };
  const double residual = static_cast<double>(ties_.front().speed);
  const double frames = static_cast<double>(pcm.size()) / params_.hop;
  // Only a decided answer's speed is worth a second reading: an undecided one's slope is
  // mostly chance, and reading it again would cost non-indexed audio most.
  const bool off_speed = accepted && std::abs(residual - 1.0) > opt_.refine_residual &&
                         std::abs(residual - 1.0) * frames >= 2.0;
  stretched_support_ = tie_support_;
  phases(at_speed(pcm, speed), tie_support_);
  first_reading = false;
  if (off_speed) {
    const double at = speed * residual;
    const double stretch =
        static_cast<double>(rate_for(params_, at)) / static_cast<double>(rate_for(params_, speed));
    for (Candidate& c : ties_) c.speed = static_cast<float>(residual / stretch);
    phases(at_speed(pcm, at), stretched_support_);
    if (stretched_support_.front() > tie_support_.front()) tie_support_.swap(stretched_support_);
  }
  std::size_t win = 0;
  for (std::size_t i = 1; i < ties_.size(); ++i) {
    if (tie_support_[i] > tie_support_[win]) win = i;
  }
  win = compare_words(win, residual, index);
  result_.match_ms += ms_since(t0);
  if (win == 0) return;
  // The repeat that explains the query best leads; it is the same track, so the decision
  // stands: it keeps the higher of the two confidences.
  Candidate lead = best_[tie_at_[win]];
  lead.confidence = std::max(lead.confidence, top.confidence);
  best_.erase(best_.begin() + static_cast<std::ptrdiff_t>(tie_at_[win]));
  best_.insert(best_.begin(), lead);
}

void Identifier::keep_phase_words(double phase) {
  if (phase_words_.size() <= phase_words_used_) phase_words_.emplace_back();
  auto& reading = phase_words_[phase_words_used_++];
  reading.phase = phase;
  reading.words = words_;
  reading.fine = fine_;
}

void Identifier::read_word_phases(std::span<const float> x) {
  if (opt_.verify_word_sigmas <= 0) return;
  const auto t0 = Clock::now();
  fp_.set_words_only(true);
  const std::size_t held = phase_words_used_;  // read with the anchors
  for (int j = 1; j < opt_.word_phases; ++j) {
    const double phase = static_cast<double>(j) / opt_.word_phases;
    if (std::any_of(phase_words_.begin(), phase_words_.begin() + static_cast<std::ptrdiff_t>(held),
                    [&](const PhaseWords& r) { return std::abs(r.phase - phase) < 1e-9; }))
      continue;
    const auto skip = static_cast<std::size_t>(std::lround(phase * params_.hop));
    if (skip >= x.size()) break;
    words_.clear();
    fine_.clear();
    fp_.reset();
    fp_.feed(x.subspan(skip), scratch_);
    fp_.flush(scratch_);
    keep_phase_words(phase);
  }
  fp_.set_words_only(false);
  result_.fingerprint_ms += ms_since(t0);
}

std::size_t Identifier::compare_words(std::size_t leader, double residual,
                                      store::PostingLookup& index) {
  if (opt_.verify_word_sigmas <= 0 || best_words_.size() < 2) return leader;
  // The line the repeats are read along: the residual slope, or the straight line where that
  // slope drifts the query by less than IdentifyOptions::word_straight_frames.
  const double slope =
      std::abs(residual - 1.0) * static_cast<double>(best_words_.size()) < opt_.word_straight_frames
          ? 1.0
          : residual;
  // Words of the query (frame u of the deciding pass, and u + 1/2 for the half-hop reading)
  // against the reference's along each repeat's line: reference frame offset + u * speed.
  // The query frame may fall between two reference frames: the nearest three are tried.
  // Each repeat reads only the reference's words its line crosses (repeats of a long track
  // can lie far apart).
  const auto span = static_cast<int64_t>(
      std::ceil(static_cast<double>(best_words_.size()) * std::max(1.0, slope)) + 5);
  const std::size_t readings = 1 + phase_words_used_;
  const auto reading_words = [&](std::size_t j) -> const std::vector<uint32_t>& {
    return j == 0 ? best_words_ : phase_words_[j - 1].words;
  };
  const auto reading_fine = [&](std::size_t j) -> const std::vector<uint64_t>& {
    return j == 0 ? best_fine_ : phase_words_[j - 1].fine;
  };
  const auto reading_phase = [&](std::size_t j) {
    return j == 0 ? 0.0 : phase_words_[j - 1].phase;
  };
  // Reference frame of query word u along tie i's line at reading j, shifted by k frames.
  const auto ref_frame = [&](std::size_t i, std::size_t j, int k, std::size_t u) {
    return static_cast<int64_t>(std::lround(static_cast<double>(ties_[i].offset) +
                                            reading_phase(j) * slope + k +
                                            static_cast<double>(u) * slope));
  };
  tie_words_.resize(std::max(tie_words_.size(), ties_.size()));
  // Bit error rate of tie i's line at reading j and shift k; `bits`: bits compared.
  const auto error_rate = [&](std::size_t i, std::size_t j, int k, uint64_t& bits) {
    const TieWords& t = tie_words_[i];
    const auto& q = reading_words(j);
    uint64_t errors = 0, n = 0;
    for (std::size_t u = 1; u < q.size(); ++u) {  // word 0 has no run before it
      const int64_t r = ref_frame(i, j, k, u);
      // A frame the line places before the track's start or after its end is explained by
      // nothing: half its bits disagree by chance. A repeat whose line runs off the track
      // explains less of the query than one along which all of it lies.
      if (r < 0 || (r - t.lo >= static_cast<int64_t>(t.words.size()) && t.ended)) {
        errors += 16;
        n += 32;
        continue;
      }
      if (r < std::max<int64_t>(t.lo, 1) || r - t.lo >= static_cast<int64_t>(t.words.size()))
        continue;
      errors +=
          static_cast<uint64_t>(std::popcount(q[u] ^ t.words[static_cast<std::size_t>(r - t.lo)]));
      n += 32;
    }
    bits = n;
    return n > 0 ? static_cast<double>(errors) / static_cast<double>(n) : 1.0;
  };
  constexpr uint64_t kMinBits = 32 * 32;  // half a second of words
  // Each repeat's error rate at every reading (at its best shift); the best reading and the
  // mean over all.
  word_rates_.assign(ties_.size(), WordRates{});
  for (std::size_t i = 0; i < ties_.size(); ++i) {
    TieWords& t = tie_words_[i];
    t.shift.assign(readings, 0);
    t.best_reading = 0;
    t.lo = std::max<int64_t>(0, ties_[i].offset - 2);
    const int64_t hi = ties_[i].offset + span;
    t.words.clear();
    if (hi <= t.lo) continue;
    t.words.resize(static_cast<std::size_t>(hi - t.lo));
    const std::size_t have =
        index.subband(ties_[i].track, static_cast<uint64_t>(t.lo), t.words.size(), t.words.data());
    t.ended = have < t.words.size();
    t.words.resize(have);
    t.fine.resize(static_cast<std::size_t>(hi - t.lo));
    t.fine.resize(
        index.fine(ties_[i].track, static_cast<uint64_t>(t.lo), t.fine.size(), t.fine.data()));
    if (have == 0) continue;
    WordRates& r = word_rates_[i];
    double sum = 0;
    int counted = 0;
    for (std::size_t j = 0; j < readings; ++j) {
      double best = 1.0;
      uint64_t best_bits = 0;
      for (int k = -1; k <= 1; ++k) {
        uint64_t bits = 0;
        const double e = error_rate(i, j, k, bits);
        if (bits > 0 && e < best) {
          best = e;
          best_bits = bits;
          t.shift[j] = k;
        }
      }
      if (best_bits == 0) continue;
      sum += best;
      ++counted;
      r.mean_bits += best_bits;
      if (best < r.best_rate) {
        r.best_rate = best;
        r.best_bits = best_bits;
        t.best_reading = j;
      }
    }
    if (counted > 0) r.mean_rate = sum / counted;
  }
  // Clean words: the reading nearest the reference's frame grid is the one to trust. Noisy
  // words (the leader's best reading still disagrees in word_mean_above of its bits): which
  // reading agrees best is mostly chance, and the mean over the readings has less of it.
  const bool noisy =
      word_rates_[leader].best_bits > 0 && word_rates_[leader].best_rate >= opt_.word_mean_above;
  double best_rate = 2.0, leader_rate = 2.0;
  uint64_t best_bits = 0, leader_bits = 0;
  std::size_t best = leader;
  for (std::size_t i = 0; i < ties_.size(); ++i) {
    const WordRates& r = word_rates_[i];
    const double rate = noisy ? r.mean_rate : r.best_rate;
    const uint64_t bits = noisy ? r.mean_bits : r.best_bits;
    if (bits < kMinBits) continue;
    if (i == leader) {
      leader_rate = rate;
      leader_bits = bits;
    }
    if (rate < best_rate) {
      best_rate = rate;
      best_bits = bits;
      best = i;
    }
  }
  if (leader_bits == 0) return leader;
  if (best != leader) {
    const double se = 0.5 / std::sqrt(static_cast<double>(std::min(best_bits, leader_bits)));
    if (best_rate < leader_rate - opt_.verify_word_sigmas * se) return best;
  }
  if (opt_.word_pair_z <= 0) return leader;
  // The paired test: where the leader's and a repeat's references hold the same bit, the query
  // agrees with both or neither; only the bits where one agrees and the other does not tell
  // them apart, and without a difference between them each such bit favours either by
  // chance. A near copy (a loop's repeats, alike but for a few bits a frame) differs from the
  // true passage in few bits, and the test weighs only those, where the rates above drown
  // them in all the bits both explain alike. The fine words (one frame each, where the
  // sub-band words sum 13) add the most such bits. Clean words: each at its best reading;
  // noisy words: summed over the readings, both at the same one.
  double best_z = opt_.word_pair_z;
  // The fine words count where the query's pitch is the reference's (IdentifyOptions::
  // fine_max_pitch).
  const bool fine = std::abs(residual - 1.0) <= opt_.fine_max_pitch;
  std::size_t pick = leader;
  const auto discord = [&](std::size_t a, std::size_t ja, std::size_t b, std::size_t jb,
                           uint64_t& for_a, uint64_t& for_b) {
    const TieWords& ta = tie_words_[a];
    const TieWords& tb = tie_words_[b];
    const auto& qa = reading_words(ja);
    const auto& qb = reading_words(jb);
    const auto& fa = reading_fine(ja);
    const auto& fb = reading_fine(jb);
    // Whether index r (from lo) falls within a tie's `size` words; a track's word 0 has
    // nothing before it.
    const auto valid = [](int64_t r, int64_t lo, std::size_t size) {
      return r >= 0 && r + lo >= 1 && r < static_cast<int64_t>(size);
    };
    const std::size_t n = std::max(std::min(qa.size(), qb.size()), std::min(fa.size(), fb.size()));
    for (std::size_t u = 1; u < n; ++u) {
      const int64_t ra = ref_frame(a, ja, ta.shift[ja], u) - ta.lo;
      const int64_t rb = ref_frame(b, jb, tb.shift[jb], u) - tb.lo;
      if (u < qa.size() && u < qb.size() && valid(ra, ta.lo, ta.words.size()) &&
          valid(rb, tb.lo, tb.words.size())) {
        const uint32_t agree_a = ~(qa[u] ^ ta.words[static_cast<std::size_t>(ra)]);
        const uint32_t agree_b = ~(qb[u] ^ tb.words[static_cast<std::size_t>(rb)]);
        for_a += static_cast<uint64_t>(std::popcount(agree_a & ~agree_b));
        for_b += static_cast<uint64_t>(std::popcount(agree_b & ~agree_a));
      }
      if (fine && u < fa.size() && u < fb.size() && valid(ra, ta.lo, ta.fine.size()) &&
          valid(rb, tb.lo, tb.fine.size())) {
        constexpr uint64_t kMask = (uint64_t{1} << dsp::Params::kFineBands) - 1;
        const uint64_t agree_a = ~(fa[u] ^ ta.fine[static_cast<std::size_t>(ra)]) & kMask;
        const uint64_t agree_b = ~(fb[u] ^ tb.fine[static_cast<std::size_t>(rb)]) & kMask;
        for_a += static_cast<uint64_t>(std::popcount(agree_a & ~agree_b));
        for_b += static_cast<uint64_t>(std::popcount(agree_b & ~agree_a));
      }
    }
  };
  for (std::size_t i = 0; i < ties_.size(); ++i) {
    if (i == leader || word_rates_[i].best_bits < kMinBits) continue;
    uint64_t for_leader = 0, for_i = 0;
    if (noisy) {
      for (std::size_t j = 0; j < readings; ++j) discord(leader, j, i, j, for_leader, for_i);
    } else {
      discord(leader, tie_words_[leader].best_reading, i, tie_words_[i].best_reading, for_leader,
              for_i);
    }
    if (for_i + for_leader == 0) continue;
    const double z = (static_cast<double>(for_i) - static_cast<double>(for_leader)) /
                     std::sqrt(static_cast<double>(for_i + for_leader));
    if (z > best_z) {
      best_z = z;
      pick = i;
    }
  }
  return pick;
}

const Identification& Identifier::identify(std::span<const float> pcm,
                                           store::PostingLookup& index) {
  result_ = Identification{};
  best_.clear();
  double best_score = -1e300;
  double best_speed = opt_.speeds.front();
  int looks = 0;  // speeds screened or matched in full: the chances noise had

  // Weighs one full pass at `speed`; keeps its candidates when they decide or explain the
  // query best so far. Returns whether they decide.
  const auto consider = [&](std::span<const Candidate> cands, double speed, double ratio) {
    if (cands.empty()) return false;
    const auto penalised = [&](const Candidate& c) {
      const double chance = (1.0 - static_cast<double>(c.confidence)) * looks;
      return static_cast<float>(std::max(0.0, 1.0 - chance));
    };
    Candidate top = cands.front();
    top.confidence = penalised(top);
    const bool accepted = matcher_.accepted(top);
    // Undecided queries keep normal speed's answer unless another speed explains the query
    // clearly better (chance probability kPreferNormal times smaller): most audio is at normal
    // speed, and a wrong hypothesis can outscore a weak right answer by a little.
    const double chance = std::max(1e-30, 1.0 - static_cast<double>(cands.front().confidence));
    const double score = -std::log(chance) + (speed == 1.0 ? std::log(kPreferNormal) : 0.0);
    if (accepted || score > best_score) {
      // Every place taken by lines of one track: a loop matched along its repeats, and the
      // right repeat may be next in line. Lines of the track nearly as strong as the leader
      // beyond those places are weighed with them (IdentifyOptions::repeat_candidates).
      const std::size_t k = matcher_.match_params().top_k;
      if (opt_.repeat_candidates > k && cands.size() >= k &&
          std::all_of(cands.begin(), cands.end(),
                      [&](const Candidate& c) { return c.track == cands.front().track; })) {
        const double floor = opt_.repeat_share * static_cast<double>(cands.front().anchors);
        const uint32_t track = cands.front().track;
        wide_.assign(cands.begin(), cands.end());
        for (const Candidate& w : matcher_.rerank(opt_.repeat_candidates)) {
          if (w.track != track || w.anchors < floor) continue;
          // The ranking again from more cells can place a line a frame or two from one of
          // the first places: that one stays as it was.
          const bool dup =
              std::any_of(wide_.begin(), wide_.begin() + static_cast<std::ptrdiff_t>(k),
                          [&](const Candidate& c) { return std::abs(c.offset - w.offset) <= 2; });
          if (!dup) wide_.push_back(w);
        }
        cands = wide_;
      }
      best_score = score;
      best_speed = speed;
      best_gen_ = match_gen_;
      best_words_ = words_;
      best_fine_ = fine_;  // the pass just fingerprinted
      best_.clear();
      for (Candidate c : cands) {
        c.confidence = penalised(c);
        c.speed = static_cast<float>(speed * c.speed);
        c.query_first = static_cast<uint32_t>(std::lround(c.query_first / ratio));
        c.query_last = static_cast<uint32_t>(std::lround(c.query_last / ratio));
        best_.push_back(c);
      }
    }
    return accepted;
  };

  const double first = opt_.speeds.front();
  double ratio = 1.0;
  ++looks;
  bool accepted = consider(pass(pcm, first, hashes_, index, ratio), first, ratio);

  // An undecided first pass whose best candidate is already likely and at this speed has no
  // speed change for the screens to find (IdentifyOptions::screen_skip_confidence).
  const bool likely_here =
      !best_.empty() && best_.front().votes >= matcher_.match_params().min_votes &&
      best_.front().confidence >= opt_.screen_skip_confidence &&
      std::abs(static_cast<double>(best_.front().speed) / first - 1.0) <= opt_.screen_skip_residual;
  if (!accepted && !likely_here && opt_.speeds.size() > 1 && !hashes_.empty()) {
    // Screens: the first pass's hashes rescaled to each other speed, matched without the
    // common hashes. The screen candidate with the most anchors among those that stand out
    // from their screen's other tracks names the speed to match the query at in full.
    const MatchParams mp = matcher_.match_params();
    MatchParams screen_mp = mp;
    screen_mp.max_postings_per_hash = std::min(mp.max_postings_per_hash, opt_.screen_max_postings);
    screen_mp.top_k = kScreenCandidates;
    matcher_.set_match_params(screen_mp);
    const auto t0 = Clock::now();
    uint32_t seed_anchors = 0;
    double seed_screen = first, seed_speed = first;
    const bool short_query =
        static_cast<double>(pcm.size()) < opt_.short_query_s * params_.sample_rate;
    const std::size_t screens =
        short_query ? std::min(opt_.speeds.size(), opt_.short_query_speeds) : opt_.speeds.size();
    for (std::size_t i = 1; i < screens; ++i) {
      const double speed = opt_.speeds[i];
      ++result_.screened;
      ++looks;
      dsp::rescale_hashes(hashes_, speed / first, params_, scratch_);
      ++match_gen_;
      const auto cands = matcher_.match(scratch_, index);
      result_.postings += matcher_.stats().postings;
      if (cands.empty()) continue;
      const Candidate& c = cands.front();
      uint32_t other = 0;  // the best other track's anchors: this screen's chance level
      for (const Candidate& o : cands) {
        if (o.track != c.track) other = std::max(other, o.anchors);
      }
      if (c.anchors >= opt_.screen_min_anchors && c.anchors >= other + opt_.screen_min_lead &&
          c.anchors > seed_anchors && plausible(c.speed, mp)) {
        seed_anchors = c.anchors;
        seed_screen = speed;
        seed_speed = speed * c.speed;
      }
    }
    result_.match_ms += ms_since(t0);
    matcher_.set_match_params(mp);
    // In full at the screen's estimate; if that does not decide, at the screened speed itself:
    // a short query's slope, and so the estimate, can be off by a percent. Not when the
    // estimate lies within the first pass's own reach: that pass has seen it already.
    const bool near_first = std::abs(seed_speed / first - 1.0) < kFirstReach;
    const int first_rate = rate_for(params_, first);
    int last_rate = first_rate;
    for (const double speed : {seed_speed, seed_screen}) {
      const int rate = rate_for(params_, speed);
      if (seed_anchors == 0 || near_first || accepted || rate == first_rate || rate == last_rate)
        continue;
      last_rate = rate;
      ++looks;
      accepted = consider(pass(pcm, speed, scratch_, index, ratio), speed, ratio);
    }
  }

  if (!best_.empty()) verify_repeats(pcm, best_speed, accepted, index);

  // Refinement: a residual speed of about 1 % is measured short by up to two steps of the
  // matcher's slope grid (a step: one frame of drift across the query), towards the pass's
  // speed. Matched again one step beyond the estimate, the residual is within a step or two
  // either way, where the matcher measures it without that bias. Only the speed is taken from
  // it: the decision and the offset stay those of the deciding pass, but for an offset
  // extrapolated along a slope in which the refinement finds no drift (below).
  if (accepted && opt_.refine_residual > 0 && !best_.empty()) {
    Candidate& top = best_.front();
    const double residual = top.speed / best_speed;
    const double frames = static_cast<double>(pcm.size()) / params_.hop;
    const double step = frames > 0 ? 1.0 / frames : 0.0;
    const double at = top.speed * (1.0 + (residual > 1.0 ? step : -step));
    if (std::abs(residual - 1.0) > opt_.refine_residual &&
        plausible(residual, matcher_.match_params()) &&
        rate_for(params_, at) != rate_for(params_, best_speed)) {
      const auto cands = pass(pcm, at, scratch_, index, ratio);
      if (!cands.empty() && cands.front().track == top.track &&
          std::abs(cands.front().offset - top.offset) <= 2) {
        top.speed = static_cast<float>(at * cands.front().speed);
        // No drift left against the deciding pass (less than a frame across the query): the
        // slope its line was read at came from noise, and so did the offset it extrapolated
        // to frame 0. The line's votes without the drift place the passage (a line that moved
        // far from where its votes lie flat is a different alignment, and stays).
        if (std::abs(top.speed / best_speed - 1.0) * frames < 1.0 &&
            std::abs(top.flat_shift) <= 2.0f) {
          const double flat = top.exact_offset() + top.flat_shift;
          top.offset = static_cast<int32_t>(std::lround(flat));
          top.offset_frac = static_cast<float>(flat - top.offset);
          top.flat_shift = 0;
        }
      }
    }
  }

  result_.accepted = accepted;
  result_.candidates = best_;
  result_.hypothesis = best_speed;
  return result_;
}

}  // namespace aircheck::matcher
