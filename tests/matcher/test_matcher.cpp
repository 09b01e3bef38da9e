#include <gtest/gtest.h>

#include <map>
#include <random>

#include "bench/eval/synth.h"
#include "dsp/fingerprinter.h"
#include "matcher/matcher.h"
#include "tests/matcher/map_index.h"

using namespace aircheck;

namespace {
using test::MapIndex;

std::vector<dsp::TimedHash> shift(std::vector<dsp::TimedHash> hs, int32_t by) {
  for (auto& h : hs) h.t = static_cast<uint32_t>(static_cast<int32_t>(h.t) + by);
  return hs;
}
}  // namespace

TEST(Matcher, VotesWithinOneFrameFormOneCandidate) {
  MapIndex idx;
  std::vector<dsp::TimedHash> ref;
  for (uint32_t i = 0; i < 60; ++i) ref.push_back({1000 + i, 100 + 3 * i});
  idx.add(7, ref);
  // Query = reference frames 100.. seen from query frame 0, with +-1 frame jitter.
  std::vector<dsp::TimedHash> q;
  for (uint32_t i = 0; i < 60; ++i) q.push_back({1000 + i, 3 * i + (i % 3 == 0 ? 1u : 0u)});
  matcher::Matcher m(dsp::Params{});
  const auto c = m.match(q, idx);
  ASSERT_FALSE(c.empty());
  EXPECT_EQ(c[0].track, 7u);
  EXPECT_EQ(c[0].votes, 60u);
  EXPECT_EQ(c[0].anchors, 60u);
  EXPECT_NEAR(c[0].offset, 100, 1);
  EXPECT_EQ(c[0].ref_first, 100u);
  EXPECT_EQ(c[0].ref_last, 100u + 3 * 59);
  EXPECT_TRUE(m.accepted(c[0]));
  // The jittered half of the votes does not show up as a second candidate of the same track.
  for (std::size_t i = 1; i < c.size(); ++i) EXPECT_GT(std::abs(c[i].offset - c[0].offset), 2);
}

TEST(Matcher, RanksTheTrueTrackFirstAndCountsWork) {
  MapIndex idx;
  const dsp::Params p;
  std::vector<std::vector<float>> songs;
  for (uint32_t s = 0; s < 5; ++s) {
    songs.push_back(eval::synth_music(100 + s, {30, 8000, 0.3}));
    idx.add(s, dsp::fingerprint(p, dsp::Side::index, songs.back()));
  }
  matcher::Matcher m(p);
  for (uint32_t s = 0; s < 5; ++s) {
    const std::size_t start = 8000 * (3 + 4 * s) + 37;  // not on the frame grid
    const auto q =
        dsp::fingerprint(p, dsp::Side::query, std::span(songs[s]).subspan(start, 8000 * 5));
    const auto c = m.match(q, idx);
    ASSERT_FALSE(c.empty());
    EXPECT_EQ(c[0].track, s);
    EXPECT_NEAR(c[0].offset, static_cast<double>(start) / p.hop, 1.0);
    EXPECT_TRUE(m.accepted(c[0]));
    EXPECT_GT(c[0].confidence, 0.999f);
    EXPECT_EQ(m.stats().query_hashes, q.size());
    EXPECT_GE(m.stats().postings, c[0].votes);
  }
}

TEST(Matcher, NonIndexedMusicIsNotAccepted) {
  MapIndex idx;
  const dsp::Params p;
  for (uint32_t s = 0; s < 8; ++s)
    idx.add(s, dsp::fingerprint(p, dsp::Side::index, eval::synth_music(200 + s, {40, 8000, 0.3})));
  matcher::Matcher m(p);
  // Speech-like audio and noise share nothing with music: never accepted.
  for (uint64_t s = 0; s < 5; ++s) {
    auto c =
        m.match(dsp::fingerprint(p, dsp::Side::query, eval::synth_babble(s, {10, 8000, 0.3})), idx);
    EXPECT_TRUE(c.empty() || !m.accepted(c[0])) << "babble " << s;
    auto noise = eval::white_noise(s, 8000 * 10);
    for (auto& x : noise) x *= 0.1f;
    c = m.match(dsp::fingerprint(p, dsp::Side::query, noise), idx);
    EXPECT_TRUE(c.empty() || !m.accepted(c[0])) << "noise " << s;
  }
  // Other songs of the same generator share its drum kit, the hardest case for chance
  // alignments; a rare acceptance is possible (the false-match rate on real music is measured
  // by `aircheck eval`), a frequent one is a regression.
  int accepted = 0;
  for (uint64_t s = 0; s < 20; ++s) {
    const auto other = eval::synth_music(900 + s, {10, 8000, 0.3});
    const auto c = m.match(dsp::fingerprint(p, dsp::Side::query, other), idx);
    if (!c.empty() && m.accepted(c[0])) ++accepted;
  }
  EXPECT_LE(accepted, 1);
}

