// Decision stage: per-source state machine turning window matches into airings.
//
//   window matches (track, offset, matched span) ─▶ pending ─(confirmed)─▶ open ─(stops)─▶ closed
//
// A candidate becomes an airing after `confirm_windows` consecutive windows at a consistent
// offset and a matched span of at least `min_span_s`; it closes after `end_windows` windows
// without it, or earlier when another airing is confirmed while it is not matching. Boundaries
// are not window-granular: they come from the frame times of the first and last matched hashes,
// snapped to where the reference's start or end falls when the match reaches that close to it.
//
// Music repeats itself: a chorus or a loop matches its own track at several offsets at once.
// So a track has at most one open airing. While it is open, matches of the same track at
// other offsets keep it alive (the track is still on air) instead of opening a second airing;
// weak ones too, without moving its end (its own line can drop out of a window's candidates
// while a loop's repeats fill the places its track has).
// When another offset of the track has been confirmed and the open airing's own offset has
// not matched for `jump_windows` windows, the airing either adopts that offset (their matched
// spans overlap: it was the same play, first locked onto a repeat; or the two lines put the
// reference's start within `snap_s` of each other: its line measured anew) or closes and the
// other opens as a new airing (the station jumped within the track or played it again). A
// confirmed line whose evidence begins after the airing's last is such a replay or jump at
// once, without waiting for the airing's line to leave the window (or, once it has, for
// jump_windows), unless another line of the track carries on across that point. An offset
// along which the reference would begin after the airing did, and whose evidence overlaps the
// airing's, is neither: a loop repeating the track's opening inside the play, which goes on.
//
// Pure logic: no threads, no I/O, no clocks. One Decision per source; one thread at a time.
// Times are in seconds of the source's sample clock ("source time"); reference times are in
// seconds from the start of the indexed track.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

