// Maps a source's sample clock to wall-clock time (Unix seconds).
//
// Two modes:
//   fixed: utc_of(pos) = origin + pos / rate exactly (files with start=, and files without it,
//          whose origin is the wall clock at start()).
//   live:  the device's rate drifts against the system clock, so the producer calls observe()
//          after each capture with the position just reached; the clock estimates the true
//          rate and phase with slow first-order filters against CLOCK_MONOTONIC (rate time
//          constant kRateTau, phase kPhaseTau, rate clamped to +-1 % of nominal, re-anchored
//          on a phase error above one second) and maps to UTC with the current
//          CLOCK_REALTIME - CLOCK_MONOTONIC offset, so NTP corrections are followed.
//
// Threads: configure with set_fixed()/set_live() on the control thread before the producer
// starts (or on the producer before its first sample); observe(), expected_pos(), resume() on
// the producer only; utc_of() from any thread. The mapping is published through a sequence
// lock of atomics: observe() never waits, utc_of() retries only while an update is being
// written. All members but the constructor are noexcept and allocation-free.
#pragma once

#include <atomic>
#include <cstdint>

namespace aircheck::daemon::rt {

class SampleClock {
 public:
  static constexpr double kRateTau = 60;     ///< in seconds
  static constexpr double kPhaseTau = 20;    ///< in seconds
  static constexpr double kUpdateEvery = 1;  ///< min seconds between filter updates

  /// `rate` is the nominal sample rate, in Hz.
  explicit SampleClock(int rate) noexcept;

  /// Fixed mapping with `origin_utc` (Unix seconds) at pos 0.
  void set_fixed(double origin_utc) noexcept;
  /// Live mapping; until the first observe(), pos 0 maps to now.
  void set_live() noexcept;

  /// Producer: the capture has just delivered samples up to (excluding) `pos`.
  void observe(uint64_t pos) noexcept { observe_at(pos, mono_now()); }
  /// ... at CLOCK_MONOTONIC second `mono`.
  void observe_at(uint64_t pos, double mono) noexcept;
  /// Producer: the position the clock expects now, for skipping an outage; 0 before the first
  /// observe().
  uint64_t expected_pos() const noexcept { return expected_pos_at(mono_now()); }
  /// ... at CLOCK_MONOTONIC second `mono` (before the last observation too; 0 at the least).
  uint64_t expected_pos_at(double mono) const noexcept;
  /// Producer, live mode: the sample at `pos` was live at CLOCK_MONOTONIC second `mono` (a
  /// stream (re)connected then; its first audio comes out of the decoder later, at once with
  /// what arrived meanwhile). Anchors the phase there, keeping the rate estimate.
  void resume(uint64_t pos, double mono) noexcept;

  /// Wall time of `pos`, in Unix seconds. Any thread.
  double utc_of(uint64_t pos) const noexcept;
  /// Current rate estimate, in Hz. Any thread.
  double rate() const noexcept { return rate_.load(std::memory_order_relaxed); }

  /// Seconds on CLOCK_MONOTONIC / CLOCK_REALTIME.
  static double mono_now() noexcept;
  static double real_now() noexcept;

 private:
  void publish(double base_utc, uint64_t base_pos, double rate) noexcept;

  const double nominal_;
  bool live_ = false;
  // Producer-only filter state (monotonic seconds).
  bool have_first_ = false;
  double first_mono_ = 0, last_update_ = 0, base_mono_ = 0, rate_hat_ = 0;
  uint64_t first_pos_ = 0, base_pos_local_ = 0;
  // Published mapping.
  std::atomic<uint32_t> seq_{0};
  std::atomic<double> base_utc_{0};
  std::atomic<uint64_t> base_pos_{0};
  std::atomic<double> rate_;
};

}  // namespace aircheck::daemon::rt
