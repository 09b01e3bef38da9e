#include "daemon/decision.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace aircheck::daemon {
namespace {

using Kind = AiringEvent::Kind;

/// A stretch of the programme where a reference track plays at normal speed.
struct Play {
  uint32_t track;
  double at_s;        // source time where it starts
  double ref_s;       // reference time at at_s
  double length_s;    // how long it plays
  double duration_s;  // the reference track's length
  uint32_t votes_per_s = 20;
};

/// What the matcher would report for a window [end - len, end): for every play overlapping it
/// by at least `min_overlap`, the agreeing hashes' first/last times, slightly inside the overlap
/// (landmarks are not exactly at the boundaries).
std::vector<WindowMatch> window(const std::vector<Play>& plays, double end, double len = 6,
                                double min_overlap = 1.5) {
  std::vector<WindowMatch> out;
  for (const Play& p : plays) {
    const double a = std::max(end - len, p.at_s);
    const double b = std::min(end, p.at_s + p.length_s);
    if (b - a < min_overlap) continue;
    WindowMatch m;
    m.track = p.track;
    m.offset_s = p.ref_s - p.at_s;
    m.query_first_s = a + 0.05;
    m.query_last_s = b - 0.05;
    m.ref_first_s = m.query_first_s + m.offset_s;
    m.ref_last_s = m.query_last_s + m.offset_s;
    m.votes = static_cast<uint32_t>((b - a) * p.votes_per_s);
    m.confidence = 0.9f;
    m.track_duration_s = p.duration_s;
    out.push_back(m);
  }
  return out;
}

std::vector<AiringEvent> run(Decision& d, const std::vector<Play>& plays, double until,
                             double hop = 1.0, bool finish = true) {
  std::vector<AiringEvent> ev;
  for (double end = hop; end <= until + 1e-9; end += hop) d.step(window(plays, end), ev);
  if (finish) d.finish(ev);
  return ev;
}

std::vector<AiringEvent> of_kind(const std::vector<AiringEvent>& ev, Kind k) {
  std::vector<AiringEvent> out;
  std::copy_if(ev.begin(), ev.end(), std::back_inserter(out),
               [&](const AiringEvent& e) { return e.kind == k; });
  return out;
}

/// One airing, ending at `end_s` (source time) and `ref_end_s` (reference time), each given
/// as the last matched evidence: the decision adds end_bias_s.
void expect_one_airing(const Decision& d, const std::vector<AiringEvent>& ev, double end_s,
                       double ref_end_s) {
  ASSERT_EQ(of_kind(ev, Kind::start).size(), 1u);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_NEAR(ends[0].end_s, end_s + d.params().end_bias_s, 1e-9);
  EXPECT_NEAR(ends[0].ref_end_s, ref_end_s + d.params().end_bias_s, 1e-9);
}

TEST(Decision, WholeTrackSnapsToReferenceBoundaries) {
  Decision d;
  const auto ev = run(d, {{7, 10.0, 0.0, 30.0, 30.0}}, 60);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, Kind::start);
  EXPECT_EQ(ev[0].track, 7u);
  EXPECT_NEAR(ev[0].start_s, 10.0, 1e-9);
  EXPECT_NEAR(ev[0].ref_start_s, 0.0, 1e-9);
  EXPECT_FALSE(ev[0].start_cut);
  EXPECT_EQ(ev[1].kind, Kind::end);
  EXPECT_NEAR(ev[1].start_s, 10.0, 1e-9);
  EXPECT_NEAR(ev[1].end_s, 40.0, 1e-9);
  EXPECT_NEAR(ev[1].ref_end_s, 30.0, 1e-9);
  EXPECT_FALSE(ev[1].start_cut);
  EXPECT_FALSE(ev[1].end_cut);
  EXPECT_NEAR(ev[1].confidence, 0.9f, 1e-6);
  EXPECT_EQ(ev[1].speed, 1.0);
}

// A track whose last 4 s are a fade to silence: its hashes stop 4 s before its end. Played
// whole, the airing still ends where the reference ends and is not reported cut; cut 5 s
// before the audible part ends, it is.
// Track 7 plays until 40 s; track 8's first evidence comes 5 s after that (speech over its
// intro hid its hashes). When its line puts its reference's start where 7 ended, it began
// there, from its start: joined, and the first evidence is kept for SourceRunner's check of
// the words in between. When its reference's start falls elsewhere, the start is its first
// evidence.
TEST(Decision, AStartIsJoinedToTheEndOfThePlayBeforeWhereItsReferenceBegins) {
  const auto start_of_8 = [](double ref_at_45) {
    Decision d;
    const auto ev = run(d, {{7, 10.0, 0.0, 30.0, 60.0}, {8, 45.0, ref_at_45, 20.0, 60.0}}, 80);
    const auto starts = of_kind(ev, Kind::start);
    EXPECT_EQ(starts.size(), 2u);
    return starts.size() == 2 ? starts[1] : AiringEvent{};
  };
  const AiringEvent joined = start_of_8(5.0);  // reference start at 40.0; 7 ended at 40.1
  EXPECT_EQ(joined.track, 8u);
  EXPECT_TRUE(joined.joined);
  EXPECT_NEAR(joined.start_s, 40.0, 1e-9);
  EXPECT_NEAR(joined.ref_start_s, 0.0, 1e-9);
  EXPECT_FALSE(joined.start_cut);
  EXPECT_NEAR(joined.evidence_start_s, 45.05 - Decision().params().start_bias_s, 1e-9);
  const AiringEvent apart = start_of_8(2.0);  // reference start at 43.0: a play begun 2 s in
  EXPECT_FALSE(apart.joined);
  EXPECT_NEAR(apart.start_s, 45.05 - Decision().params().start_bias_s, 1e-9);
  EXPECT_TRUE(apart.start_cut);
}

TEST(Decision, QuietEndingOfAWholePlayIsNotACut) {
  const auto play = [](double length_s) {
    Decision d;
    std::vector<AiringEvent> ev;
    const std::vector<Play> plays = {{7, 10.0, 0.0, length_s, 30.0}};
    for (double end = 1; end <= 60; end += 1) {
      auto w = window(plays, end);
      for (WindowMatch& m : w) {
        m.track_content_end_s = 26.0;
        m.query_last_s = std::min(m.query_last_s, 10.0 + 26.0 - 0.3);  // no hashes after it
        m.ref_last_s = m.query_last_s + m.offset_s;
      }
      d.step(w, ev);
    }
    d.finish(ev);
    return of_kind(ev, Kind::end);
  };
  const auto whole = play(30.0);
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_NEAR(whole[0].end_s, 40.0, 1e-9);
  EXPECT_NEAR(whole[0].ref_end_s, 30.0, 1e-9);
  EXPECT_FALSE(whole[0].end_cut);
  const auto cut = play(21.0);
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_NEAR(cut[0].end_s, 30.95 + Decision{}.params().end_bias_s, 1e-9);
  EXPECT_TRUE(cut[0].end_cut);
}

