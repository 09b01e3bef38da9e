// Sliding-window matching of a stream from votes cast once per hash must rank exactly as
// matching each window's hashes from scratch does.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include "bench/eval/synth.h"
#include "dsp/decode/resample.h"
#include "dsp/fingerprinter.h"
#include "matcher/matcher.h"
#include "matcher/stream_votes.h"
#include "tests/matcher/map_index.h"

using namespace aircheck;

namespace {

constexpr int kRate = 8000;

std::vector<float> cut(const std::vector<float>& x, double from_s, double len_s) {
  const auto a = static_cast<std::size_t>(from_s * kRate);
  const auto b = std::min(x.size(), a + static_cast<std::size_t>(len_s * kRate));
  return {x.begin() + static_cast<std::ptrdiff_t>(a), x.begin() + static_cast<std::ptrdiff_t>(b)};
}

void append(std::vector<float>& to, const std::vector<float>& x) {
  to.insert(to.end(), x.begin(), x.end());
}

void expect_same(const matcher::Candidate& a, const matcher::Candidate& b, int64_t window) {
  SCOPED_TRACE("window ending at frame " + std::to_string(window));
  EXPECT_EQ(a.track, b.track);
  EXPECT_EQ(a.offset, b.offset);
  EXPECT_EQ(a.votes, b.votes);
  EXPECT_EQ(a.anchors, b.anchors);
  EXPECT_EQ(a.ref_first, b.ref_first);
  EXPECT_EQ(a.ref_last, b.ref_last);
  EXPECT_EQ(a.query_first, b.query_first);
  EXPECT_EQ(a.query_last, b.query_last);
  EXPECT_EQ(a.confidence, b.confidence);
  EXPECT_EQ(a.speed, b.speed);
}

}  // namespace

TEST(StreamVotes, WindowsRankExactlyAsFromScratch) {
  const dsp::Params p;
  test::MapIndex idx;
  std::vector<std::vector<float>> songs;
  for (uint32_t s = 0; s < 6; ++s) {
    songs.push_back(eval::synth_music(700 + s, {40, kRate, 0.3}));
    idx.add(s, dsp::fingerprint(p, dsp::Side::index, songs.back()));
  }
  // A programme: a partial play, music not indexed, a play 2 % fast (drifting offsets), a
  // straight cut into another song.
  std::vector<float> stream;
  append(stream, cut(songs[1], 5, 14));
  append(stream, eval::synth_music(990, {6, kRate, 0.3}));
  append(stream,
         dsp::decode::resample(cut(songs[3], 2, 16), kRate, static_cast<int>(kRate / 1.02)));
  append(stream, cut(songs[4], 20, 12));
  const auto hashes = dsp::fingerprint(p, dsp::Side::query, stream);
  ASSERT_GT(hashes.size(), 1000u);

  // 6-s windows every 1 s (375 and 63 frames), all hashes handed over up front: sealing must
  // take only those anchored before each window's end.
  const int64_t window = 375, hop = 63;
  matcher::StreamVotes sv;
  matcher::SealScratch scratch;
  for (const dsp::TimedHash& h : hashes) sv.add(h.hash, h.t);
  matcher::Matcher from_scratch(p), streamed(p);
  std::vector<dsp::TimedHash> in_window;
  std::vector<std::pair<uint32_t, uint32_t>> agree_a, agree_b;
  const int64_t last = static_cast<int64_t>(hashes.back().t) + 1;
  int windows = 0, matched = 0, skewed = 0;
  for (int64_t end = hop; end < last + hop; end += hop) {
    const int64_t base = end - window;
    sv.seal(end, base, idx, scratch);
    EXPECT_EQ(sv.origin(), base);
    in_window.clear();
    for (const dsp::TimedHash& h : hashes) {
      if (static_cast<int64_t>(h.t) >= base && static_cast<int64_t>(h.t) < end)
        in_window.push_back({h.hash, static_cast<uint32_t>(h.t - base)});
    }
    const auto a = from_scratch.match(in_window, idx);
    const auto b = streamed.match(sv);
    ++windows;
    ASSERT_EQ(a.size(), b.size()) << "window ending at frame " << end;
    EXPECT_EQ(from_scratch.stats().postings, streamed.stats().postings);
    EXPECT_EQ(from_scratch.stats().query_hashes, streamed.stats().query_hashes);
    for (std::size_t i = 0; i < a.size(); ++i) expect_same(a[i], b[i], end);
    if (!a.empty()) {
      matched += from_scratch.accepted(a[0]);
      skewed += std::abs(a[0].speed - 1.0f) > 0.01f;
      agree_a.clear();
      agree_b.clear();
      from_scratch.agreeing(a[0], agree_a);
      streamed.agreeing(b[0], agree_b);
      std::sort(agree_a.begin(), agree_a.end());
      std::sort(agree_b.begin(), agree_b.end());
      EXPECT_EQ(agree_a, agree_b);
      // At normal speed the candidate's anchors are among the hashes agreeing at its offset
      // (at other speeds the offset is the line's at query frame 0).
      if (a[0].speed == 1.0f) {
        EXPECT_GE(agree_a.size(), a[0].anchors);
      }
    }
  }
  // The programme exercised what it should: most windows matched, some at 2 % speed.
  EXPECT_GT(windows, 40);
  EXPECT_GT(matched, windows / 2);
  EXPECT_GT(skewed, 3);
  // Old votes were dropped: what is held is the last window's.
  EXPECT_EQ(sv.pending(), 0u);
  EXPECT_EQ(sv.votes().size(), streamed.stats().postings);
}

