// Sample-rate conversion of mono float PCM through libswresample.
#pragma once

#include <span>
#include <vector>

namespace aircheck::dsp::decode {

/// Band-limited resampling; time-aligned (output sample k is at time k / to_rate) and exactly
/// round(x.size() * to_rate / from_rate) samples long. Throws std::runtime_error on FFmpeg
/// failures.
std::vector<float> resample(std::span<const float> x, int from_rate, int to_rate);

}  // namespace aircheck::dsp::decode
