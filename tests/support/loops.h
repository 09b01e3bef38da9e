// A song built like looped music, for tests of repeats: one backing pattern (drums, bass,
// chords) played five times, each time under another melody 14 dB down, so every excerpt has
// a strong repeat at each other loop that differs only in a quiet part.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "bench/eval/degrade.h"
#include "bench/eval/synth.h"

namespace aircheck::test {

/// Five loops of `loop` samples at `rate` (loop must be under 5 s); the melodies
/// `melody_db` under the backing.
inline std::vector<float> looped_song(int rate, std::size_t loop, double melody_db = -14.0) {
  const auto backing = eval::synth_music(900, {5, rate, 0.3});
  std::vector<float> song;
  for (uint64_t k = 0; k < 5; ++k) {
    const auto melody = eval::synth_music(910 + k, {5, rate, 0.3});
    const auto part = eval::mix_at({backing.data(), loop}, {melody.data(), loop}, melody_db);
    song.insert(song.end(), part.begin(), part.end());
  }
  return song;
}

}  // namespace aircheck::test