// The start snaps to the reference's start when the first match is within snap_s of where the
// reference's hashes begin. A track whose first 2.5 s are silence, played whole: its first
// match comes 2.7 s into the reference, and the airing still starts where the reference
// starts, not cut. Without knowing where its hashes begin, that play looks 2.6 s short. A play
// from 2 s into a track with hashes from its first frame is a partial play either way.
TEST(Decision, StartSnapsToTheReferenceWhenItsHashesBeginLate) {
  const auto play = [](double ref_s, double content_start_s, double lag_s) {
    Decision d;
    std::vector<AiringEvent> ev;
    const std::vector<Play> plays = {{7, 10.0, ref_s, 40.0, 60.0}};
    for (double end = 1; end <= 60; end += 1) {
      auto w = window(plays, end);
      for (WindowMatch& m : w) {
        m.track_content_start_s = content_start_s;
        // Nothing matches before the hashes begin, nor in the first lag_s of the play.
        const double first_q =
            std::max(10.0 + lag_s, std::max(0.0, content_start_s) - m.offset_s + 0.2);
        m.query_first_s = std::max(m.query_first_s, first_q);
        m.ref_first_s = m.query_first_s + m.offset_s;
      }
      d.step(w, ev);
    }
    d.finish(ev);
    return of_kind(ev, Kind::end);
  };
  const double bias = Decision{}.params().start_bias_s;
  const auto silent_intro = play(0.0, 2.5, 0.0);
  ASSERT_EQ(silent_intro.size(), 1u);
  EXPECT_NEAR(silent_intro[0].start_s, 10.0, 1e-9);
  EXPECT_NEAR(silent_intro[0].ref_start_s, 0.0, 1e-9);
  EXPECT_FALSE(silent_intro[0].start_cut);
  const auto unknown = play(0.0, -1.0, 2.7);  // the same play, on an older index
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_NEAR(unknown[0].start_s, 12.7 - bias, 1e-9);
  EXPECT_TRUE(unknown[0].start_cut);
  const auto partial = play(2.0, 0.0, 0.05);
  ASSERT_EQ(partial.size(), 1u);
  EXPECT_NEAR(partial[0].start_s, 10.05 - bias, 1e-9);
  EXPECT_NEAR(partial[0].ref_start_s, 2.05 - bias, 1e-9);
  EXPECT_TRUE(partial[0].start_cut);
}

TEST(Decision, StartIsBackDatedNotWhenConfirmed) {
  Decision d;
  std::vector<AiringEvent> ev;
  const std::vector<Play> plays = {{3, 20.0, 40.0, 60.0, 200.0}};
  double confirmed_at = -1;
  for (double end = 1; end <= 100 && confirmed_at < 0; end += 1) {
    d.step(window(plays, end), ev, end + 1.5);  // decided 1.5 s after the window's end
    if (!ev.empty()) confirmed_at = end;
  }
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_GE(confirmed_at, 20.0 + d.params().min_span_s);  // not before min_span_s of it
  EXPECT_NEAR(ev[0].detected_s, confirmed_at + 1.5, 1e-9);
  EXPECT_NEAR(ev[0].start_s, 20.05 - d.params().start_bias_s,
              1e-9);  // the first matched hash, not the window
  EXPECT_NEAR(ev[0].ref_start_s, 40.05 - d.params().start_bias_s, 1e-9);
  EXPECT_TRUE(ev[0].start_cut);
}

TEST(Decision, PartialPlayIsCutAtBothEnds) {
  Decision d;
  const auto ev = run(d, {{3, 20.0, 40.0, 60.0, 200.0}}, 120);
  ASSERT_EQ(ev.size(), 2u);
  const AiringEvent& end = ev[1];
  EXPECT_EQ(end.kind, Kind::end);
  EXPECT_NEAR(end.start_s, 20.05 - d.params().start_bias_s, 1e-9);
  EXPECT_NEAR(end.end_s, 79.95 + d.params().end_bias_s, 1e-9);
  EXPECT_NEAR(end.ref_end_s, end.end_s + 20.0, 1e-9);
  EXPECT_TRUE(end.start_cut);
  EXPECT_TRUE(end.end_cut);
}

TEST(Decision, ShortMatchBelowMinimumSpanIsIgnored) {
  DecisionParams p;
  p.min_span_s = 5.0;
  Decision d(p);
  // 4 s of a track: windows see it, but never 5 s of matched span.
  EXPECT_TRUE(run(d, {{9, 10.0, 50.0, 4.0, 200.0}}, 40).empty());
}

TEST(Decision, WordsConfirmingAMatchCountTowardsTheMinimumSpan) {
  // A play from 20 s: the window ending at 22 s has its hashes' evidence over 20.05-21.95 s,
  // less than min_span_s, and its sub-band words agree up to 23.5 s (newer audio, whose hashes
  // are not final yet).
  const std::vector<Play> plays = {{3, 20.0, 40.0, 60.0, 200.0}};
  std::vector<WindowMatch> w = window(plays, 22.0);
  ASSERT_EQ(w.size(), 1u);
  DecisionParams p;
  p.min_span_s = 2.0;
  {
    Decision d(p);
    std::vector<AiringEvent> ev;
    d.step(w, ev, 23.7);
    EXPECT_TRUE(ev.empty()) << "1.9 s of hashes alone must not open an airing";
  }
  w[0].words_last_s = 23.5;
  Decision d(p);
  std::vector<AiringEvent> ev;
  d.step(w, ev, 23.7);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::start);
  EXPECT_NEAR(ev[0].detected_s, 23.7, 1e-9);
  EXPECT_NEAR(ev[0].start_s, 20.05 - d.params().start_bias_s, 1e-9);
  EXPECT_NEAR(ev[0].ref_start_s, 40.05 - d.params().start_bias_s, 1e-9);
  // Words do not stand in for the rule: a weak match whose words reach as far opens nothing.
  Decision weak(p);
  std::vector<AiringEvent> none;
  w[0].weak = true;
  weak.step(w, none, 23.7);
  EXPECT_TRUE(none.empty());
}

TEST(Decision, SingleWindowFlickerIsIgnored) {
  DecisionParams p;
  p.confirm_windows = 2;
  Decision d(p);
  std::vector<AiringEvent> ev;
  WindowMatch m{5, 100.0, 10.0, 15.5, 110.0, 115.5, 40, 0.9f, 300.0};
  d.step(std::span(&m, 1), ev);
  d.step({}, ev);
  d.step(std::span(&m, 1), ev);
  d.step({}, ev);
  d.finish(ev);
  EXPECT_TRUE(ev.empty());
}

