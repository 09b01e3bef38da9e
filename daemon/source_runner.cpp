#include "daemon/source_runner.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "daemon/event_bus.h"
#include "daemon/word_change.h"

namespace aircheck::daemon {

namespace {

/// Blocks read per service() call: bounds the time one source holds its worker.
constexpr int kBlocksPerService = 8;

/// Seconds an airing open when its source went down stays open for the source to come back
/// without a gap in its clock: a stream server's burst on reconnecting (Icecast's last seconds)
/// covers a short outage, and the play goes on as one airing. At a gap, or after this, it
/// closes at the source's last sample before the outage.
constexpr double kOutageHoldS = 5.0;

/// Confidence a window match needs to keep an open airing of its track going at its offset.
/// The decision rule's confidence is for the best of all (track, offset) cells; the chance
/// that one cell named in advance gets as many anchors is smaller by about the number of
/// cells, so this much lower bar is still far from chance.
constexpr float kContinueConfidence = 0.5f;

/// The same for a match of a track on air: along the airing's own line (its offset named to
/// within Decision's offset_tolerance_s) it continues it, at another offset it is a repeat
/// that keeps it open. A play confirmed early by its words off normal speed can match only
/// this weakly in the windows after (its hashes spread over two speed lanes): at
/// kContinueConfidence such an airing closed after one window and opened again (a fragment
/// on 1 of programmes 1-20); at 0.2, the word check's floor, no other airing moved by more
/// than 20 ms (bench/RESULTS.md, "The word check off normal speed").
constexpr float kOnAirConfidence = 0.2f;
/// ... and votes, instead of MatchParams::min_votes (8): a quiet passage off normal speed
/// leaves a play's line 4-7 agreeing hashes for seconds, and the airing closed and opened
/// again (two splits of A-0016, 2.9 % fast, on fresh programme 28). At 4 (3 mended the same),
/// on programmes 1-28 ends moved by up to 0.3 s (and one 2 s nearer, one 1.2 s further),
/// one start 0.9 s later (A-0085, 2.8 % fast), nothing else.
constexpr uint32_t kOnAirMinVotes = 4;

/// Confidence a window match needs to lead into an airing that a later window confirms (and
/// back-date its start): speech over a track's first seconds leaves only weak evidence there.
/// Higher than for continuing one: nothing is on air yet to say which track to expect.
constexpr float kLeadInConfidence = 0.95f;

/// Candidates of one track a window keeps, at most, of MatchParams::top_k (5): a looping track
/// on air matches along several repeats of its audio at once, and for the seconds after a cut
/// those filled every place and hid the next item until the window had slid past the loop.
/// Chosen on programme seeds 1-12 (bench/RESULTS.md, "Lines per track"): 2 announced later
/// than 3. The words choose among a track's lines; a track on air whose own line drops out
/// stays on air by its repeats (Decision).
constexpr uint32_t kLinesPerTrack = 3;

/// Votes from which a candidate goes to the word check when its line opens the track: its
/// first agreeing hash within the decision's snap_s of where the reference's hashes begin.
/// Elsewhere it takes MatchParams::min_votes (8). Most plays begin at a track's start, and a
/// track has few such lines against the thousands of offsets a chance candidate can fall on;
/// speech over an intro leaves few hashes there. The words must still agree, and the combined
/// chance reach the rule's confidence. On programmes 1-20 it announced A-0015 (speech over
/// its first seconds, seed 6) 6.35 -> 4.34 s after its start and four other starts a window
/// sooner, with no false airing more there or on 5.6 h of non-indexed audio against either
/// index; 5 votes gave two more starts a window sooner and no false airing either.
constexpr uint32_t kStartMinVotes = 6;

/// A track not on air is pending (a half-step window follows, MatchProfile::half_step) when a
/// window's candidate of it, with at least kStartMinVotes votes and this hash confidence, is
/// not decided yet: a play's first seconds. Chance candidates of non-indexed audio rarely reach
/// it, so the half steps cost little (bench/RESULTS.md, "Half steps").
constexpr float kPendingConfidence = 0.5f;

/// A line that opens its track passes the rule at the chance share of such lines
/// (MatchProfile::opening_lines) only from this confidence for the best of all cells: tracks
/// that open with generic audio (a drum figure, a pad) match other music there more often than
/// chance, up to 0.95 (on NA's programmes one such opened a 3-s false airing over other music).
constexpr float kOpeningMinConfidence = 0.98f;

/// A start joined to the end of the airing before it is checked on at most this many seconds
/// of words after it, in seconds.
constexpr double kJoinWordsS = 4.0;

/// Matches of one track from two lanes this close in offset are one alignment, in seconds.
constexpr double kSameAlignmentS = 0.1;

/// Sub-band words kept per source: 2048 frames, 33 s, more than an airing's start usually lies
/// behind the window that confirms it. An airing confirmed later than that finds its first
/// words overwritten and reads them as chance: its start can then be placed late, depending on
/// how far the worker had read.
constexpr std::size_t kWordRing = 2048;
/// Edges are placed from the words of a lane within this of a play's speed (relative): the
/// normal-speed lane's, or the follow lane's for a play it follows. Read at normal speed, a play
/// 2 % fast has its bands a third of a band higher, and placed an end 1.4 s early in the
/// programme evaluation; 1.2 % placed one right.
constexpr double kWordsMaxSpeedOff = 0.015;
/// stream_posting_caps(): the caps on postings per hash, in multiples of the index's mean
/// postings per distinct hash, and their floors. Chosen on programme seeds 1-12 and the
/// capacity mix's CPU (bench/RESULTS.md, "Common hashes" and "Rescaled speed lanes": 8x for the
/// rescaled lanes until 12x found sped-up plays sooner, at 1.03x the CPU).
constexpr double kNormalPostingsRatio = 16.0;
constexpr uint32_t kNormalMinPostings = 64;
constexpr double kRescaledPostingsRatio = 12.0;
constexpr uint32_t kRescaledMinPostings = 25;
/// The normal lane's hashes between its cap and MatchParams::max_postings_per_hash count this
/// much of their postings in the chance model (StreamVotes::chance_votes). Fitted on 5.6 h of
/// non-indexed audio (NA + NOISEA against the 137-track index): with it, the windows whose best
/// candidate reaches a confidence of 0.5 / 0.9 / 0.99 / 0.999 number 8268 / 368 / 60 / 1 of
/// 20 148, against 8080 / 412 / 60 / 1 with every hash voting (weight 1: 4102 / 294 / 60 / 1;
/// 0: 16 838 / 675 / 72 / 3). Against the 1038-track index it is conservative: 481 / 58 at
/// 0.5 / 0.9 against 1840 / 155 (bench/RESULTS.md, "Common hashes").
constexpr double kUncastWeight = 0.25;
/// A rescaled speed this near a resampled one (MatchProfile::speeds) is left out.
constexpr double kRescaledCoveredBy = 0.01;
/// The follow lane (MatchProfile::follow_speed) starts for a likely candidate (kStartMinVotes
/// votes, this confidence after its lane's share of the chance) ...
/// On 5.6 h of non-indexed audio 0.5 started it 841 times (1.27x the daemon's CPU there),
/// 0.9 12 times; on programmes 1-64 0.9 placed off-speed starts a little worse (p95 2.3 s
/// against 1.3 s) and their ends better (bench/RESULTS.md, "The follow lane").
constexpr float kFollowConfidence = 0.9f;
/// ... measured more than this off normal speed: nearer, the normal lane sees a play with most
/// of its hashes ...
constexpr double kFollowMinOff = 0.01;
/// ... follows the candidates within this of its speed (a window measures a play's speed to
/// 0.1-0.3 %; hashes hold within about 1.5 %) ...
constexpr double kFollowSameSpeed = 0.004;
/// ... and stops after this long without one, in seconds.
constexpr double kFollowHoldS = 8.0;
/// Its candidates' lines are sloped up to this (MatchParams::max_skew): the play's speed is
/// its own to a few tenths of a percent.
constexpr double kFollowSkew = 0.01;
/// Audio it starts from: a window, its lag and a hop, and this much more, in seconds.
constexpr double kHistoryExtraS = 1.0;

SourceKind kind_of(const std::string& k) {
  if (k == "file") return SourceKind::file;
  if (k == "alsa") return SourceKind::alsa;
  if (k == "portaudio") return SourceKind::portaudio;
  if (k == "stream") return SourceKind::stream;
  throw std::invalid_argument("unknown source kind '" + k + "'");
}

}  // namespace

PostingCaps stream_posting_caps(uint64_t postings, uint64_t distinct_hashes) {
  const double mean =
      static_cast<double>(postings) / static_cast<double>(std::max<uint64_t>(1, distinct_hashes));
  const auto times_mean = [&](double ratio, uint32_t floor) {
    return std::max(floor, static_cast<uint32_t>(std::lround(ratio * mean)));
  };
  return PostingCaps{times_mean(kNormalPostingsRatio, kNormalMinPostings),
                     times_mean(kRescaledPostingsRatio, kRescaledMinPostings)};
}

SourceSpec to_spec(const config::SourceSettings& s) {
  SourceSpec spec;
  spec.id = s.id;
  spec.kind = kind_of(s.kind);
  spec.address = s.address;
  spec.options = s.options;
  return spec;
}

DecisionParams decision_params(const config::SourceSettings& s) {
  DecisionParams p;
  p.confirm_windows = s.match.confirm_windows;
  p.end_windows = s.match.end_windows;
  p.min_span_s = s.match.min_span_s;
  p.progress_interval_s = s.progress_interval_s;
  return p;
}

namespace {
/// A stream's query side (dsp::Params::streaming()), with or without early pairs.
dsp::Params streaming_params(const dsp::Params& params, const config::MatchProfile& m) {
  dsp::Params p = params.streaming();
  if (!m.early_pairs) p.query_early_dt = 0;
  return p;
}
}  // namespace

SourceRunner::SourceRunner(const config::SourceSettings& settings, std::unique_ptr<Source> source,
                           const dsp::Params& params, const config::EvidenceSettings& evidence,
                           ClipWriter* clips)
    : settings_(settings),
      source_(std::move(source)),
      params_(streaming_params(params, settings.match)),
      decision_(decision_params(settings)),
      silence_(settings.silence, params.sample_rate),
      rate_(params.sample_rate),
      hop_(params.hop),
      check_words_(settings.match.word_check),
      half_step_(settings.match.half_step),
      opening_lines_(settings.match.opening_lines) {
  match_params_.min_votes = settings.match.min_votes;
  match_params_.min_confidence = settings.match.min_confidence;
  match_params_.max_per_track = kLinesPerTrack;
  const double frame_s = params.frame_seconds();
  window_frames_ = std::max<int64_t>(1, std::llround(settings.match.window_s / frame_s));
  hop_frames_ = std::max<int64_t>(1, std::llround(settings.match.hop_s / frame_s));
  // How far behind the analysed frames a hash can still appear: peak selection looks
  // density_ahead frames ahead (a stream's query side: dsp::Params::streaming()), pairing dt_max
  // further, plus the FFT frame and the peak neighbourhood.
  // With early pairs (dsp::Params::query_early_dt) a window waits only for those: the rest of
  // its last anchors' pairs reach the windows after it.
  const int pairing = params_.query_early_dt > 0 ? params_.query_early_dt : params_.dt_max;
  lag_frames_ = params_.density_ahead(dsp::Side::query) + pairing + 2 * params_.peak_frames +
                params_.fft_size / params_.hop + 2;
  next_window_end_ = hop_frames_;
  // Normal speed, then one lane per speed hypothesis, on the audio resampled to undo it.
  lanes_.push_back(std::make_unique<Lane>(1.0, params_));
  // Rescaled lanes come right after it: they read its hashes (consume, end_segment).
  for (const double speed : settings.match.rescaled_speeds) {
    // A resampled lane (`speeds`) this near sees the same plays with all their hashes.
    if (std::any_of(settings.match.speeds.begin(), settings.match.speeds.end(),
                    [&](double s) { return std::abs(s - speed) < kRescaledCoveredBy; }))
      continue;
    lanes_.push_back(std::make_unique<Lane>(speed, params_, /*rescaled_lane=*/true));
  }
  for (const double speed : settings.match.speeds) {
    lanes_.push_back(std::make_unique<Lane>(speed, params_));
    lanes_.back()->resampler = std::make_unique<dsp::decode::StreamResampler>(
        rate_, static_cast<int>(std::lround(rate_ * speed)));
  }
  if (settings.match.follow_speed) {
    lanes_.push_back(std::make_unique<Lane>(1.0, params_));
    follow_ = lanes_.back().get();
    follow_->follow = true;
    follow_->active = false;
    history_.assign(static_cast<std::size_t>((window_frames_ + lag_frames_ + hop_frames_) * hop_ +
                                             std::lround(kHistoryExtraS * rate_)),
                    0.0f);
  }
  fresh_.reserve(4096 * lanes_[0]->fp->max_hashes_per_frame() / static_cast<std::size_t>(hop_) +
                 256);
  rescaled_.reserve(fresh_.capacity());
  // Sub-band words of the normal-speed lane place each airing's start (start_from_words); the
  // follow lane's those of a play off speed, its bands in place.
  for (Lane* lane : {lanes_[0].get(), follow_}) {
    if (lane == nullptr) continue;
    lane->words.reserve(4096 / static_cast<std::size_t>(hop_) + 16);
    lane->fp->collect_subband(&lane->words);
    lane->word_ring.assign(kWordRing, 0);
    lane->word_frame.assign(kWordRing, -1);
  }
  silence_changes_.reserve(16);
  if (settings.evidence && evidence.enabled && clips != nullptr) {
    // How far behind the newest audio an airing's start can lie when airing_start is decided:
    // the decided window lags the audio by lag_frames_ and reaches back window_s; confirming
    // takes more windows (or as many as min_span_s needs); the start may snap to where the
    // reference begins; a start adjusted later may reach back a few windows more.
    const config::MatchProfile& m = settings.match;
    const double latency_s = 2 * m.window_s + (m.confirm_windows + m.end_windows + 6) * m.hop_s +
                             m.min_span_s + static_cast<double>(lag_frames_) * frame_s +
                             decision_.params().snap_s;
    clips_ = std::make_unique<ClipRecorder>(evidence, settings.id, rate_, latency_s);
    clip_writer_ = clips;
  }
}

SourceRunner::~SourceRunner() {
  if (source_) source_->stop();
}

void SourceRunner::start() { source_->start(); }

void SourceRunner::stop_and_drain() {
  source_->stop();
  draining_.store(true, std::memory_order_release);
}

void SourceRunner::publish(WorkerContext& ctx, Event& e) {
  e.source = settings_.id;
  e.emitted_utc = unix_now();
  ctx.bus->publish(e);
}

bool SourceRunner::service(WorkerContext& ctx) noexcept {
  if (done()) return false;
  try {
    drain_health(ctx);
    bool worked = false;
    for (int i = 0; i < kBlocksPerService; ++i) {
      const Block b = source_->read_block();
      if (b.samples.empty()) break;
      consume(b, ctx);
      worked = true;
    }
    drain_health(ctx);
    if (outage_ &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - outage_since_).count() >
            kOutageHoldS)
      close_outage(ctx);
    const bool ended = source_->finished();
    if (ended || (draining_.load(std::memory_order_acquire) && !worked)) {
      // Anything still in the ring was read above; one more empty read confirms it.
      if (!source_->read_block().samples.empty()) return true;
      finalize(ctx);
      if (ended) {
        finished_.store(true, std::memory_order_release);
        Event e;
        e.type = EventType::source_finished;
        e.reason = source_->finish_note();
        e.pos_s = pos_seconds(next_pos_);
        e.utc = source_->utc_of(next_pos_);
        publish(ctx, e);
      }
      done_.store(true, std::memory_order_release);
      return true;
    }
    return worked;
  } catch (const std::exception& ex) {
    Event e;
    e.type = EventType::source_down;
    e.reason = std::string("processing failed: ") + ex.what();
    e.pos_s = pos_seconds(next_pos_);
    e.utc = source_->utc_of(next_pos_);
    publish(ctx, e);
    ctx.reader->end();
    done_.store(true, std::memory_order_release);
    return true;
  }
}

