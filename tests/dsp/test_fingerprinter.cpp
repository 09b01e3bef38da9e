#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include "bench/eval/synth.h"
#include "dsp/decode/resample.h"
#include "dsp/fingerprinter.h"

using namespace aircheck;

namespace {
std::vector<float> music(uint64_t seed, double secs) {
  return eval::synth_music(seed, {secs, 8000, 0.3});
}
std::vector<dsp::TimedHash> sorted(std::vector<dsp::TimedHash> v) {
  std::sort(v.begin(), v.end(),
            [](auto a, auto b) { return a.t != b.t ? a.t < b.t : a.hash < b.hash; });
  return v;
}
uint64_t checksum(const std::vector<dsp::TimedHash>& h) {
  uint64_t x = 1469598103934665603ull;
  for (const auto& t : h) {
    x = (x ^ t.hash) * 1099511628211ull;
    x = (x ^ t.t) * 1099511628211ull;
  }
  return x;
}
}  // namespace

TEST(Fingerprinter, ChunkingDoesNotChangeTheResult) {
  const auto pcm = music(11, 20);
  for (const dsp::Params& p : {dsp::Params{}, dsp::Params{}.streaming()}) {
    for (auto side : {dsp::Side::index, dsp::Side::query}) {
      const auto whole = dsp::fingerprint(p, side, pcm);
      ASSERT_GT(whole.size(), 500u);
      std::mt19937 rng(5);
      for (int trial = 0; trial < 4; ++trial) {
        dsp::Fingerprinter fp(p, side);
        std::vector<dsp::TimedHash> out;
        std::size_t i = 0;
        while (i < pcm.size()) {
          // odd sizes: 1 sample, primes, several hops, a whole second
          const std::size_t sizes[] = {1, 7, 127, 129, 509, 1000, 3001, 8000};
          std::size_t n = std::min(sizes[rng() % 8], pcm.size() - i);
          fp.feed(std::span(pcm).subspan(i, n), out);
          i += n;
        }
        fp.flush(out);
        ASSERT_EQ(out.size(), whole.size());
        if (side == dsp::Side::query && p.query_early_dt > 0) {
          // Early pairs come out of anchor order, as the chunks fall: the same pairs.
          EXPECT_TRUE(sorted(out) == sorted(whole)) << "trial " << trial;
        } else {
          EXPECT_TRUE(out == whole) << "trial " << trial;
        }
      }
    }
  }
}

TEST(Fingerprinter, EmitsIncrementallyWithBoundedDelay) {
  const auto pcm = music(3, 12);
  const dsp::Params p;
  dsp::Fingerprinter fp(p, dsp::Side::query);
  std::vector<dsp::TimedHash> out;
  out.reserve(100000);
  fp.feed(std::span(pcm).first(8000 * 6), out);
  ASSERT_FALSE(out.empty()) << "hashes must flow before the end of the stream";
  // Every hash released so far is final: its anchor lies behind the analysis horizon.
  const uint32_t latest =
      std::max_element(out.begin(), out.end(), [](auto a, auto b) { return a.t < b.t; })->t;
  const uint32_t delay_frames = static_cast<uint32_t>(fp.frames()) - latest;
  EXPECT_LE(delay_frames,
            static_cast<uint32_t>(p.dt_max + 2 * p.density_frames + 2 * p.peak_frames + 4));
  const auto whole = dsp::fingerprint(p, dsp::Side::query, pcm);
  ASSERT_GE(whole.size(), out.size());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), whole.begin()));
}

