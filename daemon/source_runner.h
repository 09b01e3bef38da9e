// Everything the worker side does for one source:
//
//   Source::read_block ─▶ Fingerprinter(Side::query) ─▶ hash history (absolute frames)
//     ─▶ every hop: window of the last window_s ─▶ Matcher + store::Reader ─▶ Decision ─▶ events
//   Source::poll_health ─▶ source_up / source_down / overflow;  PCM ─▶ SilenceDetector
//   PCM ─▶ ClipRecorder (evidence on) ─▶ at airing_end: ClipJob ─▶ ClipWriter (clip thread)
//
// Audio is fingerprinted once, as it arrives; each hash is looked up once, when the first
// window that contains it is matched (matcher::StreamVotes), and windows merge their votes.
// Hash times are kept on the source's sample clock: a gap in the clock (overflow, outage)
// flushes and resets the fingerprinter and the next segment continues at the gap's end. When
// the source goes down its open airings wait up to kOutageHoldS for it: back without a gap
// (a server's burst on reconnecting covered the outage) they go on; otherwise they close at its
// last sample, and windows after the outage hold only what came after it.
//
// Speed lanes match the same audio at other playback speeds, each with its own votes: a
// rescaled lane (MatchProfile::rescaled_speeds, on by default) takes the normal lane's hashes
// rescaled to its speed (dsp::rescale_hashes) and looks up only the rarer ones; a resampled
// lane (MatchProfile::speeds) fingerprints the audio resampled to undo its speed.
//
// Threads: constructed and stopped on the control thread; service() on exactly one worker at
// a time (the WorkerPool guarantees it); the atomics (done, draining) from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/settings.h"
#include "daemon/decision.h"
#include "daemon/event.h"
#include "daemon/evidence/clip_recorder.h"
#include "daemon/silence_detector.h"
#include "daemon/source.h"
#include "dsp/decode/resample.h"
#include "dsp/fingerprinter.h"
#include "matcher/matcher.h"
#include "matcher/stream_votes.h"
#include "store/index.h"

namespace aircheck::daemon {

class EventBus;
class ClipWriter;

/// A candidate's line in source frames: reference frame = ref_base + (f - base) * speed, base
/// being the source frame where its window starts.
struct WordLine {
  uint32_t track = 0;
  double ref_base = 0;
  double speed = 1;
};

/// Caps on postings per hash for a stream's lanes.
struct PostingCaps {
  uint32_t normal = 4000;
  uint32_t rescaled = 4000;
};

/// Per-worker resources a runner borrows while being serviced.
struct WorkerContext {
  matcher::Matcher* matcher = nullptr;
  store::Reader* reader = nullptr;
  EventBus* bus = nullptr;
  std::map<uint32_t, store::TrackInfo> tracks;       ///< metadata cache (ids are never reused)
  matcher::SealScratch seal;                         ///< scratch of StreamVotes::seal
  std::vector<WindowMatch> matches;                  ///< scratch
  std::vector<AiringEvent> airings;                  ///< scratch
  std::vector<uint32_t> anchors;                     ///< scratch
  std::vector<std::pair<uint32_t, uint32_t>> pairs;  ///< scratch
  std::vector<uint32_t> words;                       ///< scratch: reference sub-band words
  std::vector<int8_t> agree;                         ///< scratch: their agreement per frame
  std::vector<WordLine> lines;                       ///< scratch: a lane's candidates' lines
  /// Hashes with more postings than these cast no votes in a stream's lanes
  /// (stream_posting_caps() of the index, re-read every 10 s by the worker).
  PostingCaps posting_caps;
  /// Tracks in the index and the frames they hold (PostingLookup::indexed_frames), re-read
  /// with the caps: how many of all (track, offset) cells open a track (opening_share()).
  uint64_t track_count = 0;
  uint64_t indexed_frames = 0;
};

/// The caps for an index holding `postings` postings of `distinct_hashes` distinct hashes, in
/// multiples of their mean (kNormalPostingsRatio, kRescaledPostingsRatio), with floors; the
/// caps follow the index's size, which sets how many postings a hash has.
/// - Normal speed: the commonest hashes (more than 16 times the mean) are 5 % of a stream's
///   hashes but cast about 45 % of its votes, nearly all of them chance votes; leaving them
///   out makes a window's votes (the merge and ranking that cost most) about half as many.
/// - Rescaled lanes: rescaled hashes are approximate (bins rounded twice), so a lane keeps
///   only the informative ones, those much rarer than common (12 times the mean).
/// A profile's MatchParams::max_postings_per_hash still applies when lower.
PostingCaps stream_posting_caps(uint64_t postings, uint64_t distinct_hashes);

class SourceRunner {
 public:
  /// Builds the fingerprinter (plans FFTW: control thread) and the decision stage. Takes
  /// ownership of `source`, which must not be started yet. Throws what the Fingerprinter throws.
  /// With settings.evidence, evidence.enabled and a `clips` writer (which must outlive the
  /// runner), it also keeps the source's recent audio and queues a clip of every airing.
  SourceRunner(const config::SourceSettings& settings, std::unique_ptr<Source> source,
               const dsp::Params& params, const config::EvidenceSettings& evidence = {},
               ClipWriter* clips = nullptr);
  ~SourceRunner();

