// A live audio source: one capture thread writing mono PCM into its own SPSC ring.
//
// Threads: the capture thread (owned by the Source) is the ring's only producer; exactly one
// worker at a time is its consumer (read_block / poll_health). start()/stop() are called from
// the control thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

namespace aircheck::daemon {

enum class SourceKind { file, alsa, portaudio, stream };

/// What a source is, as parsed from config or from `--source ID=SPEC`.
struct SourceSpec {
  std::string id;
  SourceKind kind = SourceKind::file;
  std::string address;                         ///< path, PCM name, device, or URL
  std::map<std::string, std::string> options;  ///< kind-specific (pace, start, program, ...)
  friend bool operator==(const SourceSpec&, const SourceSpec&) = default;
};

/// Parses "file:PATH?pace=fast&start=2026-01-01T00:00:00Z", "alsa:PCM", "pa:DEVICE",
/// "http://...", "srt://...", "udp://...". Throws std::invalid_argument naming the spec.
SourceSpec parse_source_spec(const std::string& id, const std::string& spec);

/// Health reported by a source, drained by a worker (never on the capture path).
struct HealthEvent {
  /// title: a stream's own "now playing" (Icecast / SHOUTcast StreamTitle) changed.
  /// damage: a stream lost packets on the way (a UDP feed's datagrams, a damaged frame): the
  /// audio they carried, as far as the stream's timestamps say, was filled with silence.
  enum class Type { up, down, overflow, finished, title, damage } type;
  uint64_t pos = 0;       ///< source sample clock, in samples, where it happened (damage: the end)
  uint64_t count = 0;     ///< overflow: samples dropped; damage: samples of audio lost (filled)
  uint64_t errors = 0;    ///< damage: packets or frames that failed to decode
  uint64_t from_pos = 0;  ///< damage: where its first loss was (within a decoder read)
  std::string reason;     ///< down: why (names the URL/device and the error); title: the title;
                          ///< damage: the losses in words, naming the URL
  /// Longest title carried (bytes; longer ones are cut): the capture ring's record.
  static constexpr std::size_t kTitleBytes = 239;
};

/// A contiguous block of samples in the source's own sample clock.
struct Block {
  uint64_t pos = 0;                ///< sample-clock position of samples[0]
  std::span<const float> samples;  ///< valid until the next read_block()
};

class Source {
 public:
  virtual ~Source() = default;
  virtual const SourceSpec& spec() const = 0;
  /// Starts the capture thread. Throws std::runtime_error if the source cannot be set up at
  /// all (bad device name); transient failures are reported as HealthEvent::down instead.
  virtual void start() = 0;
  /// Stops capture and joins the thread. Idempotent.
  virtual void stop() = 0;
  /// Consumer side: the next block of samples, or an empty span if none is ready. Gaps left by
  /// overflow show as a jump in `pos`. Never blocks.
  virtual Block read_block() = 0;
  /// Consumer side: next health event, if any. Never blocks.
  virtual bool poll_health(HealthEvent& ev) = 0;
  /// Wall-clock time (Unix seconds) of sample-clock position `pos`, drift-corrected.
  virtual double utc_of(uint64_t pos) const = 0;
  /// True once a finite source (file, pace=fast) has delivered its last sample.
  virtual bool finished() const = 0;
  /// Once finished(): what the source has to say about its input as a whole (a file's damage:
  /// packets lost and the silence that kept its time), or "".
  virtual std::string finish_note() const { return {}; }
  /// Samples dropped so far because the consumer fell behind.
  virtual uint64_t overflowed() const = 0;
};

/// Creates the backend for `spec` producing mono float PCM at `sample_rate`.
/// Throws std::invalid_argument for a kind this build lacks (naming the CMake option).
std::unique_ptr<Source> make_source(const SourceSpec& spec, int sample_rate);

}  // namespace aircheck::daemon