void SourceRunner::drain_health(WorkerContext& ctx) {
  HealthEvent h{HealthEvent::Type::up, 0, 0, 0, 0, {}};
  while (source_->poll_health(h)) {
    Event e;
    e.pos_s = pos_seconds(h.pos);
    e.utc = source_->utc_of(h.pos);
    switch (h.type) {
      case HealthEvent::Type::up:
        e.type = EventType::source_up;
        up_reported_ = true;
        break;
      case HealthEvent::Type::down:
        e.type = EventType::source_down;
        e.reason = h.reason;
        // What is open waits for the source to come back (close_outage, kOutageHoldS).
        if (!outage_) {
          outage_since_ = std::chrono::steady_clock::now();
          outage_pos_ = h.pos;
        }
        outage_ = true;
        break;
      case HealthEvent::Type::overflow:
        e.type = EventType::overflow;
        e.count = h.count;
        break;
      case HealthEvent::Type::finished:
        continue;  // reported by service() once everything is processed
      case HealthEvent::Type::title:
        e.type = EventType::stream_title;
        e.title = stream_title_text(h.reason);
        break;
      case HealthEvent::Type::damage:
        e.type = EventType::stream_damage;
        e.start_pos_s = pos_seconds(h.from_pos);
        e.start_utc = source_->utc_of(h.from_pos);
        e.lost_s = pos_seconds(h.count);
        e.count = h.errors;
        e.reason = h.reason;
        break;
    }
    publish(ctx, e);
  }
}