  /// Starts the source's capture. Control thread. Throws std::runtime_error when the source
  /// cannot be set up at all.
  void start();

  /// Stops capture (joins the capture thread) and asks the worker to drain what is buffered,
  /// close open airings and finish. Control thread; returns at once; see done().
  void stop_and_drain();

  /// Worker: reads, fingerprints, matches and decides for a bounded amount of audio.
  /// Returns true if it did any work. Never throws: failures become source_down events.
  bool service(WorkerContext& ctx) noexcept;

  /// The runner has finished: drained after stop_and_drain(), or the source ended.
  bool done() const { return done_.load(std::memory_order_acquire); }
  /// A finite source reached its end (rather than being stopped).
  bool finished_naturally() const { return finished_.load(std::memory_order_acquire); }
  /// Source-clock seconds processed so far (any thread; for STATUS=).
  double position_s() const { return pos_s_.load(std::memory_order_relaxed); }
  /// Airings currently open (any thread).
  int open_airings() const { return open_.load(std::memory_order_relaxed); }
  uint64_t airings_started() const { return started_.load(std::memory_order_relaxed); }

  /// Memory held for evidence clips of this source (the audio history), in bytes; 0 when off.
  std::size_t evidence_bytes() const {
    return clips_ ? clips_->history().capacity() * sizeof(float) : 0;
  }

  const config::SourceSettings& settings() const { return settings_; }
  const std::string& id() const { return settings_.id; }

