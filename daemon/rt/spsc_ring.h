// Lock-free single-producer / single-consumer ring of trivially copyable elements.
//
// Threads: exactly one producer thread calls write(), write_space() and producer_index();
// exactly one consumer thread calls read(), read_view(), consume(), read_available() and
// consumer_index(). capacity() and empty() may be called from any thread (empty() is only a
// snapshot). Construction and destruction happen on a control thread while neither side runs.
//
// Real-time safety: every member except the constructor is wait-free, allocation-free and
// noexcept. The constructor allocates the storage and throws std::bad_alloc /
// std::invalid_argument.
//
// Design: the write index (head) and read index (tail) are free-running 64-bit counters, each
// on its own cache line; slots are addressed with `index & mask`. The producer publishes head
// with a release store after copying, the consumer publishes tail with a release store after
// copying out; each side loads the other's index with acquire only when its cached copy of
// that index says the ring looks full (producer) or empty (consumer).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace aircheck::daemon::rt {

/// Assumed destructive interference size, in bytes (x86-64 and most ARM64 cores).
inline constexpr std::size_t kCacheLine = 64;

/// The readable elements as at most two contiguous segments (the second is non-empty only when
/// the readable range wraps past the end of the storage). Valid until the next consume().
template <typename T>
struct ReadView {
  std::span<const T> first;
  std::span<const T> second;
  std::size_t size() const noexcept { return first.size() + second.size(); }
};

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied with memcpy");

 public:
  /// Storage for at least `min_capacity` elements, rounded up to a power of two (minimum 2).
  /// Throws std::invalid_argument when min_capacity is 0 or above 2^40.
  explicit SpscRing(std::size_t min_capacity)
      : capacity_(round_up(min_capacity)),
        mask_(capacity_ - 1),
        slots_(std::make_unique<T[]>(capacity_)) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  /// Number of slots (a power of two).
  std::size_t capacity() const noexcept { return capacity_; }

  // ---- producer ----

  /// Free slots as seen by the producer now (a lower bound: the consumer may free more).
  std::size_t write_space() noexcept {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_cache_ == capacity_) tail_cache_ = tail_.load(std::memory_order_acquire);
    return capacity_ - static_cast<std::size_t>(head - tail_cache_);
  }

  /// Copies as many leading elements of `in` as fit; returns how many were written (the rest
  /// were not). Never waits.
  std::size_t write(std::span<const T> in) noexcept {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    std::size_t space = capacity_ - static_cast<std::size_t>(head - tail_cache_);
    if (space < in.size()) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      space = capacity_ - static_cast<std::size_t>(head - tail_cache_);
    }
    const std::size_t n = std::min(space, in.size());
    if (n == 0) return 0;
    const std::size_t at = static_cast<std::size_t>(head) & mask_;
    const std::size_t run = std::min(n, capacity_ - at);
    std::memcpy(slots_.get() + at, in.data(), run * sizeof(T));
    if (run < n) std::memcpy(slots_.get(), in.data() + run, (n - run) * sizeof(T));
    head_.store(head + n, std::memory_order_release);
    return n;
  }

  /// Writes one element if there is room. Returns false when full.
  bool push(const T& v) noexcept { return write(std::span<const T>(&v, 1)) == 1; }

  /// Total elements ever written (the producer's own index).
  uint64_t producer_index() const noexcept { return head_.load(std::memory_order_relaxed); }

  // ---- consumer ----

  /// Elements readable now (a lower bound: the producer may add more).
  std::size_t read_available() noexcept {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (head_cache_ == tail) head_cache_ = head_.load(std::memory_order_acquire);
    return static_cast<std::size_t>(head_cache_ - tail);
  }

  /// The readable elements in place, without consuming them. Refreshes the producer index.
  ReadView<T> read_view() noexcept {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    head_cache_ = head_.load(std::memory_order_acquire);
    const std::size_t n = static_cast<std::size_t>(head_cache_ - tail);
    const std::size_t at = static_cast<std::size_t>(tail) & mask_;
    const std::size_t run = std::min(n, capacity_ - at);
    return {std::span<const T>(slots_.get() + at, run), std::span<const T>(slots_.get(), n - run)};
  }

  /// Releases the first `n` readable elements to the producer; n must not exceed what the last
  /// read_view() / read_available() reported.
  void consume(std::size_t n) noexcept {
    tail_.store(tail_.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }

  /// Copies up to out.size() elements out and consumes them; returns how many.
  std::size_t read(std::span<T> out) noexcept {
    if (read_available() < out.size()) head_cache_ = head_.load(std::memory_order_acquire);
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    const std::size_t n = std::min(out.size(), static_cast<std::size_t>(head_cache_ - tail));
    if (n == 0) return 0;
    const std::size_t at = static_cast<std::size_t>(tail) & mask_;
    const std::size_t run = std::min(n, capacity_ - at);
    std::memcpy(out.data(), slots_.get() + at, run * sizeof(T));
    if (run < n) std::memcpy(out.data() + run, slots_.get(), (n - run) * sizeof(T));
    tail_.store(tail + n, std::memory_order_release);
    return n;
  }

  /// Reads one element if there is one. Returns false when empty.
  bool pop(T& v) noexcept { return read(std::span<T>(&v, 1)) == 1; }

  /// Total elements ever consumed (the consumer's own index).
  uint64_t consumer_index() const noexcept { return tail_.load(std::memory_order_relaxed); }

  // ---- any thread ----

  /// Snapshot: true when nothing is readable at the moment of the call.
  bool empty() const noexcept {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
  }

 private:
  static std::size_t round_up(std::size_t n) {
    if (n == 0 || n > (std::size_t{1} << 40)) {
      throw std::invalid_argument("SpscRing: capacity must be in 1..2^40");
    }
    std::size_t c = 2;
    while (c < n) c <<= 1;
    return c;
  }

  // Producer-written line: head and the producer's view of tail.
  alignas(kCacheLine) std::atomic<uint64_t> head_{0};
  uint64_t tail_cache_ = 0;
  // Consumer-written line: tail and the consumer's view of head.
  alignas(kCacheLine) std::atomic<uint64_t> tail_{0};
  uint64_t head_cache_ = 0;
  // Read-only after construction.
  alignas(kCacheLine) const std::size_t capacity_;
  const std::size_t mask_;
  const std::unique_ptr<T[]> slots_;
};

}  // namespace aircheck::daemon::rt
