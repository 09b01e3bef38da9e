// Events the daemon reports, and their two renderings: JSON (the stable, versioned interface
// of the JSON-lines log) and one human-readable line.
//
// JSON-lines schema, version kEventSchema (one object per line; fields absent when not listed):
//   every event   type, schema, source, emitted_utc (when the daemon produced it)
//   airing_*      track_id, title, artist, external_id, track_source, track_duration_s,
//                 start_utc, start_pos_s, ref_start_s, confidence, speed
//   airing_start  + start_cut, detected_utc, detected_pos_s (when the airing was confirmed:
//                 detection latency = detected_pos_s - start_pos_s)
//   airing_progress  + pos_utc, pos_s, ref_pos_s, duration_s
//   airing_end    + end_utc, end_pos_s, ref_end_s, duration_s, start_cut, end_cut, whole,
//                 windows; with an evidence clip (daemon/evidence/clip_writer.h): clip (its
//                 final path; the file appears once written, or a clip_failed follows),
//                 clip_start_utc, clip_start_pos_s (its first sample: normally start_pos_s
//                 minus the pre-roll, later when that audio was no longer held),
//                 clip_duration_s, clip_capped (true: cut short at evidence.max_s)
//   source_up / source_down / source_finished   utc, pos_s, reason (down; finished: a file's
//                                               damage, when it had any)
//   silence_start utc, pos_s, threshold_dbfs
//   silence_end   utc, pos_s, start_utc, start_pos_s, duration_s, threshold_dbfs
//   overflow      utc, pos_s, samples_dropped
//   events_dropped  sink, count  (events this sink had to drop because it fell behind)
//   clip_failed   track_id, start_utc, clip, reason  (an evidence clip was not written: queue
//                 full, disk error, encoder error; no file exists under that path)
//   stream_title  utc, pos_s, title  (a network stream's own "now playing" changed: the ICY
//                 StreamTitle of an Icecast or SHOUTcast station, as the station sent it; at
//                 the audio it came after, to within a quarter second)
//   stream_damage utc, pos_s, start_utc, start_pos_s, lost_s, damaged_packets, reason  (a
//                 network stream lost packets on the way, from start_pos_s to pos_s: lost_s
//                 seconds of audio its timestamps said were missing, filled with silence (gaps
//                 up to the source's gap_fill_s) or skipped on the source's clock (longer ones,
//                 short of stall_s) so that what follows keeps its time; damaged_packets that
//                 failed to decode. At most one per 10 s, and one when the stream goes down)
// Times: *_utc are ISO 8601 UTC with milliseconds ("2026-01-01T12:00:00.123Z"); *_pos_s are
// seconds of the source's own sample clock since the source started; ref_* are seconds into
// the indexed track.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace aircheck::daemon {

inline constexpr int kEventSchema = 1;

enum class EventType : uint8_t {
  airing_start,
  airing_progress,
  airing_end,
  source_up,
  source_down,
  source_finished,
  silence_start,
  silence_end,
  overflow,
  events_dropped,
  clip_failed,
  stream_title,
  stream_damage,
};

/// The event's name as written in logs ("airing_start", ...). Static storage.
std::string_view event_name(EventType t);

/// A stream title (stream_title) as text: stations send UTF-8 or Latin-1, as their software
/// wrote it. UTF-8 is kept (a last sequence cut short left out); anything else is read as
/// Latin-1.
std::string stream_title_text(const std::string& raw);

struct Event {
  EventType type = EventType::airing_start;
  std::string source;
  double emitted_utc = 0;  ///< Unix seconds when the event was produced
  double utc = 0;          ///< Unix seconds of the event's position (health events)
  double pos_s = 0;        ///< source time of the event's position (health, progress)

  // airings
  uint32_t track_id = 0;
  std::string title, artist, external_id, track_source;
  double track_duration_s = 0;
  double start_utc = 0, end_utc = 0;      ///< Unix seconds
  double start_pos_s = 0, end_pos_s = 0;  ///< source time, in seconds
  double detected_utc = 0;                ///< airing_start: when it was confirmed (Unix s)
  double detected_pos_s = 0;              ///< airing_start: the same in source time
  double ref_start_s = 0, ref_end_s = 0;  ///< seconds into the reference track
  double duration_s = 0;
  double confidence = 0;
  double speed = 1.0;
  bool start_cut = false, end_cut = false;
  uint32_t windows = 0;
  std::string clip;             ///< evidence clip path, if one is written (airing_end, clip_failed)
  double clip_start_utc = 0;    ///< Unix seconds of the clip's first sample
  double clip_start_pos_s = 0;  ///< source time of the clip's first sample
  double clip_duration_s = 0;   ///< length of the clip, in seconds
  bool clip_capped = false;     ///< the clip stops at evidence.max_s, before the airing's end

  // health
  std::string reason;  ///< source_down, clip_failed: why; source_finished: a file's damage
  uint64_t count = 0;  ///< overflow: samples dropped; events_dropped: events; stream_damage:
                       ///< packets that failed to decode
  double lost_s = 0;   ///< stream_damage: seconds of audio lost (filled with silence)
  double threshold_dbfs = 0;
  std::string sink;  ///< events_dropped: which sink
};

/// Unix seconds -> "YYYY-MM-DDTHH:MM:SS.mmmZ" (milliseconds truncated).
std::string utc_iso8601(double unix_s);

/// Seconds since the epoch from the system clock.
double unix_now();

/// The event as one line of JSON (no newline), per the schema above.
std::string to_json_line(const Event& e);

/// The event as one human-readable line (no newline), e.g. for stdout and journald MESSAGE.
std::string to_text(const Event& e);

}  // namespace aircheck::daemon
