// Comparing two decodings of the same audio in tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace aircheck::test {

/// Normalised cross-correlation of `a` and `b` at the best lag within +-max_lag samples, over
/// `a` but its first and last 4000 samples (codec delay and padding).
inline double best_correlation(const std::vector<float>& a, const std::vector<float>& b,
                               int max_lag) {
  double best = -1;
  const std::size_t n = std::min(a.size(), b.size());
  for (int lag = -max_lag; lag <= max_lag; ++lag) {
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = 4000; i + 4000 < n; ++i) {
      const long j = static_cast<long>(i) + lag;
      if (j < 0 || j >= static_cast<long>(b.size())) continue;
      ab += a[i] * b[static_cast<std::size_t>(j)];
      aa += a[i] * a[i];
      bb += b[static_cast<std::size_t>(j)] * b[static_cast<std::size_t>(j)];
    }
    best = std::max(best, ab / std::sqrt(aa * bb + 1e-20));
  }
  return best;
}

}  // namespace aircheck::test
