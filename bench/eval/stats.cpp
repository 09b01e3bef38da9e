#include "bench/eval/stats.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <numeric>
#include <sstream>

namespace aircheck::eval {

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  const double f = pos - static_cast<double>(lo);
  return v[lo] * (1 - f) + v[hi] * f;
}

double mean(const std::vector<double>& v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

std::string format_fixed(double v, int prec) {
  if (std::isnan(v)) return "–";
  std::ostringstream s;
  s << std::fixed << std::setprecision(prec) << v;
  return s.str();
}

double repeat_similarity_db(std::span<const float> a, std::span<const float> b, int max_lag) {
  const auto n = static_cast<std::ptrdiff_t>(std::min(a.size(), b.size()));
  const auto rho = [&](int lag) {
    double ab = 0, aa = 0, bb = 0;
    for (std::ptrdiff_t i = std::max<std::ptrdiff_t>(0, -lag);
         i < n && i + lag < static_cast<std::ptrdiff_t>(b.size()); ++i) {
      const double x = a[static_cast<std::size_t>(i)];
      const double y = b[static_cast<std::size_t>(i + lag)];
      ab += x * y;
      aa += x * x;
      bb += y * y;
    }
    return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : -1.0;
  };
  double best = -1;
  int at = 0;
  for (int lag = -max_lag; lag <= max_lag; ++lag) {
    const double r = rho(lag);
    if (r > best) {
      best = r;
      at = lag;
    }
  }
  if (best <= -1) return std::numeric_limits<double>::quiet_NaN();
  const double left = rho(at - 1), right = rho(at + 1);
  const double curve = left - 2 * best + right;
  if (curve < 0) best = std::min(1.0, best - (right - left) * (right - left) / (8 * curve));
  return std::min(99.0, -10.0 * std::log10(std::max(1e-10, 2.0 * (1.0 - best))));
}

}  // namespace aircheck::eval