// A live stream's query side (Params::streaming()) looks 8 frames ahead of a peak instead of 31:
// its hashes are released sooner, it picks about as many peaks, and it still holds the index
// side's landmarks.
TEST(Fingerprinter, AStreamsHashesAreFinalSoonerAndStillHoldTheIndexs) {
  const auto pcm = music(4, 20);
  const dsp::Params p;
  dsp::Params s = p.streaming();
  s.query_early_dt = 0;  // its early pairs: EarlyPairsHoldTheIndexsShortPairsSooner
  EXPECT_EQ(s.density_ahead(dsp::Side::query), dsp::Params::kStreamDensityAhead);
  EXPECT_EQ(s.density_ahead(dsp::Side::index), p.density_frames);
  EXPECT_EQ(s.digest(), p.digest());  // the index format is unchanged
  // How far behind the analysed frames the released hashes' anchors are, at most, when fed
  // 10 ms at a time: the pairing zone, the density look-ahead and the peak test.
  const auto max_delay = [&](const dsp::Params& q) {
    dsp::Fingerprinter fp(q, dsp::Side::query);
    std::vector<dsp::TimedHash> out;
    out.reserve(200000);
    uint64_t worst = 0;
    for (std::size_t i = 0; i + 80 <= pcm.size(); i += 80) {
      const std::size_t before = out.size();
      fp.feed(std::span(pcm).subspan(i, 80), out);
      if (out.size() == before || i < 8000 * 3) continue;
      // Everything anchored before the newest released anchor has been released too.
      worst = std::max(worst, fp.frames() - out.back().t);
    }
    return worst;
  };
  const uint64_t centred = max_delay(p), stream = max_delay(s);
  EXPECT_LE(stream, static_cast<uint64_t>(p.dt_max + dsp::Params::kStreamDensityAhead +
                                          2 * p.peak_frames + 4));
  EXPECT_GE(
      centred,
      stream + static_cast<uint64_t>(p.density_frames - dsp::Params::kStreamDensityAhead) - 2);
  const auto idx = dsp::fingerprint(p, dsp::Side::index, pcm);
  const auto old_q = dsp::fingerprint(p, dsp::Side::query, pcm);
  const auto qry = dsp::fingerprint(s, dsp::Side::query, pcm);
  EXPECT_NEAR(static_cast<double>(qry.size()), static_cast<double>(old_q.size()),
              0.2 * static_cast<double>(old_q.size()));
  std::set<std::pair<uint32_t, uint32_t>> q;
  for (auto h : qry) q.insert({h.hash, h.t});
  std::size_t found = 0;
  for (auto h : idx) found += q.count({h.hash, h.t});
  EXPECT_GT(static_cast<double>(found), 0.8 * static_cast<double>(idx.size()));
}

// Early pairs (Params::query_early_dt): each anchor first pairs with the index_fanout strongest
// peaks of the first part of its zone, as soon as those are final. A stream gets the index
// side's short pairs that much sooner; its full pairs are all still there, and no pair twice.
TEST(Fingerprinter, EarlyPairsHoldTheIndexsShortPairsSooner) {
  const auto pcm = music(6, 20);
  const dsp::Params p;
  dsp::Params s = p.streaming();
  const dsp::Params e = s;
  EXPECT_EQ(e.query_early_dt, dsp::Params::kStreamEarlyDt);
  s.query_early_dt = 0;
  const auto full = sorted(dsp::fingerprint(s, dsp::Side::query, pcm));
  const auto early = sorted(dsp::fingerprint(e, dsp::Side::query, pcm));
  ASSERT_GT(full.size(), 2000u);
  // A superset of the full pairs, with at most index_fanout more per anchor and no repeats.
  EXPECT_TRUE(
      std::includes(early.begin(), early.end(), full.begin(), full.end(),
                    [](auto a, auto b) { return a.t != b.t ? a.t < b.t : a.hash < b.hash; }));
  EXPECT_LT(early.size(), full.size() * 3 / 2);
  std::printf("  early pairs: %zu hashes against %zu (%.1f %% more)\n", early.size(), full.size(),
              100.0 * (static_cast<double>(early.size()) / static_cast<double>(full.size()) - 1));
  std::set<std::pair<uint32_t, uint32_t>> all;
  for (auto h : early) all.insert({h.hash, h.t});
  std::multiset<std::pair<uint32_t, uint32_t>> counted;
  for (auto h : full) counted.insert({h.hash, h.t});
  std::size_t repeats_full = 0;
  for (const auto& x : all) repeats_full += counted.count(x) > 1 ? counted.count(x) - 1 : 0;
  EXPECT_EQ(early.size(), all.size() + repeats_full) << "a pair was released twice";

  // Fed 10 ms at a time, they come in any chunking as the same pairs.
  dsp::Fingerprinter fp(e, dsp::Side::query);
  std::vector<dsp::TimedHash> out;
  out.reserve(200000);
  const std::size_t ten_s = 8000 * 10;
  for (std::size_t i = 0; i < ten_s; i += 80) fp.feed(std::span(pcm).subspan(i, 80), out);
  // What has been released after 10 s: every index-side pair up to early_dt frames long
  // anchored more than the early lag before the analysed frames, nearly.
  const uint64_t lag = static_cast<uint64_t>(e.query_early_dt + dsp::Params::kStreamDensityAhead +
                                             2 * p.peak_frames + 4);
  std::set<std::pair<uint32_t, uint32_t>> released;
  for (auto h : out) released.insert({h.hash, h.t});
  std::size_t shorter = 0, found = 0;
  for (auto h : dsp::fingerprint(p, dsp::Side::index, pcm)) {
    if (h.t + lag > fp.frames() || dsp::Params::unpack(h.hash).dt > e.query_early_dt) continue;
    ++shorter;
    found += released.count({h.hash, h.t});
  }
  ASSERT_GT(shorter, 200u);
  EXPECT_GT(static_cast<double>(found), 0.8 * static_cast<double>(shorter));
  // The newest anchor released is within the early lag of the analysed frames, sooner than
  // the full pairs' lag; the rest of the pairs follow.
  const uint32_t newest =
      std::max_element(out.begin(), out.end(), [](auto a, auto b) { return a.t < b.t; })->t;
  EXPECT_LE(fp.frames() - newest, lag);
  for (std::size_t i = ten_s; i < pcm.size(); i += 80)
    fp.feed(std::span(pcm).subspan(i, std::min<std::size_t>(80, pcm.size() - i)), out);
  fp.flush(out);
  EXPECT_TRUE(sorted(out) == early);
}

