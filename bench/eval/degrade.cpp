#include "bench/eval/degrade.h"

#include <fftw3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <numbers>
#include <stdexcept>
#include <tuple>

extern "C" {
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
}

#include "bench/eval/synth.h"
#include "dsp/decode/decoder.h"

namespace aircheck::eval {
namespace {

std::string av_error_text(int rc) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(rc, buf, sizeof buf);
  return buf;
}

void check_av(int rc, const char* what) {
  if (rc < 0) throw std::runtime_error(std::string(what) + ": " + av_error_text(rc));
}

double power(std::span<const float> x) {
  if (x.empty()) return 0;
  double s = 0;
  for (float v : x) s += static_cast<double>(v) * v;
  return s / static_cast<double>(x.size());
}

// ---- biquads (RBJ cookbook), transposed direct form II in double ----

struct Biquad {
  double b0, b1, b2, a1, a2;  // normalised by a0
  double z1 = 0, z2 = 0;

  double step(double x) {
    const double y = b0 * x + z1;
    z1 = b1 * x - a1 * y + z2;
    z2 = b2 * x - a2 * y;
    return y;
  }
};

Biquad lowpass(double rate, double f0, double q) {
  const double w = 2 * std::numbers::pi * f0 / rate;
  const double c = std::cos(w), alpha = std::sin(w) / (2 * q), a0 = 1 + alpha;
  return Biquad{(1 - c) / 2 / a0, (1 - c) / a0, (1 - c) / 2 / a0, -2 * c / a0, (1 - alpha) / a0};
}

Biquad highpass(double rate, double f0, double q) {
  const double w = 2 * std::numbers::pi * f0 / rate;
  const double c = std::cos(w), alpha = std::sin(w) / (2 * q), a0 = 1 + alpha;
  return Biquad{(1 + c) / 2 / a0, -(1 + c) / a0, (1 + c) / 2 / a0, -2 * c / a0, (1 - alpha) / a0};
}

// Q of the two sections of a 4th-order Butterworth filter, and of a 2nd-order one.
constexpr double kButter4Q1 = 0.54119610;
constexpr double kButter4Q2 = 1.30656296;
constexpr double kButter2Q = 0.70710678;

// ---- FFTW: make the planner safe for the worker threads that build plans concurrently ----

void fftw_thread_safe_once() {
  static std::once_flag once;
  std::call_once(once, [] { fftwf_make_planner_thread_safe(); });
}

struct FftwFree {
  void operator()(void* p) const { fftwf_free(p); }
};

// ---- codec delay calibration ----

std::string temp_name(const char* ext) {
  static std::atomic<uint64_t> counter{0};
  const auto dir = std::filesystem::temp_directory_path();
  return (dir / ("aircheck-eval-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter.fetch_add(1)) + ext))
      .string();
}

std::vector<float> roundtrip(std::span<const float> x, int rate, Codec codec, int64_t bitrate) {
  const std::string path = temp_name(codec == Codec::mp3 ? ".mp3" : ".m4a");
  struct Remove {
    std::string p;
    ~Remove() {
      std::error_code ec;
      std::filesystem::remove(p, ec);
    }
  } remove{path};
  dsp::decode::encode_file(path, x, rate, bitrate);
  dsp::decode::OpenOptions opts;
  opts.sample_rate = rate;
  return dsp::decode::decode_all(path, opts);
}

// Lag (in samples) of `y` relative to `x` in [-max_lag, max_lag], by cross-correlation over
// the first `window` samples.
long best_lag(std::span<const float> x, std::span<const float> y, long max_lag,
              std::size_t window) {
  long best = 0;
  double best_c = -1e300;
  const long n = static_cast<long>(std::min({window, x.size(), y.size()}));
  for (long lag = -max_lag; lag <= max_lag; ++lag) {
    double c = 0;
    for (long i = max_lag; i < n - max_lag; ++i) c += static_cast<double>(x[i]) * y[i + lag];
    if (c > best_c) {
      best_c = c;
      best = lag;
    }
  }
  return best;
}

long codec_delay(int rate, Codec codec, int64_t bitrate) {
  static std::mutex mu;
  static std::map<std::tuple<int, int, int64_t>, long> cache;
  const auto key = std::make_tuple(rate, static_cast<int>(codec), bitrate);
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  SynthOptions so;
  so.seconds = 3;
  so.sample_rate = rate;
  const auto probe = synth_music(0xC0DEC, so);
  const auto back = roundtrip(probe, rate, codec, bitrate);
  const long lag = best_lag(probe, back, rate / 10, static_cast<std::size_t>(rate));
  std::lock_guard lock(mu);
  cache.emplace(key, lag);
  return lag;
}

}  // namespace

double rms(std::span<const float> x) { return std::sqrt(power(x)); }

double snr_db(std::span<const float> signal, std::span<const float> noise) {
  return 10.0 * std::log10(power(signal) / power(noise));
}

std::vector<float> add_white_noise(std::span<const float> x, double snr, uint64_t seed) {
  std::vector<float> out(x.begin(), x.end());
  const double px = power(x);
  if (px <= 0) return out;
  const auto noise = white_noise(seed, x.size());
  const double pn = power(noise);
  const double g = std::sqrt(px / (std::pow(10.0, snr / 10.0) * pn));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] += static_cast<float>(g * noise[i]);
  return out;
}

std::vector<float> change_speed(std::span<const float> x, int rate, double ratio) {
  if (!(ratio > 0.25 && ratio < 4)) throw std::invalid_argument("change_speed: ratio out of range");
  const int from = static_cast<int>(std::lround(rate * ratio));
  return resample(x, from, rate);
}

std::vector<float> change_tempo(std::span<const float> x, int rate, double ratio) {
  if (!(ratio >= 0.5 && ratio <= 2))
    throw std::invalid_argument("change_tempo: ratio not in [0.5, 2]");
  AVFilterGraph* graph = avfilter_graph_alloc();
  if (!graph) throw std::runtime_error("change_tempo: out of memory");
  struct GraphFree {
    AVFilterGraph* g;
    ~GraphFree() { avfilter_graph_free(&g); }
  } guard{graph};
  const AVFilter* abuffer = avfilter_get_by_name("abuffer");
  const AVFilter* atempo = avfilter_get_by_name("atempo");
  const AVFilter* aformat = avfilter_get_by_name("aformat");
  const AVFilter* sink = avfilter_get_by_name("abuffersink");
  if (!abuffer || !atempo || !aformat || !sink) {
    throw std::runtime_error("change_tempo: libavfilter lacks abuffer/atempo/aformat/abuffersink");
  }
  char args[160];
  std::snprintf(args, sizeof args,
                "sample_rate=%d:sample_fmt=flt:channel_layout=mono:time_base=1/%d", rate, rate);
  AVFilterContext *src = nullptr, *tempo = nullptr, *fmt = nullptr, *out = nullptr;
  check_av(avfilter_graph_create_filter(&src, abuffer, "in", args, nullptr, graph),
           "change_tempo: abuffer");
  char targs[64];
  std::snprintf(targs, sizeof targs, "tempo=%.6f", ratio);
  check_av(avfilter_graph_create_filter(&tempo, atempo, "tempo", targs, nullptr, graph),
           "change_tempo: atempo");
  check_av(avfilter_graph_create_filter(&fmt, aformat, "fmt",
                                        "sample_fmts=flt:channel_layouts=mono", nullptr, graph),
           "change_tempo: aformat");
  check_av(avfilter_graph_create_filter(&out, sink, "out", nullptr, nullptr, graph),
           "change_tempo: abuffersink");
  check_av(avfilter_link(src, 0, tempo, 0), "change_tempo: link");
  check_av(avfilter_link(tempo, 0, fmt, 0), "change_tempo: link");
  check_av(avfilter_link(fmt, 0, out, 0), "change_tempo: link");
  check_av(avfilter_graph_config(graph, nullptr), "change_tempo: graph config");

  AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
  std::vector<float> y;
  y.reserve(static_cast<std::size_t>(static_cast<double>(x.size()) / ratio) + 4096);
  AVFrame* frame = av_frame_alloc();
  if (!frame) throw std::runtime_error("change_tempo: out of memory");
  struct FrameFree {
    AVFrame* f;
    ~FrameFree() { av_frame_free(&f); }
  } fguard{frame};
  auto drain = [&] {
    for (;;) {
      const int rc = av_buffersink_get_frame(out, frame);
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      check_av(rc, "change_tempo: buffersink");
      const auto* p = reinterpret_cast<const float*>(frame->extended_data[0]);
      y.insert(y.end(), p, p + frame->nb_samples);
      av_frame_unref(frame);
    }
  };
  constexpr std::size_t kChunk = 4096;
  for (std::size_t pos = 0; pos < x.size(); pos += kChunk) {
    const std::size_t n = std::min(kChunk, x.size() - pos);
    frame->format = AV_SAMPLE_FMT_FLT;
    frame->sample_rate = rate;
    frame->nb_samples = static_cast<int>(n);
    frame->pts = static_cast<int64_t>(pos);
    check_av(av_channel_layout_copy(&frame->ch_layout, &mono), "change_tempo: layout");
    check_av(av_frame_get_buffer(frame, 0), "change_tempo: frame buffer");
    std::copy_n(x.data() + pos, n, reinterpret_cast<float*>(frame->extended_data[0]));
    check_av(av_buffersrc_add_frame(src, frame), "change_tempo: buffersrc");
    av_frame_unref(frame);
    drain();
  }
  check_av(av_buffersrc_add_frame(src, nullptr), "change_tempo: flush");
  drain();
  return y;
}

std::vector<float> reencode(std::span<const float> x, int rate, Codec codec, int64_t bitrate) {
  const long lag = codec_delay(rate, codec, bitrate);
  const auto back = roundtrip(x, rate, codec, bitrate);
  std::vector<float> y(x.size(), 0.0f);
  for (std::size_t i = 0; i < y.size(); ++i) {
    const long j = static_cast<long>(i) + lag;
    if (j >= 0 && j < static_cast<long>(back.size())) y[i] = back[static_cast<std::size_t>(j)];
  }
  return y;
}

std::vector<float> band_limit(std::span<const float> x, int rate, Band band) {
  std::vector<Biquad> chain;
  const double r = rate;
  if (band == Band::telephone) {
    chain = {highpass(r, 300, kButter4Q1), highpass(r, 300, kButter4Q2),
             lowpass(r, 3400, kButter4Q1), lowpass(r, 3400, kButter4Q2)};
  } else {
    chain = {highpass(r, 100, kButter2Q), lowpass(r, 4500, kButter4Q1),
             lowpass(r, 4500, kButter4Q2)};
  }
  std::vector<float> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    double v = x[i];
    for (auto& bq : chain) v = bq.step(v);
    y[i] = static_cast<float>(v);
  }
  return y;
}

