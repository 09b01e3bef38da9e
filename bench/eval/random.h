// Portable deterministic randomness for the evaluation: the same seed draws the same excerpts
// and programmes with every compiler and standard library (std::*_distribution does not
// promise that).
#pragma once

#include <cstdint>

namespace aircheck::eval {

/// SplitMix64 finaliser: a well-mixed 64-bit function of `x`.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// Combines seeds (order matters).
constexpr uint64_t mix64(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b)); }

/// SplitMix64 generator. Not thread-safe; one per thread or per draw.
class Rng {
 public:
  explicit constexpr Rng(uint64_t seed) : s_(seed) {}
  constexpr uint64_t next() { return mix64(s_ += 0x9e3779b97f4a7c15ULL); }
  /// Uniform in [0, 1), 53 bits.
  constexpr double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  constexpr double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n); n > 0 (modulo bias below n / 2^64).
  constexpr uint64_t below(uint64_t n) { return next() % n; }
  constexpr bool chance(double p) { return uniform() < p; }

 private:
  uint64_t s_;
};

}  // namespace aircheck::eval
