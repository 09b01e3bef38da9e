// Sliding-window matching of a stream from votes cast once per hash must rank exactly as
// matching each window's hashes from scratch does.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
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

TEST(StreamVotes, HashesBetweenTheCapsCountForChanceButCastNoVotes) {
  test::MapIndex idx;
  idx.add(1, {{10, 100}});                                             // 1 posting: votes
  for (uint32_t t = 0; t < 5; ++t) idx.add(2 + t, {{20, 200 + t}});    // 5: between the caps
  for (uint32_t t = 0; t < 50; ++t) idx.add(10 + t, {{30, 300 + t}});  // 50: over both
  matcher::StreamVotes sv;
  matcher::SealScratch scratch;
  sv.set_max_postings(3, 10, 0.25);
  sv.add(10, 50);
  sv.add(20, 52);
  sv.add(30, 54);
  sv.seal(100, 10, idx, scratch);
  ASSERT_EQ(sv.votes().size(), 1u);
  EXPECT_EQ(matcher::key_track(sv.votes()[0].key), 1u);
  EXPECT_EQ(sv.capped(), 2u);
  // The uncast hash keeps its frame (the query span) and a quarter of its 5 postings.
  EXPECT_EQ(std::vector<uint32_t>(sv.frames().begin(), sv.frames().end()),
            (std::vector<uint32_t>{40, 42}));
  EXPECT_DOUBLE_EQ(sv.chance_votes(), 1.0 + 0.25 * 5);
  sv.seal(200, 51, idx, scratch);  // the voting hash leaves; the uncast one stays
  EXPECT_TRUE(sv.votes().empty());
  EXPECT_EQ(std::vector<uint32_t>(sv.frames().begin(), sv.frames().end()),
            (std::vector<uint32_t>{1}));
  EXPECT_DOUBLE_EQ(sv.chance_votes(), 0.25 * 5);
  sv.seal(300, 53, idx, scratch);
  EXPECT_DOUBLE_EQ(sv.chance_votes(), 0.0);
  EXPECT_TRUE(sv.frames().empty());
  // One cap: the same as before the second existed.
  matcher::StreamVotes one;
  one.set_max_postings(3);
  one.add(10, 50);
  one.add(20, 52);
  one.seal(100, 10, idx, scratch);
  EXPECT_EQ(one.frames().size(), 1u);
  EXPECT_DOUBLE_EQ(one.chance_votes(), 1.0);
}

TEST(StreamVotes, UncastPostingsLowerConfidenceAsTheirVotesWould) {
  // A track's 40 hashes at a consistent offset, among chance votes of common hashes.
  const dsp::Params params;
  test::MapIndex idx;
  std::vector<dsp::TimedHash> track;
  for (uint32_t i = 0; i < 40; ++i) track.push_back({1000 + i, 500 + 7 * i});
  idx.add(1, track);
  std::mt19937 rng(5);
  for (uint32_t h = 0; h < 40; ++h) {
    std::vector<dsp::TimedHash> common;
    for (int k = 0; k < 40; ++k) common.push_back({5000 + h, static_cast<uint32_t>(rng() % 20000)});
    idx.add(2 + h, common);
  }
  const auto window = [&](uint32_t cast, double weight) {
    auto sv = std::make_unique<matcher::StreamVotes>();
    matcher::SealScratch scratch;
    sv->set_max_postings(cast, 4000, weight);
    for (uint32_t i = 0; i < 40; ++i) {
      sv->add(1000 + i, 100 + 7 * i);
      sv->add(5000 + i, 101 + 7 * i);
    }
    sv->seal(1000, 0, idx, scratch);
    return sv;
  };
  matcher::Matcher m(params);
  const auto confidence = [&](const matcher::StreamVotes& sv) {
    const auto c = m.match(sv);
    EXPECT_FALSE(c.empty());
    if (c.empty()) return 0.0f;
    EXPECT_EQ(c[0].track, 1u);
    EXPECT_EQ(c[0].offset, 400);
    return c[0].confidence;
  };
  const auto all = window(4000, 1.0);    // every hash votes
  const auto none = window(10, 0.0);     // the common hashes left out, not counted
  const auto counted = window(10, 1.0);  // left out, counted in full
  EXPECT_EQ(all->votes().size(), 40u + 40u * 40u);
  EXPECT_EQ(none->votes().size(), 40u);
  EXPECT_DOUBLE_EQ(counted->chance_votes(), all->chance_votes());
  const float c_all = confidence(*all), c_none = confidence(*none),
              c_counted = confidence(*counted);
  EXPECT_LT(c_all, c_none);  // fewer votes: the same agreement is less likely by chance
  EXPECT_FLOAT_EQ(c_counted, c_all);
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
