// The recent audio of one source, kept for evidence clips.
//
//   SourceRunner::consume ──write(pos, samples)──▶ AudioHistory ──copy(from, to)──▶ clip job
//
// A ring of samples addressed by the source's sample clock (Block::pos), so a clip is cut by
// clock position. A gap in the clock (overflow, outage) is held as silence, so what follows a
// gap stays at its own position: position p is always the sample the source delivered at p,
// or 0 if it delivered none there.
//
// Memory: `capacity` floats, allocated once by the constructor; write() never allocates.
// Threads: not synchronised; one thread at a time (the source's worker).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace aircheck::daemon {

class AudioHistory {
 public:
  /// Keeps the newest `capacity` samples (at least 1) of the clock. Allocates the ring; throws
  /// std::bad_alloc. Control thread or worker.
  explicit AudioHistory(std::size_t capacity);

  /// Appends `samples`, whose first sample is at clock position `pos`. A `pos` beyond end()
  /// fills the gap with silence; a `pos` before end() (a clock that went back) forgets
  /// everything held and starts again at `pos`. Real-time safe: no allocation, no locks.
  void write(uint64_t pos, std::span<const float> samples) noexcept;

  /// Copies the held part of [from, to) into `out` (replacing its contents) and returns the
  /// clock position of out[0], which is max(from, begin()). `out` is empty when nothing of the
  /// range is held. Allocates only when `out` lacks the capacity.
  uint64_t copy(uint64_t from, uint64_t to, std::vector<float>& out) const;

  /// Oldest clock position held (== end() before the first write).
  uint64_t begin() const noexcept;
  /// One past the newest clock position written.
  uint64_t end() const noexcept { return end_; }
  /// Samples held at most.
  std::size_t capacity() const noexcept { return ring_.size(); }
  /// Samples of silence written for gaps in the clock since construction.
  uint64_t gap_samples() const noexcept { return gap_samples_; }

 private:
  /// Writes `n` samples from `src` (zeros when null) at positions [pos, pos + n), n <= capacity.
  void put(uint64_t pos, const float* src, std::size_t n) noexcept;

  std::vector<float> ring_;
  bool started_ = false;
  uint64_t origin_ = 0;  // first position ever written since the last (re)start
  uint64_t end_ = 0;
  uint64_t gap_samples_ = 0;
};

}  // namespace aircheck::daemon
