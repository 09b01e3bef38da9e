#include "daemon/word_change.h"

namespace aircheck::daemon {

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

}  // namespace aircheck::daemon