TEST(Matcher, CommonHashesAreCappedAndCounted) {
  MapIndex idx;
  std::vector<dsp::TimedHash> ref;
  for (uint32_t t = 0; t < 50; ++t) ref.push_back({42, t});  // one hash everywhere
  idx.add(1, ref);
  matcher::MatchParams mp;
  mp.max_postings_per_hash = 10;
  matcher::Matcher m(dsp::Params{}, mp);
  const std::vector<dsp::TimedHash> q{{42, 0}, {43, 1}};
  const auto c = m.match(q, idx);
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(m.stats().capped_hashes, 1u);
  EXPECT_EQ(m.stats().postings, 0u);
}

TEST(Matcher, ScratchIsReusedAcrossQueries) {
  MapIndex idx;
  const dsp::Params p;
  const auto song = eval::synth_music(5, {30, 8000, 0.3});
  idx.add(0, dsp::fingerprint(p, dsp::Side::index, song));
  matcher::Matcher m(p);
  const auto q = dsp::fingerprint(p, dsp::Side::query, std::span(song).subspan(8000, 8000 * 6));
  const auto first = m.match(q, idx)[0];
  const auto again = shift(q, 500);  // same audio, other query time origin
  const auto second = m.match(again, idx)[0];
  EXPECT_EQ(first.track, second.track);
  EXPECT_EQ(first.offset - 500, second.offset);
  EXPECT_EQ(first.votes, second.votes);
}

// A looping track matches along each repeat of its audio: in a window that ends 1.5 s into the
// next item, its lines can fill every place of the top_k. max_per_track leaves places for the
// next item.
TEST(Matcher, LinesPerTrackLeavePlacesForTheNextItem) {
  const dsp::Params p;
  const int rate = 8000;
  // Track 1: a 2.5-s phrase looped 12 times. Track 2: another song.
  const auto phrase = eval::synth_music(300, {2.5, rate, 0.3});
  std::vector<float> loop;
  for (int i = 0; i < 12; ++i) loop.insert(loop.end(), phrase.begin(), phrase.end());
  const auto song = eval::synth_music(301, {20, rate, 0.3});
  MapIndex idx;
  idx.add(1, dsp::fingerprint(p, dsp::Side::index, loop));
  idx.add(2, dsp::fingerprint(p, dsp::Side::index, song));
  // The programme: 5 s from the middle of the loop, then the song's first 1.5 s.
  std::vector<float> q(loop.begin() + 10 * rate, loop.begin() + 15 * rate);
  q.insert(q.end(), song.begin(), song.begin() + 3 * rate / 2);
  const auto hashes = dsp::fingerprint(p, dsp::Side::query, q);
  const auto tracks = [](std::span<const matcher::Candidate> c) {
    std::map<uint32_t, int> n;
    for (const auto& x : c) ++n[x.track];
    return n;
  };
  matcher::Matcher all(p);
  const auto plain = tracks(all.match(hashes, idx));
  EXPECT_EQ(plain.count(2), 0u);  // the loop's repeats take every place
  ASSERT_GE(plain.at(1), 4);
  matcher::MatchParams mp;
  mp.max_per_track = 3;
  matcher::Matcher capped(p, mp);
  const auto c = capped.match(hashes, idx);
  const auto n = tracks(c);
  EXPECT_EQ(n.at(1), 3);
  ASSERT_EQ(n.count(2), 1u);
  EXPECT_GE(n.at(2), 1);
  // The song's candidate is its true alignment: its first frame at the query's 5 s.
  for (const auto& x : c) {
    if (x.track == 2) {
      EXPECT_NEAR(x.offset, -(5.0 * rate / p.hop), 2.0);
    }
  }
}

