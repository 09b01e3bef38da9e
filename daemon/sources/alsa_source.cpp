// `alsa` source: a libasound capture PCM by name (hw:, plughw:, default, or any PCM defined in
// asoundrc).
//
// Setup: non-blocking open; interleaved access; FLOAT_LE if the PCM offers it, else S16_LE;
// 2 channels when the PCM allows it, else its nearest count; rate option `rate` (default
// 48000, nearest the PCM offers); 20 ms periods, ~500 ms buffer. The Resampler (libswresample)
// downmixes to mono and resamples to the fingerprint rate.
//
// Capture loop (capture thread): snd_pcm_wait (200 ms, so stop() is noticed) -> snd_pcm_readi
// -> Resampler -> ring. An xrun or suspend is recovered with snd_pcm_recover and the sample
// clock skipped over what was lost. Any other error (device unplugged: -ENODEV) closes the
// PCM, reports down naming the PCM and the error, and reopens with backoff (1 s doubling to
// 30 s) until it works, then reports up.
//
// start() throws std::runtime_error when the name does not resolve to a PCM at all (unknown
// name or bad parameters); an existing device that is busy or absent is retried instead.
#include <alsa/asoundlib.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/sources/backends.h"
#include "daemon/sources/capture_source.h"
#include "daemon/sources/options.h"
#include "daemon/sources/resampler.h"

namespace aircheck::daemon::sources {

namespace {

constexpr double kBackoffFirst = 1, kBackoffMax = 30;

struct PcmCloser {
  void operator()(snd_pcm_t* p) const noexcept { snd_pcm_close(p); }
};
using Pcm = std::unique_ptr<snd_pcm_t, PcmCloser>;

/// An opened and running capture PCM with its conversion.
struct Device {
  Pcm pcm;
  Resampler::Format format = Resampler::Format::s16;
  unsigned channels = 0, rate = 0;
  snd_pcm_uframes_t period = 0;
  std::vector<unsigned char> buf;  ///< one period of interleaved frames
  std::unique_ptr<Resampler> resampler;
};

class AlsaOpenError : public std::runtime_error {
 public:
  AlsaOpenError(const std::string& what, int err) : std::runtime_error(what), code(err) {}
  int code;
};

class AlsaSource final : public CaptureSource {
 public:
  AlsaSource(const SourceSpec& spec, int sample_rate)
      : CaptureSource(spec, sample_rate),
        want_rate_(static_cast<unsigned>(option_int(spec_, "rate", 48000, 4000, 384000))) {}
  ~AlsaSource() override { join(); }

 private:
  std::string pcm_error(const std::string& step, int err) const {
    return "ALSA capture PCM '" + spec_.address + "': " + step + ": " + snd_strerror(err);
  }

  void check(int err, const char* step) const {
    if (err < 0) throw AlsaOpenError(pcm_error(step, err), err);
  }

