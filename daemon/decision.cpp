#include "daemon/decision.h"

#include <algorithm>
#include <cmath>

namespace aircheck::daemon {

Decision::Decision(const DecisionParams& p) : p_(p) {
  states_.reserve(16);
  best_.reserve(16);
}

Decision::State* Decision::find(uint32_t track, double offset_s) {
  for (State& s : states_) {
    if (s.track == track && std::abs(s.offset_s - offset_s) <= p_.offset_tolerance_s) return &s;
  }
  return nullptr;
}

void Decision::step(std::span<const WindowMatch> matches, std::vector<AiringEvent>& out) {
  // The best-voted match of each track: one airing per track at a time.
  best_.clear();
  for (const WindowMatch& m : matches) {
    auto it = std::find_if(best_.begin(), best_.end(),
                           [&](const WindowMatch& b) { return b.track == m.track; });
    if (it == best_.end())
      best_.push_back(m);
    else if (m.votes > it->votes)
      *it = m;
  }

  for (State& s : states_) s.matched = false;
  for (const WindowMatch& m : best_) {
    State* s = find(m.track, m.offset_s);
    if (s == nullptr) {
      State fresh;
      fresh.track = m.track;
      fresh.offset_s = m.offset_s;
      fresh.first_q = m.query_first_s;
      fresh.last_q = m.query_last_s;
      fresh.first_ref = m.ref_first_s;
      fresh.last_ref = m.ref_last_s;
      fresh.duration = m.track_duration_s;
      states_.push_back(fresh);
      s = &states_.back();
    } else {
      s->first_q = std::min(s->first_q, m.query_first_s);
      s->first_ref = std::min(s->first_ref, m.ref_first_s);
      if (m.query_last_s > s->last_q) {
        s->last_q = m.query_last_s;
        s->last_ref = m.ref_last_s;
      }
      s->offset_s = m.offset_s;  // follows slow drift within the tolerance
    }
    s->matched = true;
    s->misses = 0;
    ++s->consecutive;
    ++s->windows;
    s->conf_sum += m.confidence;
    s->last_conf = m.confidence;
  }

  // Misses: pending states need consecutive windows; open ones close after end_windows.
  bool confirmed_any = false;
  for (State& s : states_) {
    if (s.matched) {
      if (s.phase == Phase::pending && s.consecutive >= p_.confirm_windows &&
          s.last_q - s.first_q >= p_.min_span_s) {
        confirmed_any = true;
      }
      continue;
    }
    s.consecutive = 0;
    ++s.misses;
    if (s.phase == Phase::open && s.misses >= p_.end_windows) close(s, out);
  }
  // Another track taking over closes an open airing that is no longer matching.
  if (confirmed_any) {
    for (State& s : states_) {
      if (s.phase == Phase::open && !s.matched) close(s, out);
    }
  }
  for (State& s : states_) {
    if (s.matched && s.phase == Phase::pending && s.consecutive >= p_.confirm_windows &&
        s.last_q - s.first_q >= p_.min_span_s) {
      open(s, out);
    }
  }
  if (p_.progress_interval_s > 0) {
    for (State& s : states_) {
      if (s.phase != Phase::open || !s.matched) continue;
      if (s.last_q - s.last_progress_q < p_.progress_interval_s) continue;
      s.last_progress_q = s.last_q;
      AiringEvent e = event(AiringEvent::Kind::progress, s, s.last_q);
      e.confidence = static_cast<float>(s.conf_sum / s.windows);
      e.windows = s.windows;
      out.push_back(e);
    }
  }
  // Forget pending states that missed, and closed ones once they stop matching: a closed
  // airing absorbs its own tail so that it cannot open a second time.
  std::erase_if(states_, [&](const State& s) {
    if (s.phase == Phase::pending) return !s.matched;
    if (s.phase == Phase::closed) return s.misses >= p_.end_windows;
    return false;
  });
}

void Decision::open(State& s, std::vector<AiringEvent>& out) {
  s.phase = Phase::open;
  if (s.first_ref <= p_.snap_s) {
    s.start_s = -s.offset_s;  // where the reference's start falls
  } else {
    s.start_s = s.first_q - p_.start_bias_s;
  }
  s.start_s = std::max(0.0, s.start_s);
  s.ref_start_s = s.start_s + s.offset_s;
  s.last_progress_q = s.last_q;
  AiringEvent e = event(AiringEvent::Kind::start, s, s.last_q);
  e.start_cut = s.ref_start_s > p_.cut_tolerance_s;
  e.confidence = s.last_conf;
  e.windows = s.windows;
  out.push_back(e);
}

AiringEvent Decision::event(AiringEvent::Kind kind, const State& s, double end_s) const {
  AiringEvent e;
  e.kind = kind;
  e.track = s.track;
  e.start_s = s.start_s;
  e.ref_start_s = s.ref_start_s;
  e.end_s = end_s;
  e.ref_end_s = end_s + s.offset_s;
  e.track_duration_s = s.duration;
  return e;
}

double Decision::end_of(const State& s) const {
  if (s.duration > 0 && s.duration - s.last_ref <= p_.snap_s) {
    return std::max(s.last_q, s.duration - s.offset_s);  // where the reference's end falls
  }
  return s.last_q + p_.end_bias_s;
}

void Decision::close(State& s, std::vector<AiringEvent>& out) {
  s.phase = Phase::closed;
  AiringEvent e = event(AiringEvent::Kind::end, s, end_of(s));
  e.start_cut = s.ref_start_s > p_.cut_tolerance_s;
  e.end_cut = s.duration > 0 && s.duration - e.ref_end_s > p_.cut_tolerance_s;
  e.confidence = static_cast<float>(s.conf_sum / std::max<uint32_t>(1, s.windows));
  e.windows = s.windows;
  out.push_back(e);
}

void Decision::finish(std::vector<AiringEvent>& out) {
  for (State& s : states_) {
    if (s.phase == Phase::open) close(s, out);
  }
  states_.clear();
}

std::size_t Decision::open_count() const {
  return static_cast<std::size_t>(std::count_if(
      states_.begin(), states_.end(), [](const State& s) { return s.phase == Phase::open; }));
}

}  // namespace aircheck::daemon
