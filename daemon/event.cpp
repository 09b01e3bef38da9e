#include "daemon/event.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace aircheck::daemon {

std::string_view event_name(EventType t) {
  switch (t) {
    case EventType::airing_start:
      return "airing_start";
    case EventType::airing_progress:
      return "airing_progress";
    case EventType::airing_end:
      return "airing_end";
    case EventType::source_up:
      return "source_up";
    case EventType::source_down:
      return "source_down";
    case EventType::source_finished:
      return "source_finished";
    case EventType::silence_start:
      return "silence_start";
    case EventType::silence_end:
      return "silence_end";
    case EventType::overflow:
      return "overflow";
    case EventType::events_dropped:
      return "events_dropped";
    case EventType::clip_failed:
      return "clip_failed";
    case EventType::stream_title:
      return "stream_title";
    case EventType::stream_damage:
      return "stream_damage";
  }
  return "unknown";
}

std::string utc_iso8601(double unix_s) {
  const auto ms_total = static_cast<int64_t>(std::floor(unix_s * 1000.0));
  int64_t secs = ms_total / 1000;
  int64_t ms = ms_total % 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

namespace {

double ms3(double s) { return std::round(s * 1000.0) / 1000.0; }

/// The length of `s` as valid UTF-8, a last sequence cut short (by the capture ring's record)
/// left out; npos when it is not UTF-8.
std::size_t utf8_length(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80           ? 1
                          : (c >> 5) == 0x6  ? 2
                          : (c >> 4) == 0xE  ? 3
                          : (c >> 3) == 0x1E ? 4
                                             : 0;
    if (n == 0) return std::string::npos;
    for (std::size_t k = 1; k < n; ++k) {
      if (i + k == s.size()) return i;  // cut short
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return std::string::npos;
    }
    i += n;
  }
  return s.size();
}

bool is_airing(EventType t) {
  return t == EventType::airing_start || t == EventType::airing_progress ||
         t == EventType::airing_end;
}

}  // namespace