TEST(Decision, OneMissedWindowDoesNotSplitAnAiring) {
  Decision d;
  std::vector<AiringEvent> ev;
  const std::vector<Play> plays = {{4, 0.0, 0.0, 40.0, 40.0}};
  for (double end = 1; end <= 50; end += 1) {
    if (end == 20) {
      d.step({}, ev);  // a window lost to a dropout
      continue;
    }
    d.step(window(plays, end), ev);
  }
  d.finish(ev);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, Kind::start);
  EXPECT_EQ(ev[1].kind, Kind::end);
  EXPECT_NEAR(ev[1].end_s, 40.0, 1e-9);
}

// A play 2.5 % fast is matched in a rescaled speed lane, from fewer hashes: two windows in a
// row without it do not split its airing. At normal speed they do.
TEST(Decision, TwoMissedWindowsDoNotSplitAnAiringOffSpeed) {
  for (const float speed : {1.025f, 1.0f}) {
    Decision d;
    std::vector<AiringEvent> ev;
    const std::vector<Play> plays = {{4, 0.0, 0.0, 40.0, 40.0}};
    for (double end = 1; end <= 50; end += 1) {
      if (end == 20 || end == 21) {
        d.step({}, ev);  // windows lost
        continue;
      }
      auto ms = window(plays, end);
      for (WindowMatch& m : ms) m.speed = speed;
      d.step(ms, ev);
    }
    d.finish(ev);
    SCOPED_TRACE(speed);
    EXPECT_EQ(of_kind(ev, Kind::start).size(), speed == 1.0f ? 2u : 1u);
  }
}

TEST(Decision, BackToBackTracksTakeOver) {
  Decision d;
  const auto ev = run(d, {{1, 0.0, 0.0, 30.0, 30.0}, {2, 30.0, 0.0, 25.0, 25.0}}, 70);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].kind, Kind::start);
  EXPECT_EQ(ev[0].track, 1u);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_EQ(ends[0].track, 1u);
  EXPECT_NEAR(ends[0].end_s, 30.0, 1e-9);
  EXPECT_EQ(ends[1].track, 2u);
  EXPECT_NEAR(ends[1].start_s, 30.0, 1e-9);
  EXPECT_NEAR(ends[1].end_s, 55.0, 1e-9);
  EXPECT_EQ(ev.back().kind, Kind::end);
  EXPECT_EQ(ev.back().track, 2u);
}

TEST(Decision, TakeoverClosesTheOldAiringWhenTheNewOneConfirms) {
  DecisionParams p;
  p.end_windows = 10;     // without a takeover, track 1 would stay open for 10 windows
  p.confirm_windows = 4;  // track 2 confirms once track 1 has left the window
  Decision d(p);
  const auto ev = run(d, {{1, 0.0, 0.0, 30.0, 30.0}, {2, 30.0, 0.0, 25.0, 25.0}}, 70);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[1].kind, Kind::end);
  EXPECT_EQ(ev[1].track, 1u);
  EXPECT_NEAR(ev[1].end_s, 30.0, 1e-9);
  EXPECT_EQ(ev[2].kind, Kind::start);
  EXPECT_EQ(ev[2].track, 2u);
}

// The tail of an airing just closed, matched again along its own line by a window (its
// reading of the audio before the cut), never opens a second airing: nor does it close the
// airing that took over when, in that window, that one's line happens to be missing.
TEST(Decision, TheTailOfAnAiringClosedDoesNotCloseTheOneThatFollows) {
  Decision d;
  const std::vector<Play> plays = {{1, 0.0, 0.0, 30.0, 90.0}, {2, 30.0, 0.0, 25.0, 25.0}};
  std::vector<AiringEvent> ev;
  for (double end = 1; end <= 39; end += 1) d.step(window(plays, end), ev);
  ASSERT_EQ(of_kind(ev, Kind::start).size(), 2u);
  // One window reads track 1's last 6 s, decided, and none of track 2.
  d.step(window({{1, 24.0, 24.0, 6.0, 90.0}}, 40.0, 17.0), ev);
  for (double end = 41; end <= 70; end += 1) d.step(window(plays, end), ev);
  d.finish(ev);
  const auto starts = of_kind(ev, Kind::start);
  ASSERT_EQ(starts.size(), 2u);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_EQ(ends[1].track, 2u);
  EXPECT_NEAR(ends[1].start_s, 30.0, 1e-9);
  EXPECT_NEAR(ends[1].end_s, 55.0, 0.2);
}

// Two tracks that open with the same audio are confirmed together by it. Neither opens while
// the other still matches: track 1, whose line goes on, opens from where the play began, once
// its evidence leads track 2's by most of a hop; track 2 never does. A 3.5-s opening: within a
// few windows of its end. A 3.2-s one: in the window ending at 14 s track 1's evidence reaches
// 0.8 s past track 2's, and it opens there (at 1 s of slack it waited a window).
TEST(Decision, OfTwoTracksThatOpenAlikeOnlyTheOneThatGoesOnOpens) {
  for (const auto& [shared_s, announced_by] : {std::pair{3.5, 16.5}, std::pair{3.2, 14.0}}) {
    SCOPED_TRACE(shared_s);
    Decision d;
    const std::vector<Play> plays = {{1, 10.0, 0.0, 30.0, 60.0}, {2, 10.0, 0.0, shared_s, 60.0}};
    const auto ev = run(d, plays, 50);
    const auto starts = of_kind(ev, Kind::start);
    ASSERT_EQ(starts.size(), 1u);
    EXPECT_EQ(starts[0].track, 1u);
    EXPECT_NEAR(starts[0].start_s, 10.0, 1e-9);
    EXPECT_NEAR(starts[0].ref_start_s, 0.0, 1e-9);
    EXPECT_LE(starts[0].detected_s, announced_by + 1e-9);
    EXPECT_EQ(of_kind(ev, Kind::end).size(), 1u);
  }
}

