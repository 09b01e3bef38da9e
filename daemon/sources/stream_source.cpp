// `stream` source: a network URL (Icecast http/https, HLS .m3u8, udp/rtp MPEG-TS, srt, rtmp)
// read with dsp::decode::Decoder, reconnecting forever.
//
// Failure handling: an open error, a read error, the end of the stream, or a stall (no decoded
// audio for stall_s seconds, default 10, after the audio delivered so far has played: an HLS
// reader waits a segment's length for the next one, a burst runs ahead; enforced through the
// Decoder's interrupt callback) ends the connection. The source then reports `down` once per
// outage (the reason names the URL, with any user:password removed, and the error), waits 1 s
// doubling to 60 s with +-20 % jitter, and reconnects. The first decoded audio after a (re)connect
// reports `up`, resets the backoff, and skips the sample clock over the outage: the stream's first
// sample is placed where the clock was when the connection was made (the server sends from its
// live point then; FFmpeg holds that audio back while it learns the stream, kProbeS), or as much
// before as the server sent at once on connecting (a burst of its last seconds, measured over the
// first kSettleS, for which the audio is held back), and the clock is anchored there.
//
// A station's own "now playing" (the ICY StreamTitle Icecast and SHOUTcast send between the
// audio when asked, as FFmpeg does) is reported as a `title` health event when it changes.
//
// Packets lost on the way (a UDP feed's datagrams, frames too damaged to decode) would take
// their audio's time with them: everything after would come that much early, a play's
// duration short, its speed off. Within one connection the stream's own timestamps say where
// each frame belongs; a gap in them up to gap_fill_s (default 2 s) is filled with silence so
// that the rest keeps its time. A longer one, short of stall_s (a feed interrupted for
// seconds without a reconnect, an HLS segment skipped), is skipped on the sample clock, as an
// outage is: no silence that a silence alarm would take for dead air. A longer jump, or one
// backwards, is the sender's clock, not lost audio, and moves nothing. The losses are
// reported as `damage` health events: at most one per kDamageReportS, from the first loss it
// holds, and one at a disconnect for what is left.
//
// stop() makes the interrupt callback return true, so a blocking open or read returns
// promptly (FFmpeg polls the callback during network waits).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/sources/backends.h"
#include "daemon/sources/capture_source.h"
#include "daemon/sources/options.h"
#include "dsp/decode/decoder.h"

