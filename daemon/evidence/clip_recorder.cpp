#include "daemon/evidence/clip_recorder.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <utility>

#include "daemon/evidence/clip_writer.h"
#include "daemon/source.h"

namespace aircheck::daemon {

namespace {

uint64_t seconds_to_samples(double s, int rate) {
  return s <= 0 ? 0 : static_cast<uint64_t>(std::llround(s * rate));
}

}  // namespace

ClipRecorder::ClipRecorder(const config::EvidenceSettings& settings, std::string source_id,
                           int sample_rate, double latency_s)
    : settings_(settings),
      source_(std::move(source_id)),
      rate_(sample_rate),
      max_samples_(std::max<uint64_t>(1, seconds_to_samples(settings.max_s, sample_rate))),
      history_(static_cast<std::size_t>(seconds_to_samples(
          settings.max_s + settings.pre_roll_s + std::max(0.0, latency_s) + kSlack_s,
          sample_rate))) {
  open_.reserve(8);
}

uint64_t ClipRecorder::clip_from(double start_s) const {
  return seconds_to_samples(start_s - settings_.pre_roll_s, rate_);
}

void ClipRecorder::feed(uint64_t pos, std::span<const float> samples) {
  history_.write(pos, samples);
  snapshot_due();
}

void ClipRecorder::snapshot_due() {
  for (Open& o : open_) {
    if (!o.snapped && history_.end() >= o.from + max_samples_) {
      o.snap_from = history_.copy(o.from, o.from + max_samples_, o.pcm);
      o.snapped = true;
    }
  }
}

void ClipRecorder::started(uint32_t track, double start_s) {
  // At most one open airing per track: a new start replaces a clip never closed.
  std::erase_if(open_, [&](const Open& o) { return o.track == track; });
  Open o;
  o.track = track;
  o.start_s = start_s;
  o.from = clip_from(start_s);
  open_.push_back(std::move(o));
  snapshot_due();
}

bool ClipRecorder::ended(const AiringEvent& a, const Source& src, ClipWriter& writer, Event& e) {
  try {
    return cut(a, src, writer, e);
  } catch (const std::exception& ex) {
    // A clip problem must never stop the source: report it and carry on.
    ClipJob job;
    job.source = source_;
    job.track_id = a.track;
    job.start_utc = e.start_utc;
    writer.reject(job, std::string("no clip: ") + ex.what());
    return false;
  }
}

bool ClipRecorder::cut(const AiringEvent& a, const Source& src, ClipWriter& writer, Event& e) {
  const uint64_t from = clip_from(a.start_s);
  uint64_t to = seconds_to_samples(a.end_s, rate_);
  const bool capped = to > from + max_samples_;
  if (capped) to = from + max_samples_;

  ClipJob job;
  job.source = source_;
  job.track_id = a.track;
  job.start_utc = e.start_utc;
  job.path = clip_path(settings_.dir, source_, e.start_utc, a.track, settings_.format);
  job.format = settings_.format;
  job.sample_rate = rate_;

  auto it = std::find_if(open_.begin(), open_.end(),
                         [&](const Open& o) { return o.track == a.track && o.from == from; });
  if (it == open_.end()) {
    it =
        std::find_if(open_.begin(), open_.end(), [&](const Open& o) { return o.track == a.track; });
  }
  uint64_t got = from;
  if (it != open_.end() && it->snapped && it->from == from) {
    // The snapshot holds [snap_from, from + max): trim it to the airing's end.
    job.pcm = std::move(it->pcm);
    got = it->snap_from;
    job.pcm.resize(to > got ? std::min<std::size_t>(job.pcm.size(), to - got) : 0);
  } else {
    got = history_.copy(from, to, job.pcm);
  }
  if (it != open_.end()) open_.erase(it);

  if (job.pcm.empty()) {
    writer.reject(job, "no audio of this airing is held any more: no clip");
    return false;
  }
  const std::string path = job.path;
  const double start_pos_s = static_cast<double>(got) / rate_;
  const double duration_s = static_cast<double>(job.pcm.size()) / rate_;
  if (!writer.submit(std::move(job))) return false;
  e.clip = path;
  e.clip_start_pos_s = start_pos_s;
  e.clip_start_utc = src.utc_of(got);
  e.clip_duration_s = duration_s;
  e.clip_capped = capped;
  return true;
}

}  // namespace aircheck::daemon