// The same, the play being track 1's under speech: for its first windows track 1's line is
// weak (fewer of its hashes, not decided yet), with nearly as many votes as track 2's line,
// which the rule decides. Track 2 waits while track 1 matches like that and never opens;
// track 1 opens, from where the play began, once decided.
TEST(Decision, ATrackThatOpensAlikeWaitsForAWeakTwinWithNearlyAsManyVotes) {
  Decision d;
  const std::vector<Play> plays = {{1, 10.0, 0.0, 30.0, 60.0}, {2, 10.0, 0.0, 3.5, 60.0}};
  std::vector<AiringEvent> ev;
  for (double end = 1; end <= 50; end += 1) {
    auto w = window(plays, end);
    for (WindowMatch& m : w) {
      if (m.track != 1 || end >= 15) continue;
      m.weak = true;
      m.votes = m.votes * 9 / 10;
    }
    d.step(w, ev);
  }
  d.finish(ev);
  const auto starts = of_kind(ev, Kind::start);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0].track, 1u);
  EXPECT_NEAR(starts[0].start_s, 10.0, 0.2);
}

// The same recording indexed twice: both lines go on, and both open once their evidence spans
// twin_wait_s, from where the play began.
TEST(Decision, TwoTracksAlikeThroughoutBothOpenAfterAWhile) {
  Decision d;
  const std::vector<Play> plays = {{1, 10.0, 0.0, 30.0, 60.0}, {2, 10.0, 0.0, 30.0, 60.0}};
  const auto ev = run(d, plays, 50);
  const auto starts = of_kind(ev, Kind::start);
  ASSERT_EQ(starts.size(), 2u);
  for (const AiringEvent& e : starts) {
    EXPECT_NEAR(e.start_s, 10.0, 1e-9);
    EXPECT_LE(e.detected_s, 10.0 + d.params().twin_wait_s + 2.0);
  }
}

// Track 2 opens with the last 6 s of track 1. At the end of track 1's play its own line turns
// weak a window before track 2's does: track 2's passage lies within track 1's airing and
// opens nothing, then or after track 1's airing has closed. Track 3 cut in after it opens.
TEST(Decision, ASharedPassageAtTheEndOfAPlayOpensNothingAfterIt) {
  Decision d;
  std::vector<AiringEvent> ev;
  const std::vector<Play> plays = {{1, 0.0, 0.0, 30.0, 90.0}, {3, 30.0, 0.0, 30.0, 30.0}};
  for (double end = 1; end <= 30; end += 1) d.step(window(plays, end), ev);
  ASSERT_EQ(of_kind(ev, Kind::start).size(), 1u);
  // Windows ending 31..36: track 1 weak, track 2 along its opening (ref 0-6 s at 24-30 s)
  // by the rule, as long as it lies in the window; track 3 as it plays.
  for (double end = 31; end <= 36; end += 1) {
    auto ms = window(plays, end);
    for (WindowMatch& m : ms) m.weak = m.track == 1;
    for (WindowMatch& m : window({{2, 24.0, 0.0, 6.0, 60.0}}, end)) ms.push_back(m);
    d.step(ms, ev);
  }
  for (double end = 37; end <= 70; end += 1) d.step(window(plays, end), ev);
  d.finish(ev);
  const auto starts = of_kind(ev, Kind::start);
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0].track, 1u);
  EXPECT_EQ(starts[1].track, 3u);
  EXPECT_NEAR(starts[1].start_s, 30.0, 1e-9);
}

TEST(Decision, CrossfadeKeepsBothAirings) {
  Decision d;
  // Track 2 starts 3 s before track 1 ends.
  const auto ev = run(d, {{1, 0.0, 0.0, 30.0, 30.0}, {2, 27.0, 0.0, 25.0, 25.0}}, 70);
  const auto starts = of_kind(ev, Kind::start);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(starts.size(), 2u);
  ASSERT_EQ(ends.size(), 2u);
  for (const AiringEvent& e : ends) {
    if (e.track == 1) {
      EXPECT_NEAR(e.end_s, 30.0, 1e-9);
    } else {
      EXPECT_NEAR(e.start_s, 27.0, 1e-9);
      EXPECT_NEAR(e.end_s, 52.0, 1e-9);
    }
  }
}

TEST(Decision, ReplayOfTheSameTrackIsASecondAiring) {
  Decision d;
  const auto ev = run(d, {{6, 0.0, 0.0, 20.0, 20.0}, {6, 20.0, 0.0, 20.0, 20.0}}, 60);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_NEAR(ends[0].start_s, 0.0, 1e-9);
  EXPECT_NEAR(ends[0].end_s, 20.0, 1e-9);
  EXPECT_NEAR(ends[1].start_s, 20.0, 1e-9);
  EXPECT_NEAR(ends[1].end_s, 40.0, 1e-9);
}

TEST(Decision, WeakerEchoOfTheSameTrackIsIgnored) {
  Decision d;
  // A repeated section makes the matcher also see track 8 at another offset, with fewer votes.
  const auto ev = run(d, {{8, 0.0, 0.0, 60.0, 60.0}, {8, 0.0, 16.0, 40.0, 60.0, 8}}, 80);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_NEAR(ev[1].start_s, 0.0, 1e-9);
  EXPECT_NEAR(ev[1].end_s, 60.0, 1e-9);
}

TEST(Decision, StrongerRepeatOfTheTrackDoesNotSplitTheAiring) {
  Decision d;
  // Track 8 plays 0..120 s from its start. Its chorus at 40..70 s repeats at 80..110 s, so the
  // matcher also sees it 40 s later in the reference during 40..70 s, with more votes, and in
  // 50..58 s only there.
  const std::vector<Play> plays = {{8, 0.0, 0.0, 120.0, 120.0}};
  const std::vector<Play> echo = {{8, 40.0, 80.0, 30.0, 120.0, 30}};
  std::vector<AiringEvent> ev;
  for (double end = 1; end <= 130; end += 1) {
    auto w = window(end > 50 && end < 58 ? echo : plays, end);
    if (!(end > 50 && end < 58)) {
      for (const WindowMatch& m : window(echo, end)) w.push_back(m);
    }
    d.step(w, ev);
  }
  d.finish(ev);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].kind, Kind::end);
  EXPECT_NEAR(ev[1].start_s, 0.0, 1e-9);
  EXPECT_NEAR(ev[1].end_s, 120.0, 1e-9);
  EXPECT_NEAR(ev[1].ref_end_s, 120.0, 1e-9);
  EXPECT_FALSE(ev[1].start_cut);
  EXPECT_FALSE(ev[1].end_cut);
}

