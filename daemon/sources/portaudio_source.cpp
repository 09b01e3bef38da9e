// `pa` source: a PortAudio input device, by index ("pa:3") or by name ("pa:USB Audio"; an
// exact name wins, else a unique substring match).
//
// The PortAudio callback is the capture path: it converts the device's float frames to mono
// at the fingerprint rate with the Resampler (libswresample, allocation-free after its
// construction-time warm-up) and writes them to the ring. Resampling there is bounded CPU
// work on a fixed 20 ms buffer; doing it on the consumer side would move the sample clock to
// the device rate, which the Source contract does not allow. The callback never allocates,
// locks, logs or throws, and reports input overflows by skipping the sample clock.
//
// The source's own thread supervises: it posts `up` once the stream runs, and when callbacks
// stop for 2 s or the stream goes inactive (device unplugged) it closes the stream, posts
// `down`, and reopens with backoff (1 s doubling to 30 s). Health records and the clock are
// produced by the callback while a stream is open and by the supervisor only after
// Pa_CloseStream has joined the callback thread, so each ring keeps a single producer.
#include <portaudio.h>

#include <atomic>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <string>

#include "daemon/sources/backends.h"
#include "daemon/sources/capture_source.h"
#include "daemon/sources/options.h"
#include "daemon/sources/resampler.h"

namespace aircheck::daemon::sources {

namespace {

constexpr double kBackoffFirst = 1, kBackoffMax = 30, kSilentLimit = 2;

/// Pa_Initialize / Pa_Terminate pair (PortAudio counts nested calls).
class PaLibrary {
 public:
  PaLibrary() {
    const PaError err = Pa_Initialize();
    if (err != paNoError) {
      throw std::runtime_error(std::string("PortAudio: cannot initialise: ") +
                               Pa_GetErrorText(err));
    }
  }
  ~PaLibrary() { Pa_Terminate(); }
  PaLibrary(const PaLibrary&) = delete;
  PaLibrary& operator=(const PaLibrary&) = delete;
};

class PortAudioSource final : public CaptureSource {
 public:
  PortAudioSource(const SourceSpec& spec, int sample_rate)
      : CaptureSource(spec, sample_rate),
        want_rate_(static_cast<int>(option_int(spec_, "rate", 0, 0, 384000))) {}
  ~PortAudioSource() override {
    join();
    close_stream();
  }

 private:
  std::string pa_error(const std::string& step, PaError err) const {
    return "PortAudio device '" + spec_.address + "': " + step + ": " + Pa_GetErrorText(err);
  }

  /// Device index for spec_.address, or a message listing the input devices.
  PaDeviceIndex find_device(std::string& error) const {
    const PaDeviceIndex count = Pa_GetDeviceCount();
    if (count < 0) {
      error = pa_error("cannot list devices", count);
      return paNoDevice;
    }
    const std::string& want = spec_.address;
    bool numeric = !want.empty();
    for (char c : want) numeric = numeric && std::isdigit(static_cast<unsigned char>(c));
    if (numeric) {
      const long i = std::stol(want);
      if (i < count && Pa_GetDeviceInfo(static_cast<PaDeviceIndex>(i))->maxInputChannels > 0) {
        return static_cast<PaDeviceIndex>(i);
      }
    }
    PaDeviceIndex partial = paNoDevice;
    int partial_count = 0;
    std::string inputs;
    for (PaDeviceIndex i = 0; i < count; ++i) {
      const PaDeviceInfo* info = Pa_GetDeviceInfo(i);
      if (!info || info->maxInputChannels <= 0) continue;
      const std::string name = info->name;
      inputs += (inputs.empty() ? "" : ", ") + std::to_string(i) + ":'" + name + "'";
      if (name == want) return i;
      if (name.find(want) != std::string::npos) {
        partial = i;
        ++partial_count;
      }
    }
    if (partial_count == 1) return partial;
    error = "PortAudio device '" + want +
            "': " + (partial_count > 1 ? "ambiguous name" : "no such input device") +
            "; input devices: " + (inputs.empty() ? "none" : inputs);
    return paNoDevice;
  }

