#include "daemon/sinks/journald_sink.h"

#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include <cstdio>

namespace aircheck::daemon {

std::string_view message_id(EventType t) {
  switch (t) {
    case EventType::airing_start:
      return "29f70aeafadb439c8a1aca450edbd037";
    case EventType::airing_progress:
      return "dbd6c60b6fee4e7fba339cb41e156690";
    case EventType::airing_end:
      return "8efef8b68e7d4a0eb7ae5b474f844e86";
    case EventType::source_up:
      return "4a8f9aff730a48f5a09a852b43aaa5f9";
    case EventType::source_down:
      return "965f1bff5c7348729a133edd91700d53";
    case EventType::source_finished:
      return "fd469d755fd0494f865f74af33abaa44";
    case EventType::silence_start:
      return "233fe0de0afe4a8aa9ffe631077d7db5";
    case EventType::silence_end:
      return "85a99430579c46d09609d4a70cf2df17";
    case EventType::overflow:
      return "76077ca35d3245bf91c15a95a256bac7";
    case EventType::events_dropped:
      return "fbd9484862864396a9d7a9d25a9d1401";
    case EventType::clip_failed:
      return "7fcc2173f86844be853535e4671bed01";
    case EventType::stream_title:
      return "5f1c0b7e9d2a4c68b3e4a1d07c9f2e36";
    case EventType::stream_damage:
      return "c3d9e27a41f64b0e9a5d8c16f2b7e054";
  }
  return "00000000000000000000000000000000";
}

namespace {

int priority_of(EventType t) {
  switch (t) {
    case EventType::source_down:
    case EventType::overflow:
    case EventType::events_dropped:
    case EventType::clip_failed:
    case EventType::stream_damage:
      return 4;  // warning
    case EventType::silence_start:
    case EventType::silence_end:
      return 5;  // notice
    default:
      return 6;  // info
  }
}

std::string num(double x, const char* fmt = "%.3f") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, x);
  return buf;
}

}  // namespace

bool JournaldSink::write(const Event& e) {
  fields_.clear();
  auto add = [&](std::string_view key, const std::string& value) {
    std::string f(key);
    f += '=';
    f += value;
    fields_.push_back(std::move(f));
  };
  add("MESSAGE", to_text(e));
  add("MESSAGE_ID", std::string(message_id(e.type)));
  add("PRIORITY", std::to_string(priority_of(e.type)));
  add("SYSLOG_IDENTIFIER", "aircheckd");
  add("AIRCHECK_EVENT", std::string(event_name(e.type)));
  add("AIRCHECK_SCHEMA", std::to_string(kEventSchema));
  if (!e.source.empty()) add("AIRCHECK_SOURCE", e.source);
  switch (e.type) {
    case EventType::airing_start:
    case EventType::airing_progress:
    case EventType::airing_end:
      add("AIRCHECK_TRACK_ID", std::to_string(e.track_id));
      add("AIRCHECK_TITLE", e.title);
      if (!e.artist.empty()) add("AIRCHECK_ARTIST", e.artist);
      if (!e.external_id.empty()) add("AIRCHECK_EXTERNAL_ID", e.external_id);
      add("AIRCHECK_TRACK_SOURCE", e.track_source);
      add("AIRCHECK_START_UTC", utc_iso8601(e.start_utc));
      add("AIRCHECK_START_POS", num(e.start_pos_s));
      add("AIRCHECK_OFFSET", num(e.type == EventType::airing_start ? e.ref_start_s : e.ref_end_s));
      add("AIRCHECK_REF_START", num(e.ref_start_s));
      add("AIRCHECK_CONFIDENCE", num(e.confidence));
      add("AIRCHECK_SPEED", num(e.speed, "%.4f"));
      if (e.type == EventType::airing_start) add("AIRCHECK_DETECTED_POS", num(e.detected_pos_s));
      if (e.type == EventType::airing_end) {
        add("AIRCHECK_END_UTC", utc_iso8601(e.end_utc));
        add("AIRCHECK_END_POS", num(e.end_pos_s));
        add("AIRCHECK_REF_END", num(e.ref_end_s));
        add("AIRCHECK_DURATION", num(e.duration_s));
        add("AIRCHECK_WHOLE", (!e.start_cut && !e.end_cut) ? "1" : "0");
        if (!e.clip.empty()) {
          add("AIRCHECK_CLIP", e.clip);
          add("AIRCHECK_CLIP_START_POS", num(e.clip_start_pos_s));
          add("AIRCHECK_CLIP_DURATION", num(e.clip_duration_s));
          add("AIRCHECK_CLIP_CAPPED", e.clip_capped ? "1" : "0");
        }
      }
      break;
    case EventType::source_down:
      add("AIRCHECK_REASON", e.reason);
      [[fallthrough]];
    case EventType::source_up:
    case EventType::source_finished:
    case EventType::silence_start:
    case EventType::silence_end:
    case EventType::overflow:
      add("AIRCHECK_UTC", utc_iso8601(e.utc));
      add("AIRCHECK_POS", num(e.pos_s));
      if (e.type == EventType::overflow) add("AIRCHECK_COUNT", std::to_string(e.count));
      if (e.type == EventType::silence_end) add("AIRCHECK_DURATION", num(e.duration_s));
      if (e.type == EventType::source_finished && !e.reason.empty())
        add("AIRCHECK_REASON", e.reason);
      break;
    case EventType::events_dropped:
      add("AIRCHECK_SINK", e.sink);
      add("AIRCHECK_COUNT", std::to_string(e.count));
      break;
    case EventType::clip_failed:
      add("AIRCHECK_TRACK_ID", std::to_string(e.track_id));
      add("AIRCHECK_START_UTC", utc_iso8601(e.start_utc));
      add("AIRCHECK_CLIP", e.clip);
      add("AIRCHECK_REASON", e.reason);
      break;
    case EventType::stream_title:
      add("AIRCHECK_UTC", utc_iso8601(e.utc));
      add("AIRCHECK_POS", num(e.pos_s));
      add("AIRCHECK_STREAM_TITLE", e.title);
      break;
    case EventType::stream_damage:
      add("AIRCHECK_UTC", utc_iso8601(e.utc));
      add("AIRCHECK_POS", num(e.pos_s));
      add("AIRCHECK_START_UTC", utc_iso8601(e.start_utc));
      add("AIRCHECK_START_POS", num(e.start_pos_s));
      add("AIRCHECK_LOST", num(e.lost_s));
      add("AIRCHECK_COUNT", std::to_string(e.count));
      add("AIRCHECK_REASON", e.reason);
      break;
  }
  std::vector<iovec> iov(fields_.size());
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    iov[i].iov_base = fields_[i].data();
    iov[i].iov_len = fields_[i].size();
  }
  const int r = sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  last_error_ = r < 0 ? r : 0;
  return r >= 0;
}

}  // namespace aircheck::daemon
