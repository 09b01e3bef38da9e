// Degradations a broadcast chain applies, as pure functions on mono float PCM.
//
// Every function takes the signal and its sample rate, returns a new buffer (the caller owns
// it) and is deterministic: the same input and seed give the same samples on every machine.
// All are safe to call from several threads at once. Errors (an FFmpeg encoder missing, a
// filter that cannot be built, espeak-ng failing) are thrown as std::runtime_error naming the
// step and the remedy.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dsp/decode/resample.h"

namespace aircheck::eval {

/// Root-mean-square level (linear, full scale 1.0). 0 for an empty span.
double rms(std::span<const float> x);

/// 10*log10(power(signal) / power(noise)), in dB.
double snr_db(std::span<const float> signal, std::span<const float> noise);

/// Adds white Gaussian noise scaled so that the SNR, measured on `x` itself (its mean power
/// over the whole span), is `snr_db`. A silent input is returned unchanged.
std::vector<float> add_white_noise(std::span<const float> x, double snr_db, uint64_t seed);

using dsp::decode::resample;  // dsp/decode/resample.h

/// Plays `x` `ratio` times faster, tempo and pitch together (a turntable or a radio station
/// running its playout fast): the duration becomes x.size()/ratio. ratio 1.03 = 3 % faster.
std::vector<float> change_speed(std::span<const float> x, int rate, double ratio);

/// Pitch-preserving tempo change through libavfilter's `atempo` (WSOLA): the duration becomes
/// about x.size()/ratio, the pitch stays. `ratio` in [0.5, 2].
std::vector<float> change_tempo(std::span<const float> x, int rate, double ratio);

enum class Codec { mp3, aac };

/// Encodes with FFmpeg's encoder for `codec` at `bitrate` bit/s through a temporary file and
/// decodes it back. The codec's fixed delay is measured once per (codec, rate, bitrate) and
/// removed, so the output is time-aligned with `x` and has the same length.
std::vector<float> reencode(std::span<const float> x, int rate, Codec codec, int64_t bitrate);

enum class Band {
  telephone,  ///< 300-3400 Hz, 4th-order Butterworth high- and low-pass
  am,  ///< AM broadcast receiver: 2nd-order high-pass at 100 Hz, 4th-order low-pass at 4.5 kHz
};

/// IIR band-limiting (cascaded biquads, zero initial state).
std::vector<float> band_limit(std::span<const float> x, int rate, Band band);

struct CompressorOptions {
  double threshold_db = -12;  ///< relative to the input's RMS level, in dB
  double ratio = 4;           ///< above threshold, output level rises 1 dB per `ratio` dB
  double attack_ms = 5;
  double release_ms = 120;
};

/// Feed-forward compressor: a peak envelope follower (attack/release), a static curve in dB,
/// then make-up gain so that the output RMS equals the input RMS.
std::vector<float> compress(std::span<const float> x, int rate, const CompressorOptions& opt = {});

/// A room impulse response: a unit direct path, then exponentially decaying white noise
/// (-60 dB after `rt60_s`) starting after a few milliseconds, scaled so the tail carries
/// `wet` times the energy of the direct path. Length: rt60_s seconds.
std::vector<float> room_impulse(int rate, double rt60_s, double wet, uint64_t seed);

/// Linear convolution of `x` with `h` (FFT based), truncated to x.size().
std::vector<float> convolve(std::span<const float> x, std::span<const float> h);

/// Convolution with room_impulse(rate, rt60_s, wet, seed); same length as `x`.
std::vector<float> reverberate(std::span<const float> x, int rate, double rt60_s, double wet,
                               uint64_t seed);

/// `music` plus `other` scaled so that rms(other)/rms(music) is `ratio_db` (e.g. -6: the
/// other signal 6 dB below the music). `other` is looped or cut to music's length.
std::vector<float> mix_at(std::span<const float> music, std::span<const float> other,
                          double ratio_db);

/// Multiplies in place by 10^(gain_db/20).
void apply_gain(std::span<float> x, double gain_db);

}  // namespace aircheck::eval
