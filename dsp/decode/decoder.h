// FFmpeg-based audio input: any file, URL or device FFmpeg opens -> mono float PCM at a chosen
// rate. Downmix and resampling are libswresample's.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace aircheck::dsp::decode {

/// Thrown by open() and read(); what() names the input and the reason in one line.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct OpenOptions {
  int sample_rate = 8000;   ///< output rate, in Hz
  int stream_index = -1;    ///< audio stream to read; -1 = FFmpeg's best audio stream
  int program_id = -1;      ///< MPEG-TS program to prefer; -1 = any
  double io_timeout_s = 0;  ///< network read timeout in seconds; 0 = FFmpeg default
  /// Polled by FFmpeg during blocking I/O; return true to abort (stall detection, shutdown).
  std::function<bool()> interrupt;
  std::map<std::string, std::string> format_options;  ///< passed to avformat_open_input
  /// What FFmpeg opens instead of the url, when not empty (e.g. "pipe:7", a descriptor already
  /// open); the url still names the input in messages.
  std::string open_url;
  /// Longest gap in the input's timestamps filled with silence (Decoder::read()), in seconds;
  /// 0: none.
  double max_gap_s = 60.0;
  /// A longer gap, up to this, is not filled but left to the caller to skip: read() returns
  /// after the frame that follows it, and take_skip() says where and how long (a live
  /// stream's sample clock jumps over it). 0: none (a longer jump fills nothing).
  double max_skip_s = 0;
};

struct Metadata {
  std::string title, artist, album, isrc;
  double duration_s = 0;  ///< container duration, 0 when unknown (live streams)
  std::string codec;      ///< decoder name, e.g. "mp3float"
  int source_rate = 0;    ///< native sample rate of the chosen stream, in Hz
  int source_channels = 0;
  // Set by decode_all() once the input is read (Decoder: errors(), filled_s()):
  uint64_t decode_errors = 0;  ///< damaged packets or frames skipped
  double filled_s = 0;         ///< audio they cost, filled with silence to keep the timeline
};

class Decoder {
 public:
  /// Opens `url` (a path or any URL FFmpeg supports) and its best audio stream.
  /// Throws DecodeError("PATH: no audio stream" / "PATH: Invalid data found ...").
  Decoder(const std::string& url, const OpenOptions& opts = {});
  ~Decoder();
  Decoder(Decoder&&) noexcept;
  Decoder& operator=(Decoder&&) noexcept;
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  /// Appends up to roughly `max_samples` decoded, resampled mono samples to `out`.
  /// Returns false at end of input (after the resampler's tail has been flushed).
  /// Corrupt packets are skipped and counted (errors()); throws DecodeError on an I/O failure
  /// or when the input is unusable as a whole.
  ///
  /// The output keeps the input's timeline: where the stream's timestamps jump ahead of the
  /// audio decoded so far (packets lost to damage, or never sent), the gap is filled with
  /// silence, up to OpenOptions::max_gap_s; a longer jump, or one backwards, is taken as a
  /// discontinuity of the timestamps themselves (a stream restarted) and nothing is filled.
  bool read(std::vector<float>& out, std::size_t max_samples = 8192);

  const Metadata& metadata() const;
  /// Whether the stream's own title changed since the last call (an Icecast or SHOUTcast
  /// station's "now playing", its ICY StreamTitle, which FFmpeg reads when the server sends
  /// it between the audio); `out` is then set to it. The audio read before the change is the
  /// audio before it, to within a read.
  bool take_title(std::string& out);
  /// Packets or frames that failed to decode and were skipped.
  uint64_t errors() const;
  /// Seconds of silence filled in for audio the input's timestamps say is missing.
  double filled_s() const;
  /// A gap left to skip (OpenOptions::max_skip_s) by the last read(): `samples` (at the output
  /// rate) belong before index `at` of the vector that read() appended to. At most one per
  /// read(); false when there is none. Clears it.
  bool take_skip(std::size_t& at, uint64_t& samples);
  /// Seconds of such gaps so far.
  double skipped_s() const;
  const std::string& url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// "URL: damaged: N packets could not be decoded; S s of audio lost, filled with silence so that
/// what follows keeps its time" (Decoder::errors(), Decoder::filled_s()), or "" when both are 0.
std::string describe_damage(const std::string& url, uint64_t errors, double filled_s);

/// Decodes a whole input. Throws DecodeError.
std::vector<float> decode_all(const std::string& url, const OpenOptions& opts = {},
                              Metadata* meta = nullptr);

/// Writes mono float PCM to a file through FFmpeg, format chosen by extension
/// (.wav, .flac, .ogg (Vorbis), .opus (Ogg/Opus), .mp3, .m4a/.aac). Used for evidence clips and
/// test media. `bitrate` in bit/s for lossy codecs, 0 = encoder default. `format`, when not
/// empty, is the extension to choose by instead of the path's own ("opus" for "clip.opus.part").
/// Throws DecodeError; a partly written file is left in place (the caller removes it).
void encode_file(const std::string& path, std::span<const float> pcm, int sample_rate,
                 int64_t bitrate = 0, const std::string& format = "");
/// The same with several audio streams in one file (test media: a multiplex of stations). In
/// an MPEG-TS (.ts) each stream is a program of its own, numbered from 1 in order. An HLS
/// playlist (.m3u8) lists every segment it writes beside it.
void encode_streams(const std::string& path, std::span<const std::span<const float>> streams,
                    int sample_rate, int64_t bitrate = 0, const std::string& format = "");

}  // namespace aircheck::dsp::decode