void SourceRunner::close_outage(WorkerContext& ctx) {
  outage_ = false;
  // Nothing more matched while it was down: close what is open. The hashes before the outage
  // belong to those airings: windows after it hold only what came after (a window reaching
  // back across it put a play resumed after a short outage at the start of the evidence before
  // it, over the airing already closed).
  run_windows(ctx, true);
  ctx.airings.clear();
  decision_.finish(ctx.airings, pos_seconds(next_pos_));
  emit_airings(ctx);
  for (auto& lane : lanes_) lane->votes.clear();
}

void SourceRunner::consume(const Block& b, WorkerContext& ctx) {
  // Back after an outage (the audio before it, still in the ring, aside): without a gap the
  // airings go on; with one they close first.
  if (outage_ && b.pos >= outage_pos_) {
    if (have_pos_ && b.pos == next_pos_) {
      outage_ = false;
    } else {
      close_outage(ctx);
    }
  }
  if (clips_) clips_->feed(b.pos, b.samples);
  if (!have_pos_ || b.pos != next_pos_) {
    // A gap in the sample clock: end the segment and start a new one at the gap's end.
    if (have_pos_) end_segment();
    segment_start_s_ = pos_seconds(b.pos);
    // The follow lane starts from the audio of the current segment only.
    if (follow_ != nullptr) stop_follow();
    history_len_ = 0;
    for (auto& lane : lanes_) {
      // Lane sample n * speed is source sample n.
      lane->seg_base = static_cast<int64_t>(
          std::llround(static_cast<double>(b.pos) * lane->speed / static_cast<double>(hop_)));
    }
    have_pos_ = true;
  }

  silence_changes_.clear();
  silence_.feed(b.pos, b.samples, silence_changes_);
  for (const SilenceDetector::Change& c : silence_changes_) {
    Event e;
    e.threshold_dbfs = settings_.silence.threshold_dbfs;
    if (c.started) {
      e.type = EventType::silence_start;
      e.pos_s = pos_seconds(c.start);
      e.utc = source_->utc_of(c.start);
    } else {
      e.type = EventType::silence_end;
      e.pos_s = pos_seconds(c.end);
      e.utc = source_->utc_of(c.end);
      e.start_pos_s = pos_seconds(c.start);
      e.start_utc = source_->utc_of(c.start);
      e.duration_s = e.pos_s - e.start_pos_s;
    }
    publish(ctx, e);
  }

  // The block goes to the lanes up to each hop of the sample clock, and the windows decided by
  // then are matched there: a window holds the same hashes however the audio arrived in blocks
  // (a block reaching past its decision would otherwise bring in pairs that are final only
  // later), so a re-run of a recording gives the same airings, to the window.
  const auto hop = static_cast<uint64_t>(hop_);
  for (std::size_t i = 0; i < b.samples.size();) {
    const uint64_t pos = b.pos + i;
    const std::size_t n =
        std::min<std::size_t>(b.samples.size() - i, static_cast<std::size_t>(hop - pos % hop));
    feed_lanes(b.samples.subspan(i, n));
    if (!history_.empty()) {  // n is at most a hop, far less than the ring: one wrap at most
      const std::size_t slot = pos % history_.size();
      const std::size_t first = std::min(n, history_.size() - slot);
      std::copy_n(b.samples.begin() + static_cast<std::ptrdiff_t>(i), first,
                  history_.begin() + static_cast<std::ptrdiff_t>(slot));
      std::copy_n(b.samples.begin() + static_cast<std::ptrdiff_t>(i + first), n - first,
                  history_.begin());
      history_len_ = std::min(history_.size(), history_len_ + n);
    }
    i += n;
    next_pos_ = pos + n;
    last_frame_ = static_cast<int64_t>(next_pos_ / hop);
    if (next_pos_ % hop == 0) run_windows(ctx, false);
  }
  pos_s_.store(pos_seconds(next_pos_), std::memory_order_relaxed);
}

void SourceRunner::feed_lanes(std::span<const float> samples) {
  for (auto& lane : lanes_) {
    if (!lane->active) continue;
    if (lane->rescaled) {
      feed_rescaled(*lane);
      lane->final_frame = std::max(lane->final_frame,
                                   static_cast<int64_t>(std::floor(
                                       static_cast<double>(lanes_[0]->final_frame) * lane->speed)));
      continue;
    }
    feed_audio(*lane, samples);
  }
}

void SourceRunner::feed_audio(Lane& lane, std::span<const float> samples) {
  std::span<const float> x = samples;
  if (lane.resampler) {
    stretched_.clear();
    lane.resampler->process(samples, stretched_);
    x = stretched_;
  }
  fresh_.clear();
  lane.words.clear();
  lane.fp->feed(x, fresh_);
  keep_words(lane);
  for (const dsp::TimedHash& h : fresh_) {
    lane.votes.add(h.hash, lane.seg_base + h.t);
    lane.final_frame = std::max(lane.final_frame, lane.seg_base + static_cast<int64_t>(h.t));
  }
  const int64_t analysed = lane.seg_base + static_cast<int64_t>(lane.fp->frames());
  // The resampler holds back a few samples: one frame more covers them.
  lane.final_frame = std::max(lane.final_frame, analysed - lag_frames_ - (lane.resampler ? 1 : 0));
}

// The follow lane starts where the history does, as a segment of its own: its frame 0 is the
// history's first sample at its speed. Run on a worker, a few times an hour per source: it
// builds its resampler (an allocation) and fingerprints the history at once (about a window of
// audio), so its first window holds the play's last seconds with all their hashes.
void SourceRunner::start_follow(double speed) {
  Lane& lane = *follow_;
  stop_follow();
  lane.speed = speed;
  // Its words are in frames of its speed: those of a run at another speed go.
  std::fill(lane.word_frame.begin(), lane.word_frame.end(), int64_t{-1});
  lane.resampler = std::make_unique<dsp::decode::StreamResampler>(
      rate_, static_cast<int>(std::lround(rate_ * speed)));
  const uint64_t from = next_pos_ - history_len_;
  lane.seg_base = static_cast<int64_t>(
      std::llround(static_cast<double>(from) * speed / static_cast<double>(hop_)));
  lane.final_frame = lane.seg_base;
  lane.active = true;
  const std::size_t cap = history_.size();
  for (std::size_t done = 0; done < history_len_;) {
    const std::size_t slot = (from + done) % cap;
    const std::size_t n = std::min({history_len_ - done, cap - slot, std::size_t{4096}});
    feed_audio(lane, std::span<const float>(history_.data() + slot, n));
    done += n;
  }
}