  /// Opens and starts the stream; returns "" or the error.
  std::string open_stream() {
    std::string error;
    const PaDeviceIndex dev = find_device(error);
    if (dev == paNoDevice) return error;
    const PaDeviceInfo* info = Pa_GetDeviceInfo(dev);
    PaStreamParameters in{};
    in.device = dev;
    in.channelCount = std::min(2, info->maxInputChannels);
    in.sampleFormat = paFloat32;
    in.suggestedLatency = info->defaultHighInputLatency;
    const double rate = want_rate_ > 0 ? want_rate_ : info->defaultSampleRate;
    frames_ = static_cast<unsigned long>(rate / 50);
    try {
      resampler_.emplace(static_cast<int>(rate), in.channelCount, Resampler::Format::f32, rate_,
                         frames_);
    } catch (const std::exception& e) {
      return "PortAudio device '" + spec_.address + "': " + e.what();
    }
    channels_ = static_cast<unsigned>(in.channelCount);
    callbacks_.store(0, std::memory_order_relaxed);
    announced_ = false;
    PaError err = Pa_OpenStream(&stream_, &in, nullptr, rate, frames_, paClipOff,
                                &PortAudioSource::callback, this);
    if (err != paNoError) {
      stream_ = nullptr;
      return pa_error("cannot open input stream at " + std::to_string(rate) + " Hz", err);
    }
    if ((err = Pa_StartStream(stream_)) != paNoError) {
      close_stream();
      return pa_error("cannot start stream", err);
    }
    return {};
  }

  void close_stream() noexcept {
    if (!stream_) return;
    Pa_AbortStream(stream_);
    Pa_CloseStream(stream_);
    stream_ = nullptr;
  }

  static int callback(const void* input, void*, unsigned long frames,
                      const PaStreamCallbackTimeInfo*, PaStreamCallbackFlags flags,
                      void* self) noexcept {
    static_cast<PortAudioSource*>(self)->on_audio(static_cast<const float*>(input), frames, flags);
    return paContinue;
  }

  void on_audio(const float* input, unsigned long frames, PaStreamCallbackFlags flags) noexcept {
    if (!announced_) {
      announced_ = true;
      resync();
      ring_.post(HealthEvent::Type::up);
    }
    if (flags & paInputOverflow) resync();
    while (input && frames > 0) {
      const unsigned long n = std::min(frames, frames_);
      ring_.write(resampler_->convert(input, n));
      input += n * channels_;
      frames -= n;
    }
    clock_.observe(ring_.produced());
    callbacks_.fetch_add(1, std::memory_order_relaxed);
  }

  void prepare() override {
    clock_.set_live();
    lib_.emplace();
    std::string error;
    if (find_device(error) == paNoDevice) {
      throw std::runtime_error("source '" + spec_.id + "': " + error);
    }
  }

  void run() noexcept override {
    double backoff = kBackoffFirst;
    bool reported_down = false;
    while (!stopping()) {
      std::string error;
      try {
        error = open_stream();
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (error.empty()) {
        backoff = kBackoffFirst;
        reported_down = false;
        uint64_t seen = 0;
        double last_progress = rt::SampleClock::mono_now();
        while (sleep_for(0.2)) {
          const uint64_t c = callbacks_.load(std::memory_order_relaxed);
          const double now = rt::SampleClock::mono_now();
          if (c != seen) {
            seen = c;
            last_progress = now;
          }
          if (Pa_IsStreamActive(stream_) != 1) {
            error = "PortAudio device '" + spec_.address + "': stream stopped";
            break;
          }
          if (now - last_progress > kSilentLimit) {
            error = "PortAudio device '" + spec_.address + "': no audio for 2 s";
            break;
          }
        }
        close_stream();  // joins the callback: this thread is the producer from here on
        if (stopping()) return;
      }
      if (!reported_down) {
        ring_.post(HealthEvent::Type::down, error);
        reported_down = true;
      }
      if (!sleep_for(backoff)) return;
      backoff = std::min(backoff * 2, kBackoffMax);
    }
  }

  const int want_rate_;
  std::optional<PaLibrary> lib_;
  PaStream* stream_ = nullptr;
  std::optional<Resampler> resampler_;
  unsigned long frames_ = 0;
  unsigned channels_ = 1;
  bool announced_ = false;
  std::atomic<uint64_t> callbacks_{0};
};

}  // namespace

std::unique_ptr<Source> make_portaudio_source(const SourceSpec& spec, int sample_rate) {
  return std::make_unique<PortAudioSource>(spec, sample_rate);
}

}  // namespace aircheck::daemon::sources
