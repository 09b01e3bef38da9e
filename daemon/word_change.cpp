#include "daemon/word_change.h"

#include <algorithm>
#include <cmath>

namespace aircheck::daemon {

double start_within_evidence(double hash_start_s, double words_start_s, double start_bias_s,
                             const WordChangeRule& rule) {
  return std::min(words_start_s, hash_start_s + start_bias_s + rule.later_than_hashes_s);
}

std::ptrdiff_t word_change_point(std::span<const int8_t> agree, const WordChangeRule& rule) {
  int64_t excess = 0, best = 0;
  std::ptrdiff_t at = -1;
  for (std::size_t i = 0; i < agree.size(); ++i) {
    excess += agree[i] - 16 - rule.margin;
    if (excess > best) {
      best = excess;
      at = static_cast<std::ptrdiff_t>(i);
    }
  }
  return best >= rule.min_excess ? at : -1;
}

double word_chance(int64_t frames, int64_t agree_bits, int word_frames) {
  if (frames <= 0 || word_frames <= 0) return 1.0;
  const double bits = static_cast<double>(frames) * 32.0;
  const double excess = static_cast<double>(agree_bits) / bits - 0.5;
  if (excess <= 0) return 1.0;
  const double independent = bits / word_frames;
  const double z = excess * std::sqrt(independent) / 0.5;
  return 0.5 * std::erfc(z / std::sqrt(2.0));
}

}  // namespace aircheck::daemon