void SourceRunner::stop_follow() {
  Lane& lane = *follow_;
  if (!lane.active) return;
  lane.active = false;
  lane.fp->reset();
  lane.votes.clear();
  lane.words_seen = 0;
  lane.final_frame = 0;
}

void SourceRunner::feed_rescaled(Lane& lane) {
  dsp::rescale_hashes(fresh_, lane.speed, params_, rescaled_);
  for (const dsp::TimedHash& h : rescaled_) lane.votes.add(h.hash, lane.seg_base + h.t);
}

void SourceRunner::end_segment() {
  for (auto& lane : lanes_) {
    if (!lane->active) continue;
    if (lane->rescaled) {
      feed_rescaled(*lane);
      continue;
    }
    fresh_.clear();
    if (lane->resampler) {
      stretched_.clear();
      lane->resampler->flush(stretched_);
      lane->fp->feed(stretched_, fresh_);
    }
    lane->words.clear();
    lane->fp->flush(fresh_);
    keep_words(*lane);
    for (const dsp::TimedHash& h : fresh_) lane->votes.add(h.hash, lane->seg_base + h.t);
    lane->fp->reset();
    lane->words_seen = 0;
  }
}

void SourceRunner::run_windows(WorkerContext& ctx, bool at_end) {
  if (at_end) {
    end_segment();
    have_pos_ = false;
    for (auto& lane : lanes_) {
      lane->final_frame = std::max(
          lane->final_frame,
          static_cast<int64_t>(std::llround(static_cast<double>(last_frame_) * lane->speed)));
    }
  }
  // Windows (in source frames) whose hashes are final in every lane.
  int64_t limit = lanes_[0]->final_frame;
  // Not the follow lane's: its resampler holds back a frame, and the source's windows would
  // wait for it while it runs (announced 10-50 ms later). A hash of its that comes later than
  // its window goes to the next one.
  for (std::size_t i = 1; i < lanes_.size(); ++i) {
    if (!lanes_[i]->active || lanes_[i]->follow) continue;
    limit = std::min(limit, static_cast<int64_t>(std::floor(
                                static_cast<double>(lanes_[i]->final_frame) / lanes_[i]->speed)));
  }
  if (at_end) limit = last_frame_ + hop_frames_;
  // A window in which a track not on air is a likely but undecided candidate is followed by
  // one half a hop later (MatchProfile::half_step). Only if that one opens an airing does it
  // reach the decision; the windows go on a hop apart as before.
  while (true) {
    if (half_step_end_ >= 0 && !at_end) {
      if (half_step_end_ > limit) break;
      match_window(std::exchange(half_step_end_, -1), ctx, /*half_step=*/true);
      continue;
    }
    half_step_end_ = -1;
    if (next_window_end_ > limit) break;
    const bool pending = match_window(next_window_end_, ctx);
    if (pending && half_step_ && !at_end) half_step_end_ = next_window_end_ + hop_frames_ / 2;
    next_window_end_ += hop_frames_;
  }
  if (at_end) {
    // A restarted segment continues with windows from its own audio.
    next_window_end_ = std::max(next_window_end_, last_frame_ + hop_frames_);
  }
}