 private:
  void consume(const Block& b, WorkerContext& ctx);
  /// Feeds samples that continue the current segment to every lane's fingerprinter and votes.
  void feed_lanes(std::span<const float> samples);
  void drain_health(WorkerContext& ctx);
  void run_windows(WorkerContext& ctx, bool at_end);
  /// Matches the window ending at source frame `end_frame` and feeds the decision. Returns
  /// whether a track not on air is a likely but undecided candidate (MatchProfile::half_step).
  /// A `half_step` window feeds the decision only if it holds a decided match of a track not
  /// on air (an airing about to open).
  bool match_window(int64_t end_frame, WorkerContext& ctx, bool half_step = false);
  void refine(const matcher::Candidate& c, WorkerContext& ctx, uint32_t& first, uint32_t& last);
  void finalize(WorkerContext& ctx);
  void end_segment();
  /// Closes the airings left open when the source went down, at its last sample before it.
  void close_outage(WorkerContext& ctx);
  void emit_airings(WorkerContext& ctx);
  struct Lane;
  /// Keeps the words the lane's last feed produced in its ring (lanes with words: normal speed
  /// and the follow lane).
  void keep_words(Lane& lane);
  /// Adds the normal-speed lane's hashes of its last feed (still in fresh_) to a rescaled lane,
  /// rescaled to its speed.
  void feed_rescaled(Lane& lane);
  /// Feeds samples to a lane with its own fingerprinter (resampled first when it has a
  /// resampler) and adds its hashes to its votes.
  void feed_audio(Lane& lane, std::span<const float> samples);
  /// Starts the follow lane (MatchProfile::follow_speed) at `speed`, from the audio history.
  void start_follow(double speed);
  void stop_follow();
  /// How the source's sub-band words over frames f0..f1 agree with the reference's along the
  /// line through source frame `at` and reference frame `ref_at` at `speed` reference frames
  /// per source frame. Leaves in ctx.agree the agreeing bits (of 32) of each frame, in search
  /// order (forward from f0, or backward from f1), 16 (chance) where either has no word.
  /// Frames are those of `lane`'s words (null: the normal-speed lane, whose frames are the
  /// source's; the follow lane's are its own, source frame f at f * its speed).
  struct WordTally {
    int64_t compared = 0;  ///< frames where both have a word
    int64_t frames = 0;    ///< of those, frames whose source word is not silence (all zero)
    int64_t bits = 0;      ///< their agreeing bits
    /// The fraction of their bits that disagree (needs frames > 0).
    double error_rate() const {
      return 1.0 - static_cast<double>(bits) / (32.0 * static_cast<double>(frames));
    }
    /// The standard error of error_rate() by chance: a word sums `subband_frames` frames, so
    /// about frames * 32 / subband_frames of the bits are independent.
    double chance_se(int subband_frames) const {
      return 0.5 / std::sqrt(static_cast<double>(frames) * 32.0 / subband_frames);
    }
  };
  WordTally word_agreement(uint32_t track, double at, double ref_at, double speed, int64_t f0,
                           int64_t f1, bool forward, WorkerContext& ctx,
                           const Lane* lane = nullptr) const;
  /// The change point of the agreement between the source's sub-band words over frames
  /// f0..f1 and the reference's along the line through source frame `at` and reference frame
  /// `ref_at` at `speed` reference frames per source frame: the frame from which (backward) or
  /// up to which (forward) the agreement in excess of chance adds up most (word_change_point);
  /// -1 when that excess is not clear.
  int64_t words_change(uint32_t track, double at, double ref_at, double speed, int64_t f0,
                       int64_t f1, bool forward, WorkerContext& ctx,
                       const Lane* lane = nullptr) const;
  /// The lane whose words read a play of `track` at `speed` (relative to the source) with its
  /// bands in place: the normal-speed lane within kWordsMaxSpeedOff of normal speed, else the
  /// follow lane when it follows that track within kWordsMaxSpeedOff of that speed; null when
  /// neither does.
  const Lane* words_lane(uint32_t track, double speed) const;
  /// The frames a candidate's words are read over (confirm_by_words): from its first agreeing
  /// anchor (f0) to the newest word final at the window's decision (f1); `recent`: the first of
  /// the last WordCheckRule::recent_frames of them (f0 when too few); `mid` their middle.
  struct WordSpan {
    int64_t f0 = 0, f1 = 0, recent = 0;
    double mid = 0;
  };
  enum class WordSpanPart : uint8_t { all, recent, either };
  std::optional<WordSpan> word_span(const WindowMatch& m, int64_t decided_frame) const;
  /// The fraction of disagreeing bits between the source's words over `w` (all of it, its
  /// recent part, or the better of the two) and the reference's along `l` (a line of the
  /// window starting at source frame `base`), read at its speed and at normal speed and
  /// shifted by up to WordCheckRule::shift_frames: the best reading, its tally in `best` and,
  /// when asked, its part. 1 when no reading has enough words.
  double line_error_rate(const WordLine& l, int64_t base, const WordSpan& w, WordSpanPart part,
                         WordTally& best, WordSpanPart* best_part, WorkerContext& ctx) const;
  /// Whether the words between the start of `a` (a start event joined to the end of the
  /// airing before it) and its first evidence agree with the reference's better than chance.
  bool joined_words_agree(const AiringEvent& a, WorkerContext& ctx) const;
  /// Whether the words along the line of a track on air (another among the window's
  /// candidates) agree with the source's at least as well as `line`'s do, over the same
  /// frames: `m`, decided, is then a passage like that track's own and does not open.
  bool on_air_words_agree(const WindowMatch& m, const WordLine& line, int64_t base,
                          int64_t decided_frame, WorkerContext& ctx) const;
  /// Whether the sub-band words confirm `m`, a candidate (along `line`, one of ctx.lines) of
  /// the window starting at source frame `base` that the hashes alone do not decide, with the
  /// words final at `decided_frame` (WordCheckRule; `opens_track`: its line opens its track).
  /// If so, sets its confidence from both fingerprints and words_last_s.
  bool confirm_by_words(WindowMatch& m, const WordLine& line, int64_t base, int64_t decided_frame,
                        bool opens_track, WorkerContext& ctx) const;
  /// Where the play of a just-opened airing began, from its sub-band words: the start if the
  /// words do not tell.
  double start_from_words(const AiringEvent& a, WorkerContext& ctx) const;
  /// start_from_words for a start snapped to the reference's start, whose words place the
  /// play's beginning at `begun` (source seconds): there, if the airing before it ended there
  /// (a cut); the start if not.
  double start_after_cut(const AiringEvent& a, double begun, WorkerContext& ctx) const;
  /// Where the play of a just-closed airing ended, from its sub-band words: the end if the
  /// words do not tell.
  double end_from_words(const AiringEvent& a, WorkerContext& ctx) const;
  /// The share of the index's (track, offset) cells whose line opens its track: its start
  /// within a window, or up to the decision's snap_s before the window's first evidence. 1
  /// when the index's size is not known.
  double opening_share(const WorkerContext& ctx) const;
  void publish(WorkerContext& ctx, Event& e);
  const store::TrackInfo* track_info(uint32_t id, WorkerContext& ctx);
  double pos_seconds(uint64_t pos) const { return static_cast<double>(pos) / rate_; }