TEST(Fingerprinter, GainDoesNotChangeWhichPeaksAreChosen) {
  // Level is measured against running means in the log domain: a quiet passage yields the
  // same landmarks as a loud one (above the noise floor).
  auto pcm = music(21, 15);
  const dsp::Params p;
  const auto loud = dsp::fingerprint(p, dsp::Side::index, pcm);
  for (auto& x : pcm) x *= 0.03f;  // -30 dB
  const auto quiet = dsp::fingerprint(p, dsp::Side::index, pcm);
  std::set<std::pair<uint32_t, uint32_t>> a, b;
  for (auto h : loud) a.insert({h.hash, h.t});
  for (auto h : quiet) b.insert({h.hash, h.t});
  std::size_t common = 0;
  for (const auto& x : a) common += b.count(x);
  EXPECT_GT(static_cast<double>(common), 0.95 * static_cast<double>(a.size()));
}

TEST(Fingerprinter, DensityIsControlledOnBothSides) {
  const auto pcm = music(8, 30);
  const dsp::Params p;
  dsp::Fingerprinter idx(p, dsp::Side::index), qry(p, dsp::Side::query);
  std::vector<dsp::TimedHash> a, b;
  idx.feed(pcm, a);
  idx.flush(a);
  qry.feed(pcm, b);
  qry.flush(b);
  const double secs = 30;
  const double window_s = (2 * p.density_frames + 1) * p.frame_seconds();
  // Any density_frames+1 consecutive frames hold at most index_peaks selected peaks (each one
  // has fewer than index_peaks stronger peaks in its window), so this rate cannot be exceeded;
  // and music must not starve either.
  const double half_window_s = (p.density_frames + 1) * p.frame_seconds();
  EXPECT_LE(static_cast<double>(idx.peak_count()) / secs, p.index_peaks / half_window_s);
  EXPECT_GE(static_cast<double>(idx.peak_count()) / secs, p.index_peaks / window_s * 0.4);
  EXPECT_GT(qry.peak_count(), idx.peak_count() * 3 / 2);
  EXPECT_LE(a.size(), idx.peak_count() * static_cast<uint64_t>(p.index_fanout));
  EXPECT_GT(b.size(), a.size() * 2);
}

TEST(Fingerprinter, IndexHashesAreFoundInTheQuerySide) {
  // The query side picks a superset of peaks and pairs wider, so most index landmarks of the
  // same audio reappear in the query's hashes.
  const auto pcm = music(4, 20);
  const dsp::Params p;
  const auto idx = dsp::fingerprint(p, dsp::Side::index, pcm);
  const auto qry = dsp::fingerprint(p, dsp::Side::query, pcm);
  std::set<std::pair<uint32_t, uint32_t>> q;
  for (auto h : qry) q.insert({h.hash, h.t});
  std::size_t found = 0;
  for (auto h : idx) found += q.count({h.hash, h.t});
  EXPECT_GT(static_cast<double>(found), 0.8 * static_cast<double>(idx.size()));
}

TEST(Fingerprinter, SilenceGivesNoHashes) {
  std::vector<float> zeros(8000 * 5, 0.0f);
  EXPECT_TRUE(dsp::fingerprint(dsp::Params{}, dsp::Side::query, zeros).empty());
}