namespace aircheck::daemon {

/// One accepted matcher candidate of one window, converted to seconds.
struct WindowMatch {
  uint32_t track = 0;
  double offset_s = 0;       ///< reference time minus source time
  double query_first_s = 0;  ///< source time where the evidence begins / ends
  double query_last_s = 0;
  /// Reference time of the first / last agreeing hash: decides whether the airing reached the
  /// reference's start / end (snapping), so it may be looser than query_first_s/query_last_s.
  double ref_first_s = 0;
  double ref_last_s = 0;
  uint32_t votes = 0;
  float confidence = 0;
  double track_duration_s = 0;  ///< length of the reference track, in seconds (0 = unknown)
  /// Where the reference's fingerprinted audio ends (its last hashed frame), in seconds; 0 =
  /// unknown. A quiet fade or tail after it yields no hashes to match.
  double track_content_end_s = 0;
  /// Where the reference's fingerprinted audio begins (its first hashed frame), in seconds;
  /// negative = unknown. A quiet intro before it yields no hashes to match.
  double track_content_start_s = -1;
  float speed = 1.0f;  ///< playback speed relative to the reference, as measured
  /// Below the decision rule: evidence only for keeping an open airing of its track going at
  /// its offset (a chosen cell needs far less evidence than the best of all cells), or for
  /// leading into one (a run of weak windows followed, without a gap, by one that passes the
  /// rule at the same offset back-dates that airing's start: speech over an intro), never for
  /// opening one.
  bool weak = false;
  /// Source time up to which the sub-band words confirmed this match (SourceRunner), beyond
  /// its hashes' evidence: it counts towards min_span_s. 0 = not confirmed by words.
  double words_last_s = 0;
  /// Source time at which offset_s holds (the window's start), and how much the offset gains
  /// per source second after it: a speed lane's speed - 1 (its play drifts against the
  /// reference), 0 at normal speed, where a line's slope read off a few seconds is noise.
  double offset_at_s = 0;
  double drift = 0;
};
static_assert(std::is_trivially_copyable_v<WindowMatch>);

struct DecisionParams {
  int confirm_windows = 1;  ///< consecutive matching windows before an airing opens
  int end_windows = 2;      ///< consecutive windows without it before it closes
  /// ... and this many more for an airing more than off_speed off normal speed: its line is
  /// matched in a rescaled speed lane, from fewer hashes, and misses windows more often. Over
  /// programmes 1-64 on the 1038-track index one more window took fragments from 22 to 13
  /// without moving an edge (an airing ends at its last evidence, whenever it is closed).
  int off_speed_end_windows = 1;
  double off_speed = 0.01;
  /// Windows an open airing waits at its own offset, while its track matches elsewhere,
  /// before another confirmed offset of the track takes over.
  int jump_windows = 4;
  /// First-to-last matched evidence (hashes, or words confirming them) before it opens, in
  /// seconds.
  double min_span_s = 1.6;
  double progress_interval_s = 0;    ///< airing_progress period, in seconds; 0 = off
  double offset_tolerance_s = 0.05;  ///< windows at offsets this close belong to one airing
  /// Speed uncertainty allowed when predicting a drifting offset across missed windows.
  double speed_tolerance = 0.005;
  /// When the first (last) matched reference time is within this of where the reference's
  /// fingerprinted audio begins (ends), the boundary is placed where the reference's start
  /// (end) falls instead: a track that starts with silence or fades to silence was played from
  /// its start (to its end) when its first (last) audible part was. Where the hashes begin is
  /// unknown for tracks indexed before it was recorded: then from the reference's start. After
  /// a louder item, a whole play is picked up up to ~1 s late (its quiet first notes lose
  /// their peaks to the previous item's level), so a play that begins less than this into the
  /// track cannot be told from a whole one.
  double snap_s = 1.5;
  /// ... or, further into the track, when the reference's start falls within this of where an
  /// airing of another track ended, up to join_max_s before the first evidence: a cut from
  /// one play to the next, played from its start, whose first seconds gave no evidence
  /// (speech over its intro, a quiet opening). The two edges come from separate evidence; a
  /// play begun later into its track lines up with the previous one's end only by chance.
  double join_s = 0.3;
  double join_max_s = 12.0;
  double start_bias_s = 0.1;     ///< subtracted from the first matched hash time
  double end_bias_s = 0.15;      ///< added to the last matched hash time
  double cut_tolerance_s = 1.0;  ///< start/end counts as cut when more than this is missing
  /// A match of a track not on air is the audio of an open airing, and is ignored, when that
  /// airing matches in the same window along its own line, by the rule and with at least as
  /// many votes, and its evidence reaches at least as far, less this: tracks that share a
  /// passage (a game's themes reuse their loops; a remix quotes the original) match inside
  /// each other's plays. At a cut the next track's evidence runs on past the last of the
  /// previous one's (it needs min_span_s before it opens anyway); in a crossfade it takes over
  /// once it has more votes.
  double inside_slack_s = 0.5;
  /// ... or whose evidence lies within that airing's by at least this fraction of its span,
  /// whatever its end: a shared passage's evidence runs alongside the airing's all the way
  /// (off normal speed one window's evidence of the rougher copy reached 0.77 s past the
  /// airing's, and it opened), while at a crossfade the next track's evidence begins about
  /// where the previous one's fades out. On programmes 1-20 no crossfade moved at 0.8; at 0.6,
  /// 8 were announced 1-2 s later.
  double inside_overlap = 0.8;
  /// An airing whose own evidence spans less than this is still settling: a confirmed line of
  /// its track that fits it is adopted whatever their evidence, not taken for a jump or a
  /// replay. An airing opened early (on a repeat of a looping track, under speech, off
  /// normal speed) is the same play as the line that follows it; a station does not jump or
  /// replay within seconds of a start. Two min_span_s. On fresh programmes 21-28 it mended
  /// one split play (A-0083 1.7 % fast under speech, first opened 7 s off along a repeat)
  /// and moved nothing else on programmes 1-28.
  double settle_s = 3.2;
  /// Tracks that begin with the same audio (a shared opening: a game's themes, a jingle and
  /// the programme it opens) are confirmed by it together, their first evidence this close:
  /// neither opens while the other matches by the rule (or matches weakly with at least three
  /// quarters of its votes: a play under speech, its line not decided yet) with its evidence
  /// reaching within twin_end_s of its own, up to twin_wait_s of evidence. The one whose line goes
  /// on then opens, back-dated to its first evidence; the other, its evidence stopped, waits while
  /// the first's airing goes on and is forgotten once it no longer matches. Past twin_wait_s both
  /// open (the same recording indexed twice). twin_end_s: where two lines' last evidence falls
  /// in the audio they share is partly chance (the sub-band words extend each line by up to
  /// half a second); over programmes 1-64, 0.5 s opened two shared openings as false airings,
  /// 1.0 s made the one that goes on wait a window longer than 0.75 s (two plays, 1 s later).
  double twin_start_s = 0.25;
  double twin_end_s = 0.75;
  double twin_wait_s = 8.0;
};

/// An airing as reported by the decision stage.
struct AiringEvent {
  enum class Kind : uint8_t { start, progress, end };
  Kind kind = Kind::start;
  bool start_cut = false;  ///< the track's beginning was not aired
  bool end_cut = false;    ///< end: the track's end was not aired
  uint32_t track = 0;
  double start_s = 0;      ///< source time where the airing began
  double end_s = 0;        ///< end: where it ended; progress: latest matched position
  double detected_s = 0;   ///< source time at which the airing was confirmed (start, end)
  double ref_start_s = 0;  ///< reference time at start_s
  double ref_end_s = 0;    ///< reference time at end_s
  double track_duration_s = 0;
  double speed = 1.0;    ///< playback speed relative to the reference
  float confidence = 0;  ///< start: of the confirming window; else mean over windows
  uint32_t windows = 0;  ///< windows that matched so far
  /// start: placed where the reference begins because an airing of another track ended there
  /// (DecisionParams::join_s), before the first evidence; evidence_start_s is where the start
  /// would be without that (SourceRunner checks the words in between).
  bool joined = false;
  double evidence_start_s = 0;
};
static_assert(std::is_trivially_copyable_v<AiringEvent>);

class Decision {
 public:
  explicit Decision(const DecisionParams& p = {});