TEST(Decision, AiringLockedOntoARepeatAdoptsTheTrueOffset) {
  Decision d;
  // Track 5 starts mid-way (ref 30 s at source 10 s). For its first seconds only a repeat of
  // that audio (ref 90 s) is seen, which confirms first; then the true offset takes over.
  const std::vector<Play> truth = {{5, 10.0, 30.0, 60.0, 200.0}};
  const std::vector<Play> repeat = {{5, 10.0, 90.0, 8.0, 200.0}};
  std::vector<AiringEvent> ev;
  for (double end = 1; end <= 90; end += 1) {
    auto w = window(repeat, end);
    if (end > 17) {
      for (const WindowMatch& m : window(truth, end)) w.push_back(m);
    }
    d.step(w, ev);
  }
  d.finish(ev);
  const auto starts = of_kind(ev, Kind::start);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(starts.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_NEAR(starts[0].ref_start_s, 90.0 - d.params().start_bias_s + 0.05, 1e-9);  // provisional
  EXPECT_NEAR(ends[0].start_s, 10.05 - d.params().start_bias_s, 1e-9);
  EXPECT_NEAR(ends[0].ref_start_s, 30.05 - d.params().start_bias_s, 1e-9);  // corrected
  EXPECT_NEAR(ends[0].end_s, 70.0 - 0.05 + d.params().end_bias_s, 1e-9);
  EXPECT_NEAR(ends[0].ref_end_s, 90.0 - 0.05 + d.params().end_bias_s, 1e-9);
}

// A start measured in the audio (move_start, from the sub-band words) replaces the one the
// hashes gave, moves the reference start with it, and holds when the airing later adopts the
// true offset of a repeat it first locked onto (a repeat is the same audio), even where the
// true offset's own start would snap to the reference's start: a play from 0.4 s into the
// track, first seen only at a repeat 90 s later.
TEST(Decision, MovedStartHoldsThroughAdoptingTheTrueOffset) {
  Decision d;
  const std::vector<Play> truth = {{5, 10.0, 0.4, 60.0, 200.0}};
  const std::vector<Play> repeat = {{5, 10.0, 90.4, 8.0, 200.0}};
  std::vector<AiringEvent> ev;
  bool moved = false;
  for (double end = 1; end <= 90; end += 1) {
    auto w = window(repeat, end);
    if (end > 15) {
      for (const WindowMatch& m : window(truth, end)) w.push_back(m);
    }
    d.step(w, ev);
    if (!moved && !of_kind(ev, Kind::start).empty()) {
      EXPECT_NEAR(of_kind(ev, Kind::start)[0].ref_start_s, 90.45 - d.params().start_bias_s, 1e-9);
      d.move_start(5, 10.0);  // where the words say the play began
      moved = true;
    }
  }
  d.move_start(6, 1.0);  // no such airing: nothing happens
  d.finish(ev);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_NEAR(ends[0].start_s, 10.0, 1e-9);     // not snapped to where the reference starts (9.6)
  EXPECT_NEAR(ends[0].ref_start_s, 0.4, 1e-9);  // on the adopted (true) offset
  EXPECT_FALSE(ends[0].start_cut);              // 0.4 s missing is within cut_tolerance_s
}

// A looping track: from 35 s on, the play (ref 70 s at 10 s) repeats the track's opening, and
// for a while only that repeat matches (a line on which ref 0 lies at 35 s). Adopting it would
// move the airing's start to 35 s, where that line's reference begins: the play began at 10 s.
TEST(Decision, ARepeatAlongWhichTheReferenceBeginsLaterIsNotAdopted) {
  Decision d;
  const std::vector<Play> plays = {{5, 10.0, 70.0, 35.0, 300.0},    // the true line, 10..45 s
                                   {5, 35.0, 0.0, 35.0, 300.0},     // the repeat, 35..70 s
                                   {5, 62.0, 122.0, 18.0, 300.0}};  // the true line again
  const auto ev = run(d, plays, 100);
  const auto starts = of_kind(ev, Kind::start);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(starts.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_NEAR(ends[0].start_s, 10.05 - d.params().start_bias_s, 1e-9);
  EXPECT_NEAR(ends[0].ref_start_s, 70.05 - d.params().start_bias_s, 1e-9);
  EXPECT_NEAR(ends[0].end_s, 79.95 + d.params().end_bias_s, 1e-9);
  EXPECT_NEAR(ends[0].ref_end_s, 139.95 + d.params().end_bias_s, 1e-9);
}

// A looping track on air: for five windows its own line is out of the window's candidates
// (its repeats took every place the track has), and only weak matches at a repeat, 24 s on in
// the reference, say that it is still playing. The airing stays one airing, its end where its
// own evidence ends.
TEST(Decision, WeakMatchesAtARepeatKeepAnAiringOpen) {
  Decision d;
  const std::vector<Play> truth = {{4, 10.0, 100.0, 60.0, 300.0}};
  const std::vector<Play> repeat = {{4, 10.0, 124.0, 60.0, 300.0}};
  std::vector<AiringEvent> ev;
  for (double end = 1; end <= 90; end += 1) {
    if (end >= 30 && end <= 34) {
      auto w = window(repeat, end);
      for (WindowMatch& m : w) m.weak = true;
      d.step(w, ev);
    } else {
      d.step(window(truth, end), ev);
    }
  }
  d.finish(ev);
  const auto starts = of_kind(ev, Kind::start);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(starts.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_NEAR(ends[0].start_s, 10.05 - d.params().start_bias_s, 1e-9);
  EXPECT_NEAR(ends[0].end_s, 69.95 + d.params().end_bias_s, 1e-9);
  EXPECT_NEAR(ends[0].ref_end_s, 159.95 + d.params().end_bias_s, 1e-9);
}

// An airing confirmed on a line read off its first anchors, 1.2 s off the play's (a bar of a
// loop away, or a speed misread): from 15 s on only the play's own line matches, its evidence
// beginning after the first line's ends. Both lines put the reference's start within snap_s of
// each other: the same play, which keeps one airing and follows the new line to its end.
TEST(Decision, AnAiringWhoseLineIsMeasuredAnewStaysOneAiring) {
  Decision d;
  const std::vector<Play> plays = {{7, 10.0, 1.2, 5.0, 200.0},    // the first line, 10..15 s
                                   {7, 15.0, 5.0, 40.0, 200.0}};  // the play's, 15..55 s
  expect_one_airing(d, run(d, plays, 80), 54.95, 44.95);          // on the play's line
}

// An airing opened early on a repeat of a looping track, 7 s on in the reference (under
// speech: 2 s of evidence), whose own line then stops; the play's line follows, its evidence
// beginning after. The airing was still settling (settle_s): the same play, one airing, on
// the play's line.
TEST(Decision, AnAiringStillSettlingAdoptsTheLineThatFollows) {
  Decision d;
  const std::vector<Play> plays = {{8, 12.0, 9.0, 2.2, 200.0},    // the repeat, 12..14.2 s
                                   {8, 16.0, 6.0, 40.0, 200.0}};  // the play's, 16..56 s
  expect_one_airing(d, run(d, plays, 80), 55.95, 45.95);          // on the play's line
}

// Track 8 loops: its opening, ref 0..6.8 s, comes again from 6.8 s. Played from its start at
// 10 s, it is seen first along the repeat (ref 6.8 s at 10 s) for 9 s, past settle_s, then
// only along the play's own line, its evidence beginning after the repeat's last. That line
// puts the reference's start where the airing began: the same play, one airing, on the play's
// line from the reference's start (a jump or a replay would put it elsewhere).
TEST(Decision, AnAiringOnARepeatOfTheOpeningAdoptsTheLineThatBeginsTheTrackWhereItBegan) {
  Decision d;
  const std::vector<Play> plays = {{8, 10.0, 6.8, 9.0, 200.0},    // the repeat, 10..19 s
                                   {8, 19.0, 9.0, 40.0, 200.0}};  // the play's, 19..59 s
  const auto ev = run(d, plays, 80);
  expect_one_airing(d, ev, 58.95, 48.95);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_NEAR(ends[0].start_s, 10.0, 0.1);
  EXPECT_NEAR(ends[0].ref_start_s, 0.0, 0.1);
}

TEST(Decision, JumpWithinTheTrackIsANewAiring) {
  Decision d;
  // Track 3 plays ref 0..30 s, then the station jumps to ref 100 s and plays on to 60 s.
  const auto ev = run(d, {{3, 0.0, 0.0, 30.0, 200.0}, {3, 30.0, 100.0, 30.0, 200.0}}, 80);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_NEAR(ends[0].start_s, 0.0, 1e-9);
  EXPECT_NEAR(ends[0].end_s, 29.95 + d.params().end_bias_s, 1e-9);
  EXPECT_NEAR(ends[1].start_s, 30.05 - d.params().start_bias_s, 1e-9);
  EXPECT_NEAR(ends[1].ref_start_s, 100.05 - d.params().start_bias_s, 1e-9);
  EXPECT_NEAR(ends[1].end_s, 59.95 + d.params().end_bias_s, 1e-9);
}

// The station plays track 3 again right after it ended, from 5 s in: the replay opens as soon
// as its own evidence is confirmed, not once the first play's evidence has left the window.
TEST(Decision, AReplayOpensAsSoonAsItIsConfirmed) {
  Decision d;
  const auto ev = run(d, {{3, 0.0, 0.0, 40.0, 200.0}, {3, 40.0, 5.0, 30.0, 200.0}}, 90);
  const auto starts = of_kind(ev, Kind::start);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(starts.size(), 2u);
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_NEAR(ends[0].end_s, 39.95 + d.params().end_bias_s, 1e-9);
  EXPECT_NEAR(starts[1].start_s, 40.05 - d.params().start_bias_s, 1e-9);
  EXPECT_NEAR(starts[1].ref_start_s, 5.05 - d.params().start_bias_s, 1e-9);
  // 1.6 s of evidence (min_span_s) is in the window ending at 42 s; the first play's evidence
  // stays in the window until 44.5 s.
  EXPECT_LE(starts[1].detected_s, 42.0 + 1e-9);
}

// The same when the first play's line leaves the window's candidates before the replay is
// confirmed (a larger index: its last seconds in a window no longer pass the floor for a track
// on air): the replay still opens as soon as it is confirmed, not jump_windows after the first
// play's line last matched.
TEST(Decision, AReplayOpensAsSoonAsItIsConfirmedAfterTheFirstPlaysLineHasGone) {
  Decision d;
  const std::vector<Play> first = {{3, 0.0, 0.0, 40.0, 200.0}};
  const std::vector<Play> replay = {{3, 40.0, 0.0, 40.0, 200.0}};
  std::vector<AiringEvent> ev;
  for (double end = 1; end <= 100; end += 1) {
    auto w = window(first, end, 6, 2.5);  // matched up to the window ending at 43 s
    for (const WindowMatch& m : window(replay, end, 6, 4.5)) w.push_back(m);  // from 45 s
    d.step(w, ev);
  }
  d.finish(ev);
  const auto starts = of_kind(ev, Kind::start);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(starts.size(), 2u);
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_NEAR(ends[0].end_s, 39.95 + d.params().end_bias_s, 1e-9);
  EXPECT_NEAR(starts[1].start_s, 40.0, 1e-9);  // snapped to where the reference begins
  EXPECT_NEAR(starts[1].ref_start_s, 0.0, 1e-9);
  // Confirmed by the window ending at 45 s, two windows after the first play's line last
  // matched: waiting jump_windows (4) would announce it at 47 s.
  EXPECT_NEAR(starts[1].detected_s, 45.0 - 0.05, 1e-9);
}

// A looping track (52 s of audio that recurs) whose airing locked onto a repeat: from 30 s
// that repeat's line ends, and a line on which the reference begins at 30 s is confirmed, as a
// replay would be, while the play's own line matches on across 30 s. The play goes on: one
// airing, on the play's own line.
TEST(Decision, ALineThatCarriesOnAcrossTheAiringsLastIsNoReplay) {
  Decision d;
  const std::vector<Play> repeat = {{6, 10.0, 85.0, 20.0, 200.0}};  // 10..30 s, ref 85..105
  const std::vector<Play> truth = {{6, 13.0, 36.0, 50.0, 200.0}};   // 13..63 s, ref 36..86
  const std::vector<Play> restart = {{6, 30.0, 0.0, 33.0, 200.0}};  // 30..63 s, ref 0..33
  std::vector<AiringEvent> ev;
  for (double end = 1; end <= 90; end += 1) {
    std::vector<WindowMatch> w;
    for (const auto* plays : {&repeat, &truth, &restart}) {
      for (const WindowMatch& m : window(*plays, end)) w.push_back(m);
    }
    d.step(w, ev);
  }
  d.finish(ev);
  expect_one_airing(d, ev, 62.95, 85.95);  // on the play's own line
}

// A play 3 % fast matched in a speed lane: each window gives its offset at the window's start
// and the lane's drift. The airing's reference start and end are read along the play's line,
// not at the offset of the window's start (3.95 s before the start: 0.12 s off); a play from
// the reference's start snaps to where the reference begins along that line.
std::vector<AiringEvent> run_off_speed(Decision& d, double speed, double at, double ref0,
                                       double until) {
  const auto ref = [&](double t) { return ref0 + (t - at) * speed; };
  std::vector<AiringEvent> ev;
  for (double end = 1; end <= until + 10; end += 1) {
    std::vector<WindowMatch> w;
    const double base = end - 6;
    const double a = std::max(base, at), b = std::min(end, until);
    if (b - a >= 1.5) {
      WindowMatch m;
      m.track = 4;
      m.offset_s = ref(base) - base;
      m.offset_at_s = base;
      m.drift = speed - 1.0;
      m.query_first_s = a + 0.05;
      m.query_last_s = b - 0.05;
      m.ref_first_s = ref(m.query_first_s);
      m.ref_last_s = ref(m.query_last_s);
      m.votes = static_cast<uint32_t>((b - a) * 20);
      m.confidence = 0.9f;
      m.speed = static_cast<float>(speed);
      m.track_duration_s = 300;
      w.push_back(m);
    }
    d.step(w, ev);
  }
  d.finish(ev);
  return ev;
}

TEST(Decision, ReferenceEdgesOffSpeedFollowTheDrift) {
  const double speed = 1.03;
  {
    Decision d;
    const auto ev = run_off_speed(d, speed, 10.0, 20.0, 40.0);
    const auto starts = of_kind(ev, Kind::start);
    const auto ends = of_kind(ev, Kind::end);
    ASSERT_EQ(starts.size(), 1u);
    ASSERT_EQ(ends.size(), 1u);
    const auto ref = [&](double t) { return 20.0 + (t - 10.0) * speed; };
    EXPECT_NEAR(starts[0].start_s, 10.05 - d.params().start_bias_s, 1e-9);
    EXPECT_NEAR(starts[0].ref_start_s, ref(starts[0].start_s), 1e-6);
    EXPECT_NEAR(ends[0].ref_end_s, ref(ends[0].end_s), 1e-6);
  }
  {
    Decision d;  // from the reference's start
    const auto starts = of_kind(run_off_speed(d, speed, 10.0, 0.0, 40.0), Kind::start);
    ASSERT_EQ(starts.size(), 1u);
    EXPECT_NEAR(starts[0].start_s, 10.0, 1e-6);
    EXPECT_NEAR(starts[0].ref_start_s, 0.0, 1e-6);
  }
}

TEST(Decision, ProgressEveryInterval) {
  DecisionParams p;
  p.progress_interval_s = 10;
  Decision d(p);
  const auto ev = run(d, {{2, 0.0, 0.0, 60.0, 60.0}}, 80);
  const auto progress = of_kind(ev, Kind::progress);
  EXPECT_GE(progress.size(), 4u);
  EXPECT_LE(progress.size(), 6u);
  for (std::size_t i = 1; i < progress.size(); ++i) {
    EXPECT_GE(progress[i].end_s - progress[i - 1].end_s, 10.0 - 1e-9);
    EXPECT_NEAR(progress[i].ref_end_s, progress[i].end_s, 1e-9);
  }
  EXPECT_EQ(ev.front().kind, Kind::start);
  EXPECT_EQ(ev.back().kind, Kind::end);
}

TEST(Decision, FinishClosesOpenAirings) {
  Decision d;
  const auto ev = run(d, {{2, 0.0, 0.0, 100.0, 100.0}}, 30, 1.0, false);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(d.open_count(), 1u);
  std::vector<AiringEvent> fin;
  d.finish(fin);
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].kind, Kind::end);
  EXPECT_NEAR(fin[0].end_s, 29.95 + d.params().end_bias_s, 1e-9);
  EXPECT_TRUE(fin[0].end_cut);
  EXPECT_EQ(d.open_count(), 0u);
}

TEST(Decision, AnAiringClosedAtTheEndOfTheAudioEndsNoLater) {
  // A stream cut mid-play (SIGTERM, source down): the end's bias would reach past the last
  // audio, and a play cut within snap_s of the reference's end would snap to it.
  for (const double duration : {100.0, 31.4}) {
    SCOPED_TRACE(duration);
    Decision d;
    run(d, {{2, 0.0, 0.0, duration, duration}}, 30, 1.0, false);
    std::vector<AiringEvent> fin;
    d.finish(fin, 30.0);
    ASSERT_EQ(fin.size(), 1u);
    EXPECT_NEAR(fin[0].end_s, 30.0, 1e-9);
    EXPECT_NEAR(fin[0].ref_end_s, 30.0, 1e-9);
    EXPECT_TRUE(fin[0].end_cut);
  }
}

TEST(Decision, ConfirmWindowsIsRespected) {
  DecisionParams p;
  p.confirm_windows = 5;
  p.min_span_s = 1;
  Decision d(p);
  std::vector<AiringEvent> ev;
  const std::vector<Play> plays = {{1, 0.0, 50.0, 100.0, 300.0}};
  int windows = 0;
  for (double end = 1; end <= 100 && ev.empty(); end += 1) {
    const auto w = window(plays, end);
    if (!w.empty()) ++windows;
    d.step(w, ev);
  }
  EXPECT_EQ(windows, 5);
}

}  // namespace
}  // namespace aircheck::daemon