TEST(Fingerprinter, ResetStartsANewStream) {
  const auto pcm = music(9, 8);
  const dsp::Params p;
  dsp::Fingerprinter fp(p, dsp::Side::index);
  std::vector<dsp::TimedHash> a, b;
  fp.feed(pcm, a);
  fp.flush(a);
  EXPECT_THROW(fp.feed(pcm, a), std::logic_error);
  fp.reset();
  fp.feed(pcm, b);
  fp.flush(b);
  EXPECT_TRUE(a == b);
}

// Golden list: pins the hash format. If this fails, the index format changed: bump the format
// text in Params::describe() so old indexes are refused, then update the numbers.
constexpr std::size_t GOLDEN_COUNT = 502;
constexpr uint64_t GOLDEN_SUM = 16380535920408015108ull;

TEST(Fingerprinter, GoldenHashesOfAFixedSignal) {
  const auto pcm = music(1234, 10);
  const auto h = dsp::fingerprint(dsp::Params{}, dsp::Side::index, pcm);
  const uint64_t sum = checksum(h);
  RecordProperty("count", static_cast<int>(h.size()));
  EXPECT_EQ(h.size(), GOLDEN_COUNT) << "checksum " << sum;
  EXPECT_EQ(sum, GOLDEN_SUM) << "count " << h.size();
}

namespace {
/// Share of differing bits between two word sequences, b read `shift` words later.
double word_error_rate(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b,
                       std::size_t shift = 0) {
  uint64_t errors = 0, bits = 0;
  for (std::size_t u = 1; u < a.size() && u + shift < b.size(); ++u) {
    errors += static_cast<uint64_t>(std::popcount(a[u] ^ b[u + shift]));
    bits += 32;
  }
  return bits > 0 ? static_cast<double>(errors) / static_cast<double>(bits) : 1.0;
}
}  // namespace

// One word per frame from frame subband_frames - 1 on, the same however the input is chunked
// and on both sides, and across reset().
TEST(Fingerprinter, SubbandWordsPerFrameIndependentOfChunking) {
  const auto pcm = music(21, 12);
  const dsp::Params p;
  std::vector<uint32_t> whole;
  const auto hashes = dsp::fingerprint(p, dsp::Side::index, pcm, &whole);
  dsp::Fingerprinter probe(p, dsp::Side::index);
  std::vector<dsp::TimedHash> ignored;
  probe.feed(pcm, ignored);
  ASSERT_EQ(whole.size(), probe.frames() - static_cast<uint64_t>(p.subband_frames) + 1);
  EXPECT_EQ(whole.front(), 0u);
  std::vector<uint32_t> query;
  dsp::fingerprint(p, dsp::Side::query, pcm, &query);
  EXPECT_EQ(query, whole);
  dsp::Fingerprinter fp(p, dsp::Side::query);
  std::vector<uint32_t> chunked;
  fp.collect_subband(&chunked);
  std::vector<dsp::TimedHash> out;
  for (int round = 0; round < 2; ++round) {
    chunked.clear();
    fp.reset();
    for (std::size_t i = 0; i < pcm.size(); i += 333)
      fp.feed(std::span(pcm).subspan(i, std::min<std::size_t>(333, pcm.size() - i)), out);
    fp.flush(out);
    EXPECT_EQ(chunked, whole) << "round " << round;
  }
  // Every band pair is used: music sets each bit in some words and clears it in others.
  uint32_t any = 0, all = ~0u;
  for (std::size_t u = 1; u < whole.size(); ++u) {
    any |= whole[u];
    all &= whole[u];
  }
  EXPECT_EQ(any, ~0u);
  EXPECT_EQ(all, 0u);
}

