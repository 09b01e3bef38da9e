#include "matcher/identify.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "dsp/decode/resample.h"

namespace aircheck::matcher {
namespace {
using Clock = std::chrono::steady_clock;
constexpr double kPreferNormal = 10.0;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}
}  // namespace

Identifier::Identifier(const dsp::Params& params, const MatchParams& mp, const IdentifyOptions& opt)
    : params_(params), opt_(opt), fp_(params, dsp::Side::query), matcher_(params, mp) {
  if (opt_.speeds.empty()) opt_.speeds = {1.0};
}

const Identification& Identifier::identify(std::span<const float> pcm,
                                           store::PostingLookup& index) {
  result_ = Identification{};
  best_.clear();
  double best_score = -1e300;
  double best_hyp = 1.0;
  std::vector<float> stretched;
  for (const double speed : opt_.speeds) {
    ++result_.tried;
    auto t0 = Clock::now();
    // A query played `speed` times fast is `speed` times too short: stretching it by that
    // much (resampling to rate * speed, then reading it at rate) restores the reference's
    // time and frequency scale.
    std::span<const float> x = pcm;
    const int to_rate = static_cast<int>(std::lround(params_.sample_rate * speed));
    if (to_rate != params_.sample_rate) {
      stretched = dsp::decode::resample(pcm, params_.sample_rate, to_rate);
      x = stretched;
    }
    hashes_.clear();
    fp_.reset();
    fp_.feed(x, hashes_);
    fp_.flush(hashes_);
    result_.fingerprint_ms += ms_since(t0);
    t0 = Clock::now();
    const auto cands = matcher_.match(hashes_, index);
    result_.match_ms += ms_since(t0);
    result_.hashes += hashes_.size();
    result_.postings += matcher_.stats().postings;
    if (cands.empty()) continue;
    // Every hypothesis tried so far was a chance for noise to win.
    const auto penalised = [&](const Candidate& c) {
      const double chance = (1.0 - static_cast<double>(c.confidence)) * result_.tried;
      return static_cast<float>(std::max(0.0, 1.0 - chance));
    };
    const float conf = penalised(cands.front());
    Candidate top = cands.front();
    top.confidence = conf;
    const bool accepted = matcher_.accepted(top);
    // Undecided queries keep normal speed's answer unless another speed explains the query
    // clearly better (chance probability kPreferNormal times smaller): most audio is at normal
    // speed, and a wrong hypothesis can outscore a weak right answer by a little.
    const double chance = std::max(1e-30, 1.0 - static_cast<double>(cands.front().confidence));
    const double score = -std::log(chance) + (speed == 1.0 ? std::log(kPreferNormal) : 0.0);
    if (accepted || score > best_score) {
      best_score = score;
      best_hyp = speed;
      best_.clear();
      const double r = static_cast<double>(x.size()) / static_cast<double>(pcm.size());
      for (Candidate c : cands) {
        c.confidence = penalised(c);
        c.speed = static_cast<float>(speed * c.speed);
        c.query_first = static_cast<uint32_t>(std::lround(c.query_first / r));
        c.query_last = static_cast<uint32_t>(std::lround(c.query_last / r));
        best_.push_back(c);
      }
    }
    if (accepted) {
      result_.accepted = true;
      break;
    }
  }
  result_.candidates = best_;
  result_.hypothesis = best_hyp;
  return result_;
}

}  // namespace aircheck::matcher