bool SourceRunner::match_window(int64_t end_frame, WorkerContext& ctx, bool half_step) {
  bool pending = false;
  const int64_t base = end_frame - window_frames_;
  const double frame_s = params_.frame_seconds();
  ctx.matches.clear();
  ctx.reader->begin();
  ctx.matcher->set_match_params(match_params_);
  // Every speed lane is one more chance for noise: its chance probability is multiplied by the
  // number of lanes, so that all the other lanes together add at most as many false matches
  // as normal speed, which keeps its own threshold (most audio plays at normal speed).
  // The follow lane, started by a likely candidate, is one more such chance: it takes one
  // more than the others, which keep theirs.
  const double lanes = static_cast<double>(lanes_.size() - (follow_ != nullptr ? 1 : 0));
  // The most likely candidate off normal speed (the follow lane's next speed), and whether one
  // at the follow lane's speed is among the window's.
  double follow_want = 0;
  uint32_t follow_want_track = 0;
  uint32_t follow_want_votes = 0;
  bool follow_used = false;
  // The window can be decided once the hashes of its last frames are final: lag_frames_ of
  // audio after its end (less at the end of a stream).
  const int64_t decided_frame = std::min(end_frame + lag_frames_, last_frame_);
  const WordCheckRule word_rule;
  for (auto& lane_ptr : lanes_) {
    Lane& lane = *lane_ptr;
    if (lane.follow) {
      // The follow lane (the last one) goes on while candidates of its track at its speed
      // keep coming (it holds for kFollowHoldS), and moves to this window's likeliest candidate
      // off normal speed, in time for this window, when it is free: idle that long, or since
      // the last window when that candidate is of another track or speed. Not at the end of a
      // segment: its audio is gone.
      if (follow_used) follow_used_ = end_frame;
      const int64_t idle = end_frame - follow_used_;
      const bool free = !lane.active || static_cast<double>(idle) * frame_s > kFollowHoldS ||
                        (follow_want > 0 &&
                         (follow_want_track != follow_track_ ||
                          std::abs(follow_want - lane.speed) > kFollowSameSpeed) &&
                         idle >= hop_frames_);
      if (free && follow_want > 0 && have_pos_) {
        start_follow(follow_want);
        follow_track_ = follow_want_track;
        follow_used_ = end_frame;
      } else if (free) {
        stop_follow();
      }
    }
    if (!lane.active) continue;
    // The lane's window covers the same audio: source frame f is lane frame f * speed.
    const auto end_l =
        static_cast<int64_t>(std::llround(static_cast<double>(end_frame) * lane.speed));
    const int64_t base_l = end_l - window_frames_;
    // The hashes that arrived since the last window are looked up once, here; the window then
    // merges the votes of the last window_s.
    if (lane.rescaled) {
      lane.votes.set_max_postings(ctx.posting_caps.rescaled);
    } else {
      lane.votes.set_max_postings(
          std::min(match_params_.max_postings_per_hash, ctx.posting_caps.normal),
          match_params_.max_postings_per_hash, kUncastWeight);
    }
    lane.votes.seal(end_l, base_l, *ctx.reader, ctx.seal);
    if (lane.votes.votes().empty()) continue;
    // The follow lane is already at its play's speed (to a few tenths of a percent): lines
    // steeper than kFollowSkew there are noise read off a candidate's first seconds.
    if (lane.follow) {
      matcher::MatchParams mp = match_params_;
      mp.max_skew = kFollowSkew;
      ctx.matcher->set_match_params(mp);
    }
    const auto candidates = ctx.matcher->match(lane.votes);
    if (lane.follow) ctx.matcher->set_match_params(match_params_);
    // Lane frame q (from base_l) is at source frame (base_l + q) / speed.
    const auto source_s = [&](double q) {
      return (static_cast<double>(base_l) + q) / lane.speed * frame_s;
    };
    // Each candidate's line in source frames: reference frame = ref_base + (f - base) * speed.
    // Lane frame q is reference frame c.offset + q * c.speed (from base_l).
    const double q_base = static_cast<double>(base) * lane.speed - static_cast<double>(base_l);
    ctx.lines.clear();
    for (const matcher::Candidate& c : candidates) {
      ctx.lines.push_back(WordLine{c.track, c.offset + q_base * static_cast<double>(c.speed),
                                   lane.speed * static_cast<double>(c.speed)});
    }
    for (const matcher::Candidate& c_ref : candidates) {
      matcher::Candidate c = c_ref;
      // A rescaled lane answers only for plays nearer its speed than normal speed: the normal
      // lane sees those with all their hashes, and a rescaled reading of them places the line
      // a few frames off.
      const double speed = lane.speed * static_cast<double>(c.speed);
      // So does the follow lane (its lines' slopes kept within kFollowSkew of its speed).
      if ((lane.rescaled || lane.follow) &&
          std::abs(speed - 1.0) < 0.5 * std::abs(lane.speed - 1.0))
        continue;
      // The follow lane answers only for the track it follows: read through it, other audio
      // (a normal-speed play at a cut, its slope held within kFollowSkew) placed a start 0.75 s
      // early. A track on air near normal speed is followed by the normal lane: a candidate of
      // it read off speed (a loop's repeats, a slope read off a few seconds) does not start the
      // follow lane (one such ended a play 4 s early).
      if (lane.follow && c.track != follow_track_) continue;
      const double air_speed = follow_ != nullptr ? decision_.on_air_speed(c.track) : 0.0;
      const bool near_normal_on_air = air_speed > 0 && std::abs(air_speed - 1.0) <= kFollowMinOff;
      if (lane.speed != 1.0 || lane.follow) {
        c.confidence =
            static_cast<float>(std::max(0.0, 1.0 - (1.0 - static_cast<double>(c.confidence)) *
                                                       (lanes + (lane.follow ? 1 : 0))));
      }
      if (follow_ != nullptr && !near_normal_on_air && c.votes >= kStartMinVotes &&
          c.confidence >= kPendingConfidence) {
        if (follow_->active && c.track == follow_track_ &&
            std::abs(speed - follow_->speed) <= kFollowSameSpeed)
          follow_used = true;
        if (std::abs(speed - 1.0) > kFollowMinOff && c.confidence >= kFollowConfidence &&
            c.votes > follow_want_votes) {
          follow_want = speed;
          follow_want_track = c.track;
          follow_want_votes = c.votes;
        }
      }
      // Weak candidates can only continue or lead into an airing of their track at their
      // offset (Decision), unless their sub-band words confirm them (below).
      bool weak = !ctx.matcher->accepted(c);
      const bool on_air = decision_.on_air(c.track);
      const float keep_weak = on_air                       ? kOnAirConfidence
                              : decision_.open_count() > 0 ? kContinueConfidence
                                                           : kLeadInConfidence;
      // Whether the candidate's line opens its track: its first agreeing hash within the
      // decision's snap_s of where the reference's hashes begin (kStartMinVotes,
      // WordCheckRule::max_error_rate_at_start).
      const store::TrackInfo* info = nullptr;
      const auto opens_track = [&] {
        info = track_info(c.track, ctx);
        const double content_start = info != nullptr && info->first_frame >= 0
                                         ? static_cast<double>(info->first_frame) * frame_s
                                         : 0.0;
        return static_cast<double>(c.ref_first) * frame_s <=
               content_start + decision_.params().snap_s;
      };
      bool opens = false;
      uint32_t min_votes = match_params_.min_votes;
      if (weak && c.votes < min_votes && c.votes >= kStartMinVotes) {
        opens = opens_track();
        if (opens) min_votes = kStartMinVotes;
      }
      if (weak && on_air) min_votes = std::min(min_votes, kOnAirMinVotes);
      if (weak && (c.votes < min_votes ||
                   c.confidence <
                       (check_words_ ? std::min(keep_weak, word_rule.min_confidence) : keep_weak)))
        continue;
      if (info == nullptr) opens = opens_track();
      uint32_t first = c.query_first, last = c.query_last;
      refine(c, ctx, first, last);
      WindowMatch m;
      m.track = c.track;
      const WordLine& line = ctx.lines[static_cast<std::size_t>(&c_ref - candidates.data())];
      // Reference time minus source time at the window's start (source frame `base`), along
      // the candidate's line.
      m.offset_s = (line.ref_base - static_cast<double>(base)) * frame_s;
      m.offset_at_s = static_cast<double>(base) * frame_s;
      m.drift = lane.speed - 1.0;
      m.query_first_s = source_s(first);
      m.query_last_s = source_s(last);
      m.ref_first_s = std::min(c.ref_first * frame_s, m.query_first_s + m.offset_s);
      m.ref_last_s = std::max(c.ref_last * frame_s, m.query_last_s + m.offset_s);
      m.votes = c.votes;
      m.confidence = c.confidence;
      m.speed = static_cast<float>(lane.speed * c.speed);
      // A line that opens its track is one of few: only the offsets that put a track's start
      // within the window (or snap_s after its start) open it, so chance reaches such a line
      // as many times less often as there are cells per opening cell (opening_share()). By
      // the same chance model it passes the rule with that much less confidence: speech over
      // an intro leaves a play's first line 20-60 agreeing hashes a window, short of the
      // rule's confidence for any cell.
      if (weak && opening_lines_ && opens && c.votes >= match_params_.min_votes &&
          c.confidence >= kOpeningMinConfidence) {
        const double share = opening_share(ctx);
        const double conf = 1.0 - (1.0 - static_cast<double>(c.confidence)) * share;
        if (share < 1.0 && conf >= static_cast<double>(match_params_.min_confidence)) {
          weak = false;
          m.confidence = static_cast<float>(conf);
        }
      }
      // The words can also confirm a candidate the hashes decide, over a longer span than its
      // hashes: their evidence reaches newer audio (Decision's min_span_s).
      if (check_words_ && c.confidence >= word_rule.min_confidence &&
          confirm_by_words(m, line, base, decided_frame, opens, ctx))
        weak = false;
      // Decided, but the words of a track on air agree with this audio at least as well: a
      // passage like that track's own (on_air_words_agree).
      if (!weak && !on_air && check_words_ && on_air_words_agree(m, line, base, decided_frame, ctx))
        weak = true;
      pending |= weak && !on_air && c.votes >= kStartMinVotes && c.confidence >= kPendingConfidence;
      if (weak && c.confidence < keep_weak) continue;
      m.weak = weak;
      m.track_duration_s = info != nullptr ? info->duration_s : 0.0;
      m.track_content_end_s = info != nullptr ? static_cast<double>(info->frames) * frame_s : 0.0;
      m.track_content_start_s = info != nullptr && info->first_frame >= 0
                                    ? static_cast<double>(info->first_frame) * frame_s
                                    : -1.0;
      // A play near two lanes' speeds matches in both: keep the better of the two.
      bool merged = false;
      for (WindowMatch& o : ctx.matches) {
        if (o.track != m.track || std::abs(o.offset_s - m.offset_s) > kSameAlignmentS) continue;
        if (std::tie(m.confidence, m.votes) > std::tie(o.confidence, o.votes)) o = m;
        merged = true;
        break;
      }
      if (!merged) ctx.matches.push_back(m);
    }
  }
  ctx.reader->end();
  if (follow_used) follow_used_ = end_frame;  // by the follow lane's own candidates
  if (half_step && std::none_of(ctx.matches.begin(), ctx.matches.end(), [&](const WindowMatch& m) {
        return !m.weak && !decision_.on_air(m.track);
      }))
    return false;
  ctx.airings.clear();
  decision_.step(ctx.matches, ctx.airings,
                 static_cast<double>(decided_frame) * params_.frame_seconds());
  for (AiringEvent& a : ctx.airings) {
    if (a.kind == AiringEvent::Kind::end) {
      const double end = end_from_words(a, ctx);
      if (end != a.end_s) {
        a.ref_end_s += end - a.end_s;
        a.end_s = end;
        a.end_cut = decision_.end_cut(a.track_duration_s, a.ref_end_s);
      }
      continue;
    }
    if (a.kind != AiringEvent::Kind::start) continue;
    // A start joined to the end of the airing before it (DecisionParams::join_s) stands when
    // the words between it and the first evidence agree with the reference better than
    // chance, by a standard error: music under the speech that hid its hashes. Speech or other
    // audio alone agrees by chance, and the play begun that far into its track lined up with
    // the end before it by chance (A-0072 on programme 9: 0.51).
    if (a.joined && !joined_words_agree(a, ctx)) {
      a.start_s = decision_.move_start(a.track, a.evidence_start_s, &a.ref_start_s);
      a.start_cut = decision_.start_cut(a.ref_start_s);
    }
    // An airing opened off speed without the follow lane on its track (decided in a rescaled
    // lane first) takes the follow lane now, unless it follows a play still on air: it reads
    // the audio history at once, so its words place this start and, later, the end.
    if (follow_ != nullptr && have_pos_ && words_lane(a.track, a.speed) == nullptr &&
        (!follow_->active || follow_track_ == a.track || !decision_.on_air(follow_track_))) {
      start_follow(a.speed);
      follow_track_ = a.track;
      follow_used_ = end_frame;
    }
    const double start = start_from_words(a, ctx);
    if (start == a.start_s) continue;
    const double kept = decision_.move_start(a.track, start);
    a.ref_start_s += kept - a.start_s;
    a.start_s = kept;
    a.start_cut = decision_.start_cut(a.ref_start_s);
  }
  // A decided candidate whose track is still not on air after the step is pending too (a half
  // step follows): its evidence is short of the decision's min_span_s, or it waits for a twin.
  for (const WindowMatch& m : ctx.matches) pending |= !m.weak && !decision_.on_air(m.track);
  emit_airings(ctx);
  return pending;
}