namespace aircheck::daemon {
namespace {

TEST(Decision, WeakLeadInBackDatesTheStartButNeverOpensAlone) {
  // Track 4 from ref 30 s at source 20 s under speech: its first windows are below the
  // decision rule (weak), then the music comes through.
  const Play p{4, 20, 30, 40, 200};
  const auto windows = [&](double voice_until, bool strong_after) {
    Decision d;
    std::vector<AiringEvent> ev;
    for (double end = 1; end <= 40; end += 1) {
      auto ms = window({p}, end);
      for (WindowMatch& m : ms) m.weak = end <= voice_until || !strong_after;
      d.step(ms, ev);
    }
    d.finish(ev);
    return of_kind(ev, Kind::start);
  };
  const auto led = windows(30, true);
  ASSERT_EQ(led.size(), 1u);
  EXPECT_NEAR(led[0].start_s, 20.0, 0.2);  // from the lead-in, not from 24 s (30 - 6)
  EXPECT_NEAR(led[0].ref_start_s, 30.0, 0.2);
  EXPECT_NEAR(led[0].detected_s, 30.95, 0.1);  // decided by the first strong window
  EXPECT_TRUE(windows(40, false).empty());     // weak windows alone open nothing
}

TEST(Decision, WeakEchoOfATrackOnAirOpensNothing) {
  // Track 6 is on air at one offset; weak matches of it at another offset (a repeat of its own
  // audio) must not start a second airing.
  Decision d;
  std::vector<AiringEvent> ev;
  const Play play{6, 0, 0, 60, 120};
  for (double end = 1; end <= 30; end += 1) {
    auto ms = window({play}, end);
    if (end >= 10 && end < 20) {
      WindowMatch echo = ms.front();
      echo.offset_s += 12;  // the chorus, 12 s later in the reference
      echo.weak = true;
      ms.push_back(echo);
    }
    d.step(ms, ev);
  }
  d.finish(ev);
  EXPECT_EQ(of_kind(ev, Kind::start).size(), 1u);
}

TEST(Decision, ARepeatDoesNotReopenAnAiringTheNextItemClosed) {
  // Track 8 loops: while it plays (0..30 s) the matcher also sees it 10 s further on in the
  // reference, more weakly, and that reading reaches a little past the play's end. Track 9
  // follows at 31.5 s. When track 9 takes over and closes track 8's airing, the repeat's
  // reading of the same 30 s must not open a second airing of track 8.
  Decision d;
  const std::vector<Play> plays = {
      {8, 0.0, 20.0, 30.0, 120.0}, {8, 0.0, 30.0, 31.6, 120.0, 14}, {9, 31.5, 0.0, 40.0, 40.0}};
  const auto ev = run(d, plays, 80);
  const auto starts = of_kind(ev, Kind::start);
  int of8 = 0;
  for (const AiringEvent& e : starts) of8 += e.track == 8;
  EXPECT_EQ(of8, 1);
  for (const AiringEvent& e : of_kind(ev, Kind::end)) {
    if (e.track == 8) {
      EXPECT_NEAR(e.start_s, 0.0, 0.2);
      EXPECT_NEAR(e.ref_start_s, 20.0, 0.2);
    }
  }
}

// A start placed before the reference's own start (words or a lead-in agreeing with similar
// audio before the play) is cut back to where the reference starts along the airing's line.
TEST(Decision, AStartNeverPrecedesTheReferencesStart) {
  Decision d;
  const std::vector<Play> play = {{5, 10.0, 2.0, 40.0, 200.0}};  // reference 0 s at 8 s
  std::vector<AiringEvent> ev;
  double kept = -1;
  for (double end = 1; end <= 60; end += 1) {
    d.step(window(play, end), ev);
    if (kept < 0 && !of_kind(ev, Kind::start).empty()) kept = d.move_start(5, 5.0);
  }
  d.finish(ev);
  EXPECT_NEAR(kept, 8.0, 0.02);
  const auto ends = of_kind(ev, Kind::end);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_NEAR(ends[0].start_s, 8.0, 0.02);
  EXPECT_NEAR(ends[0].ref_start_s, 0.0, 1e-9);
  EXPECT_FALSE(ends[0].start_cut);
  EXPECT_DOUBLE_EQ(d.move_start(6, -3.0), 0.0);  // no such airing; never before the source
}

}  // namespace
}  // namespace aircheck::daemon

