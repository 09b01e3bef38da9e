#include "daemon/decision.h"

#include <algorithm>
#include <cmath>

namespace aircheck::daemon {

Decision::Decision(const DecisionParams& p) : p_(p) { states_.reserve(32); }

Decision::State* Decision::find(const WindowMatch& m) {
  // A state's offset drifts at its measured speed: predict it across the time since its last
  // match, with a tolerance that grows with that time.
  State* best = nullptr;
  double best_d = 0;
  for (State& s : states_) {
    if (s.dead || s.track != m.track) continue;
    const double elapsed = std::max(0.0, m.query_last_s - s.last_q);
    const double d = std::abs(s.offset_s + (s.speed() - 1.0) * elapsed - m.offset_s);
    if (d <= p_.offset_tolerance_s + p_.speed_tolerance * elapsed &&
        (best == nullptr || d < best_d)) {
      best = &s;
      best_d = d;
    }
  }
  return best;
}

Decision::State* Decision::open_state(uint32_t track) {
  for (State& s : states_) {
    if (!s.dead && s.phase == Phase::open && s.track == track) return &s;
  }
  return nullptr;
}

bool Decision::followed(uint32_t track) const {
  for (const State& s : states_) {
    if (!s.dead && s.track == track) return true;
  }
  return false;
}

bool Decision::ready(const State& s) const {
  return !s.dead && s.matched && s.decided && s.phase == Phase::pending &&
         s.consecutive >= p_.confirm_windows &&
         std::max(s.last_q, s.words_last) - s.first_q >= p_.min_span_s;
}

double Decision::start_of(const State& s, bool* joined) const {
  // Where the reference's start falls when the match reaches where its hashes begin (silence
  // at its start has none), else the first evidence.
  const double begins = time_at(s, 0.0);
  const bool at_start = s.first_ref <= std::max(0.0, s.content_start) + p_.snap_s;
  if (at_start) return std::max(0.0, begins);
  // Track ids start at 1: an empty slot of aired_ holds 0.
  if (joined != nullptr && begins < s.first_q && s.first_q - begins <= p_.join_max_s &&
      std::any_of(aired_.begin(), aired_.end(), [&](const Aired& a) {
        return a.track != 0 && a.track != s.track && std::abs(a.end_s - begins) <= p_.join_s;
      })) {
    *joined = true;
    return std::max(0.0, begins);
  }
  return std::max(0.0, s.first_q - p_.start_bias_s);
}

void Decision::step(std::span<const WindowMatch> matches, std::vector<AiringEvent>& out,
                    double at_s) {
  for (State& s : states_) s.matched = s.weak_elsewhere = s.strong = false;
  // Each match feeds the state of its track at that offset (several offsets of one track may
  // match in one window: repeats); a window's best match per state wins.
  for (const WindowMatch& m : matches) {
    if (inside_airing(m, matches)) continue;
    State* s = find(m);
    // Weak matches continue open airings, and lead into pending ones (which only a match
    // passing the decision rule opens, back-dated to the start of the lead-in).
    // A track already followed at another offset (on air, just off it, or pending) leads into
    // nothing there: its weak matches at other offsets are repeats of its own audio.
    if (m.weak && (s != nullptr ? s->phase == Phase::closed : followed(m.track))) {
      // Still, the track is on air: a weak match at a repeat of its audio keeps its airing
      // open while its own line is out of the window's candidates (a loop's repeats can take
      // every place a track has), without moving its end.
      if (State* open = open_state(m.track)) open->weak_elsewhere = true;
      continue;
    }
    if (s == nullptr) {
      State fresh;
      fresh.track = m.track;
      fresh.offset_s = m.offset_s;
      fresh.offset_at = m.offset_at_s;
      fresh.drift = m.drift;
      fresh.first_q = m.query_first_s;
      fresh.last_q = m.query_last_s;
      fresh.words_last = m.words_last_s;
      fresh.first_ref = m.ref_first_s;
      fresh.last_ref = m.ref_last_s;
      fresh.duration = m.track_duration_s;
      fresh.content_end = m.track_content_end_s;
      fresh.content_start = m.track_content_start_s;
      states_.push_back(fresh);
      s = &states_.back();
    } else if (s->matched && m.votes <= s->votes) {
      continue;
    } else {
      s->first_q = std::min(s->first_q, m.query_first_s);
      s->first_ref = std::min(s->first_ref, m.ref_first_s);
      if (m.query_last_s > s->last_q) {
        s->last_q = m.query_last_s;
        s->last_ref = m.ref_last_s;
      }
      s->words_last = std::max(s->words_last, m.words_last_s);
      s->offset_s = m.offset_s;  // follows slow drift within the tolerance
      s->offset_at = m.offset_at_s;
      s->drift = m.drift;
    }
    s->decided |= !m.weak;
    s->strong |= !m.weak;
    if (!s->matched) {
      s->misses = 0;
      if (!m.weak) ++s->consecutive;
      ++s->windows;
      s->conf_sum += m.confidence;
      s->speed_sum += m.speed;
    } else {
      s->conf_sum += m.confidence - s->last_conf;  // a better match of the same window
      s->speed_sum += m.speed - s->last_speed;
    }
    s->last_speed = m.speed;
    s->matched = true;
    s->votes = m.votes;
    s->last_conf = m.confidence;
    now_s_ = std::max(now_s_, m.query_last_s);
  }
  if (at_s >= 0) now_s_ = at_s;

  // Misses. An open airing whose track still matches at another offset stays open (a repeat
  // of its own audio) until another offset is confirmed and takes over (below).
  for (State& s : states_) {
    // Whether or not the airing's own line still matches: once it has left the window's
    // candidates, waiting jump_windows for it would only announce the replay later.
    if (s.phase == Phase::open && replayed(s)) {
      s.alt_last_q = 0;  // that evidence is the replay's
      close(s, out);     // the replay opens below
    }
    if (s.matched) continue;
    s.consecutive = 0;
    ++s.misses;
    if (s.phase != Phase::open) continue;
    bool elsewhere = s.weak_elsewhere;
    for (const State& o : states_) {
      if (&o != &s && o.matched && o.track == s.track && !o.dead) {
        elsewhere = true;
        s.alt_last_q = std::max(s.alt_last_q, o.last_q);
      }
    }
    if (elsewhere) {
      State* taker = nullptr;
      for (State& o : states_) {
        // A line along which the reference begins after the airing did cannot be its play: a
        // repeat of a looping track (the play itself goes on), unless its evidence begins
        // after the airing's (a jump or a replay). The airing's start may be early by a snap
        // to where a repeat's reference begins, and a start is a cut only by more than
        // cut_tolerance_s.
        const bool fits =
            o.first_q >= s.last_q || -o.offset_s <= s.start_s + p_.snap_s + p_.cut_tolerance_s;
        if (o.track == s.track && ready(o) && fits &&
            (taker == nullptr || o.windows > taker->windows))
          taker = &o;
      }
      if (taker != nullptr && s.misses >= p_.jump_windows) {
        // The same play when their evidence overlaps (it had locked onto a repeat), or when
        // both lines put the reference's start within snap_s of each other: its line measured
        // anew (one read off a few anchors at a speed a percent off, or a bar of a loop away);
        // or when the taker's line puts the reference's start where the airing began: the
        // track was played from its start there, and the airing had locked onto a later
        // repeat of its opening (a jump or a replay lands there only by chance).
        if (taker->first_q < s.last_q || std::abs(taker->offset_s - s.offset_s) <= p_.snap_s ||
            s.last_q - s.first_q < p_.settle_s || begins_track_at_start(*taker, s)) {
          adopt(s, *taker);
        } else {
          s.alt_last_q = 0;  // that evidence is the taker's: a jump or a replay, which opens
          close(s, out);     // below as a new airing
        }
      }
    } else if (s.misses >= end_windows(s)) {
      close(s, out);
    }
  }
  // Another track taking over closes an open airing that is no longer matching. Not the tail
  // of an airing just closed, matched again along its own line: that never opens (below).
  const auto opens = [&](const State& o) {
    return ready(o) && open_state(o.track) == nullptr && !already_aired(o);
  };
  if (std::any_of(states_.begin(), states_.end(), opens)) {
    for (State& s : states_) {
      if (s.phase != Phase::open || s.matched || s.dead) continue;
      const bool taken_over = std::any_of(states_.begin(), states_.end(), [&](const State& o) {
        return o.track != s.track && opens(o);
      });
      if (taken_over) close(s, out);
    }
  }
  // Open confirmed candidates: at most one airing per track, the best-established offset. A
  // repeat of a looping track read along the same audio as an airing just closed (when the
  // next item took over) is that airing, not a new one.
  for (State& s : states_) {
    if (!ready(s) || open_state(s.track) != nullptr) continue;
    if (already_aired(s)) {
      s.dead = true;
      continue;
    }
    State* best = &s;
    bool twin = false;
    for (State& o : states_) {
      if (o.track != s.track || !ready(o)) continue;
      // A track one of whose lines waits for a twin waits: another of its lines (a repeat of
      // a looping track) would open in its place.
      twin |= twin_waits(o);
      if (o.windows > best->windows || (o.windows == best->windows && o.votes > best->votes))
        best = &o;
    }
    if (!twin) open(*best, out);
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
  // Forget pending states that missed, merged ones, and closed ones once they stop matching:
  // a closed airing absorbs its own tail so that it cannot open a second time.
  std::erase_if(states_, [&](const State& s) {
    if (s.dead) return true;
    if (s.phase == Phase::pending) return !s.matched;
    if (s.phase == Phase::closed) return s.misses >= p_.end_windows;
    return false;
  });
}

int Decision::end_windows(const State& s) const {
  return p_.end_windows + (std::abs(s.speed() - 1.0) > p_.off_speed ? p_.off_speed_end_windows : 0);
}

bool Decision::twin_waits(const State& s) const {
  if (s.last_q - s.first_q >= p_.twin_wait_s) return false;
  return std::any_of(states_.begin(), states_.end(), [&](const State& o) {
    return &o != &s && !o.dead && o.track != s.track && o.phase != Phase::closed &&
           (o.strong || (o.matched && 4 * o.votes >= 3 * s.votes)) &&
           std::abs(o.first_q - s.first_q) <= p_.twin_start_s &&
           o.last_q >= s.last_q - p_.twin_end_s;
  });
}

bool Decision::begins_track_at_start(const State& line, const State& airing) const {
  return std::abs(-line.offset_s - airing.start_s) <= p_.snap_s;
}

bool Decision::replayed(const State& s) const {
  if (s.last_q - s.first_q < p_.settle_s) return false;  // still settling: adopted below
  // The airing's own line may still be matched (a window holds seconds of the audio before),
  // but no longer advancing, while another line of its track, whose evidence begins after
  // the airing's last, is confirmed: the station played the track again or jumped within it.
  // Not while a third line of the track matches across the airing's last evidence: the play
  // goes on there (the airing had locked onto a repeat of a looping track, and adopts it),
  // nor for a line within snap_s of the airing's (its line measured anew: adopted, below).
  bool again = false;
  for (const State& o : states_) {
    if (&o == &s || o.dead || o.track != s.track) continue;
    if (o.matched && o.first_q < s.last_q && o.last_q > s.last_q) return false;
    again |= ready(o) && o.first_q >= s.last_q && std::abs(o.offset_s - s.offset_s) > p_.snap_s &&
             !begins_track_at_start(o, s);
  }
  return again;
}

void Decision::adopt(State& s, State& other) {
  s.offset_s = other.offset_s;
  s.offset_at = other.offset_at;
  s.drift = other.drift;
  s.first_q = std::min(s.first_q, other.first_q);
  s.last_q = std::max(s.last_q, other.last_q);
  s.last_ref = other.last_ref;
  s.first_ref = s.first_q + s.offset_s;
  // A start measured in the audio (move_start) holds whichever repeat the airing first locked
  // onto: repeats are the same audio.
  set_start(s, s.start_measured ? s.start_s : std::min(s.start_s, start_of(other)));
  s.windows += other.windows;
  s.conf_sum += other.conf_sum;
  s.speed_sum += other.speed_sum;
  s.last_conf = other.last_conf;
  s.matched = true;
  s.misses = 0;
  s.consecutive = other.consecutive;
  s.votes = other.votes;
  other.dead = true;
}

void Decision::open(State& s, std::vector<AiringEvent>& out) {
  s.phase = Phase::open;
  bool joined = false;
  set_start(s, start_of(s, &joined));
  s.detected_s = std::max(now_s_, s.last_q);
  s.last_progress_q = s.last_q;
  AiringEvent e = event(AiringEvent::Kind::start, s, s.last_q);
  e.joined = joined;
  e.evidence_start_s = std::max(0.0, s.first_q - p_.start_bias_s);
  e.start_cut = start_cut(s.ref_start_s);
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
  e.ref_end_s = ref_at(s, end_s);
  e.track_duration_s = s.duration;
  e.detected_s = s.detected_s;
  // Mean of the windows' measurements, to 0.1 %: a window's own estimate is that coarse.
  e.speed = std::round(s.speed() * 1000.0) / 1000.0;
  return e;
}

double Decision::end_of(const State& s) const {
  const bool at_end =
      s.duration > 0 && (s.duration - s.last_ref <= p_.snap_s ||
                         (s.content_end > 0 && s.content_end - s.last_ref <= p_.snap_s));
  if (at_end) {
    return std::max(s.last_q, time_at(s, s.duration));  // where the reference's end falls
  }
  // Evidence of the track at another offset (a repeat) after its own also means it was on air.
  return std::max(s.last_q, s.alt_last_q) + p_.end_bias_s;
}

bool Decision::already_aired(const State& s) const {
  // A second of slack either way: a replay that follows its first play at once begins at (or
  // a little before) where the first one's airing ended.
  return std::any_of(aired_.begin(), aired_.end(), [&](const Aired& a) {
    return a.end_s > a.start_s && a.track == s.track && s.first_q >= a.start_s - 1.0 &&
           s.first_q < a.end_s - 1.0;
  });
}

void Decision::close(State& s, std::vector<AiringEvent>& out, double audio_end_s) {
  s.phase = Phase::closed;
  AiringEvent e =
      event(AiringEvent::Kind::end, s, std::max(s.start_s, std::min(end_of(s), audio_end_s)));
  aired_[aired_next_] = Aired{s.track, s.start_s, e.end_s, e.speed, s.last_q, s.last_ref};
  aired_next_ = (aired_next_ + 1) % kAired;
  e.start_cut = start_cut(s.ref_start_s);
  e.end_cut = end_cut(s.duration, e.ref_end_s);
  e.confidence = static_cast<float>(s.conf_sum / std::max<uint32_t>(1, s.windows));
  e.windows = s.windows;
  out.push_back(e);
}

void Decision::finish(std::vector<AiringEvent>& out, double audio_end_s) {
  for (State& s : states_) {
    if (s.phase == Phase::open) close(s, out, audio_end_s);
  }
  states_.clear();
}

double Decision::move_start(uint32_t track, double start_s, double* ref_start_s) {
  State* s = open_state(track);
  if (s == nullptr) return std::max(0.0, start_s);
  set_start(*s, start_s);
  s->start_measured = true;
  if (ref_start_s != nullptr) *ref_start_s = s->ref_start_s;
  return s->start_s;
}

void Decision::set_start(State& s, double start_s) {
  s.start_s = std::max({0.0, start_s, time_at(s, 0.0)});
  s.ref_start_s = ref_at(s, s.start_s);
}

bool Decision::inside_airing(const WindowMatch& m, std::span<const WindowMatch> matches) {
  if (on_air(m.track)) return false;
  for (const WindowMatch& x : matches) {
    if (x.track == m.track || x.weak || x.votes < m.votes) continue;
    const double span = m.query_last_s - m.query_first_s;
    if (m.query_last_s > x.query_last_s + p_.inside_slack_s &&
        x.query_last_s - m.query_first_s < p_.inside_overlap * span)
      continue;
    const State* open = find(x);
    if (open != nullptr && open->phase == Phase::open) return true;
  }
  // ... or whose evidence lies within that of an airing of another track whose own line this
  // window does not match by the rule, open or among the last closed: at the end of a passage
  // two tracks share, the airing's line may turn weak a window before the other's does.
  const auto within = [&](double from_s, double to_s) {
    return m.query_first_s >= from_s && m.query_last_s <= to_s + p_.inside_slack_s;
  };
  for (const State& s : states_) {
    if (s.phase != Phase::open || s.dead || s.track == m.track) continue;
    if (std::any_of(matches.begin(), matches.end(),
                    [&](const WindowMatch& x) { return x.track == s.track && !x.weak; }))
      continue;
    if (within(s.first_q, s.last_q)) return true;
  }
  return std::any_of(aired_.begin(), aired_.end(), [&](const Aired& a) {
    return a.end_s > a.start_s && a.track != m.track && within(a.start_s, a.end_s);
  });
}

bool Decision::line_on_air_at(uint32_t track, double at_s, AiredLine& out) const {
  bool found = false;
  const auto consider = [&](const AiredLine& l) {
    if (l.track == track || l.start_s >= at_s || l.end_s < at_s - 1.0) return;
    if (found && l.start_s <= out.start_s) return;
    out = l;
    found = true;
  };
  for (const State& s : states_) {
    if (s.phase != Phase::open || s.dead) continue;
    consider({s.track, s.start_s, std::max(s.last_q, now_s_), s.speed(), s.last_q, s.last_ref});
  }
  for (const Aired& a : aired_) {
    if (a.end_s > a.start_s) consider({a.track, a.start_s, a.end_s, a.speed, a.last_q, a.last_ref});
  }
  return found;
}

std::size_t Decision::open_count() const {
  return static_cast<std::size_t>(std::count_if(
      states_.begin(), states_.end(), [](const State& s) { return s.phase == Phase::open; }));
}

bool Decision::on_air(uint32_t track) const {
  return std::any_of(states_.begin(), states_.end(), [&](const State& s) {
    return s.phase == Phase::open && s.track == track && !s.dead;
  });
}

double Decision::on_air_speed(uint32_t track) const {
  for (const State& s : states_) {
    if (s.phase == Phase::open && s.track == track && !s.dead) return s.speed();
  }
  return 0;
}

}  // namespace aircheck::daemon