// Words only: the same words as a full reading, no hashes, and a full reading again after.
TEST(Fingerprinter, WordsOnlyReadsTheSameWordsWithoutHashes) {
  const auto pcm = music(22, 8);
  const dsp::Params p;
  std::vector<uint32_t> whole;
  const auto hashes = dsp::fingerprint(p, dsp::Side::query, pcm, &whole);
  ASSERT_FALSE(hashes.empty());
  dsp::Fingerprinter fp(p, dsp::Side::query);
  std::vector<uint32_t> words;
  fp.collect_subband(&words);
  fp.set_words_only(true);
  std::vector<dsp::TimedHash> out;
  fp.feed(pcm, out);
  fp.flush(out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(words, whole);
  fp.set_words_only(false);
  fp.reset();
  words.clear();
  fp.feed(pcm, out);
  fp.flush(out);
  EXPECT_EQ(words, whole);
  EXPECT_EQ(out.size(), hashes.size());
}

// What the words are for: the same music read at another frame phase and under noise still
// agrees far better than other music does, and than the same music a beat away.
TEST(Fingerprinter, SubbandWordsTellTheSamePassageFromOthers) {
  const dsp::Params p;
  const auto ref = music(31, 20);
  std::vector<uint32_t> rw;
  dsp::fingerprint(p, dsp::Side::index, ref, &rw);
  // The passage from 5 s, read half a hop off the reference's frames, with noise at 10 dB.
  const std::size_t start = 5 * 8000 + static_cast<std::size_t>(p.hop) / 2;
  std::vector<float> q(ref.begin() + static_cast<std::ptrdiff_t>(start),
                       ref.begin() + static_cast<std::ptrdiff_t>(start + 8 * 8000));
  double power = 0;
  for (float v : q) power += static_cast<double>(v) * v;
  const auto noise = eval::white_noise(3, q.size());
  double noise_power = 0;
  for (float v : noise) noise_power += static_cast<double>(v) * v;
  const double g = std::sqrt(power / noise_power / 10.0);
  for (std::size_t i = 0; i < q.size(); ++i) q[i] += static_cast<float>(g * noise[i]);
  std::vector<uint32_t> qw;
  dsp::fingerprint(p, dsp::Side::query, q, &qw);
  const std::size_t at = start / static_cast<std::size_t>(p.hop);  // 5 s, rounded down
  const double same = std::min(word_error_rate(qw, rw, at), word_error_rate(qw, rw, at + 1));
  std::vector<uint32_t> other;
  dsp::fingerprint(p, dsp::Side::index, music(32, 20), &other);
  const double unrelated = word_error_rate(qw, other, at);
  const double beat_away = word_error_rate(qw, rw, at + 31);  // ~0.5 s later in the same song
  EXPECT_LT(same, 0.25);
  EXPECT_GT(unrelated, 0.4);
  EXPECT_GT(beat_away, same + 0.1);
}

// Fine words: one per frame (word 0 is 0), the same however the audio is chunked, on either
// side, and in words-only readings; music sets and clears every band's bit.
TEST(Fingerprinter, FineWordsOnePerFrameIndependentOfChunking) {
  const auto pcm = music(23, 10);
  const dsp::Params p;
  std::vector<uint64_t> whole;
  dsp::fingerprint(p, dsp::Side::index, pcm, nullptr, &whole);
  dsp::Fingerprinter probe(p, dsp::Side::index);
  std::vector<dsp::TimedHash> ignored;
  probe.feed(pcm, ignored);
  ASSERT_EQ(whole.size(), probe.frames());
  EXPECT_EQ(whole.front(), 0u);
  std::vector<uint64_t> query;
  dsp::fingerprint(p, dsp::Side::query, pcm, nullptr, &query);
  EXPECT_EQ(query, whole);
  dsp::Fingerprinter fp(p, dsp::Side::query);
  std::vector<uint64_t> chunked;
  fp.collect_fine(&chunked);
  std::vector<dsp::TimedHash> out;
  for (int words_only = 0; words_only < 2; ++words_only) {
    fp.set_words_only(words_only == 1);
    chunked.clear();
    fp.reset();
    for (std::size_t i = 0; i < pcm.size(); i += 517)
      fp.feed(std::span(pcm).subspan(i, std::min<std::size_t>(517, pcm.size() - i)), out);
    fp.flush(out);
    EXPECT_EQ(chunked, whole) << "words only " << words_only;
  }
  constexpr uint64_t kAll = (uint64_t{1} << dsp::Params::kFineBands) - 1;
  uint64_t any = 0, all = kAll;
  for (std::size_t u = 1; u < whole.size(); ++u) {
    any |= whole[u];
    all &= whole[u];
  }
  EXPECT_EQ(any, kAll);
  EXPECT_EQ(all, 0u);
}

// What the fine words are for: two copies of a passage that differ only by a quiet part
// (another instrument 25 dB below the music), each read under white noise at 20 dB. Where the
// copies' words differ, a reading agrees with its own copy in clearly more than half of the
// bits, and the fine words hold more than twice as many such bits as the sub-band words.
TEST(Fingerprinter, FineWordsTellNearCopiesApart) {
  const dsp::Params p;
  const std::size_t n = 6 * 8000;
  const auto base = music(41, 6);
  const auto extra = music(42, 6);
  const auto power = [](const std::vector<float>& x) {
    double e = 0;
    for (float v : x) e += static_cast<double>(v) * v;
    return e / static_cast<double>(x.size());
  };
  const double g = std::sqrt(power(base) / power(extra) / std::pow(10.0, 2.5));
  std::vector<float> copy_a = base, copy_b = base;
  for (std::size_t i = 0; i < n; ++i) copy_b[i] += static_cast<float>(g * extra[i]);
  std::vector<uint64_t> fa, fb;
  std::vector<uint32_t> wa, wb;
  dsp::fingerprint(p, dsp::Side::index, copy_a, &wa, &fa);
  dsp::fingerprint(p, dsp::Side::index, copy_b, &wb, &fb);
  uint64_t fine_differ = 0, words_differ = 0;
  for (std::size_t u = 1; u < fa.size(); ++u) fine_differ += std::popcount(fa[u] ^ fb[u]);
  for (std::size_t u = 1; u < wa.size(); ++u) words_differ += std::popcount(wa[u] ^ wb[u]);
  EXPECT_GT(fine_differ, 2 * words_differ);
  for (int which = 0; which < 2; ++which) {
    std::vector<float> q = which == 0 ? copy_a : copy_b;
    const auto noise = eval::white_noise(7 + static_cast<uint64_t>(which), q.size());
    const double gn = std::sqrt(power(q) / power(std::vector<float>(noise)) / 100.0);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] += static_cast<float>(gn * noise[i]);
    std::vector<uint64_t> fq;
    dsp::fingerprint(p, dsp::Side::query, q, nullptr, &fq);
    const auto& own = which == 0 ? fa : fb;
    const auto& other = which == 0 ? fb : fa;
    uint64_t for_own = 0, for_other = 0;
    for (std::size_t u = 1; u < fq.size(); ++u) {
      const uint64_t differ = own[u] ^ other[u];
      for_own += std::popcount(~(fq[u] ^ own[u]) & differ);
      for_other += std::popcount(~(fq[u] ^ other[u]) & differ);
    }
    const double z = (static_cast<double>(for_own) - static_cast<double>(for_other)) /
                     std::sqrt(static_cast<double>(for_own + for_other));
    EXPECT_GT(z, 4.0) << "copy " << which << ": " << for_own << " against " << for_other;
  }
}

