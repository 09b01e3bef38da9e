#include "daemon/rt/sample_clock.h"

#include <time.h>

#include <algorithm>
#include <cmath>

namespace aircheck::daemon::rt {

namespace {
double seconds_of(clockid_t id) noexcept {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
}  // namespace

double SampleClock::mono_now() noexcept { return seconds_of(CLOCK_MONOTONIC); }
double SampleClock::real_now() noexcept { return seconds_of(CLOCK_REALTIME); }

SampleClock::SampleClock(int rate) noexcept
    : nominal_(static_cast<double>(rate)), rate_hat_(nominal_), rate_(nominal_) {}

void SampleClock::publish(double base_utc, uint64_t base_pos, double rate) noexcept {
  const uint32_t s = seq_.load(std::memory_order_relaxed);
  seq_.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  base_utc_.store(base_utc, std::memory_order_relaxed);
  base_pos_.store(base_pos, std::memory_order_relaxed);
  rate_.store(rate, std::memory_order_relaxed);
  seq_.store(s + 2, std::memory_order_release);
}

void SampleClock::set_fixed(double origin_utc) noexcept {
  live_ = false;
  publish(origin_utc, 0, nominal_);
}

void SampleClock::set_live() noexcept {
  live_ = true;
  have_first_ = false;
  rate_hat_ = nominal_;
  publish(real_now(), 0, nominal_);
}

void SampleClock::observe_at(uint64_t pos, double mono) noexcept {
  if (!live_) return;
  const double offset = real_now() - mono_now();
  if (!have_first_) {
    have_first_ = true;
    first_mono_ = last_update_ = base_mono_ = mono;
    first_pos_ = base_pos_local_ = pos;
    publish(base_mono_ + offset, base_pos_local_, rate_hat_);
    return;
  }
  const double dt = mono - last_update_;
  if (dt < kUpdateEvery) return;
  last_update_ = mono;

  const double predicted = base_mono_ + static_cast<double>(pos - base_pos_local_) / rate_hat_;
  const double err = mono - predicted;
  if (std::fabs(err) > 1.0) {
    // Bursty delivery or an unaccounted skip: start over from this observation.
    first_mono_ = base_mono_ = mono;
    first_pos_ = base_pos_local_ = pos;
    publish(base_mono_ + offset, base_pos_local_, rate_hat_);
    return;
  }
  const double elapsed = mono - first_mono_;
  if (elapsed >= 10.0) {
    const double measured = static_cast<double>(pos - first_pos_) / elapsed;
    if (std::fabs(measured / nominal_ - 1.0) < 0.01) {
      rate_hat_ += std::min(1.0, dt / kRateTau) * (measured - rate_hat_);
    }
  }
  base_mono_ = predicted + std::min(1.0, dt / kPhaseTau) * err;
  base_pos_local_ = pos;
  publish(base_mono_ + offset, base_pos_local_, rate_hat_);
}

uint64_t SampleClock::expected_pos_at(double mono) const noexcept {
  if (!live_ || !have_first_) return 0;
  const double at = static_cast<double>(base_pos_local_) + (mono - base_mono_) * rate_hat_;
  return at <= 0 ? 0 : static_cast<uint64_t>(at);
}

void SampleClock::resume(uint64_t pos, double mono) noexcept {
  if (!live_) return;
  have_first_ = true;
  first_mono_ = last_update_ = base_mono_ = mono;
  first_pos_ = base_pos_local_ = pos;
  publish(base_mono_ + (real_now() - mono_now()), base_pos_local_, rate_hat_);
}

double SampleClock::utc_of(uint64_t pos) const noexcept {
  double base_utc = 0, rate = 0;
  uint64_t base_pos = 0;
  for (;;) {
    const uint32_t s1 = seq_.load(std::memory_order_acquire);
    if (s1 & 1u) continue;
    base_utc = base_utc_.load(std::memory_order_relaxed);
    base_pos = base_pos_.load(std::memory_order_relaxed);
    rate = rate_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) == s1) break;
  }
  const double d =
      pos >= base_pos ? static_cast<double>(pos - base_pos) : -static_cast<double>(base_pos - pos);
  return base_utc + d / rate;
}

}  // namespace aircheck::daemon::rt