// In heavy noise a few chance votes near a straight alignment can lie along a slight slope: the
// best of the slopes tried then holds a few more anchors than the straight cell, and its offset
// at query frame 0, extrapolated along that slope, lies frames off. With flat_slope such a line
// replaces the cell only when it is less likely by chance counting the slopes tried; a line
// with many more votes than the cell still does.
TEST(Matcher, ASlightSlopeFromAFewChanceVotesKeepsTheStraightOffset) {
  const uint32_t frames = 625;  // a 10-s query
  const dsp::Params p;
  // Every vote its own hash, posted once: one anchor per vote.
  uint32_t next_hash = 1;
  std::vector<dsp::TimedHash> ref, q;
  const auto vote = [&](uint32_t qt, int32_t offset) {
    ref.push_back({next_hash, static_cast<uint32_t>(static_cast<int32_t>(qt) + offset)});
    q.push_back({next_hash++, qt});
  };
  // The best candidate of the votes cast since the last call, with the rule at `flat_slope`.
  const auto best = [&](double flat_slope, uint32_t top_k) {
    std::vector<dsp::TimedHash> sorted = ref;
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.t < b.t; });
    MapIndex idx;
    idx.add(3, sorted);
    matcher::MatchParams mp;
    mp.top_k = top_k;
    mp.flat_slope = flat_slope;
    matcher::Matcher m(p, mp);
    const auto c = m.match(q, idx);
    EXPECT_FALSE(c.empty());
    EXPECT_EQ(c.empty() ? 0u : c[0].track, 3u);
    return c.empty() ? matcher::Candidate{} : c[0];
  };
  const auto restart = [&] {
    ref.clear();
    q.clear();
  };

  // The true alignment: 60 anchors at offset 1000 over the query's middle 90 %; chance: six
  // votes two frames above it at the query's end.
  for (uint32_t i = 0; i < 60; ++i) vote(30 + i * 9, 1000);
  for (uint32_t i = 0; i < 6; ++i) vote(frames - 3 - 4 * i, 1002);
  const auto sloped = best(0, 1);
  EXPECT_GT(sloped.anchors, 60u);                            // the line took the chance votes ...
  EXPECT_GT(std::abs(sloped.exact_offset() - 1000.0), 0.4);  // ... and moved the offset
  const auto straight = best(0.007, 1);
  EXPECT_EQ(straight.anchors, 60u);
  EXPECT_NEAR(straight.exact_offset(), 1000.0, 0.1);

  // A line searched from a weak cell nearby can settle on the same alignment: it is weighed
  // against that alignment's straight cell, not against the weak cell's own few anchors.
  restart();
  for (uint32_t i = 0; i < 40; ++i) vote(30 + i * 14, 1000);
  vote(frames - 3, 1002);                                    // one chance vote on a slight slope
  for (uint32_t i = 0; i < 8; ++i) vote(50 + i * 70, 1011);  // a weak cell 11 frames off
  const auto from_weak = best(0, 2);
  EXPECT_EQ(from_weak.anchors, 41u);  // the weak cell's line, through the true alignment
  EXPECT_GT(std::abs(from_weak.exact_offset() - 1000.0), 0.4);
  const auto kept = best(0.007, 2);
  EXPECT_EQ(kept.anchors, 40u);
  EXPECT_NEAR(kept.exact_offset(), 1000.0, 0.1);

  // A real slope of 0.5 % (three frames across the query) with twice the votes: the line holds
  // many more than any straight cell and stays, its offset at frame 0 right.
  restart();
  for (uint32_t i = 0; i < 120; ++i) {
    const uint32_t t = 2 + i * 5;
    vote(t, 1000 + static_cast<int32_t>(std::lround(0.005 * t)));
  }
  const auto real = best(0.007, 1);
  EXPECT_GT(real.anchors, 110u);
  EXPECT_NEAR(real.speed, 1.005, 0.001);
  EXPECT_NEAR(real.exact_offset(), 1000.0, 0.6);
}