  config::SourceSettings settings_;
  std::unique_ptr<Source> source_;
  dsp::Params params_;
  Decision decision_;
  SilenceDetector silence_;
  matcher::MatchParams match_params_;
  int rate_;
  int hop_;
  int64_t window_frames_;
  int64_t hop_frames_;
  int64_t lag_frames_;
  bool check_words_;    // confirm candidates by their sub-band words (MatchProfile::word_check)
  bool half_step_;      // MatchProfile::half_step
  bool opening_lines_;  // MatchProfile::opening_lines

  // worker-side state
  bool have_pos_ = false;
  uint64_t next_pos_ = 0;        // expected position of the next block, in samples
  int64_t next_window_end_ = 0;  // absolute frame
  int64_t half_step_end_ = -1;   // a half-step window to match before the next one; -1: none
  int64_t last_frame_ = 0;       // end of the audio seen so far, in absolute frames
  /// The audio at one playback-speed hypothesis: normal speed (lanes_[0]), or resampled to
  /// undo a speed change (lane sample n * speed is source sample n). Frames are lane frames.
  struct Lane {
    Lane(double s, const dsp::Params& p, bool rescaled_lane = false)
        : speed(s), rescaled(rescaled_lane) {
      if (!rescaled) fp.emplace(p, dsp::Side::query);
    }
    double speed;
    /// Fed the normal-speed lane's hashes rescaled to its speed instead of its own audio
    /// (MatchProfile::rescaled_speeds); such a lane has no fingerprinter.
    bool rescaled = false;
    std::unique_ptr<dsp::decode::StreamResampler> resampler;  // null at normal speed
    std::optional<dsp::Fingerprinter> fp;                     // empty for a rescaled lane
    matcher::StreamVotes votes;   // the votes of the last window_s of hashes (and later ones)
    int64_t seg_base = 0;         // absolute lane frame of the fingerprinter's frame 0
    int64_t final_frame = 0;      // every hash anchored before this frame is in votes
    std::vector<uint32_t> words;  // sub-band words of the last feed (normal speed, follow lane)
    int64_t words_seen = 0;       // sub-band words of the current segment so far
    /// The lane's recent sub-band words, a ring by absolute lane frame; word_frame says which
    /// frame each slot holds (-1: none). Empty for lanes without words.
    std::vector<uint32_t> word_ring;
    std::vector<int64_t> word_frame;
    /// The follow lane (MatchProfile::follow_speed, the last lane): resampled at the speed of
    /// the off-speed candidates it follows, matched only while `active`.
    bool follow = false;
    bool active = true;
  };
  std::vector<std::unique_ptr<Lane>> lanes_;
  /// The follow lane, or null.
  Lane* follow_ = nullptr;
  /// The track the follow lane follows, and the source frame of the last window with a
  /// candidate of it at the follow lane's speed.
  uint32_t follow_track_ = 0;
  int64_t follow_used_ = 0;
  /// Source time where the current segment began (after the last gap in the clock).
  double segment_start_s_ = 0;
  /// The source's last audio (the current segment's), a ring: the follow lane starts from it.
  std::vector<float> history_;
  std::size_t history_len_ = 0;
  std::vector<float> stretched_;  // resampled audio of one block
  std::vector<dsp::TimedHash> fresh_;
  std::vector<dsp::TimedHash> rescaled_;  // fresh_ of the normal-speed lane, rescaled
  std::vector<SilenceDetector::Change> silence_changes_;
  std::unique_ptr<ClipRecorder> clips_;  // evidence clips; null when off for this source
  ClipWriter* clip_writer_ = nullptr;
  bool up_reported_ = false;
  /// The source is down and its open airings wait for it (close_outage()), since then.
  bool outage_ = false;
  std::chrono::steady_clock::time_point outage_since_;
  uint64_t outage_pos_ = 0;  // the source's position when it went down

  std::atomic<bool> draining_{false};
  std::atomic<bool> done_{false};
  std::atomic<bool> finished_{false};
  std::atomic<double> pos_s_{0};
  std::atomic<int> open_{0};
  std::atomic<uint64_t> started_{0};
};

/// Settings -> the SourceSpec the sources factory takes.
SourceSpec to_spec(const config::SourceSettings& s);

/// Settings -> decision thresholds.
DecisionParams decision_params(const config::SourceSettings& s);

}  // namespace aircheck::daemon