  /// Feeds the accepted matches of one window (any order; several offsets of one track may
  /// match). `at_s` is the source time at which the window's audio was all available (when
  /// the decision is made, for detection latency); negative: the latest matched position.
  /// Appends events to `out`: ends first, then starts, then progress. Allocation-free after
  /// warm-up when `out` has capacity.
  void step(std::span<const WindowMatch> matches, std::vector<AiringEvent>& out, double at_s = -1);

  /// Closes every open airing (end of stream, source down) and forgets pending ones.
  /// `audio_end_s`: where the source's audio ended; no airing ends after it (the end's bias
  /// or a snap to the reference's end could otherwise reach past a stream cut mid-play).
  void finish(std::vector<AiringEvent>& out,
              double audio_end_s = std::numeric_limits<double>::infinity());

  /// Moves the start of the open airing of `track` to `start_s` (source time), its reference
  /// start with it: a finer estimate of where the play began than the first matched hashes
  /// (SourceRunner compares sub-band words there). Returns the start kept: never before the
  /// source's or the reference's start (see set_start). No-op without such an airing (returns
  /// `start_s`, at least 0).
  /// `ref_start_s`, when given: the reference time there, along the airing's line.
  double move_start(uint32_t track, double start_s, double* ref_start_s = nullptr);

  /// Whether an airing that starts at reference time `ref_start_s` missed the track's start,
  /// and one that ends at `ref_end_s` of a track `duration_s` long (0 = unknown) its end.
  bool start_cut(double ref_start_s) const { return ref_start_s > p_.cut_tolerance_s; }
  bool end_cut(double duration_s, double ref_end_s) const {
    return duration_s > 0 && duration_s - ref_end_s > p_.cut_tolerance_s;
  }

  /// Open airings right now.
  std::size_t open_count() const;
  /// Whether `track` has an open airing.
  bool on_air(uint32_t track) const;
  /// The measured speed of the open airing of `track`; 0 when it has none.
  double on_air_speed(uint32_t track) const;
  const DecisionParams& params() const { return p_; }

  /// The line of an airing: a point of it (its last evidence) and its speed.
  struct AiredLine {
    uint32_t track = 0;
    double start_s = 0, end_s = 0;  ///< the airing's span (end: its latest evidence if open)
    double speed = 1;
    double at_s = 0, ref_at_s = 0;  ///< source and reference time of its last evidence
  };
  /// The airing of a track other than `track`, open or among the last closed, that began
  /// before source time `at_s` and was on air until at least a second before it: the latest
  /// to begin. False if none.
  bool line_on_air_at(uint32_t track, double at_s, AiredLine& out) const;