namespace aircheck::daemon::sources {

namespace {

namespace decode = aircheck::dsp::decode;

constexpr std::size_t kDecodeChunk = 2048;
constexpr double kBackoffFirst = 1, kBackoffMax = 60, kJitter = 0.2;
/// Seconds of a stream read to learn its streams before decoding (FFmpeg's analyzeduration).
constexpr double kProbeS = 0.5;
/// After a (re)connect the audio is held this long (from the connection) before it goes on,
/// to measure how much of it the server sent from before the connection: Icecast and SHOUTcast
/// send a burst of their last seconds at once (Icecast's burst-size, 64 KB by default: 4 s at
/// 128 kbit/s). A burst arrives within this; what was decoded beyond the time since the
/// connection is the burst. At most kHoldMaxS of audio is held (1 MiB at 8 kHz): an HLS
/// reader starts three segments back, up to 30 s.
constexpr double kSettleS = 1.5, kHoldMaxS = 32;
/// Bytes of a stream FFmpeg may read to tell its format (formatprobesize; default 1 MiB):
/// 2 s of a 32 kbit/s stream, ~50 MP3 or ADTS frames at 128 kbit/s.
constexpr int kFormatProbeBytes = 8192;
/// Losses are gathered this long from the first before they are reported.
constexpr double kDamageReportS = 10;
/// An excess under this is no burst: FFmpeg's buffers and a sender running a little ahead.
constexpr double kBurstMinS = 0.5;
/// Audio delivered ahead of real time puts the stall check off by at most this many seconds
/// (an HTTP server sending a recording as fast as it can is not waited for for its length).
constexpr double kAheadMaxS = 60;

/// The URL with any user:password@ replaced by ***@.
std::string redact(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto host = scheme + 3;
  const auto at = url.find('@', host);
  const auto slash = url.find('/', host);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) return url;
  return url.substr(0, host) + "***" + url.substr(at);
}

class StreamSource final : public CaptureSource {
 public:
  StreamSource(const SourceSpec& spec, int sample_rate)
      : CaptureSource(spec, sample_rate), shown_url_(redact(spec_.address)) {
    stall_s_ = option_double(spec_, "stall_s", 10, 0.1, 3600);
    opts_.sample_rate = rate_;
    opts_.program_id = static_cast<int>(option_int(spec_, "program", -1, -1, 65535));
    // Stalls are told by the interrupt callback (audio_until_); a network read's own timeout
    // is only a backstop behind it.
    opts_.io_timeout_s = stall_s_ + kAheadMaxS;
    // FFmpeg reads up to 5 s of a stream before its first packet to learn its streams: on a
    // live stream, seconds of waiting at every (re)connect, and a stall_s below that
    // interrupted the connection before any audio came out.
    opts_.format_options["analyzeduration"] = std::to_string(std::llround(kProbeS * 1e6));
    // A station joined mid-frame (Icecast starts a listener where its burst begins) leaves
    // FFmpeg unsure of the format until it has probed up to 128 KB of it: 8 s of the 128 and
    // the 32 kbit/s MP3 streams measured (RESULTS). Its choice after kFormatProbeBytes is the
    // same one (the format whose frames run through the data), made from the content,
    // whatever the server calls it.
    opts_.format_options["formatprobesize"] = std::to_string(kFormatProbeBytes);
    // A live stream's timestamps are the sender's, and may jump (an encoder restarted, a
    // playlist discontinuity): across such a jump its samples keep the system clock's time
    // (rt::SampleClock). A short gap in them is audio lost on the way, filled in.
    opts_.max_gap_s = option_double(spec_, "gap_fill_s", 2, 0, 10);
    // A longer gap, short of a stall, is audio lost too (a feed interrupted for seconds, an
    // HLS segment skipped): the clock jumps over it instead (an outage without a reconnect).
    opts_.max_skip_s = opts_.max_gap_s > 0 ? std::max(stall_s_, opts_.max_gap_s) : 0;
    opts_.interrupt = [this] {
      return stopping() ||
             rt::SampleClock::mono_now() - audio_until_.load(std::memory_order_relaxed) > stall_s_;
    };
    // A read returns a chunk, and the silence for a gap before one of its frames.
    buf_.reserve(kDecodeChunk * 8 + static_cast<std::size_t>(std::ceil(opts_.max_gap_s * rate_)));
    damage_text_.reserve(rt::CaptureRing::kReasonBytes);
    title_.reserve(HealthEvent::kTitleBytes);
    posted_title_.reserve(HealthEvent::kTitleBytes);
    hold_.reserve(static_cast<std::size_t>(kHoldMaxS * rate_) + kDecodeChunk * 8);
    rng_.seed(static_cast<unsigned>(std::hash<std::string>{}(spec_.id + spec_.address)));
  }
  ~StreamSource() override { join(); }

