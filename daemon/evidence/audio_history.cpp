#include "daemon/evidence/audio_history.h"

#include <algorithm>
#include <cstring>

namespace aircheck::daemon {

AudioHistory::AudioHistory(std::size_t capacity) : ring_(std::max<std::size_t>(capacity, 1)) {}

uint64_t AudioHistory::begin() const noexcept {
  const uint64_t cap = ring_.size();
  return std::max(origin_, end_ > cap ? end_ - cap : 0);
}

void AudioHistory::put(uint64_t pos, const float* src, std::size_t n) noexcept {
  const std::size_t cap = ring_.size();
  const auto at = static_cast<std::size_t>(pos % cap);
  const std::size_t first = std::min(n, cap - at);
  if (src != nullptr) {
    std::memcpy(ring_.data() + at, src, first * sizeof(float));
    std::memcpy(ring_.data(), src + first, (n - first) * sizeof(float));
  } else {
    std::fill_n(ring_.data() + at, first, 0.0f);
    std::fill_n(ring_.data(), n - first, 0.0f);
  }
}

void AudioHistory::write(uint64_t pos, std::span<const float> samples) noexcept {
  const std::size_t cap = ring_.size();
  if (!started_ || pos < end_) {
    started_ = true;
    origin_ = pos;
    end_ = pos;
  }
  if (pos > end_) {
    const uint64_t gap = pos - end_;
    gap_samples_ += gap;
    // Only the part of the gap that stays in the ring needs zeros.
    const uint64_t n = std::min<uint64_t>(gap, cap);
    put(pos - n, nullptr, static_cast<std::size_t>(n));
    end_ = pos;
  }
  if (samples.size() > cap) {
    pos += samples.size() - cap;
    samples = samples.last(cap);
  }
  put(pos, samples.data(), samples.size());
  end_ = pos + samples.size();
}

uint64_t AudioHistory::copy(uint64_t from, uint64_t to, std::vector<float>& out) const {
  const uint64_t lo = std::max(from, begin());
  const uint64_t hi = std::min(to, end_);
  out.clear();
  if (lo >= hi) return lo;
  const auto n = static_cast<std::size_t>(hi - lo);
  out.resize(n);
  const std::size_t cap = ring_.size();
  const auto at = static_cast<std::size_t>(lo % cap);
  const std::size_t first = std::min(n, cap - at);
  std::memcpy(out.data(), ring_.data() + at, first * sizeof(float));
  std::memcpy(out.data() + first, ring_.data(), (n - first) * sizeof(float));
  return lo;
}

}  // namespace aircheck::daemon
