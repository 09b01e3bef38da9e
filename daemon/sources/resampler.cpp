#include "daemon/sources/resampler.h"

#include <stdexcept>
#include <string>

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>
}

namespace aircheck::daemon::sources {

namespace {
std::string av_error(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof buf);
  return buf;
}
}  // namespace

Resampler::Resampler(int in_rate, int in_channels, Format format, int out_rate,
                     std::size_t max_frames)
    : max_frames_(max_frames) {
  const std::string what = "resampler " + std::to_string(in_channels) + " ch " +
                           std::to_string(in_rate) + " Hz -> mono " + std::to_string(out_rate) +
                           " Hz";
  if (in_rate <= 0 || in_channels <= 0 || out_rate <= 0 || max_frames == 0) {
    throw std::runtime_error(what + ": invalid parameters");
  }
  AVChannelLayout in_layout{}, out_layout{};
  av_channel_layout_default(&in_layout, in_channels);
  av_channel_layout_default(&out_layout, 1);
  const AVSampleFormat in_fmt = format == Format::s16 ? AV_SAMPLE_FMT_S16 : AV_SAMPLE_FMT_FLT;
  int err = swr_alloc_set_opts2(&swr_, &out_layout, AV_SAMPLE_FMT_FLT, out_rate, &in_layout, in_fmt,
                                in_rate, 0, nullptr);
  av_channel_layout_uninit(&in_layout);
  av_channel_layout_uninit(&out_layout);
  if (err < 0 || !swr_) throw std::runtime_error(what + ": " + av_error(err));
  if ((err = swr_init(swr_)) < 0) {
    swr_free(&swr_);
    throw std::runtime_error(what + ": " + av_error(err));
  }
  const auto out_max =
      static_cast<std::size_t>(swr_get_out_samples(swr_, static_cast<int>(max_frames)) + 256);
  out_.resize(out_max * 2);
  // Grow libswresample's internal buffers now, at the largest input size.
  const std::size_t bytes = format == Format::s16 ? 2 : 4;
  std::vector<unsigned char> zeros(max_frames * static_cast<std::size_t>(in_channels) * bytes);
  for (int i = 0; i < 3; ++i) convert(zeros.data(), max_frames);
}

Resampler::~Resampler() { swr_free(&swr_); }

std::span<const float> Resampler::convert(const void* in, std::size_t frames) noexcept {
  if (frames > max_frames_) frames = max_frames_;
  auto* out = reinterpret_cast<uint8_t*>(out_.data());
  const auto* src = static_cast<const uint8_t*>(in);
  const int n =
      swr_convert(swr_, &out, static_cast<int>(out_.size()), &src, static_cast<int>(frames));
  if (n < 0) return {};
  return {out_.data(), static_cast<std::size_t>(n)};
}

}  // namespace aircheck::daemon::sources