namespace aircheck::daemon {
namespace {

TEST(Decision, AnotherTracksPassageInsideAnAiringIsThatAiringsAudio) {
  // Track 2 shares 10 s of track 1's audio (a remix quotes it), matched with fewer votes
  // while track 1 plays on: no airing of track 2. Then track 2 plays after a cut, and later
  // crossfades into track 3: both open.
  const std::vector<Play> plays = {
      {1, 10.0, 0.0, 40.0, 40.0, 30},   // 10-50 s
      {2, 22.0, 30.0, 10.0, 60.0, 12},  // inside it: its passage at reference 30-40 s
      {2, 50.0, 0.0, 30.0, 60.0, 30},   // a cut to track 2 at 50 s, until 80 s
      {3, 77.0, 0.0, 30.0, 30.0, 30},   // crossfaded into from 77 s
  };
  Decision d;
  const auto starts = of_kind(run(d, plays, 120), Kind::start);
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_EQ(starts[0].track, 1u);
  EXPECT_EQ(starts[1].track, 2u);
  EXPECT_NEAR(starts[1].start_s, 50.0, 0.2);
  EXPECT_EQ(starts[2].track, 3u);
  EXPECT_NEAR(starts[2].start_s, 77.0, 0.2);

  // Matched with more votes than track 1, the passage is not track 1's to keep: it opens.
  std::vector<Play> louder = plays;
  louder[1].votes_per_s = 40;
  Decision d2;
  const auto starts2 = of_kind(run(d2, louder, 120), Kind::start);
  ASSERT_EQ(starts2.size(), 4u);
  EXPECT_EQ(starts2[1].track, 2u);
  EXPECT_NEAR(starts2[1].start_s, 22.0, 0.2);
}

// In one window the shared passage's evidence reaches 0.8 s past track 1's (past
// inside_slack_s): the rest of it lies within track 1's evidence, so it is still track 1's
// audio.
TEST(Decision, ASharedPassageWhoseEvidenceRunsOnAWhileIsStillInside) {
  const std::vector<Play> plays = {{1, 10.0, 0.0, 40.0, 40.0, 30}, {2, 22.0, 30.0, 10.0, 60.0, 12}};
  Decision d;
  std::vector<AiringEvent> ev;
  for (double end = 1; end <= 60; end += 1) {
    auto w = window(plays, end);
    if (end == 28) {
      for (WindowMatch& m : w) {
        if (m.track == 2) m.query_last_s += 0.8;
      }
    }
    d.step(w, ev);
  }
  d.finish(ev);
  const auto starts = of_kind(ev, Kind::start);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0].track, 1u);
}

