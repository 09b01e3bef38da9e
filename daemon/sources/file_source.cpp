// `file` source: a file or FIFO decoded with dsp::decode::Decoder.
//
// pace=realtime (default): samples are released in 20 ms slices at the pace of
//   CLOCK_MONOTONIC, like a live feed; a consumer that falls behind loses samples (overflow),
//   exactly as with a sound card.
// pace=fast: a backfill, not a live capture. The producer waits for ring space instead of
//   dropping, so every sample arrives and the file is read as fast as the consumer drains it.
// start=ISO8601: utc_of(pos) = start + pos / rate exactly; without it the origin is the wall
//   clock at start(), or for a FIFO when its writer connected.
//
// A regular file is opened in start() (a missing or undecodable file throws there); a FIFO is
// opened on the capture thread, since opening blocks until a writer appears. stop() releases a
// FIFO open by briefly opening the write end; a FIFO whose writer stays connected but silent
// delays stop() until it writes or closes. A FIFO is a live feed (a capture program writing
// into it): FFmpeg reads only half a second of it to learn the stream (as a network stream,
// instead of up to 5 s), and its first sample is the one written when the writer connected:
// that is where its clock starts, and pace=realtime releases what arrived meanwhile at once.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <vector>

#include "daemon/sources/backends.h"
#include "daemon/sources/capture_source.h"
#include "daemon/sources/options.h"
#include "dsp/decode/decoder.h"

namespace aircheck::daemon::sources {

namespace {

namespace decode = aircheck::dsp::decode;

constexpr std::size_t kDecodeChunk = 4096;

class FileSource final : public CaptureSource {
 public:
  FileSource(const SourceSpec& spec, int sample_rate) : CaptureSource(spec, sample_rate) {
    fast_ = option_string(spec_, "pace", "realtime") == "fast";
    if (spec_.options.count("start")) start_utc_ = parse_utc(spec_.options.at("start"));
    opts_.sample_rate = rate_;
    opts_.interrupt = [this] { return stopping(); };
    buf_.reserve(kDecodeChunk * 4);
  }
  ~FileSource() override {
    join();
    decoder_.reset();
    if (fifo_fd_ >= 0) ::close(fifo_fd_);
  }

 private:
  void prepare() override {
    struct stat st {};
    if (::stat(spec_.address.c_str(), &st) != 0) {
      throw std::runtime_error("source '" + spec_.id + "': " + spec_.address + ": " +
                               std::strerror(errno));
    }
    fifo_ = S_ISFIFO(st.st_mode);
    if (!fifo_) decoder_.emplace(spec_.address, opts_);
    clock_.set_fixed(start_utc_ ? *start_utc_ : rt::SampleClock::real_now());
  }

  void interrupt() noexcept override {
    if (!fifo_) return;
    const int fd = ::open(spec_.address.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
  }

  void run() noexcept override {
    try {
      t0_ = rt::SampleClock::mono_now();
      if (!decoder_) {
        // Blocks until a writer connects (or stop() opens the write end); FFmpeg reads this
        // descriptor (a writer that wrote little and closed at once would leave a second
        // open of the FIFO waiting for the next writer).
        fifo_fd_ = ::open(spec_.address.c_str(), O_RDONLY | O_CLOEXEC);
        if (stopping()) return;
        if (fifo_fd_ < 0) throw std::runtime_error(spec_.address + ": " + std::strerror(errno));
        t0_ = rt::SampleClock::mono_now();
        if (!start_utc_) clock_.set_fixed(rt::SampleClock::real_now());
        decode::OpenOptions fifo = opts_;
        fifo.open_url = "pipe:" + std::to_string(fifo_fd_);
        fifo.format_options["analyzeduration"] = "500000";
        decoder_.emplace(spec_.address, fifo);
      }
      ring_.post(HealthEvent::Type::up);
      for (;;) {
        buf_.clear();
        const bool more = decoder_->read(buf_, kDecodeChunk);
        if (stopping()) return;
        if (!(fast_ ? feed_fast(buf_) : feed_paced(buf_))) return;
        if (!more) break;
      }
      finish_note_ =
          decode::describe_damage(spec_.address, decoder_->errors(), decoder_->filled_s());
    } catch (const std::exception& e) {
      if (stopping()) return;
      ring_.post(HealthEvent::Type::down, e.what());
    }
    ring_.set_done();
  }

  /// Waits for room instead of dropping. Returns false when stopping.
  bool feed_fast(std::span<const float> s) noexcept {
    while (!s.empty()) {
      const std::size_t room = ring_.write_space();
      if (room == 0) {
        if (!sleep_for(0.002)) return false;
        continue;
      }
      s = s.subspan(ring_.write(s.first(std::min(room, s.size()))));
    }
    return true;
  }

  /// Releases 20 ms slices no earlier than their capture time would be. Returns false when
  /// stopping.
  bool feed_paced(std::span<const float> s) noexcept {
    const std::size_t slice = static_cast<std::size_t>(rate_ / 50);
    while (!s.empty()) {
      const std::size_t n = std::min(slice, s.size());
      const double due = t0_ + static_cast<double>(ring_.produced() + n) / rate_;
      const double wait = due - rt::SampleClock::mono_now();
      if (wait > 0 && !sleep_for(wait)) return false;
      ring_.write(s.first(n));
      s = s.subspan(n);
    }
    return true;
  }

  bool fast_ = false;
  bool fifo_ = false;
  int fifo_fd_ = -1;  // the FIFO's read end, once a writer connected; FFmpeg reads it
  std::optional<double> start_utc_;
  decode::OpenOptions opts_;
  std::optional<decode::Decoder> decoder_;
  std::vector<float> buf_;
  double t0_ = 0;
};

}  // namespace

std::unique_ptr<Source> make_file_source(const SourceSpec& spec, int sample_rate) {
  return std::make_unique<FileSource>(spec, sample_rate);
}

}  // namespace aircheck::daemon::sources
