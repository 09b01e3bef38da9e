#include "dsp/decode/resample.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libswresample/swresample.h>
}

namespace aircheck::dsp::decode {
namespace {

void check(int rc, const char* what) {
  if (rc < 0) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(rc, buf, sizeof buf);
    throw std::runtime_error(std::string(what) + ": " + buf);
  }
}

}  // namespace

std::vector<float> resample(std::span<const float> x, int from_rate, int to_rate) {
  const auto want =
      static_cast<std::size_t>(std::llround(static_cast<double>(x.size()) * to_rate / from_rate));
  if (from_rate == to_rate) return {x.begin(), x.end()};
  if (x.empty()) return {};
  AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
  SwrContext* swr = nullptr;
  check(swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLT, to_rate, &mono, AV_SAMPLE_FMT_FLT,
                            from_rate, 0, nullptr),
        "resample: swr_alloc_set_opts2");
  struct SwrFree {
    SwrContext* s;
    ~SwrFree() { swr_free(&s); }
  } guard{swr};
  check(swr_init(swr), "resample: swr_init");
  std::vector<float> out(want + 4096);
  std::size_t got = 0;
  constexpr std::size_t kChunk = 1 << 16;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t n = std::min(kChunk, x.size() - pos);
    const int cap = swr_get_out_samples(swr, static_cast<int>(n)) + 256;
    if (out.size() < got + static_cast<std::size_t>(cap)) out.resize(got + cap);
    auto* dst = reinterpret_cast<uint8_t*>(out.data() + got);
    const auto* src = reinterpret_cast<const uint8_t*>(x.data() + pos);
    const int rc = swr_convert(swr, &dst, cap, n ? &src : nullptr, static_cast<int>(n));
    check(rc, "resample: swr_convert");
    got += static_cast<std::size_t>(rc);
    pos += n;
    if (n == 0 && rc == 0) break;  // flushed
  }
  out.resize(got);
  out.resize(want, 0.0f);
  return out;
}

StreamResampler::StreamResampler(int from_rate, int to_rate)
    : from_rate_(from_rate), to_rate_(to_rate) {
  init();
}

StreamResampler::~StreamResampler() { swr_free(&swr_); }

void StreamResampler::init() {
  swr_free(&swr_);
  AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
  check(swr_alloc_set_opts2(&swr_, &mono, AV_SAMPLE_FMT_FLT, to_rate_, &mono, AV_SAMPLE_FMT_FLT,
                            from_rate_, 0, nullptr),
        "resample: swr_alloc_set_opts2");
  check(swr_init(swr_), "resample: swr_init");
}

void StreamResampler::process(std::span<const float> x, std::vector<float>& out) {
  if (x.empty()) return;
  const int cap = swr_get_out_samples(swr_, static_cast<int>(x.size())) + 256;
  const std::size_t at = out.size();
  out.resize(at + static_cast<std::size_t>(cap));
  auto* dst = reinterpret_cast<uint8_t*>(out.data() + at);
  const auto* src = reinterpret_cast<const uint8_t*>(x.data());
  const int rc = swr_convert(swr_, &dst, cap, &src, static_cast<int>(x.size()));
  check(rc, "resample: swr_convert");
  out.resize(at + static_cast<std::size_t>(rc));
}

void StreamResampler::flush(std::vector<float>& out) {
  for (;;) {
    const std::size_t at = out.size();
    out.resize(at + 4096);
    auto* dst = reinterpret_cast<uint8_t*>(out.data() + at);
    const int rc = swr_convert(swr_, &dst, 4096, nullptr, 0);
    check(rc, "resample: swr_convert");
    out.resize(at + static_cast<std::size_t>(rc));
    if (rc == 0) break;
  }
  init();
}

}  // namespace aircheck::dsp::decode