void SourceRunner::keep_words(Lane& lane) {
  if (lane.word_ring.empty()) return;
  for (const uint32_t w : lane.words) {
    const int64_t frame = lane.seg_base + lane.words_seen++;
    if (frame == lane.seg_base) continue;  // a segment's first word compares with nothing
    const auto slot = static_cast<std::size_t>(frame) % kWordRing;
    lane.word_ring[slot] = w;
    lane.word_frame[slot] = frame;
  }
}

// The matched hashes place a start by the first anchors that agree: late when the play's first
// notes lose their peaks to a louder item before it, or early when it snaps to the reference's
// start. The sub-band words agree with the reference's along the airing's line from its first
// frame on, at any level (daemon/word_change.h). The reference frame of source frame f is
// ref_at + (f - at) * speed: a play off normal speed drifts by a frame every 1/|speed - 1|
// frames, which the 13-frame words follow; its bands shift by |speed - 1| of a frequency, a
// fraction of a band (33 bands over 3.3 octaves: 7 % each) that lowers the agreement without
// removing it.
SourceRunner::WordTally SourceRunner::word_agreement(uint32_t track, double at, double ref_at,
                                                     double speed, int64_t f0, int64_t f1,
                                                     bool forward, WorkerContext& ctx,
                                                     const Lane* lane) const {
  const Lane& l = lane != nullptr ? *lane : *lanes_[0];
  WordTally tally;
  ctx.agree.clear();
  const auto ref_of = [&](int64_t f) {
    return std::llround(ref_at + (static_cast<double>(f) - at) * speed);
  };
  const int64_t r0 = std::max<int64_t>(1, ref_of(f0));
  const int64_t r1 = ref_of(f1);
  if (r1 <= r0 || f1 <= f0) return tally;
  ctx.words.resize(static_cast<std::size_t>(r1 - r0 + 1));
  const std::size_t have =
      ctx.reader->subband(track, static_cast<uint64_t>(r0), ctx.words.size(), ctx.words.data());
  if (have == 0) return tally;
  ctx.agree.resize(static_cast<std::size_t>(f1 - f0 + 1));
  for (int64_t i = 0; i <= f1 - f0; ++i) {
    const int64_t f = forward ? f0 + i : f1 - i;
    const int64_t r = ref_of(f);
    const auto slot = static_cast<std::size_t>(std::max<int64_t>(f, 0)) % kWordRing;
    int agree = 16;  // no word here (outside the segment or the reference): chance
    if (f >= 0 && l.word_frame[slot] == f && r >= r0 && r - r0 < static_cast<int64_t>(have)) {
      agree = 32 - std::popcount(l.word_ring[slot] ^ ctx.words[static_cast<std::size_t>(r - r0)]);
      ++tally.compared;
      // Digital silence has all-zero words: nothing to tell a passage by.
      if (l.word_ring[slot] != 0) {
        ++tally.frames;
        tally.bits += agree;
      }
    }
    ctx.agree[static_cast<std::size_t>(i)] = static_cast<int8_t>(agree);
  }
  return tally;
}

int64_t SourceRunner::words_change(uint32_t track, double at, double ref_at, double speed,
                                   int64_t f0, int64_t f1, bool forward, WorkerContext& ctx,
                                   const Lane* lane) const {
  if (word_agreement(track, at, ref_at, speed, f0, f1, forward, ctx, lane).compared == 0) return -1;
  const std::ptrdiff_t i = word_change_point(ctx.agree);
  if (i < 0) return -1;
  return forward ? f0 + i : f1 - i;
}

std::optional<SourceRunner::WordSpan> SourceRunner::word_span(const WindowMatch& m,
                                                              int64_t decided_frame) const {
  const WordCheckRule rule;
  const double frame_s = params_.frame_seconds();
  WordSpan w;
  w.f0 = std::llround(m.query_first_s / frame_s);
  // Word f sums frames f .. f + subband_frames - 1: final once those were analysed.
  w.f1 =
      std::min(decided_frame - params_.subband_frames, w.f0 + static_cast<int64_t>(kWordRing) - 1);
  if (w.f1 - w.f0 + 1 < rule.min_frames) return std::nullopt;
  w.mid = 0.5 * static_cast<double>(w.f0 + w.f1);
  // The recent frames alone, once they are half a second fewer than all of them.
  w.recent = w.f1 - rule.recent_frames + 1 > w.f0 + rule.min_frames / 2
                 ? w.f1 - rule.recent_frames + 1
                 : w.f0;
  return w;
}

double SourceRunner::opening_share(const WorkerContext& ctx) const {
  if (ctx.track_count == 0 || ctx.indexed_frames == 0) return 1.0;
  const double per_track =
      static_cast<double>(window_frames_) + decision_.params().snap_s / params_.frame_seconds();
  return std::min(1.0, static_cast<double>(ctx.track_count) * per_track /
                           static_cast<double>(ctx.indexed_frames));
}

// A line's speed, measured on a second or two of anchors, can be off by most of a percent,
// which over the frames compared moves the reference by frames. So each line is read through
// the middle of the frames compared, at its speed and at normal speed, shifted by up to
// rule.shift_frames, over all the frames and over the last recent_frames of them (speech over a
// play's first seconds blurs its words there): the best of those is its agreement.
double SourceRunner::line_error_rate(const WordLine& l, int64_t base, const WordSpan& w,
                                     WordSpanPart part, WordTally& best, WordSpanPart* best_part,
                                     WorkerContext& ctx) const {
  const WordCheckRule rule;
  const double ref_mid = l.ref_base + (w.mid - static_cast<double>(base)) * l.speed;
  double best_rate = 1.0;
  for (const double speed : {l.speed, 1.0}) {
    for (int d = -rule.shift_frames; d <= rule.shift_frames; ++d) {
      for (const WordSpanPart p : {WordSpanPart::all, WordSpanPart::recent}) {
        if (part != WordSpanPart::either && p != part) continue;
        if (p == WordSpanPart::recent && w.recent == w.f0) continue;
        const int64_t from = p == WordSpanPart::all ? w.f0 : w.recent;
        const WordTally t =
            word_agreement(l.track, w.mid, ref_mid + d, speed, from, w.f1, /*forward=*/true, ctx);
        if (t.frames < rule.min_frames) continue;
        const double rate = t.error_rate();
        if (rate < best_rate) {
          best_rate = rate;
          best = t;
          if (best_part != nullptr) *best_part = p;
        }
      }
    }
    if (l.speed == 1.0) break;
  }
  return best_rate;
}

