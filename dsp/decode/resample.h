// Sample-rate conversion of mono float PCM through libswresample.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

struct SwrContext;

namespace aircheck::dsp::decode {

/// Band-limited resampling; time-aligned (output sample k is at time k / to_rate) and exactly
/// round(x.size() * to_rate / from_rate) samples long. Throws std::runtime_error on FFmpeg
/// failures.
std::vector<float> resample(std::span<const float> x, int from_rate, int to_rate);

/// The same for a stream fed in blocks: output sample k is at time k / to_rate of the stream
/// fed so far; the filter holds back a few samples until flush(). Not for the capture path
/// (it may allocate while its buffers grow); one thread at a time.
class StreamResampler {
 public:
  /// Throws std::runtime_error on FFmpeg failures.
  StreamResampler(int from_rate, int to_rate);
  ~StreamResampler();
  StreamResampler(const StreamResampler&) = delete;
  StreamResampler& operator=(const StreamResampler&) = delete;

  /// Appends the output for `x` to `out`.
  void process(std::span<const float> x, std::vector<float>& out);
  /// Appends what the filter still holds (the end of the stream) and starts anew.
  void flush(std::vector<float>& out);

 private:
  SwrContext* swr_ = nullptr;
  int from_rate_, to_rate_;
  void init();
};

}  // namespace aircheck::dsp::decode
