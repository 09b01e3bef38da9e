// Silence detection on a source's PCM: RMS level in 100 ms frames against a threshold.
//
// Pure: no clocks, no I/O. Positions are the source's sample clock, in samples. One thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "config/settings.h"

namespace aircheck::daemon {

class SilenceDetector {
 public:
  struct Change {
    bool started = false;  ///< true: silence began at `start`; false: it ended at `end`
    uint64_t start = 0;    ///< where the silence began, in samples
    uint64_t end = 0;      ///< where it ended (silence_end only), in samples
  };

  SilenceDetector(const config::SilenceSettings& s, int sample_rate);

  /// Feeds a block that starts at `pos`; appends every state change within it to `out`.
  /// Allocation-free while `out` has capacity.
  void feed(uint64_t pos, std::span<const float> pcm, std::vector<Change>& out);

  bool silent() const { return reported_; }

 private:
  bool enabled_;
  double threshold_power_;  // linear mean-square threshold
  uint64_t min_samples_;
  uint64_t frame_;  // samples per frame
  uint64_t frame_start_ = 0;
  uint64_t in_frame_ = 0;
  double sum_ = 0;
  bool quiet_ = false;     // currently below threshold (maybe not reported yet)
  bool reported_ = false;  // silence_start was reported
  uint64_t quiet_since_ = 0;
};

}  // namespace aircheck::daemon
