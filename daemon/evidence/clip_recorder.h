// Evidence clips of one source: its recent audio, the clips of its open airings, and the cut
// handed to the ClipWriter when an airing ends.
//
//   consume ──feed(pos, pcm)──▶ AudioHistory ─┐
//   airing_start ──started()──▶ open clip ────┤ once max_s of it has arrived: snapshot
//   airing_end ──ended()──────────────────────┴▶ [start - pre_roll, end], at most max_s
//                                                  ──▶ ClipJob ──▶ ClipWriter::submit
//
// A clip is [start_pos - pre_roll_s, end_pos] of the source clock, capped at max_s from its
// start (the beginning of an airing is the evidence that matters; the event says when it was
// capped). An airing that lasts longer than the history holds would have lost its beginning by
// the time it ends, so an open airing's clip is copied out as soon as max_s of it has arrived,
// and airing_end only trims it. Should the start still not be held (an airing whose start moved
// earlier after it opened), the clip begins where the held audio does and the event says so in
// clip_start_pos_s.
//
// The history holds max_s + pre_roll_s + `latency_s` (how far behind the newest audio an
// airing's start can be when airing_start is decided) + kSlack_s seconds: 32 kB per second of
// capacity, allocated once in the constructor.
//
// Threads: the source's worker, one at a time. feed() does not allocate except when it takes
// the snapshot of an open clip (worker side, once per long airing); ended() allocates the job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "config/settings.h"
#include "daemon/decision.h"
#include "daemon/event.h"
#include "daemon/evidence/audio_history.h"

namespace aircheck::daemon {

class ClipWriter;
class Source;

class ClipRecorder {
 public:
  /// Extra history, in seconds, beyond what the clip length and decision latency need: covers
  /// the audio read between two decisions.
  static constexpr double kSlack_s = 5.0;

  /// `sample_rate`: of the PCM fed, in Hz. `latency_s`: see above. Allocates the history;
  /// throws std::bad_alloc. Control thread.
  ClipRecorder(const config::EvidenceSettings& settings, std::string source_id, int sample_rate,
               double latency_s);

  /// Appends audio at clock position `pos` (a jump in `pos` is a gap, held as silence), and
  /// snapshots open clips that have reached max_s.
  void feed(uint64_t pos, std::span<const float> samples);

  /// An airing of `track` opened at source time `start_s` (airing_start).
  void started(uint32_t track, double start_s);

  /// An airing closed (airing_end `a`; `e` is its event, with start_utc set). Cuts the clip,
  /// names it, submits it to `writer` and, when the writer took it, sets e.clip,
  /// e.clip_start_utc (from `src`), e.clip_start_pos_s, e.clip_duration_s and e.clip_capped.
  /// Returns whether the clip was queued; a refused or empty clip has been reported as
  /// clip_failed through the writer.
  bool ended(const AiringEvent& a, const Source& src, ClipWriter& writer, Event& e);

  const AudioHistory& history() const { return history_; }
  /// Clips of open airings being tracked.
  std::size_t open_clips() const { return open_.size(); }

 private:
  struct Open {
    uint32_t track = 0;
    double start_s = 0;
    uint64_t from = 0;  // clip start, clock position
    bool snapped = false;
    uint64_t snap_from = 0;  // clock position of pcm[0]
    std::vector<float> pcm;  // the snapshot: [snap_from, from + max)
  };
  bool cut(const AiringEvent& a, const Source& src, ClipWriter& writer, Event& e);
  uint64_t clip_from(double start_s) const;
  void snapshot_due();

  config::EvidenceSettings settings_;
  std::string source_;
  int rate_;
  uint64_t max_samples_;
  AudioHistory history_;
  std::vector<Open> open_;
};

}  // namespace aircheck::daemon
