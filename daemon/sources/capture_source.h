// Common machinery of every Source backend: the capture thread, its CaptureRing and its
// SampleClock. A backend implements run() (the capture thread body) and, where it blocks in a
// library call, interrupt().
//
// Threads: start(), stop() and the destructor on the control thread; read_block() and
// poll_health() on the consumer; utc_of(), finished(), overflowed() on any thread; run() on
// the capture thread, which is the only producer of ring_ and the only caller of
// clock_.observe().
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "daemon/rt/capture_ring.h"
#include "daemon/rt/sample_clock.h"
#include "daemon/source.h"

namespace aircheck::daemon::sources {

class CaptureSource : public Source {
 public:
  /// Samples per block returned by read_block(), at most.
  static constexpr std::size_t kMaxBlock = 4096;

  /// `sample_rate` in Hz; the ring holds `buffer_s` seconds (option buffer_s, default 30).
  CaptureSource(SourceSpec spec, int sample_rate);
  ~CaptureSource() override;

  const SourceSpec& spec() const override { return spec_; }
  /// Runs prepare() (may throw std::runtime_error), then starts the capture thread.
  /// Throws std::logic_error when called twice.
  void start() override;
  void stop() override;
  Block read_block() override { return ring_.read(); }
  bool poll_health(HealthEvent& ev) override { return ring_.poll(ev); }
  double utc_of(uint64_t pos) const override { return clock_.utc_of(pos); }
  bool finished() const override { return ring_.drained(); }
  std::string finish_note() const override { return finished() ? finish_note_ : std::string(); }
  uint64_t overflowed() const override { return ring_.dropped(); }

 protected:
  /// Control thread, inside start(): open what can be opened now and configure clock_.
  /// The default sets a live clock.
  virtual void prepare();
  /// Capture thread body; returns when stopping() or when a finite source ended (then it has
  /// called ring_.set_done()). Must not throw.
  virtual void run() noexcept = 0;
  /// Control thread, inside stop() after stopping() became true: unblock run().
  virtual void interrupt() noexcept {}

  bool stopping() const noexcept { return stop_.load(std::memory_order_acquire); }
  /// Sleeps up to `seconds`, waking early on stop(). Returns false when stopping.
  bool sleep_for(double seconds) noexcept;
  /// After an outage on a live source: skips the sample clock forward to where the clock
  /// says it should be, if it fell behind by more than a quarter second.
  void resync() noexcept;
  /// The same for a source whose next sample was live at CLOCK_MONOTONIC second `mono` (a
  /// stream connected then), also before its first audio: the clock is anchored there.
  void resync_at(double mono) noexcept;
  /// Skips the ring's position forward to `expected` if it is more than a quarter second
  /// behind it.
  void skip_to(uint64_t expected) noexcept;
  /// Derived destructors call this first, so run() never outlives the derived object.
  void join() noexcept;

  const SourceSpec spec_;
  const int rate_;
  rt::CaptureRing ring_;
  rt::SampleClock clock_;
  /// finish_note(): written by the capture thread before ring_.set_done(), read after it.
  std::string finish_note_;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
  bool started_ = false;
};

}  // namespace aircheck::daemon::sources