  Device open_device() const {
    Device d;
    snd_pcm_t* raw = nullptr;
    const int err =
        snd_pcm_open(&raw, spec_.address.c_str(), SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK);
    if (err < 0) {
      throw AlsaOpenError(pcm_error("cannot open", err) + " (list capture PCMs with `arecord -L`)",
                          err);
    }
    d.pcm.reset(raw);
    snd_pcm_t* p = raw;
    snd_pcm_hw_params_t* hw = nullptr;
    snd_pcm_hw_params_alloca(&hw);
    check(snd_pcm_hw_params_any(p, hw), "no hardware configuration");
    check(snd_pcm_hw_params_set_access(p, hw, SND_PCM_ACCESS_RW_INTERLEAVED),
          "interleaved access not supported");
    if (snd_pcm_hw_params_test_format(p, hw, SND_PCM_FORMAT_FLOAT_LE) == 0) {
      check(snd_pcm_hw_params_set_format(p, hw, SND_PCM_FORMAT_FLOAT_LE), "set format FLOAT_LE");
      d.format = Resampler::Format::f32;
    } else {
      check(snd_pcm_hw_params_set_format(p, hw, SND_PCM_FORMAT_S16_LE),
            "neither FLOAT_LE nor S16_LE supported (try plughw: instead of hw:)");
      d.format = Resampler::Format::s16;
    }
    unsigned ch = 2;
    check(snd_pcm_hw_params_set_channels_near(p, hw, &ch), "set channels");
    unsigned rate = want_rate_;
    check(snd_pcm_hw_params_set_rate_near(p, hw, &rate, nullptr), "set rate");
    unsigned period_us = 20000, buffer_us = 500000;
    check(snd_pcm_hw_params_set_buffer_time_near(p, hw, &buffer_us, nullptr), "set buffer time");
    check(snd_pcm_hw_params_set_period_time_near(p, hw, &period_us, nullptr), "set period time");
    check(snd_pcm_hw_params(p, hw), "apply hardware parameters");
    check(snd_pcm_hw_params_get_period_size(hw, &d.period, nullptr), "get period size");
    d.channels = ch;
    d.rate = rate;

    snd_pcm_sw_params_t* sw = nullptr;
    snd_pcm_sw_params_alloca(&sw);
    check(snd_pcm_sw_params_current(p, sw), "read software parameters");
    check(snd_pcm_sw_params_set_avail_min(p, sw, d.period), "set avail_min");
    check(snd_pcm_sw_params(p, sw), "apply software parameters");

    const std::size_t bytes = d.format == Resampler::Format::f32 ? 4 : 2;
    d.buf.resize(d.period * ch * bytes);
    try {
      d.resampler = std::make_unique<Resampler>(static_cast<int>(rate), static_cast<int>(ch),
                                                d.format, rate_, d.period);
    } catch (const std::exception& e) {
      throw AlsaOpenError(pcm_error("conversion", -EINVAL) + ": " + e.what(), -EINVAL);
    }
    check(snd_pcm_prepare(p), "prepare");
    check(snd_pcm_start(p), "start");
    return d;
  }

  void prepare() override {
    clock_.set_live();
    try {
      first_.emplace(open_device());
    } catch (const AlsaOpenError& e) {
      // Unknown names and unusable configurations cannot get better by waiting.
      if (e.code == -ENOENT || e.code == -EINVAL || e.code == -ENXIO) {
        throw std::runtime_error("source '" + spec_.id + "': " + e.what());
      }
      first_error_ = e.what();
    }
  }

  /// Reads until stop or a non-recoverable error; returns the error text ("" on stop).
  std::string capture(Device& d) noexcept {
    snd_pcm_t* p = d.pcm.get();
    while (!stopping()) {
      const int ready = snd_pcm_wait(p, 200);
      if (stopping()) break;
      int err = 0;
      if (ready < 0) {
        err = ready;
      } else if (ready == 0) {
        continue;
      } else {
        const snd_pcm_sframes_t n = snd_pcm_readi(p, d.buf.data(), d.period);
        if (n == -EAGAIN) continue;
        if (n < 0) {
          err = static_cast<int>(n);
        } else if (n > 0) {
          ring_.write(d.resampler->convert(d.buf.data(), static_cast<std::size_t>(n)));
          clock_.observe(ring_.produced());
          continue;
        }
      }
      if (err == -EPIPE || err == -ESTRPIPE || err == -EINTR) {
        if (snd_pcm_recover(p, err, 1) == 0 && snd_pcm_start(p) >= 0) {
          resync();
          continue;
        }
      }
      if (err < 0) return pcm_error("read failed", err);
    }
    return {};
  }

  void run() noexcept override {
    double backoff = kBackoffFirst;
    bool reported_down = false;
    std::string error = first_error_;
    while (!stopping()) {
      std::optional<Device> dev;
      if (first_) {
        dev.swap(first_);
      } else if (error.empty()) {
        try {
          dev.emplace(open_device());
        } catch (const std::exception& e) {
          error = e.what();
        }
      }
      if (dev) {
        resync();
        ring_.post(HealthEvent::Type::up);
        reported_down = false;
        backoff = kBackoffFirst;
        error = capture(*dev);
        dev.reset();
        if (error.empty()) return;  // stopping
      }
      if (!reported_down) {
        ring_.post(HealthEvent::Type::down, error);
        reported_down = true;
      }
      error.clear();
      if (!sleep_for(backoff)) return;
      backoff = std::min(backoff * 2, kBackoffMax);
    }
  }

  const unsigned want_rate_;
  std::optional<Device> first_;
  std::string first_error_;
};

}  // namespace

std::unique_ptr<Source> make_alsa_source(const SourceSpec& spec, int sample_rate) {
  return std::make_unique<AlsaSource>(spec, sample_rate);
}

}  // namespace aircheck::daemon::sources