TEST(RescaleHashes, UndoAPlaysSpeedChange) {
  // The same music played 2.5 % fast: its hashes' bins sit 2.5 % higher and its frames 2.5 %
  // closer, so few of the index's landmarks reappear as they are. Rescaled by 1.025, most of
  // the ones that do not straddle a bin boundary do.
  const auto pcm = music(6, 30);
  const dsp::Params p;
  const double speed = 1.025;
  const auto fast = dsp::decode::resample(pcm, 8000, static_cast<int>(std::lround(8000 / speed)));
  const auto idx = dsp::fingerprint(p, dsp::Side::index, pcm);
  const auto played = dsp::fingerprint(p, dsp::Side::query, fast);
  std::vector<dsp::TimedHash> rescaled;
  dsp::rescale_hashes(played, speed, p, rescaled);
  const auto found = [&](const std::vector<dsp::TimedHash>& q) {
    std::multimap<uint32_t, uint32_t> at;
    for (const auto& h : q) at.emplace(h.hash, h.t);
    std::size_t n = 0;
    for (const auto& h : idx) {
      const auto [lo, hi] = at.equal_range(h.hash);
      n += std::any_of(lo, hi,
                       [&](const auto& e) { return std::abs(int(e.second) - int(h.t)) <= 1; });
    }
    return static_cast<double>(n) / static_cast<double>(idx.size());
  };
  const double as_played = found(played), after = found(rescaled);
  EXPECT_LT(as_played, 0.05);
  EXPECT_GT(after, 0.2);
  EXPECT_GT(after, 5 * as_played);
  // Fields stay in range: nothing outside the fingerprint's bins or pair distances.
  for (const auto& h : rescaled) {
    const auto f = dsp::Params::unpack(h.hash);
    EXPECT_GE(f.f1, p.min_bin);
    EXPECT_LE(f.f1 + f.df, p.max_bin);
    EXPECT_LE(f.dt, p.dt_max);
  }
  std::cout << "index landmarks found: as played " << as_played << ", rescaled " << after << "\n";
}