// The hashes decide a play after 2.5-4 s of it: their rule asks for enough agreeing anchors
// to stand out from the best of ~10^5 chance (track, offset) cells. The candidate they propose
// after a second or two is usually right already, and the words can tell: along its line they
// agree with the reference's in about half their bits by chance and in far more during the
// play. So a candidate not on air whose words agree clearly (WordCheckRule) from its first
// agreeing anchor to the newest word final when the window is decided is taken as decided,
// with the chance probabilities of the two fingerprints multiplied. Its evidence then spans
// up to that word (Decision's min_span_s), which also opens a candidate the hashes decide
// sooner when its hashes alone span less than min_span_s.
//
// Music repeats itself, and early in a play a repeat of the track's own audio may rank first:
// its words agree too when it is a near copy. So among the window's candidates of its track,
// read over the same frames, the one whose words agree best is confirmed (by word_margin
// standard errors; 0 by default: the track is certain, and an airing that opens on a repeat
// adopts the true offset once that one is confirmed, Decision).
//
// Off normal speed the words are read along the play's line, but their bands are shifted by
// the speed (3.5 %: half a band), which lowers their agreement: still clear on air (plays 1-3 %
// off on programmes 1-20 were confirmed 3 s sooner at p50), but less decisive between two
// tracks that share a passage. So there a candidate is not confirmed while another track's
// line among the window's candidates agrees within max_error_rate too; the hashes decide it.
bool SourceRunner::confirm_by_words(WindowMatch& m, const WordLine& line, int64_t base,
                                    int64_t decided_frame, bool opens_track,
                                    WorkerContext& ctx) const {
  const WordCheckRule rule;
  if (std::abs(line.speed - 1.0) > rule.max_speed_off || decision_.on_air(m.track)) return false;
  const std::optional<WordSpan> w = word_span(m, decided_frame);
  if (!w) return false;
  WordTally t;
  const double rate = line_error_rate(line, base, *w, WordSpanPart::either, t, nullptr, ctx);
  if (t.frames < rule.min_frames ||
      rate > (opens_track ? rule.max_error_rate_at_start : rule.max_error_rate))
    return false;
  const int64_t frames = t.frames, bits = t.bits;
  const double se = t.chance_se(params_.subband_frames);
  const bool off_speed = std::abs(line.speed - 1.0) > rule.shared_check_speed_off;
  for (const WordLine& other : ctx.lines) {
    if (&other == &line) continue;
    WordTally o;
    if (other.track == line.track) {
      if (line_error_rate(other, base, *w, WordSpanPart::either, o, nullptr, ctx) <
          rate + rule.word_margin * se)
        return false;
    } else if (off_speed && line_error_rate(other, base, *w, WordSpanPart::either, o, nullptr,
                                            ctx) <= rule.max_error_rate) {
      return false;  // another track's words agree too: a passage both share
    }
  }
  const double chance =
      (1.0 - static_cast<double>(m.confidence)) * word_chance(frames, bits, params_.subband_frames);
  if (1.0 - chance < static_cast<double>(match_params_.min_confidence)) return false;
  m.confidence = std::max(m.confidence, static_cast<float>(1.0 - chance));
  m.words_last_s = static_cast<double>(w->f1) * params_.frame_seconds();
  return true;
}

// Pieces of one soundtrack or album often end (or open) alike: the same final chord, another
// mix of the same passage. While one plays, another's line can match alongside its own until
// both end, and be decided by its hashes or its words: on 64 programmes of a corpus the
// daemon was not tuned on (NA's tracks indexed), 16 false airings were such endings, 8-10 s
// long. The track playing is the one whose words agree best: there the true line disagreed in
// 18 % of its bits and the other track's in 33 %. So a decided candidate of a track not on air
// does not open while a line of a track on air among the window's candidates agrees at least
// as well over the same frames (the part of them the candidate reads best). A cut to the next
// play is not held back: the play before has no words past its reference's end, which count
// as chance, and its words disagree with the next play's audio; a crossfade can be, while the
// fading play's words still agree better (announced 0.4-2 s later on 8 of 454 crossfades).
bool SourceRunner::joined_words_agree(const AiringEvent& a, WorkerContext& ctx) const {
  if (std::abs(a.speed - 1.0) > WordCheckRule{}.max_speed_off) return false;
  const double frame_s = params_.frame_seconds();
  const int64_t f0 = std::llround(a.start_s / frame_s);
  const int64_t f1 = std::llround(std::min(a.evidence_start_s, a.start_s + kJoinWordsS) / frame_s);
  const WordTally t = word_agreement(a.track, a.start_s / frame_s, a.ref_start_s / frame_s, a.speed,
                                     f0, f1, /*forward=*/true, ctx);
  if (t.frames < WordCheckRule{}.min_frames) return false;
  return t.error_rate() <= 0.5 - t.chance_se(params_.subband_frames);
}

bool SourceRunner::on_air_words_agree(const WindowMatch& m, const WordLine& line, int64_t base,
                                      int64_t decided_frame, WorkerContext& ctx) const {
  const WordCheckRule rule;
  if (std::abs(line.speed - 1.0) > rule.max_speed_off) return false;
  const std::optional<WordSpan> w = word_span(m, decided_frame);
  if (!w) return false;
  double rate = 2;  // not read yet
  WordSpanPart part = WordSpanPart::either;
  WordTally t;
  for (const WordLine& other : ctx.lines) {
    if (other.track == line.track || !decision_.on_air(other.track) ||
        std::abs(other.speed - 1.0) > rule.max_speed_off)
      continue;
    if (rate > 1.5) {
      rate = line_error_rate(line, base, *w, WordSpanPart::either, t, &part, ctx);
      if (rate >= 1.0) return false;  // too few words to tell by
    }
    // Over the same frames: those where the track on air has no words (its reference ended
    // there, at a cut to the next play) count as chance.
    WordTally o;
    line_error_rate(other, base, *w, part, o, nullptr, ctx);
    const int64_t missing = std::max<int64_t>(0, t.frames - o.frames);
    const double wrong = static_cast<double>(32 * std::min(o.frames, t.frames) -
                                             std::min(o.bits, 32 * t.frames) + 16 * missing);
    if (wrong <= rate * 32.0 * static_cast<double>(t.frames)) return true;
  }
  return false;
}

const SourceRunner::Lane* SourceRunner::words_lane(uint32_t track, double speed) const {
  if (std::abs(speed - 1.0) <= kWordsMaxSpeedOff) return lanes_[0].get();
  if (follow_ != nullptr && follow_track_ == track && follow_->words_seen > 0 &&
      std::abs(speed / follow_->speed - 1.0) <= kWordsMaxSpeedOff)
    return follow_;
  return nullptr;
}

double SourceRunner::start_from_words(const AiringEvent& a, WorkerContext& ctx) const {
  // A start placed where the reference starts (a whole play) stays, but for a cut from the
  // play before (start_after_cut): a fade-in, or a track that opens near silence, agrees with
  // its reference only from where it becomes audible.
  const Lane* lane = words_lane(a.track, a.speed);
  if (lane == nullptr) return a.start_s;
  // The lane's frames: source time t is lane frame t * lane->speed / frame_s, and the play's
  // line runs at a.speed / lane->speed reference frames per lane frame.
  const double frame_s = params_.frame_seconds() / lane->speed;
  const WordChangeRule rule;
  // Not before the current segment: the words before a gap in the clock (an outage) are of
  // another airing.
  const int64_t at = words_change(
      a.track, a.start_s / frame_s, a.ref_start_s / params_.frame_seconds(), a.speed / lane->speed,
      std::llround(std::max(a.start_s - rule.start_back_s, segment_start_s_) / frame_s),
      std::llround((a.start_s + rule.start_ahead_s) / frame_s),
      /*forward=*/false, ctx, lane);
  if (at < 0) return a.start_s;
  const double begun = static_cast<double>(at + rule.lead_frames) * frame_s;
  if (a.ref_start_s < 1e-3) return start_after_cut(a, begun, ctx);
  // The first evidence (an agreeing anchor with an agreeing neighbour) shows the play on air
  // there; the words agree only where it is heard above what else plays (a fade-in under the
  // item before, speech over the intro), so they may not place the start much after it.
  return std::max(0.0,
                  start_within_evidence(a.start_s, begun, decision_.params().start_bias_s, rule));
}

