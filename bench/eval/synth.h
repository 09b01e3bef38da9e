// Deterministic synthesized music and speech-like signals for tests, demos and evaluation.
//
// Music: a seeded song with a chord progression, a melody and a bass line in varied timbres
// (additive partials with their own envelopes and vibrato), a drum kit (kick, snare, hi-hat)
// and a little noise. Two seeds give unrelated songs; the same seed gives the same samples.
#pragma once

#include <cstdint>
#include <vector>

namespace aircheck::eval {

struct SynthOptions {
  double seconds = 30;
  int sample_rate = 44100;
  double gain = 0.3;  ///< peak-ish level of the mix
};

/// A song; `seed` picks tempo, key, scale, progression, instruments and patterns.
std::vector<float> synth_music(uint64_t seed, const SynthOptions& opt = {});

/// Speech-like babble: voiced formant syllables with pitch contours and pauses (for tests when
/// espeak-ng is absent).
std::vector<float> synth_babble(uint64_t seed, const SynthOptions& opt = {});

/// White Gaussian noise, unit variance.
std::vector<float> white_noise(uint64_t seed, std::size_t n);

}  // namespace aircheck::eval