std::string stream_title_text(const std::string& raw) {
  if (const std::size_t n = utf8_length(raw); n != std::string::npos) return raw.substr(0, n);
  std::string out;
  for (const char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string to_json_line(const Event& e) {
  nlohmann::ordered_json j;
  j["type"] = event_name(e.type);
  j["schema"] = kEventSchema;
  j["source"] = e.source;
  j["emitted_utc"] = utc_iso8601(e.emitted_utc);
  if (is_airing(e.type)) {
    j["track_id"] = e.track_id;
    j["title"] = e.title;
    j["artist"] = e.artist;
    j["external_id"] = e.external_id;
    j["track_source"] = e.track_source;
    j["track_duration_s"] = ms3(e.track_duration_s);
    j["start_utc"] = utc_iso8601(e.start_utc);
    j["start_pos_s"] = ms3(e.start_pos_s);
    j["ref_start_s"] = ms3(e.ref_start_s);
    j["confidence"] = std::round(e.confidence * 1000.0) / 1000.0;
    j["speed"] = e.speed;
  }
  switch (e.type) {
    case EventType::airing_start:
      j["start_cut"] = e.start_cut;
      j["detected_utc"] = utc_iso8601(e.detected_utc);
      j["detected_pos_s"] = ms3(e.detected_pos_s);
      break;
    case EventType::airing_progress:
      j["pos_utc"] = utc_iso8601(e.utc);
      j["pos_s"] = ms3(e.pos_s);
      j["ref_pos_s"] = ms3(e.ref_end_s);
      j["duration_s"] = ms3(e.duration_s);
      break;
    case EventType::airing_end:
      j["end_utc"] = utc_iso8601(e.end_utc);
      j["end_pos_s"] = ms3(e.end_pos_s);
      j["ref_end_s"] = ms3(e.ref_end_s);
      j["duration_s"] = ms3(e.duration_s);
      j["start_cut"] = e.start_cut;
      j["end_cut"] = e.end_cut;
      j["whole"] = !e.start_cut && !e.end_cut;
      j["windows"] = e.windows;
      if (!e.clip.empty()) {
        j["clip"] = e.clip;
        j["clip_start_utc"] = utc_iso8601(e.clip_start_utc);
        j["clip_start_pos_s"] = ms3(e.clip_start_pos_s);
        j["clip_duration_s"] = ms3(e.clip_duration_s);
        j["clip_capped"] = e.clip_capped;
      }
      break;
    case EventType::source_up:
    case EventType::source_down:
    case EventType::source_finished:
      j["utc"] = utc_iso8601(e.utc);
      j["pos_s"] = ms3(e.pos_s);
      if (!e.reason.empty()) j["reason"] = e.reason;
      break;
    case EventType::silence_start:
      j["utc"] = utc_iso8601(e.utc);
      j["pos_s"] = ms3(e.pos_s);
      j["threshold_dbfs"] = e.threshold_dbfs;
      break;
    case EventType::silence_end:
      j["utc"] = utc_iso8601(e.utc);
      j["pos_s"] = ms3(e.pos_s);
      j["start_utc"] = utc_iso8601(e.start_utc);
      j["start_pos_s"] = ms3(e.start_pos_s);
      j["duration_s"] = ms3(e.duration_s);
      j["threshold_dbfs"] = e.threshold_dbfs;
      break;
    case EventType::overflow:
      j["utc"] = utc_iso8601(e.utc);
      j["pos_s"] = ms3(e.pos_s);
      j["samples_dropped"] = e.count;
      break;
    case EventType::events_dropped:
      j["sink"] = e.sink;
      j["count"] = e.count;
      break;
    case EventType::stream_title:
      j["utc"] = utc_iso8601(e.utc);
      j["pos_s"] = ms3(e.pos_s);
      j["title"] = e.title;
      break;
    case EventType::stream_damage:
      j["utc"] = utc_iso8601(e.utc);
      j["pos_s"] = ms3(e.pos_s);
      j["start_utc"] = utc_iso8601(e.start_utc);
      j["start_pos_s"] = ms3(e.start_pos_s);
      j["lost_s"] = ms3(e.lost_s);
      j["damaged_packets"] = e.count;
      j["reason"] = e.reason;
      break;
    case EventType::clip_failed:
      j["track_id"] = e.track_id;
      j["start_utc"] = utc_iso8601(e.start_utc);
      j["clip"] = e.clip;
      j["reason"] = e.reason;
      break;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string to_text(const Event& e) {
  char buf[160];
  const std::string what =
      e.title.empty() ? "track " + std::to_string(e.track_id) : "\"" + e.title + "\"";
  switch (e.type) {
    case EventType::airing_start:
      std::snprintf(buf, sizeof buf, " at %.3f s (ref %.3f s, confidence %.2f)", e.start_pos_s,
                    e.ref_start_s, e.confidence);
      return "[" + e.source + "] airing_start " + what + " " + utc_iso8601(e.start_utc) + buf;
    case EventType::airing_progress:
      std::snprintf(buf, sizeof buf, " at %.3f s (ref %.3f s, %.1f s aired)", e.pos_s, e.ref_end_s,
                    e.duration_s);
      return "[" + e.source + "] airing_progress " + what + buf;
    case EventType::airing_end: {
      // The speed is shown when it differs from normal by more than the matcher resolves.
      char speed[32] = "";
      if (std::abs(e.speed - 1.0) >= 0.004)
        std::snprintf(speed, sizeof speed, ", speed %.3f", e.speed);
      std::snprintf(buf, sizeof buf,
                    " %.3f-%.3f s (%.1f s, ref %.3f-%.3f s, %s%s, confidence %.2f)", e.start_pos_s,
                    e.end_pos_s, e.duration_s, e.ref_start_s, e.ref_end_s,
                    (!e.start_cut && !e.end_cut) ? "whole" : "partial", speed, e.confidence);
      return "[" + e.source + "] airing_end " + what + " " + utc_iso8601(e.start_utc) + " to " +
             utc_iso8601(e.end_utc) + buf + (e.clip.empty() ? "" : " clip " + e.clip) +
             (e.clip_capped ? " (capped)" : "");
    }
    case EventType::source_up:
    case EventType::source_finished:
      return "[" + e.source + "] " + std::string(event_name(e.type)) + " " + utc_iso8601(e.utc) +
             (e.reason.empty() ? "" : ": " + e.reason);
    case EventType::source_down:
      return "[" + e.source + "] source_down " + utc_iso8601(e.utc) + ": " + e.reason;
    case EventType::silence_start:
      std::snprintf(buf, sizeof buf, " at %.3f s (below %.1f dBFS)", e.pos_s, e.threshold_dbfs);
      return "[" + e.source + "] silence_start " + utc_iso8601(e.utc) + buf;
    case EventType::silence_end:
      std::snprintf(buf, sizeof buf, " at %.3f s after %.1f s of silence", e.pos_s, e.duration_s);
      return "[" + e.source + "] silence_end " + utc_iso8601(e.utc) + buf;
    case EventType::overflow:
      return "[" + e.source + "] overflow: " + std::to_string(e.count) +
             " samples dropped (workers fell behind)";
    case EventType::events_dropped:
      return "sink " + e.sink + " dropped " + std::to_string(e.count) + " events (it fell behind)";
    case EventType::clip_failed:
      return "[" + e.source + "] clip_failed " + what + " " + utc_iso8601(e.start_utc) + ": " +
             e.reason;
    case EventType::stream_title:
      return "[" + e.source + "] stream_title " + utc_iso8601(e.utc) + " \"" + e.title + "\"";
    case EventType::stream_damage:
      return "[" + e.source + "] stream_damage " + utc_iso8601(e.start_utc) + " to " +
             utc_iso8601(e.utc) + ": " + e.reason;
  }
  return "";
}

}  // namespace aircheck::daemon