std::vector<float> compress(std::span<const float> x, int rate, const CompressorOptions& opt) {
  std::vector<float> y(x.size());
  const double level = rms(x);
  if (level <= 0) return {x.begin(), x.end()};
  const double thr_db = 20 * std::log10(level) + opt.threshold_db;
  const double att = std::exp(-1.0 / (opt.attack_ms * 1e-3 * rate));
  const double rel = std::exp(-1.0 / (opt.release_ms * 1e-3 * rate));
  const double slope = 1.0 - 1.0 / opt.ratio;
  double env = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double a = std::fabs(x[i]);
    const double k = a > env ? att : rel;
    env = k * env + (1 - k) * a;
    const double env_db = 20 * std::log10(std::max(env, 1e-9));
    const double gain_db = env_db > thr_db ? -(env_db - thr_db) * slope : 0.0;
    y[i] = static_cast<float>(x[i] * std::pow(10.0, gain_db / 20));
  }
  const double out_level = rms(y);
  if (out_level > 0) {
    const auto g = static_cast<float>(level / out_level);
    for (auto& v : y) v *= g;
  }
  return y;
}

std::vector<float> room_impulse(int rate, double rt60_s, double wet, uint64_t seed) {
  const auto n = static_cast<std::size_t>(rt60_s * rate);
  std::vector<float> h(std::max<std::size_t>(n, 1), 0.0f);
  h[0] = 1.0f;
  const auto pre = static_cast<std::size_t>(0.005 * rate);  // first reflections after 5 ms
  if (n <= pre + 1) return h;
  const auto noise = white_noise(seed, n);
  const double decay = std::log(1000.0) / (rt60_s * rate);  // amplitude -60 dB at rt60
  double energy = 0;
  for (std::size_t i = pre; i < n; ++i) {
    const double v = noise[i] * std::exp(-decay * static_cast<double>(i - pre));
    h[i] = static_cast<float>(v);
    energy += v * v;
  }
  const double g = std::sqrt(wet / energy);
  for (std::size_t i = pre; i < n; ++i) h[i] = static_cast<float>(h[i] * g);
  return h;
}

