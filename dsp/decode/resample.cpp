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

}  // namespace aircheck::dsp::decode