 private:
  void run() noexcept override {
    double backoff = kBackoffFirst;
    bool up = false, down_reported = false;
    std::uniform_real_distribution<double> jitter(1 - kJitter, 1 + kJitter);
    while (!stopping()) {
      std::string reason;
      const double connected = rt::SampleClock::mono_now();
      audio_until_.store(connected, std::memory_order_relaxed);
      hold_.clear();
      dec_filled_ = dec_errors_ = 0;  // each connection's decoder counts from zero
      bool holding = true;
      // The audio held until `at` goes on: placed, reported up, written.
      const auto release = [&](double at) {
        if (!holding) return;
        holding = false;
        if (hold_.empty()) return;
        const std::size_t known = place_after_connect(connected, at);
        ring_.post(HealthEvent::Type::up);
        up = true;
        down_reported = false;
        backoff = kBackoffFirst;
        post_title();  // what was on air when the stream was joined: from its first sample
        if (damage_from_held_) {  // losses in the held audio: from where in it they began
          damage_from_held_ = false;
          damage_from_ = ring_.produced() + (damage_from_ > known ? damage_from_ - known : 0);
        }
        ring_.write(std::span<const float>(hold_).subspan(known));
        clock_.observe(ring_.produced());
      };
      try {
        decode::Decoder dec(spec_.address, opts_);
        // Where the last chunk read began: in the held audio or on the clock.
        bool chunk_held = true;
        uint64_t chunk_at = 0;
        for (;;) {
          buf_.clear();
          const bool more = dec.read(buf_, kDecodeChunk);
          if (stopping()) return;
          if (!buf_.empty()) {
            const double now = rt::SampleClock::mono_now();
            // Audio that came ahead of real time (a server's burst, an HLS segment) lasts
            // until it has played: only then does the wait for more count as a stall.
            const double until = std::max(audio_until_.load(std::memory_order_relaxed), now) +
                                 static_cast<double>(buf_.size()) / rate_;
            audio_until_.store(std::min(until, now + kAheadMaxS), std::memory_order_relaxed);
            chunk_held = holding;
            chunk_at = holding ? hold_.size() : ring_.produced();
            // A longer gap in the stream's timestamps (max_skip_s): the clock jumps over it,
            // between the audio before it and the audio after.
            std::size_t skip_at = buf_.size();
            uint64_t skip = 0;
            dec.take_skip(skip_at, skip);
            const std::span<const float> got(buf_);
            deliver(got.first(skip_at), connected, now, holding, release);
            if (skip > 0) {
              if (!hold_.empty()) release(now);  // what was held is placed before the gap
              if (!holding) ring_.skip(skip);
              deliver(got.subspan(skip_at), connected, now, holding, release);
            }
          }
          note_damage(dec, chunk_held, chunk_at, holding);
          // The station's "now playing", after the audio that came before it (while the
          // audio is held, with its first sample). Once per change, across reconnects too.
          if (dec.take_title(title_) && !holding) post_title();
          if (!more) {
            release(rt::SampleClock::mono_now());
            post_damage();
            reason = shown_url_ + ": end of stream";
            break;
          }
        }
      } catch (const std::exception& e) {
        if (stopping()) return;
        release(rt::SampleClock::mono_now());
        post_damage();
        reason = e.what();
        if (reason.find(shown_url_) == std::string::npos) reason = shown_url_ + ": " + reason;
        if (reason.find(spec_.address) != std::string::npos && shown_url_ != spec_.address) {
          reason = shown_url_ + ": error (details withheld: they contain credentials)";
        }
      }
      if (rt::SampleClock::mono_now() - audio_until_.load(std::memory_order_relaxed) > stall_s_) {
        char secs[32];
        std::snprintf(secs, sizeof secs, "%g", stall_s_);
        reason = shown_url_ + ": no audio for " + secs + " s (stalled)";
      }
      if (up || !down_reported) {
        ring_.post(HealthEvent::Type::down, reason);
        up = false;
        down_reported = true;
      }
      if (!sleep_for(backoff * jitter(rng_))) return;
      backoff = std::min(backoff * 2, kBackoffMax);
    }
  }

  /// Reports title_ unless it was the last reported (as far as a health record holds).
  void post_title() noexcept {
    const std::string_view t = std::string_view(title_).substr(0, HealthEvent::kTitleBytes);
    if (t == posted_title_) return;
    posted_title_.assign(t);  // within its reserve
    ring_.post(HealthEvent::Type::title, t);
  }

  /// Holds `part` (the audio of a connection's first kSettleS, at most kHoldMaxS of it, then
  /// `release`s it) or writes it to the ring.
  template <class Release>
  void deliver(std::span<const float> part, double connected, double now, bool& holding,
               Release& release) noexcept {
    std::size_t held = 0;
    if (holding) {
      const std::size_t room = hold_.capacity() - hold_.size();
      held = std::min(room, part.size());
      hold_.insert(hold_.end(), part.begin(), part.begin() + static_cast<std::ptrdiff_t>(held));
      if (held < part.size() || now - connected >= kSettleS ||
          static_cast<double>(hold_.size()) >= kHoldMaxS * rate_)
        release(now);
    }
    if (!holding && held < part.size()) {
      ring_.write(part.subspan(held));
      clock_.observe(ring_.produced());
    }
  }