std::vector<float> convolve(std::span<const float> x, std::span<const float> h) {
  if (x.empty() || h.empty()) return std::vector<float>(x.size(), 0.0f);
  std::size_t n = 1;
  while (n < x.size() + h.size() - 1) n <<= 1;
  fftw_thread_safe_once();
  const std::size_t bins = n / 2 + 1;
  std::unique_ptr<float, FftwFree> a(static_cast<float*>(fftwf_malloc(sizeof(float) * n)));
  std::unique_ptr<float, FftwFree> b(static_cast<float*>(fftwf_malloc(sizeof(float) * n)));
  std::unique_ptr<fftwf_complex, FftwFree> fa(
      static_cast<fftwf_complex*>(fftwf_malloc(sizeof(fftwf_complex) * bins)));
  std::unique_ptr<fftwf_complex, FftwFree> fb(
      static_cast<fftwf_complex*>(fftwf_malloc(sizeof(fftwf_complex) * bins)));
  if (!a || !b || !fa || !fb) throw std::runtime_error("convolve: out of memory");
  const int ni = static_cast<int>(n);
  fftwf_plan pa = fftwf_plan_dft_r2c_1d(ni, a.get(), fa.get(), FFTW_ESTIMATE);
  fftwf_plan pb = fftwf_plan_dft_r2c_1d(ni, b.get(), fb.get(), FFTW_ESTIMATE);
  fftwf_plan pi = fftwf_plan_dft_c2r_1d(ni, fa.get(), a.get(), FFTW_ESTIMATE);
  struct Plans {
    fftwf_plan p[3];
    ~Plans() {
      for (auto q : p)
        if (q) fftwf_destroy_plan(q);
    }
  } plans{{pa, pb, pi}};
  if (!pa || !pb || !pi) throw std::runtime_error("convolve: FFTW could not plan");
  std::fill_n(a.get(), n, 0.0f);
  std::fill_n(b.get(), n, 0.0f);
  std::copy(x.begin(), x.end(), a.get());
  std::copy(h.begin(), h.end(), b.get());
  fftwf_execute(pa);
  fftwf_execute(pb);
  const float scale = 1.0f / static_cast<float>(n);
  for (std::size_t k = 0; k < bins; ++k) {
    const float re = fa.get()[k][0] * fb.get()[k][0] - fa.get()[k][1] * fb.get()[k][1];
    const float im = fa.get()[k][0] * fb.get()[k][1] + fa.get()[k][1] * fb.get()[k][0];
    fa.get()[k][0] = re * scale;
    fa.get()[k][1] = im * scale;
  }
  fftwf_execute(pi);
  return std::vector<float>(a.get(), a.get() + x.size());
}

std::vector<float> reverberate(std::span<const float> x, int rate, double rt60_s, double wet,
                               uint64_t seed) {
  const auto h = room_impulse(rate, rt60_s, wet, seed);
  return convolve(x, h);
}

std::vector<float> mix_at(std::span<const float> music, std::span<const float> other,
                          double ratio_db) {
  std::vector<float> y(music.begin(), music.end());
  if (other.empty() || music.empty()) return y;
  std::vector<float> o(music.size());
  for (std::size_t i = 0; i < o.size(); ++i) o[i] = other[i % other.size()];
  const double pm = rms(music), po = rms(o);
  if (pm <= 0 || po <= 0) return y;
  const double g = pm / po * std::pow(10.0, ratio_db / 20);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] += static_cast<float>(g * o[i]);
  return y;
}

void apply_gain(std::span<float> x, double gain_db) {
  const auto g = static_cast<float>(std::pow(10.0, gain_db / 20));
  for (auto& v : x) v *= g;
}

}  // namespace aircheck::eval