TEST(StreamVotes, SealKeepsLaterHashesPendingAndDropsOldOnes) {
  test::MapIndex idx;
  idx.add(1, {{10, 100}, {11, 105}, {12, 300}});
  matcher::StreamVotes sv;
  matcher::SealScratch scratch;
  sv.add(10, 50);
  sv.add(11, 55);
  sv.add(12, 250);  // anchored after the first window's end
  sv.add(99, 5);    // before the window: never needed
  sv.seal(100, 10, idx, scratch);
  EXPECT_EQ(sv.origin(), 10);
  ASSERT_EQ(sv.votes().size(), 2u);
  EXPECT_EQ(matcher::key_offset(sv.votes()[0].key), 100 - (50 - 10));
  EXPECT_EQ(sv.frames().size(), 2u);
  EXPECT_EQ(sv.pending(), 1u);
  sv.seal(300, 52, idx, scratch);  // the hash at 50 leaves, the one at 250 comes
  ASSERT_EQ(sv.votes().size(), 2u);
  EXPECT_EQ(sv.votes()[0].qt, 55u - 52u);
  EXPECT_EQ(matcher::key_offset(sv.votes()[0].key), 105 - (55 - 52));
  EXPECT_EQ(sv.votes()[1].qt, 250u - 52u);
  EXPECT_THROW(sv.seal(400, 40, idx, scratch), std::invalid_argument);
  sv.seal(400, 301, idx, scratch);
  EXPECT_TRUE(sv.votes().empty());
  EXPECT_TRUE(sv.frames().empty());
}

TEST(StreamVotes, RadixSortOrdersLikeTheKeyAndIsStable) {
  std::mt19937_64 rng(5);
  std::vector<matcher::Vote> v, tmp;
  for (uint32_t i = 0; i < 20000; ++i) {
    const auto track = static_cast<uint32_t>(rng() % 1500);
    const auto off = static_cast<int32_t>(rng() % 400000) - 400;  // negative offsets too
    v.push_back({matcher::vote_key(track, off), i, 0});
  }
  auto want = v;
  std::stable_sort(want.begin(), want.end(),
                   [](const matcher::Vote& a, const matcher::Vote& b) { return a.key < b.key; });
  matcher::sort_by_key(v, tmp);
  ASSERT_EQ(v.size(), want.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    ASSERT_EQ(v[i].key, want[i].key) << i;
    ASSERT_EQ(v[i].qt, want[i].qt) << i;  // equal keys keep their order
  }
}
