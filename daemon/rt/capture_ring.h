// The channel between one source's capture thread and its consumer: samples, sample-clock
// gaps and health events, all through SPSC rings, so the capture side never locks or allocates.
//
// Sample clock. Every sample the device produced has a position `pos` (samples since start).
// The sample ring holds only samples that were actually written. When the producer has to skip
// samples (ring full = overflow; device or network outage = outage), it records a Gap marker
// {write index at which the skip happened, samples dropped, samples skipped} in a small side
// ring. The consumer tracks its own read index; when it reaches a marker's index it advances
// its position by the marker's counts, so the skip shows as a jump in Block::pos, and an
// overflow yields a HealthEvent::overflow built on the consumer side. Blocks never span a gap.
//
// Ordering: a marker is pushed before any sample after it is published, so a consumer that
// sees samples past the marker's index also sees the marker. If the gap ring is full, the
// marker waits in the producer and every further sample is dropped into it until it can be
// pushed (the consumer is not reading anyway when that happens).
//
// Health: up/down events travel as fixed-size records (reason truncated to kReasonBytes - 1
// bytes) through a 64-slot ring; if that ring is full the event is dropped and counted in
// health_lost(). `finished` is never queued: the producer sets a flag after its last sample,
// and the consumer reports finished once it has also read every sample before it.
//
// Threads: produce-side members (write, skip, post, set_done) on the capture thread only;
// consume-side members (read, poll) on one consumer thread at a time; counters on any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "daemon/rt/spsc_ring.h"
#include "daemon/source.h"

namespace aircheck::daemon::rt {

class CaptureRing {
 public:
  static constexpr std::size_t kReasonBytes = 240;
  static_assert(HealthEvent::kTitleBytes < kReasonBytes, "a title fits a health record");

  /// `capacity` in samples (rounded up to a power of two); `max_block` is the most samples one
  /// read() returns. Allocates everything the channel will ever use. Throws std::bad_alloc.
  CaptureRing(std::size_t capacity, std::size_t max_block);
  CaptureRing(const CaptureRing&) = delete;
  CaptureRing& operator=(const CaptureRing&) = delete;

  // ---- producer (capture thread), all real-time safe ----

  /// Appends samples at the current producer position. What does not fit is dropped and
  /// counted as overflow; returns how many were written. Never waits.
  std::size_t write(std::span<const float> samples) noexcept;
  /// Free sample slots now (for producers that prefer waiting over dropping, e.g. backfill).
  std::size_t write_space() noexcept;
  /// Advances the sample clock by `samples` without data (outage: nothing was captured).
  void skip(uint64_t samples) noexcept;
  /// Queues an up/down event at the current producer position; `reason` is truncated.
  void post(HealthEvent::Type type, std::string_view reason = {}) noexcept;
  /// Queues a damage event at the current producer position: `lost` samples filled since
  /// `from_pos`, `errors` packets that failed to decode.
  void post_damage(uint64_t from_pos, uint64_t lost, uint64_t errors,
                   std::string_view reason) noexcept;
  /// Marks the end of a finite source; no producer call may follow.
  void set_done() noexcept;
  /// Producer position: samples written + dropped + skipped so far.
  uint64_t produced() const noexcept { return pos_; }

  // ---- consumer (one worker at a time) ----

  /// Next contiguous block (empty when none is ready). The span points into storage owned by
  /// this object and stays valid until the next read(). Never blocks.
  Block read() noexcept;
  /// Next health event (overflow, up, down, finished) in position order. Never blocks;
  /// allocates only for the reason text.
  bool poll(HealthEvent& ev);

  // ---- any thread ----

  /// Samples dropped because the ring was full.
  uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  /// Health records dropped because their ring was full.
  uint64_t health_lost() const noexcept { return health_lost_.load(std::memory_order_relaxed); }
  bool done() const noexcept { return done_.load(std::memory_order_acquire); }
  /// True once set_done() was called and every sample before it has been read (a snapshot
  /// when called off the consumer thread).
  bool drained() const noexcept { return done() && samples_.empty(); }
  std::size_t capacity() const noexcept { return samples_.capacity(); }

 private:
  struct Gap {
    uint64_t index;    ///< sample-ring write index at which the gap sits
    uint64_t dropped;  ///< samples lost to overflow
    uint64_t skipped;  ///< samples lost to an outage
  };
  struct HealthRecord {
    HealthEvent::Type type;
    uint64_t pos;
    uint64_t count, errors, from_pos;  // damage
    char reason[kReasonBytes];
  };

  bool flush_gap() noexcept;
  /// Queues `r` at the current producer position with `reason` (truncated).
  void push(HealthRecord& r, std::string_view reason) noexcept;
  void add_gap(uint64_t dropped, uint64_t skipped) noexcept;

  SpscRing<float> samples_;
  SpscRing<Gap> gaps_;
  SpscRing<HealthRecord> health_;

  // producer-only
  uint64_t pos_ = 0;
  bool gap_pending_ = false;
  Gap pending_{};

  // consumer-only
  uint64_t read_pos_ = 0;
  std::vector<float> scratch_;
  bool overflow_pending_ = false;
  HealthEvent overflow_{HealthEvent::Type::overflow, 0, 0, 0, 0, {}};
  bool finished_reported_ = false;

  alignas(kCacheLine) std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> health_lost_{0};
  std::atomic<bool> done_{false};
};

}  // namespace aircheck::daemon::rt