 private:
  enum class Phase : uint8_t { pending, open, closed };
  struct State {
    Phase phase = Phase::pending;
    bool matched = false;         // matched in the current window
    bool weak_elsewhere = false;  // open: its track matched weakly at another offset this window
    bool dead = false;            // merged into another state; erased at the end of the step
    bool decided = false;         // has had a match passing the decision rule (not only weak ones)
    bool strong = false;          // matched by the rule in the current window
    uint32_t track = 0;
    int consecutive = 0;
    int misses = 0;
    uint32_t windows = 0;
    double offset_s = 0;
    double offset_at = 0, drift = 0;  // WindowMatch::offset_at_s, drift
    double first_q = 0, last_q = 0, first_ref = 0, last_ref = 0;
    double words_last = 0;  // latest evidence from confirming words (WindowMatch::words_last_s)
    double duration = 0;
    double content_end = 0;
    double content_start = -1;
    double conf_sum = 0;
    double speed_sum = 0;  // over matched windows
    /// Mean measured speed over its matched windows (1 before any).
    double speed() const { return windows > 0 ? speed_sum / windows : 1.0; }
    float last_conf = 0;
    float last_speed = 1;
    double last_progress_q = 0;
    double start_s = 0, ref_start_s = 0;
    bool start_measured = false;  // start_s set by move_start
    double detected_s = 0;
    double alt_last_q = 0;  // open: latest evidence of the track at another offset
    uint32_t votes = 0;     // of the latest matching window
  };

  State* find(const WindowMatch& m);
  /// Whether `m`, of a track not on air, lies inside an open airing's match among `matches`
  /// (DecisionParams::inside_slack_s), or within the evidence of an airing of another track
  /// not matched by the rule in this window, open or among the last closed.
  bool inside_airing(const WindowMatch& m, std::span<const WindowMatch> matches);
  State* open_state(uint32_t track);
  /// Whether `line` puts its reference's start where `airing` began (within snap_s): the
  /// track played from its start there, whatever repeat the airing locked onto; a jump or a
  /// replay lands there only by chance.
  bool begins_track_at_start(const State& line, const State& airing) const;
  /// Whether the open airing `s` was replayed or jumped within: another confirmed line of its
  /// track with evidence after the airing's last, none carrying on across it, and none that
  /// begins the track where the airing began.
  bool replayed(const State& s) const;
  bool ready(const State& s) const;
  /// Whether ready `s` waits for a twin: another track's line, pending or open, from the same
  /// first evidence, that still matches by the rule (or weakly, with three quarters of the
  /// votes of `s` or more) about as far (DecisionParams::twin_start_s).
  bool twin_waits(const State& s) const;
  /// Missed windows after which the open airing `s` closes (DecisionParams::end_windows).
  int end_windows(const State& s) const;
  /// The track has a state: an open airing, a pending one, or one closed so recently that
  /// its state is kept.
  bool followed(uint32_t track) const;
  /// With `joined` (a start being opened), a start may be joined to the end of the airing
  /// before it (join_s), and says whether it was.
  double start_of(const State& s, bool* joined = nullptr) const;
  /// Sets the start of `s` and its reference start. A play cannot begin before its reference
  /// does: evidence placed earlier (a lead-in or words agreeing with similar audio before it)
  /// is cut back to where the reference starts along the airing's line.
  static void set_start(State& s, double start_s);
  /// Reference time at source time `t` along the line of `s`.
  static double ref_at(const State& s, double t) {
    return t + s.offset_s + (t - s.offset_at) * s.drift;
  }
  /// Source time at reference time `r` along the line of `s` (the inverse of ref_at).
  static double time_at(const State& s, double r) {
    return (r - s.offset_s + s.offset_at * s.drift) / (1.0 + s.drift);
  }
  void adopt(State& open, State& other);
  void open(State& s, std::vector<AiringEvent>& out);
  void close(State& s, std::vector<AiringEvent>& out,
             double audio_end_s = std::numeric_limits<double>::infinity());
  double end_of(const State& s) const;
  /// An event of `kind` for `s` with the fields every airing event shares.
  AiringEvent event(AiringEvent::Kind kind, const State& s, double end_s) const;

  DecisionParams p_;
  std::vector<State> states_;
  /// The last airings closed (track and source span), kept so that a repeat's reading of the
  /// same audio cannot open a second airing of it afterwards; a fixed ring.
  struct Aired {
    uint32_t track = 0;
    double start_s = 0, end_s = 0;
    double speed = 1, last_q = 0, last_ref = 0;  // its line, for line_on_air_at
  };
  static constexpr std::size_t kAired = 16;
  std::array<Aired, kAired> aired_{};
  std::size_t aired_next_ = 0;
  /// Whether the evidence of `s` begins inside an airing of its track already closed.
  bool already_aired(const State& s) const;
  double now_s_ = 0;
};

}  // namespace aircheck::daemon
