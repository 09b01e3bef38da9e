#include "daemon/silence_detector.h"

#include <cmath>

namespace aircheck::daemon {

SilenceDetector::SilenceDetector(const config::SilenceSettings& s, int sample_rate)
    : enabled_(s.enabled),
      threshold_power_(std::pow(10.0, s.threshold_dbfs / 10.0)),
      min_samples_(static_cast<uint64_t>(s.min_duration_s * sample_rate)),
      frame_(static_cast<uint64_t>(sample_rate / 10)) {}

void SilenceDetector::feed(uint64_t pos, std::span<const float> pcm, std::vector<Change>& out) {
  if (!enabled_) return;
  // A jump in the sample clock restarts the current frame.
  if (in_frame_ > 0 && frame_start_ + in_frame_ != pos) {
    in_frame_ = 0;
    sum_ = 0;
  }
  for (std::size_t i = 0; i < pcm.size(); ++i) {
    if (in_frame_ == 0) frame_start_ = pos + i;
    const double x = pcm[i];
    sum_ += x * x;
    if (++in_frame_ < frame_) continue;
    const bool quiet = sum_ / static_cast<double>(frame_) < threshold_power_;
    const uint64_t start = frame_start_;
    const uint64_t end = frame_start_ + frame_;
    in_frame_ = 0;
    sum_ = 0;
    if (quiet && !quiet_) {
      quiet_ = true;
      quiet_since_ = start;
    } else if (!quiet && quiet_) {
      quiet_ = false;
      if (reported_) out.push_back(Change{false, quiet_since_, start});
      reported_ = false;
    }
    if (quiet_ && !reported_ && end - quiet_since_ >= min_samples_) {
      reported_ = true;
      out.push_back(Change{true, quiet_since_, 0});
    }
  }
}

}  // namespace aircheck::daemon
