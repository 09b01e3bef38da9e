// Interleaved device PCM (S16 or float, any channel count, any rate) -> mono float at the
// fingerprint rate, through libswresample (downmix matrix and resampling filter are FFmpeg's).
//
// Threads: construct and destroy on a control or setup thread; convert() on one thread at a
// time (the capture thread or a device callback). convert() is noexcept and allocation-free:
// the constructor sizes the output buffer and runs the converter once at the largest input
// size, so libswresample's internal buffers are already grown.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

struct SwrContext;

namespace aircheck::daemon::sources {

class Resampler {
 public:
  enum class Format { s16, f32 };

  /// Rates in Hz; `max_frames` is the largest input a single convert() may receive.
  /// Throws std::runtime_error naming the conversion when libswresample refuses it.
  Resampler(int in_rate, int in_channels, Format format, int out_rate, std::size_t max_frames);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  /// Converts `frames` interleaved frames at `in` (frames <= max_frames). Returns the mono
  /// output, valid until the next call; empty on a libswresample error.
  std::span<const float> convert(const void* in, std::size_t frames) noexcept;
  std::size_t max_frames() const noexcept { return max_frames_; }

 private:
  SwrContext* swr_ = nullptr;
  std::size_t max_frames_;
  std::vector<float> out_;
};

}  // namespace aircheck::daemon::sources
