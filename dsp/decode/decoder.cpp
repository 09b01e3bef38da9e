#include "dsp/decode/decoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>
}

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace aircheck::dsp::decode {
namespace {

// FFmpeg's own console chatter is off; errors reach the caller as DecodeError.
void quiet_ffmpeg_logs() {
  static const bool once = [] {
    if (!std::getenv("AIRCHECK_FFMPEG_LOG")) av_log_set_level(AV_LOG_QUIET);
    return true;
  }();
  (void)once;
}

std::string av_err(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

[[noreturn]] void fail(const std::string& url, const std::string& what, int code = 0) {
  std::string msg = url + ": " + what;
  if (code != 0) msg += ": " + av_err(code);
  throw DecodeError(msg);
}

struct FormatCtxDeleter {
  void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
struct CodecCtxDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct SwrDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};

std::string tag(const AVDictionary* d, const char* key) {
  const AVDictionaryEntry* e = av_dict_get(d, key, nullptr, 0);
  return e ? std::string(e->value) : std::string();
}

}  // namespace

struct Decoder::Impl {
  std::string url;
  OpenOptions opts;
  std::unique_ptr<AVFormatContext, FormatCtxDeleter> fmt;
  std::unique_ptr<AVCodecContext, CodecCtxDeleter> codec;
  std::unique_ptr<SwrContext, SwrDeleter> swr;
  std::unique_ptr<AVPacket, PacketDeleter> pkt{av_packet_alloc()};
  std::unique_ptr<AVFrame, FrameDeleter> frame{av_frame_alloc()};
  int stream = -1;
  Metadata meta;
  uint64_t errors = 0;
  uint64_t errors_in_a_row = 0;  // corrupt container packets since the last good frame
  uint64_t frames_ok = 0;
  // The timeline (keep_timeline()): where the next frame should start, in samples at
  // next_rate (the rate of the frame before), from the stream's timestamps.
  int64_t next_in = 0;
  int next_rate = 0;
  int64_t start_time = AV_NOPTS_VALUE;  // the stream's, in its time base
  bool anchored = false;                // the timeline has started
  uint64_t filled = 0;                  // output samples of silence filled in
  double filled_exact = 0;              // ... before rounding
  uint64_t skipped = 0;                 // output samples of gaps left to skip
  double skipped_exact = 0;             // ... before rounding
  bool skip_pending = false;            // a gap to skip, not yet taken (take_skip)
  std::size_t skip_at = 0;              // ... before this index of read()'s vector
  uint64_t skip_samples = 0;
  // Input layout the resampler was set up for.
  int swr_rate = 0;
  int swr_fmt = -1;
  AVChannelLayout swr_layout{};
  bool eof_sent = false;      // flush packet sent to the decoder
  bool decoder_done = false;  // decoder fully drained
  bool done = false;          // resampler drained too
  std::string title;          // the stream's StreamTitle (ICY), as last seen
  bool title_changed = false;

  static int interrupt_cb(void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    return self->opts.interrupt && self->opts.interrupt() ? 1 : 0;
  }

  Impl(const std::string& u, const OpenOptions& o) : url(u), opts(o) {
    quiet_ffmpeg_logs();
    if (!pkt || !frame) throw std::bad_alloc();
    AVFormatContext* f = avformat_alloc_context();
    if (!f) throw std::bad_alloc();
    f->interrupt_callback.callback = &Impl::interrupt_cb;
    f->interrupt_callback.opaque = this;
    AVDictionary* dict = nullptr;
    for (const auto& [k, v] : opts.format_options) av_dict_set(&dict, k.c_str(), v.c_str(), 0);
    if (opts.io_timeout_s > 0)
      av_dict_set_int(&dict, "rw_timeout", static_cast<int64_t>(opts.io_timeout_s * 1e6), 0);
    const std::string& target = opts.open_url.empty() ? url : opts.open_url;
    int rc = avformat_open_input(&f, target.c_str(), nullptr, &dict);  // frees f on failure
    av_dict_free(&dict);
    if (rc < 0) fail(url, "cannot open", rc);
    fmt.reset(f);
    rc = avformat_find_stream_info(fmt.get(), nullptr);
    if (rc < 0) fail(url, "cannot read stream information", rc);

    int wanted = opts.stream_index;
    if (opts.program_id >= 0) {
      const AVProgram* prog = nullptr;
      for (unsigned i = 0; i < fmt->nb_programs; ++i)
        if (fmt->programs[i]->id == opts.program_id) prog = fmt->programs[i];
      if (!prog) fail(url, "no program " + std::to_string(opts.program_id) + " in this stream");
      for (unsigned i = 0; i < prog->nb_stream_indexes && wanted < 0; ++i) {
        const unsigned si = prog->stream_index[i];
        if (fmt->streams[si]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
          wanted = static_cast<int>(si);
      }
      if (wanted < 0) fail(url, "program " + std::to_string(opts.program_id) + " has no audio");
    }
    const AVCodec* dec = nullptr;
    stream = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_AUDIO, wanted, -1, &dec, 0);
    if (stream < 0) fail(url, "no audio stream");
    if (!dec) fail(url, "no decoder for the audio codec");
    AVStream* st = fmt->streams[stream];
    // Formats whose timestamps may jump by design (MPEG-TS: a stream's start_time can lie
    // ahead of its first audio frame) start their timeline at the first frame instead.
    if (!(fmt->iformat->flags & AVFMT_TS_DISCONT)) start_time = st->start_time;
    for (unsigned i = 0; i < fmt->nb_streams; ++i)
      if (static_cast<int>(i) != stream) fmt->streams[i]->discard = AVDISCARD_ALL;

    codec.reset(avcodec_alloc_context3(dec));
    if (!codec) throw std::bad_alloc();
    rc = avcodec_parameters_to_context(codec.get(), st->codecpar);
    if (rc < 0) fail(url, "bad codec parameters", rc);
    codec->pkt_timebase = st->time_base;
    // A FLAC frame whose checksum fails (every frame carries one) is an error, not audio: it
    // is skipped, counted, and its time kept as silence (keep_timeline()), instead of damaged
    // bits decoded into a burst of noise. Lossy codecs keep FFmpeg's default concealment.
    if (dec->id == AV_CODEC_ID_FLAC) codec->err_recognition |= AV_EF_CRCCHECK | AV_EF_EXPLODE;
    rc = avcodec_open2(codec.get(), dec, nullptr);
    if (rc < 0) fail(url, std::string("cannot open decoder ") + dec->name, rc);

    note_title();
    meta.title = tag(fmt->metadata, "title");
    meta.artist = tag(fmt->metadata, "artist");
    meta.album = tag(fmt->metadata, "album");
    meta.isrc = tag(fmt->metadata, "isrc");
    if (meta.title.empty()) meta.title = tag(st->metadata, "title");
    if (meta.artist.empty()) meta.artist = tag(st->metadata, "artist");
    if (meta.isrc.empty()) meta.isrc = tag(st->metadata, "isrc");
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
      meta.duration_s = static_cast<double>(st->duration) * av_q2d(st->time_base);
    else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
      meta.duration_s = static_cast<double>(fmt->duration) / AV_TIME_BASE;
    meta.codec = dec->name;
    meta.source_rate = codec->sample_rate;
    meta.source_channels = codec->ch_layout.nb_channels;
  }

  ~Impl() { av_channel_layout_uninit(&swr_layout); }

  // FFmpeg copies a stream's metadata that came between its data (ICY) into the context's
  // and flags the update.
  void note_title() {
    fmt->event_flags &= ~AVFMT_EVENT_FLAG_METADATA_UPDATED;
    const AVDictionaryEntry* e = av_dict_get(fmt->metadata, "StreamTitle", nullptr, 0);
    if (e && title != e->value) {
      title = e->value;
      title_changed = true;
    }
  }

  void setup_resampler(const AVFrame* f) {
    AVChannelLayout in{};
    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || f->ch_layout.nb_channels <= 0)
      av_channel_layout_default(&in, std::max(1, f->ch_layout.nb_channels));
    else
      av_channel_layout_copy(&in, &f->ch_layout);
    if (swr && swr_rate == f->sample_rate && swr_fmt == f->format &&
        av_channel_layout_compare(&in, &swr_layout) == 0) {
      av_channel_layout_uninit(&in);
      return;
    }
    // A format change mid-stream: drain what the old resampler holds is not worth the
    // complexity for a few samples; start the new one clean.
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    SwrContext* s = nullptr;
    int rc =
        swr_alloc_set_opts2(&s, &mono, AV_SAMPLE_FMT_FLT, opts.sample_rate, &in,
                            static_cast<AVSampleFormat>(f->format), f->sample_rate, 0, nullptr);
    if (rc < 0 || !s) {
      av_channel_layout_uninit(&in);
      fail(url, "cannot set up the resampler", rc);
    }
    rc = swr_init(s);
    if (rc < 0) {
      swr_free(&s);
      av_channel_layout_uninit(&in);
      fail(url, "cannot initialise the resampler", rc);
    }
    swr.reset(s);
    swr_rate = f->sample_rate;
    swr_fmt = f->format;
    av_channel_layout_uninit(&swr_layout);
    swr_layout = in;
  }

  void convert(const AVFrame* f, std::vector<float>& out) {
    setup_resampler(f);
    const int cap = swr_get_out_samples(swr.get(), f->nb_samples);
    if (cap <= 0) return;
    const std::size_t old = out.size();
    out.resize(old + static_cast<std::size_t>(cap));
    uint8_t* dst = reinterpret_cast<uint8_t*>(out.data() + old);
    const int got = swr_convert(swr.get(), &dst, cap, const_cast<const uint8_t**>(f->extended_data),
                                f->nb_samples);
    if (got < 0) {
      out.resize(old);
      ++errors;
      return;
    }
    out.resize(old + static_cast<std::size_t>(got));
  }

  void drain_resampler(std::vector<float>& out) {
    if (!swr) return;
    for (;;) {
      const int cap = swr_get_out_samples(swr.get(), 0);
      if (cap <= 0) return;
      const std::size_t old = out.size();
      out.resize(old + static_cast<std::size_t>(cap));
      uint8_t* dst = reinterpret_cast<uint8_t*>(out.data() + old);
      const int got = swr_convert(swr.get(), &dst, cap, nullptr, 0);
      out.resize(old + static_cast<std::size_t>(std::max(0, got)));
      if (got <= 0) return;
    }
  }

  // The timeline: where the audio decoded so far (and the silence filled in) says the next
  // frame starts, in samples at the frame rate, against where the stream's timestamp puts it.
  // When the timestamps run ahead of the audio by more than kTimelineSlack_s (packets lost in
  // between: damaged and skipped, or never sent), that much silence comes first, so that
  // everything after it stays at its place in time. The slack absorbs timestamps that jitter
  // around the audio (Vorbis' block overlaps: ±10 ms) and leaves a single lost packet of a
  // codec with short frames (20-26 ms) unfilled until a second one adds to it. Silence goes
  // straight to the output: the resampler still holds a few samples of the frame before (its
  // filter's delay, well under a millisecond), which then follow the silence instead.
  static constexpr double kTimelineSlack_s = 0.04;
  void keep_timeline(const AVFrame* f, std::vector<float>& out) {
    if (f->sample_rate <= 0) return;
    const auto in_samples = [&](int64_t t) {
      return av_rescale_q(t, fmt->streams[stream]->time_base, AVRational{1, f->sample_rate});
    };
    if (f->pts != AV_NOPTS_VALUE) {
      const int64_t at = in_samples(f->pts);
      // The timeline starts where the stream does (frames lost before the first one decoded
      // are filled in too), and again at a change of rate.
      if (!anchored) {
        anchored = true;
        next_in = start_time != AV_NOPTS_VALUE ? in_samples(start_time) : at;
        next_rate = f->sample_rate;
      } else if (next_rate != f->sample_rate) {
        next_in = at;
        next_rate = f->sample_rate;
      }
      const int64_t ahead = at - next_in;
      const auto slack = static_cast<int64_t>(kTimelineSlack_s * f->sample_rate);
      if (ahead > slack && static_cast<double>(ahead) <= opts.max_gap_s * f->sample_rate) {
        // Counted exactly, rounded once: many small gaps would otherwise add up their
        // rounding into a shift of the audio after them.
        filled_exact += static_cast<double>(ahead) * opts.sample_rate / f->sample_rate;
        const auto n = static_cast<uint64_t>(std::llround(filled_exact)) - filled;
        out.insert(out.end(), n, 0.0f);
        filled += n;
        next_in = at;
      } else if (ahead > slack && !skip_pending &&
                 static_cast<double>(ahead) <= opts.max_skip_s * f->sample_rate) {
        skipped_exact += static_cast<double>(ahead) * opts.sample_rate / f->sample_rate;
        skip_samples = static_cast<uint64_t>(std::llround(skipped_exact)) - skipped;
        skipped += skip_samples;
        skip_at = out.size();
        skip_pending = true;
        next_in = at;
      } else if (ahead > slack || ahead < -slack) {
        next_in = at;  // the timestamps jumped, not the audio: start again from them
      }
    }
    if (next_rate == f->sample_rate) next_in += f->nb_samples;
  }

  bool read(std::vector<float>& out, std::size_t max_samples) {
    if (done) return false;
    const std::size_t start = out.size();
    while (out.size() - start < max_samples) {
      int rc = avcodec_receive_frame(codec.get(), frame.get());
      if (rc == 0) {
        ++frames_ok;
        errors_in_a_row = 0;
        const bool skip_before = skip_pending;
        keep_timeline(frame.get(), out);
        convert(frame.get(), out);
        av_frame_unref(frame.get());
        if (skip_pending && !skip_before) break;  // the caller skips before the rest
        continue;
      }
      if (rc == AVERROR_EOF) {
        decoder_done = true;
        break;
      }
      if (rc != AVERROR(EAGAIN)) {  // a bad frame: skip it, keep going
        ++errors;
        continue;
      }
      if (eof_sent) {  // decoder wants input but none is left
        decoder_done = true;
        break;
      }
      rc = av_read_frame(fmt.get(), pkt.get());
      if (rc == AVERROR_EOF) {
        avcodec_send_packet(codec.get(), nullptr);
        eof_sent = true;
        continue;
      }
      if (rc < 0) {
        if (rc == AVERROR_EXIT) fail(url, "interrupted");
        if (rc == AVERROR_INVALIDDATA) {  // corrupt container data: resync on the next packet
          ++errors;
          // Given up only when nothing decodes any more: a live stream that loses packets now
          // and then counts errors for as long as it runs.
          if (++errors_in_a_row > 1000) fail(url, "too many corrupt packets in a row", rc);
          continue;
        }
        fail(url, "read error", rc);
      }
      if (fmt->event_flags & AVFMT_EVENT_FLAG_METADATA_UPDATED) note_title();
      if (pkt->stream_index == stream) {
        rc = avcodec_send_packet(codec.get(), pkt.get());
        if (rc < 0 && rc != AVERROR(EAGAIN)) ++errors;
      }
      av_packet_unref(pkt.get());
    }
    if (decoder_done) {
      drain_resampler(out);
      done = true;
      if (frames_ok == 0)
        fail(url, errors > 0 ? "no decodable audio (corrupt data)" : "no audio in the file");
    }
    return out.size() > start || !done;
  }
};

Decoder::Decoder(const std::string& url, const OpenOptions& opts)
    : impl_(std::make_unique<Impl>(url, opts)) {}
Decoder::~Decoder() = default;
Decoder::Decoder(Decoder&&) noexcept = default;
Decoder& Decoder::operator=(Decoder&&) noexcept = default;
bool Decoder::read(std::vector<float>& out, std::size_t max_samples) {
  return impl_->read(out, max_samples);
}
const Metadata& Decoder::metadata() const { return impl_->meta; }
bool Decoder::take_title(std::string& out) {
  if (!impl_->title_changed) return false;
  impl_->title_changed = false;
  out.assign(impl_->title);
  return true;
}
uint64_t Decoder::errors() const { return impl_->errors; }
double Decoder::filled_s() const {
  return static_cast<double>(impl_->filled) / impl_->opts.sample_rate;
}
bool Decoder::take_skip(std::size_t& at, uint64_t& samples) {
  if (!impl_->skip_pending) return false;
  impl_->skip_pending = false;
  at = impl_->skip_at;
  samples = impl_->skip_samples;
  return true;
}
double Decoder::skipped_s() const {
  return static_cast<double>(impl_->skipped) / impl_->opts.sample_rate;
}
const std::string& Decoder::url() const { return impl_->url; }

std::string describe_damage(const std::string& url, uint64_t errors, double filled_s) {
  if (errors == 0 && filled_s <= 0) return "";
  std::string note = url + ": damaged: ";
  note += errors > 0 ? std::to_string(errors) + (errors == 1 ? " packet" : " packets") +
                           " could not be decoded"
                     : std::string("packets are missing");
  if (filled_s > 0) {
    char lost[32];
    std::snprintf(lost, sizeof lost, "%.2f", filled_s);
    note += std::string("; ") + lost +
            " s of audio lost, filled with silence so that what follows keeps its time";
  }
  return note;
}

std::vector<float> decode_all(const std::string& url, const OpenOptions& opts, Metadata* meta) {
  Decoder d(url, opts);
  std::vector<float> out;
  if (d.metadata().duration_s > 0)
    out.reserve(static_cast<std::size_t>(d.metadata().duration_s * opts.sample_rate) + 4096);
  while (d.read(out, 1 << 16)) {
  }
  if (meta) {
    *meta = d.metadata();
    meta->decode_errors = d.errors();
    meta->filled_s = d.filled_s();
  }
  return out;
}

namespace {

/// One audio stream of encode_streams(): its encoder and its audio converted for it.
struct StreamEncoder {
  std::unique_ptr<AVCodecContext, CodecCtxDeleter> codec;
  AVStream* stream = nullptr;
  AVSampleFormat format = AV_SAMPLE_FMT_FLT;
  int bytes_per_sample = 0;
  int frame_size = 0;  // samples per frame sent to the encoder
  bool fixed = false;  // every frame but none shorter: pad the last one
  std::vector<uint8_t> converted;
  int samples = 0;  // in `converted`
};

/// Opens an encoder for mono audio at (about) `sample_rate` for the format of `out`.
std::unique_ptr<AVCodecContext, CodecCtxDeleter> open_encoder(const std::string& path,
                                                              AVFormatContext& out,
                                                              const std::string& ext,
                                                              int sample_rate, int64_t bitrate) {
  AVCodecID id = out.oformat->audio_codec;
  if (ext == "ogg" || ext == "oga") id = AV_CODEC_ID_VORBIS;
  if (ext == "opus") id = AV_CODEC_ID_OPUS;
  if (ext == "wav") id = AV_CODEC_ID_PCM_S16LE;
  const AVCodec* enc = avcodec_find_encoder(id);
  if (ext == "opus" && avcodec_find_encoder_by_name("libopus"))
    enc = avcodec_find_encoder_by_name("libopus");
  if ((ext == "ogg" || ext == "oga") && avcodec_find_encoder_by_name("libvorbis"))
    enc = avcodec_find_encoder_by_name("libvorbis");
  if (!enc) fail(path, "no encoder for this format in the FFmpeg build");
  std::unique_ptr<AVCodecContext, CodecCtxDeleter> c(avcodec_alloc_context3(enc));
  if (!c) throw std::bad_alloc();
  // Sample format and rate the encoder accepts.
  AVSampleFormat sfmt = AV_SAMPLE_FMT_FLT;
  if (enc->sample_fmts) {
    sfmt = enc->sample_fmts[0];
    for (const AVSampleFormat* f = enc->sample_fmts; *f != AV_SAMPLE_FMT_NONE; ++f)
      if (*f == AV_SAMPLE_FMT_FLT || *f == AV_SAMPLE_FMT_FLTP) sfmt = *f;
    if (id == AV_CODEC_ID_FLAC) sfmt = AV_SAMPLE_FMT_S16;
  }
  int rate = sample_rate;
  if (enc->supported_samplerates) {
    int best = enc->supported_samplerates[0];
    for (const int* r = enc->supported_samplerates; *r; ++r) {
      if (*r == sample_rate) {
        best = *r;
        break;
      }
      if (std::abs(*r - sample_rate) < std::abs(best - sample_rate) ||
          (best<sample_rate&& * r> best))
        best = *r;
    }
    rate = best;
  }
  c->sample_fmt = sfmt;
  c->sample_rate = rate;
  c->ch_layout = AV_CHANNEL_LAYOUT_MONO;
  c->time_base = AVRational{1, rate};
  if (bitrate > 0) c->bit_rate = bitrate;
  if (out.oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  const int rc = avcodec_open2(c.get(), enc, nullptr);
  if (rc < 0) fail(path, std::string("cannot open encoder ") + enc->name, rc);
  return c;
}

/// Converts `pcm` (mono float at `sample_rate`) to the encoder's format and rate, at once.
void convert_for(const std::string& path, StreamEncoder& e, std::span<const float> pcm,
                 int sample_rate) {
  const int rate = e.codec->sample_rate;
  SwrContext* s = nullptr;
  AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
  int rc = swr_alloc_set_opts2(&s, &mono, e.format, rate, &mono, AV_SAMPLE_FMT_FLT, sample_rate, 0,
                               nullptr);
  if (rc < 0 || swr_init(s) < 0) {
    swr_free(&s);
    fail(path, "cannot set up the resampler");
  }
  std::unique_ptr<SwrContext, SwrDeleter> swr(s);
  const int cap = static_cast<int>(av_rescale_rnd(static_cast<int64_t>(pcm.size()), rate,
                                                  sample_rate, AV_ROUND_UP)) +
                  4096;
  e.converted.resize(static_cast<std::size_t>(cap) * static_cast<std::size_t>(e.bytes_per_sample));
  uint8_t* dst = e.converted.data();
  const uint8_t* src = reinterpret_cast<const uint8_t*>(pcm.data());
  int n = swr_convert(swr.get(), &dst, cap, &src, static_cast<int>(pcm.size()));
  if (n < 0) fail(path, "resampling failed", n);
  uint8_t* dst2 = e.converted.data() +
                  static_cast<std::size_t>(n) * static_cast<std::size_t>(e.bytes_per_sample);
  const int n2 = swr_convert(swr.get(), &dst2, cap - n, nullptr, 0);
  if (n2 > 0) n += n2;
  e.samples = n;
}

}  // namespace

void encode_file(const std::string& path, std::span<const float> pcm, int sample_rate,
                 int64_t bitrate, const std::string& format) {
  const std::span<const float> one[] = {pcm};
  encode_streams(path, one, sample_rate, bitrate, format);
}

void encode_streams(const std::string& path, std::span<const std::span<const float>> streams,
                    int sample_rate, int64_t bitrate, const std::string& format) {
  quiet_ffmpeg_logs();
  AVFormatContext* raw = nullptr;
  const AVOutputFormat* guessed =
      format.empty() ? nullptr : av_guess_format(nullptr, ("x." + format).c_str(), nullptr);
  int rc = format.empty() || guessed
               ? avformat_alloc_output_context2(&raw, guessed, nullptr, path.c_str())
               : AVERROR_MUXER_NOT_FOUND;
  if (rc < 0 || !raw)
    fail(path, "unknown output format (use .wav, .flac, .ogg, .opus, .mp3, .m4a, .ts)", rc);
  auto free_out = [](AVFormatContext* f) {
    if (f->pb) avio_closep(&f->pb);
    avformat_free_context(f);
  };
  std::unique_ptr<AVFormatContext, decltype(free_out)> out(raw, free_out);
  const std::string ext = format.empty() ? path.substr(path.find_last_of('.') + 1) : format;
  const bool programs = std::string(out->oformat->name) == "mpegts";
  std::vector<StreamEncoder> enc(streams.size());
  for (std::size_t i = 0; i < streams.size(); ++i) {
    StreamEncoder& e = enc[i];
    e.codec = open_encoder(path, *out, ext, sample_rate, bitrate);
    e.format = e.codec->sample_fmt;
    e.bytes_per_sample = av_get_bytes_per_sample(e.format);
    const AVCodecContext& c = *e.codec;
    e.frame_size = (c.codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE) || c.frame_size <= 0
                       ? 4096
                       : c.frame_size;
    e.fixed = !(c.codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE) && c.frame_size > 0 &&
              !(c.codec->capabilities & AV_CODEC_CAP_SMALL_LAST_FRAME);
    e.stream = avformat_new_stream(out.get(), nullptr);
    if (!e.stream) throw std::bad_alloc();
    e.stream->time_base = c.time_base;
    rc = avcodec_parameters_from_context(e.stream->codecpar, &c);
    if (rc < 0) fail(path, "bad encoder parameters", rc);
    if (programs) {  // a multiplex: each stream a service (program number i + 1) of its own
      const int id = static_cast<int>(i) + 1;
      if (!av_new_program(out.get(), id)) throw std::bad_alloc();
      av_program_add_stream_index(out.get(), id, static_cast<unsigned>(e.stream->index));
    }
    convert_for(path, e, streams[i], sample_rate);
  }
  if (!(out->oformat->flags & AVFMT_NOFILE)) {
    rc = avio_open(&out->pb, path.c_str(), AVIO_FLAG_WRITE);
    if (rc < 0) fail(path, "cannot create file", rc);
  }
  // An HLS playlist lists every segment (FFmpeg's muxer keeps only the last five by default).
  AVDictionary* mux_opts = nullptr;
  if (std::string(out->oformat->name) == "hls") av_dict_set(&mux_opts, "hls_list_size", "0", 0);
  rc = avformat_write_header(out.get(), &mux_opts);
  av_dict_free(&mux_opts);
  if (rc < 0) fail(path, "cannot write header", rc);

  std::unique_ptr<AVFrame, FrameDeleter> fr(av_frame_alloc());
  std::unique_ptr<AVPacket, PacketDeleter> pk(av_packet_alloc());
  auto drain = [&](StreamEncoder& e) {
    for (;;) {
      int r = avcodec_receive_packet(e.codec.get(), pk.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      if (r < 0) fail(path, "encoding failed", r);
      av_packet_rescale_ts(pk.get(), e.codec->time_base, e.stream->time_base);
      pk->stream_index = e.stream->index;
      r = av_interleaved_write_frame(out.get(), pk.get());
      if (r < 0) fail(path, "write failed", r);
    }
  };
  // The streams frame by frame, side by side: the muxer interleaves them as they come.
  for (int pos = 0;;) {
    bool any = false;
    for (StreamEncoder& e : enc) {
      if (pos >= e.samples) continue;
      any = true;
      const int len = std::min(e.frame_size, e.samples - pos);
      fr->nb_samples = e.fixed ? e.frame_size : len;
      fr->format = e.format;
      fr->sample_rate = e.codec->sample_rate;
      av_channel_layout_copy(&fr->ch_layout, &e.codec->ch_layout);
      rc = av_frame_get_buffer(fr.get(), 0);
      if (rc < 0) fail(path, "out of memory", rc);
      av_samples_set_silence(fr->data, 0, fr->nb_samples, 1, e.format);
      const auto bps = static_cast<std::size_t>(e.bytes_per_sample);
      std::memcpy(fr->data[0], e.converted.data() + static_cast<std::size_t>(pos) * bps,
                  static_cast<std::size_t>(len) * bps);
      fr->pts = pos;
      rc = avcodec_send_frame(e.codec.get(), fr.get());
      av_frame_unref(fr.get());
      if (rc < 0) fail(path, "encoding failed", rc);
      drain(e);
    }
    if (!any) break;
    pos += enc.empty() ? 0 : enc.front().frame_size;
  }
  for (StreamEncoder& e : enc) {
    avcodec_send_frame(e.codec.get(), nullptr);
    drain(e);
  }
  rc = av_write_trailer(out.get());
  if (rc < 0) fail(path, "cannot finish file", rc);
}

}  // namespace aircheck::dsp::decode