  /// Takes the losses `dec` has counted since the last call, in the chunk read last (which
  /// began at `at`: an offset into the held audio when `held`, which is placed later): they go
  /// into the report being gathered, which is posted once it is kDamageReportS old.
  void note_damage(const decode::Decoder& dec, bool held, uint64_t at, bool holding) noexcept {
    const auto filled =
        static_cast<uint64_t>(std::llround((dec.filled_s() + dec.skipped_s()) * rate_));
    const uint64_t errors = dec.errors();
    if (filled != dec_filled_ || errors != dec_errors_) {
      if (damage_lost_ == 0 && damage_errors_ == 0) {
        damage_since_ = rt::SampleClock::mono_now();
        damage_from_held_ = held && holding;
        damage_from_ = held && !holding ? ring_.produced() : at;
      }
      damage_lost_ += filled - dec_filled_;
      damage_errors_ += errors - dec_errors_;
      dec_filled_ = filled;
      dec_errors_ = errors;
    }
    if (!holding && (damage_lost_ || damage_errors_) &&
        rt::SampleClock::mono_now() - damage_since_ >= kDamageReportS)
      post_damage();
  }

  /// Posts the losses gathered so far, if any, and starts a new report.
  void post_damage() noexcept {
    if (damage_lost_ || damage_errors_) {
      char text[160];
      std::snprintf(text, sizeof text,
                    ": packets lost on the way: %.3f s of audio (its time kept), %llu packets "
                    "failed to decode",
                    static_cast<double>(damage_lost_) / rate_,
                    static_cast<unsigned long long>(damage_errors_));
      damage_text_.assign(shown_url_, 0, std::min(shown_url_.size(), damage_text_.capacity() / 2));
      damage_text_.append(
          text, std::min(std::strlen(text), damage_text_.capacity() - damage_text_.size()));
      ring_.post_damage(damage_from_, damage_lost_, damage_errors_, damage_text_);
    }
    damage_lost_ = damage_errors_ = 0;
  }

  /// Places the audio held from the connection at `connected` to `at` (CLOCK_MONOTONIC) on
  /// the source's clock. What was decoded beyond the time since the connection came from
  /// before it (a burst): the first held sample was live that much before the connection.
  /// Returns how many held samples the source had already delivered before an outage shorter
  /// than the burst (left out); the rest continues the clock, skipping what the outage lost.
  std::size_t place_after_connect(double connected, double at) noexcept {
    const double excess = static_cast<double>(hold_.size()) / rate_ - (at - connected);
    double first_live = connected - (excess >= kBurstMinS ? excess : 0.0);
    const uint64_t expected = clock_.expected_pos_at(first_live);
    const uint64_t produced = ring_.produced();
    std::size_t known = 0;
    if (expected > 0 && expected < produced) {
      known = static_cast<std::size_t>(std::min<uint64_t>(produced - expected, hold_.size()));
      first_live += static_cast<double>(known) / rate_;
    }
    resync_at(first_live);
    return known;
  }

  const std::string shown_url_;
  double stall_s_ = 10;
  decode::OpenOptions opts_;
  std::vector<float> buf_;
  std::vector<float> hold_;           // the audio since the connection, until placed
  std::string title_, posted_title_;  // the stream's StreamTitle: last read, last reported
  // Losses: the decoder's counts at the last look (this connection's), and the report being
  // gathered (samples filled, packets failed, since when and from which position).
  uint64_t dec_filled_ = 0, dec_errors_ = 0;
  uint64_t damage_lost_ = 0, damage_errors_ = 0, damage_from_ = 0;
  bool damage_from_held_ = false;  // damage_from_ is an offset into hold_, not yet placed
  double damage_since_ = 0;
  std::string damage_text_;
  /// CLOCK_MONOTONIC second until which the audio delivered so far lasts, played in real
  /// time; stall_s after it the stream has stalled.
  std::atomic<double> audio_until_{0};
  std::minstd_rand rng_;
};

}  // namespace

std::unique_ptr<Source> make_stream_source(const SourceSpec& spec, int sample_rate) {
  return std::make_unique<StreamSource>(spec, sample_rate);
}

}  // namespace aircheck::daemon::sources