TEST(Decision, TheAiringOnAirBeforeAStartIsKnownOpenOrClosed) {
  // Track 1 plays 0-20 s from 30 s into its reference, track 2 follows at a cut. While track 1
  // is open its line is there to read, and after it closed too; never a track's own.
  Decision d;
  const std::vector<Play> plays = {{1, 0, 30, 20, 200}, {2, 20, 0, 20, 200}};
  std::vector<AiringEvent> ev;
  Decision::AiredLine line;
  EXPECT_FALSE(d.line_on_air_at(2, 5, line));
  for (double end = 1; end <= 14; end += 1) d.step(window(plays, end), ev);
  ASSERT_TRUE(d.line_on_air_at(2, 12, line));
  EXPECT_EQ(line.track, 1u);
  EXPECT_NEAR(line.ref_at_s - line.at_s, 30, 1e-9);  // a point of its line
  EXPECT_NEAR(line.speed, 1, 1e-9);
  EXPECT_FALSE(d.line_on_air_at(1, 12, line));
  for (double end = 15; end <= 40; end += 1) d.step(window(plays, end), ev);
  ASSERT_EQ(of_kind(ev, Kind::end).size(), 1u);  // track 1 closed, track 2 open
  ASSERT_TRUE(d.line_on_air_at(2, 20.2, line));
  EXPECT_EQ(line.track, 1u);
  EXPECT_NEAR(line.end_s, of_kind(ev, Kind::end)[0].end_s, 1e-9);
  EXPECT_NEAR(line.ref_at_s - line.at_s, 30, 1e-9);
  ASSERT_TRUE(d.line_on_air_at(1, 30, line));  // for track 1, track 2 is the one on air
  EXPECT_EQ(line.track, 2u);
  EXPECT_FALSE(d.line_on_air_at(3, 60, line));  // nothing was on air within a second of 60 s
}

}  // namespace
}  // namespace aircheck::daemon