// A start snapped to the reference's start (Decision's snap_s) may be a play begun a little
// into the track: its first agreeing hashes cannot tell (after a louder item a whole play is
// picked up up to a second late too). Its words can tell where it began, but a whole play
// whose first notes are soft, or that fades in, agrees only from where it is audible; the
// words' change point alone moved such starts up to a second late. So the snapped start moves
// to that point only where the play before it ends there too: the airing of another track on
// air at the snapped start, whose own words stop agreeing within [-cut_before_s, cut_after_s]
// of it. At a cut both change points fall at the cut; in a crossfade the play before goes on
// being heard after the next one is (its words agree past the next one's change point); a
// soft attack after speech, silence or unindexed music has no play before it to tell.
double SourceRunner::start_after_cut(const AiringEvent& a, double begun, WorkerContext& ctx) const {
  const WordChangeRule rule;
  if (begun - a.start_s < rule.min_unsnap_s) return a.start_s;
  Decision::AiredLine before;
  if (!decision_.line_on_air_at(a.track, a.start_s, before)) return a.start_s;
  // Off speed and not followed, the normal lane's words still tell, less clearly.
  const Lane* lane = words_lane(before.track, before.speed);
  if (lane == nullptr) lane = lanes_[0].get();
  const double frame_s = params_.frame_seconds() / lane->speed;
  const int64_t e =
      words_change(before.track, before.at_s / frame_s, before.ref_at_s / params_.frame_seconds(),
                   before.speed / lane->speed,
                   std::llround(std::max(before.start_s, begun - rule.start_back_s) / frame_s),
                   std::llround((begun + rule.end_ahead_s) / frame_s), /*forward=*/true, ctx, lane);
  if (e < 0) return a.start_s;
  const double ended = static_cast<double>(e + rule.tail_frames) * frame_s;
  if (ended - begun < -rule.cut_before_s || ended - begun > rule.cut_after_s) return a.start_s;
  return begun;
}

// The same for an end: the last frame up to which the excess adds up most. Only for ends not
// placed at the reference's end (a fade-out agrees only while audible).
double SourceRunner::end_from_words(const AiringEvent& a, WorkerContext& ctx) const {
  if (!a.end_cut) return a.end_s;
  const Lane* lane = words_lane(a.track, a.speed);
  if (lane == nullptr) return a.end_s;
  const double frame_s = params_.frame_seconds() / lane->speed;
  const WordChangeRule rule;
  const int64_t at = words_change(
      a.track, a.end_s / frame_s, a.ref_end_s / params_.frame_seconds(), a.speed / lane->speed,
      std::max(std::llround((a.end_s - rule.end_back_s) / frame_s),
               std::llround(a.start_s / frame_s)),
      std::llround((a.end_s + rule.end_ahead_s) / frame_s), /*forward=*/true, ctx, lane);
  if (at < 0) return a.end_s;
  return static_cast<double>(at + rule.tail_frames) * frame_s;
}

// Where the evidence for a candidate begins and ends, to the frame, from the hashes that agree
// with it. The matcher's first/last agreeing anchors are not quite that: near the start a single
// chance agreement can precede the real start, and near the end the last anchors' targets prove
// the audio matched up to the target peak, up to dt_max frames later. So:
//   first = the earliest agreeing anchor with another agreeing anchor within kCluster frames
//           after it (a lone agreement before the real start is most likely chance);
//   last  = the latest agreeing target (anchor + dt) among anchors with an agreeing neighbour.
void SourceRunner::refine(const matcher::Candidate& c, WorkerContext& ctx, uint32_t& first,
                          uint32_t& last) {
  constexpr uint32_t kCluster = 19;  // frames (0.3 s at 16 ms)
  const auto span = static_cast<uint32_t>(params_.dt_max + 1);
  // Agreeing hashes as (anchor, target) pairs, from the votes of the window just matched.
  ctx.pairs.clear();
  ctx.matcher->agreeing(c, ctx.pairs);
  std::sort(ctx.pairs.begin(), ctx.pairs.end());
  // Start.
  ctx.anchors.clear();
  for (const auto& [t, target] : ctx.pairs) {
    if (t >= c.query_first && t <= c.query_first + span) ctx.anchors.push_back(t);
  }
  ctx.anchors.erase(std::unique(ctx.anchors.begin(), ctx.anchors.end()), ctx.anchors.end());
  for (std::size_t i = 0; i + 1 < ctx.anchors.size(); ++i) {
    if (ctx.anchors[i + 1] - ctx.anchors[i] <= kCluster) {
      first = ctx.anchors[i];
      break;
    }
  }
  // End: the agreeing pairs anchored in the last dt_max frames of the evidence.
  const uint32_t from = c.query_last > span ? c.query_last - span : 0;
  const auto lo = std::lower_bound(ctx.pairs.begin(), ctx.pairs.end(), std::pair{from, 0u});
  const auto hi = std::upper_bound(lo, ctx.pairs.end(), std::pair{c.query_last, UINT32_MAX});
  uint32_t best = 0;
  bool found = false;
  for (auto i = lo; i != hi; ++i) {
    const uint32_t t = i->first;
    // Evidence only from an anchor with another agreeing anchor within kCluster frames.
    bool neighbour = false;
    for (auto j = i; j != lo && !neighbour;) {
      --j;
      if (t - j->first > kCluster) break;
      neighbour = j->first != t;
    }
    for (auto j = i + 1; j != hi && !neighbour; ++j) {
      if (j->first - t > kCluster) break;
      neighbour = j->first != t;
    }
    if (!neighbour) continue;
    best = std::max(best, i->second);
    found = true;
  }
  if (found) last = std::max(last, best);
  if (first > last) first = c.query_first;
}

const store::TrackInfo* SourceRunner::track_info(uint32_t id, WorkerContext& ctx) {
  auto it = ctx.tracks.find(id);
  if (it != ctx.tracks.end()) return &it->second;
  auto info = ctx.reader->track(id);
  if (!info) return nullptr;
  return &ctx.tracks.emplace(id, std::move(*info)).first->second;
}

void SourceRunner::emit_airings(WorkerContext& ctx) {
  for (const AiringEvent& a : ctx.airings) {
    Event e;
    switch (a.kind) {
      case AiringEvent::Kind::start:
        e.type = EventType::airing_start;
        started_.fetch_add(1, std::memory_order_relaxed);
        if (clips_) clips_->started(a.track, a.start_s);
        break;
      case AiringEvent::Kind::progress:
        e.type = EventType::airing_progress;
        break;
      case AiringEvent::Kind::end:
        e.type = EventType::airing_end;
        break;
    }
    e.track_id = a.track;
    if (auto it = ctx.tracks.find(a.track); it != ctx.tracks.end()) {
      e.title = it->second.title;
      e.artist = it->second.artist;
      e.external_id = it->second.external_id;
      e.track_source = it->second.source;
    }
    const auto to_pos = [&](double s) {
      return static_cast<uint64_t>(std::llround(std::max(0.0, s) * rate_));
    };
    e.track_duration_s = a.track_duration_s;
    e.start_pos_s = a.start_s;
    e.start_utc = source_->utc_of(to_pos(a.start_s));
    e.ref_start_s = a.ref_start_s;
    e.end_pos_s = a.end_s;
    e.end_utc = source_->utc_of(to_pos(a.end_s));
    e.ref_end_s = a.ref_end_s;
    e.pos_s = a.end_s;
    e.utc = e.end_utc;
    e.duration_s = a.end_s - a.start_s;
    e.confidence = a.confidence;
    e.speed = a.speed;
    e.start_cut = a.start_cut;
    e.end_cut = a.end_cut;
    e.detected_pos_s = a.detected_s;
    e.detected_utc = source_->utc_of(to_pos(a.detected_s));
    e.windows = a.windows;
    if (clips_ && a.kind == AiringEvent::Kind::end) clips_->ended(a, *source_, *clip_writer_, e);
    publish(ctx, e);
  }
  open_.store(static_cast<int>(decision_.open_count()), std::memory_order_relaxed);
}

void SourceRunner::finalize(WorkerContext& ctx) {
  // As at an outage that lasts: what is open closes at the last sample.
  close_outage(ctx);
}

}  // namespace aircheck::daemon
