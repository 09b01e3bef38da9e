// Speech for voice-over, speech-over-music conditions and speech negatives.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace aircheck::eval {

/// A fixed set of speech clips at one sample rate. With espeak-ng on PATH the clips are
/// seeded random English sentences spoken by several voices, pitches and speeds (espeak-ng
/// runs as a subprocess writing a temporary WAV); otherwise synth_babble stands in.
/// Immutable after make(): safe to read from any number of threads.
class SpeechPool {
 public:
  /// Builds `clips` clips of roughly `clip_s` seconds each. Deterministic for a given seed and
  /// espeak-ng version. Throws std::runtime_error if espeak-ng exists but its output cannot
  /// be decoded.
  static SpeechPool make(int rate, uint64_t seed, int clips = 6, double clip_s = 25);

  std::size_t size() const { return clips_.size(); }
  std::span<const float> clip(std::size_t i) const { return clips_[i]; }
  /// Whether the clips come from espeak-ng (true) or synth_babble (false).
  bool espeak() const { return espeak_; }
  int rate() const { return rate_; }
  /// `n` samples of speech chosen by `seed` (clip and start; clips are looped as needed).
  std::vector<float> excerpt(uint64_t seed, std::size_t n) const;

 private:
  std::vector<std::vector<float>> clips_;
  bool espeak_ = false;
  int rate_ = 0;
};

}  // namespace aircheck::eval
