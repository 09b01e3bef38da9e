// Robust identification: speed changes, voice-over, and rejection of audio not indexed, on
// synthesized songs through the real fingerprinter, matcher and speed hypotheses.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>

#include "bench/eval/degrade.h"
#include "bench/eval/speech.h"
#include "bench/eval/synth.h"
#include "dsp/decode/decoder.h"
#include "dsp/fingerprinter.h"
#include "matcher/identify.h"
#include "tests/matcher/map_index.h"
#include "tests/support/loops.h"

using namespace aircheck;

namespace {

using test::MapIndex;

constexpr int kRate = 8000;

class Identify : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    index_ = new MapIndex;
    songs_ = new std::vector<std::vector<float>>;
    for (uint32_t s = 0; s < 8; ++s) {
      songs_->push_back(eval::synth_music(300 + s, {60, kRate, 0.3}));
      index_->add(s, dsp::fingerprint(dsp::Params{}, dsp::Side::index, songs_->back()));
    }
  }
  static void TearDownTestSuite() {
    delete index_;
    delete songs_;
  }
  static std::vector<float> excerpt(uint32_t song, double start_s, double len_s) {
    const auto& x = (*songs_)[song];
    const auto a = static_cast<std::size_t>(std::llround(start_s * kRate));
    const auto b = std::min(x.size(), a + static_cast<std::size_t>(len_s * kRate));
    return {x.begin() + static_cast<std::ptrdiff_t>(a), x.begin() + static_cast<std::ptrdiff_t>(b)};
  }
  /// 10 s played at `speed` from `start_s` into `song` (10 * speed s of the song) must be
  /// decided as that song, at that reference offset (two frames) and speed (0.2 %).
  static const matcher::Identification& expect_found(matcher::Identifier& id, uint32_t song,
                                                     double start_s, double speed) {
    const dsp::Params p;
    const auto src = excerpt(song, start_s, 10.0 * speed);
    const auto q = eval::change_speed(src, kRate, speed);
    const auto& r = id.identify(q, *index_);
    EXPECT_FALSE(r.candidates.empty()) << speed;
    if (r.candidates.empty()) return r;
    const auto& c = r.candidates.front();
    EXPECT_TRUE(r.accepted) << "speed " << speed << " song " << song;
    EXPECT_EQ(c.track, song) << speed;
    EXPECT_NEAR(c.offset * p.frame_seconds(), start_s, 2 * p.frame_seconds()) << speed;
    EXPECT_NEAR(c.speed, speed, 0.002 * speed) << "song " << song;
    return r;
  }
  static MapIndex* index_;
  static std::vector<std::vector<float>>* songs_;
};
MapIndex* Identify::index_ = nullptr;
std::vector<std::vector<float>>* Identify::songs_ = nullptr;

// ±3 %: between the speed hypotheses (±2 %, ±4 %), the hardest place for them. ±5 % on real
// music is measured by `aircheck eval queries` (bench/RESULTS.md).
TEST_F(Identify, ThreePercentSpeedChangesAreMatchedWithTheirSpeed) {
  matcher::Identifier id(dsp::Params{});
  for (const double speed : {0.97, 1.03}) {
    for (uint32_t song : {1u, 6u}) expect_found(id, song, 20.0, speed);
  }
}

// 4.5 % and 5.5 % off: between the screened speeds (2 % apart) and beyond the matcher's own
// reach. The query is matched in full once more, at the speed the best screen measured.
TEST_F(Identify, SpeedChangesBeyondTheMatchersReachAreFoundByScreening) {
  matcher::Identifier id(dsp::Params{});
  const auto screens = static_cast<int>(matcher::IdentifyOptions{}.speeds.size()) - 1;
  for (const double speed : {0.955, 1.045, 0.945, 1.055}) {
    for (uint32_t song : {2u, 5u}) {
      const auto& r = expect_found(id, song, 15.0, speed);
      EXPECT_EQ(r.screened, screens);
      EXPECT_NEAR(r.hypothesis, speed, 0.005) << "decided at the screen's estimate";
      EXPECT_LE(r.tried, 3);  // normal speed, the estimate, at most one refinement
    }
  }
}

// A query 1 % fast is decided at normal speed, its speed then measured again near the estimate.
TEST_F(Identify, OnePercentFastIsDecidedAtNormalSpeedAndItsSpeedRefined) {
  const dsp::Params p;
  matcher::Identifier id(p);
  const double speed = 1.01;
  const auto q = eval::change_speed(excerpt(4, 25.0, 10.0 * speed), kRate, speed);
  const auto& r = id.identify(q, *index_);
  ASSERT_TRUE(r.accepted);
  EXPECT_EQ(r.candidates.front().track, 4u);
  EXPECT_EQ(r.hypothesis, 1.0);
  EXPECT_EQ(r.screened, 0);
  EXPECT_EQ(r.tried, 2);
  EXPECT_NEAR(r.candidates.front().speed, speed, 0.001 * speed);
}

TEST_F(Identify, NormalSpeedIsDecidedWithoutTryingOthers) {
  matcher::Identifier id(dsp::Params{});
  const auto& r = id.identify(excerpt(3, 31.0, 8.0), *index_);
  ASSERT_TRUE(r.accepted);
  EXPECT_EQ(r.tried, 1);
  EXPECT_EQ(r.screened, 0);
  EXPECT_EQ(r.candidates.front().track, 3u);
  EXPECT_NEAR(r.candidates.front().speed, 1.0, 0.002);
}

// Hashes fall on whole frames (16 ms), but a passage that starts between two frames splits its
// votes over the two offsets in proportion: the reported offset places it to a fraction of a
// frame. Rounded to whole frames, the quarter and three-quarter starts would be a quarter frame
// off and the half-frame starts half a frame off.
TEST_F(Identify, OffsetsArePlacedBetweenFrames) {
  const dsp::Params p;
  matcher::Identifier id(p);
  double worst = 0, sum = 0;
  int n = 0;
  for (uint32_t song = 0; song < 8; ++song) {
    for (const int quarter : {1, 2, 3}) {
      const int64_t first = (600 + 97 * song) * static_cast<int64_t>(p.hop) + quarter * p.hop / 4;
      const double start_s = static_cast<double>(first) / kRate;
      const auto& r = id.identify(excerpt(song, start_s, 8.0), *index_);
      ASSERT_FALSE(r.candidates.empty()) << song;
      const auto& c = r.candidates.front();
      ASSERT_TRUE(r.accepted) << song;
      ASSERT_EQ(c.track, song);
      const double err = std::abs(c.exact_offset() - static_cast<double>(first) / p.hop);
      EXPECT_LT(err, 0.4) << "song " << song << " start " << start_s;
      worst = std::max(worst, err);
      sum += err;
      ++n;
    }
  }
  EXPECT_LT(sum / n, 0.15) << "worst " << worst;
}

TEST_F(Identify, VoiceOverAtMinus6dBIsMatched) {
  const dsp::Params p;
  matcher::Identifier id(p);
  const auto speech = eval::SpeechPool::make(kRate, 77, 4, 20);
  for (uint32_t song = 0; song < 8; ++song) {
    const auto music = excerpt(song, 12.0 + song, 10.0);
    const auto talk = speech.excerpt(song, music.size());
    const auto q = eval::mix_at(music, talk, -6.0);
    const auto& r = id.identify(q, *index_);
    ASSERT_FALSE(r.candidates.empty()) << song;
    EXPECT_TRUE(r.accepted) << song;
    EXPECT_EQ(r.candidates.front().track, song);
    EXPECT_NEAR(r.candidates.front().offset * p.frame_seconds(), 12.0 + song, 0.05);
  }
}

TEST_F(Identify, AudioNotIndexedIsRejectedAtEverySpeed) {
  matcher::Identifier id(dsp::Params{});
  int accepted = 0;
  for (uint64_t s = 0; s < 10; ++s) {
    auto noise = eval::white_noise(s, kRate * 10);
    for (auto& x : noise) x *= 0.1f;
    const auto& rn = id.identify(noise, *index_);
    EXPECT_TRUE(!rn.accepted) << "noise " << s;
    // One full pass; the other speeds are only screened, and no screen finds enough.
    EXPECT_EQ(rn.tried, 1);
    EXPECT_EQ(rn.screened, static_cast<int>(matcher::IdentifyOptions{}.speeds.size()) - 1);
    // Under IdentifyOptions::short_query_s only the first short_query_speeds are screened.
    const std::span<const float> two_s(noise.data(), 2 * kRate);
    const auto& r2 = id.identify(two_s, *index_);
    EXPECT_FALSE(r2.accepted) << "noise " << s;
    EXPECT_EQ(r2.screened, static_cast<int>(matcher::IdentifyOptions{}.short_query_speeds) - 1);
    const auto& rb = id.identify(eval::synth_babble(s, {10, kRate, 0.3}), *index_);
    EXPECT_FALSE(rb.accepted) << "babble " << s;
    // Songs of the same generator share its drum kit: the hardest chance alignments.
    const auto& rm = id.identify(eval::synth_music(700 + s, {10, kRate, 0.3}), *index_);
    accepted += rm.accepted;
  }
  EXPECT_LE(accepted, 1);
}

}  // namespace

namespace {

// An index of `song` (track 0, with its sub-band words) and three other generated songs
// (tracks 1-3, seeds other_seed...), as any index holds others.
MapIndex song_among_others(const std::vector<float>& song, uint64_t other_seed,
                           bool fine_words = true) {
  const dsp::Params p;
  MapIndex index;
  std::vector<uint32_t> words;
  std::vector<uint64_t> fine;
  index.add(0, dsp::fingerprint(p, dsp::Side::index, song, &words, fine_words ? &fine : nullptr),
            words, fine);
  for (uint32_t s = 0; s < 3; ++s)
    index.add(1 + s, dsp::fingerprint(p, dsp::Side::index,
                                      eval::synth_music(other_seed + s, {30, kRate, 0.3})));
  return index;
}

// How far, in frames, the identifier answers the `seconds`-long excerpt of `song` from sample
// `start` (under white noise at `snr` dB; none from 90 dB) from where it lies; NaN when its best
// candidate is not track 0. `whole_frames`: by the candidate's frame, not its offset between
// frames.
double repeat_error(matcher::Identifier& id, MapIndex& index, const std::vector<float>& song,
                    std::size_t start, double seconds, double snr, bool whole_frames = false) {
  const auto end = start + static_cast<std::size_t>(seconds * kRate);
  std::vector<float> q(song.begin() + static_cast<std::ptrdiff_t>(start),
                       song.begin() + static_cast<std::ptrdiff_t>(end));
  if (snr < 90) q = eval::add_white_noise(q, snr, start);
  const auto& r = id.identify(q, index);
  if (r.candidates.empty() || r.candidates.front().track != 0)
    return std::numeric_limits<double>::quiet_NaN();
  const auto& c = r.candidates.front();
  return (whole_frames ? static_cast<double>(c.offset) : c.exact_offset()) -
         static_cast<double>(start) / dsp::Params{}.hop;
}

}  // namespace

namespace {

// A song built like looped music: one 4-s backing pattern (drums, bass, chords) played five
// times, each time under another melody 14 dB down, so every excerpt has a strong repeat at each
// other loop. The pattern is not a whole number of frames long, so each repeat lies at another
// frame phase than the excerpt: at one phase a wrong repeat can line up better than the right
// position; over all phases the right one explains the melody better, and the sub-band words,
// which see every band in every frame, tell the quiet melody apart far better than peaks do.
TEST(IdentifyRepeats, LoopingSongsAreMatchedAtTheRightRepeat) {
  const dsp::Params p;
  const std::size_t loop = 4 * kRate + 40;  // 250.3 frames
  const auto song = test::looped_song(kRate, loop);
  MapIndex index = song_among_others(song, 920);

  // Weighed at one phase (no repeat weighing), at the default phases without the words, and
  // with everything.
  int right[3] = {0, 0, 0};
  int n = 0;
  const int phases = matcher::IdentifyOptions{}.verify_phases;
  ASSERT_GE(phases, 2);
  ASSERT_GT(matcher::IdentifyOptions{}.verify_word_sigmas, 0.0);
  for (int way = 0; way < 3; ++way) {
    matcher::IdentifyOptions opt;
    if (way == 0) opt.verify_phases = 1;
    if (way == 1) opt.verify_word_sigmas = 0;
    matcher::Identifier id(p, {}, opt);
    n = 0;
    for (std::size_t start = 3000; start + 3 * kRate < song.size(); start += 1501, ++n)
      right[way] += std::abs(repeat_error(id, index, song, start, 3.0, 30.0, true)) <= 1.0;
  }
  std::printf("right repeat: %d of %d at one phase, %d weighed at %d phases, %d with the words\n",
              right[0], n, right[1], phases, right[2]);
  // Measured: 57 of 89 at one phase, 71 weighed at two phases, 89 with the words.
  EXPECT_GE(right[1] - right[0], n / 10);
  EXPECT_GE(right[2] - right[1], n / 10);
  EXPECT_GE(right[2], n * 9 / 10);
}

}  // namespace

namespace {

// Near copies: the same looped song with its melodies 30 dB under the backing, so that each
// loop differs from the others by less than the white noise (25 dB) laid over the query. Where
// the repeats' words agree, the query's bit favours neither; the paired test weighs only the
// bits where one repeat agrees with the query and the other does not, and the fine words (a
// frame each) hold many more of those than the sub-band words (13-frame sums).
TEST(IdentifyRepeats, NearCopiesAreToldApartByThePairedTestOfTheWords) {
  const dsp::Params p;
  const std::size_t loop = 4 * kRate + 40;
  const auto song = test::looped_song(kRate, loop, -30.0);
  const MapIndex without_fine = song_among_others(song, 930, false);
  const MapIndex with_fine = song_among_others(song, 930, true);
  ASSERT_GT(matcher::IdentifyOptions{}.word_pair_z, 0.0);
  // The word rates alone (no paired test, no fine words), the paired test of the sub-band
  // words, and the paired test with the fine words too (the default).
  int right[3] = {0, 0, 0};
  int n = 0;
  for (int way = 0; way < 3; ++way) {
    matcher::IdentifyOptions opt;
    if (way == 0) opt.word_pair_z = 0;
    MapIndex index = way == 2 ? with_fine : without_fine;
    matcher::Identifier id(p, {}, opt);
    n = 0;
    for (std::size_t start = 2000; start + 3 * kRate < song.size(); start += 2203, ++n)
      right[way] += std::abs(repeat_error(id, index, song, start, 3.0, 25.0, true)) <= 1.0;
  }
  std::printf(
      "right repeat: %d of %d by the word rates, %d by the paired test, %d with the fine "
      "words\n",
      right[0], n, right[1], right[2]);
  // Measured: 34 of 61 by the rates, 34 by the paired test of the sub-band words alone, 45
  // with the fine words (32 / 32 / 44 before the words were read along the straight line).
  EXPECT_GE(right[2] - right[0], n / 8);
  EXPECT_GE(right[2], right[1]);
}

// A looping game track of the development corpus (A-0025), whose repeats are 21 dB alike:
// a clean 5-s query's first pass can read a slight slope from where its anchors fall against
// the frame grid (0.9986 at 27.03 s). Along that slope a query whose frames fall a quarter of
// a frame from the reference's crosses to the next reference frame halfway through, so the
// true position's words agree worse than those of a repeat whose frames fall the other way
// (16.37 s). Slopes that drift the query by under IdentifyOptions::word_straight_frames are
// read as straight. Needs AIRCHECK_CORPUS.
TEST(IdentifyRepeats, ASlightChanceSlopeDoesNotMisreadTheWordsOfARealLoop) {
  const char* corpus = std::getenv("AIRCHECK_CORPUS");
  if (corpus == nullptr) GTEST_SKIP() << "AIRCHECK_CORPUS is not set";
  const std::string path = std::string(corpus) + "/A/refs/A-0025.wav";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not there";
  const dsp::Params p;
  dsp::decode::OpenOptions dopt;
  dopt.sample_rate = p.sample_rate;
  const auto track = dsp::decode::decode_all(path, dopt);
  MapIndex index;
  std::vector<uint32_t> words;
  std::vector<uint64_t> fine;
  index.add(0, dsp::fingerprint(p, dsp::Side::index, track, &words, &fine), words, fine);
  // The passage at 27.03 s read at four phases of a frame, along the slope and straight.
  int right[2] = {0, 0};
  for (int way = 0; way < 2; ++way) {
    matcher::IdentifyOptions opt;
    if (way == 0) opt.word_straight_frames = 0;  // always along the residual slope
    matcher::Identifier id(p, {}, opt);
    for (int k = 0; k < 4; ++k) {
      const auto start = static_cast<std::size_t>(std::lround(27.0291 * p.sample_rate)) +
                         static_cast<std::size_t>(k * p.hop / 4);
      const std::vector<float> q(
          track.begin() + static_cast<std::ptrdiff_t>(start),
          track.begin() +
              static_cast<std::ptrdiff_t>(start + 5 * static_cast<std::size_t>(p.sample_rate)));
      const auto& r = id.identify(q, index);
      ASSERT_FALSE(r.candidates.empty());
      const auto& c = r.candidates.front();
      const bool ok = std::abs(c.exact_offset() - static_cast<double>(start) / p.hop) <= 1.0;
      right[way] += ok;
      if (way == 1) {
        EXPECT_TRUE(ok) << "phase " << k << "/4: answered " << c.exact_offset() << " at speed "
                        << c.speed << ", true " << static_cast<double>(start) / p.hop;
      }
    }
  }
  // Measured: 3 of 4 along the slope (phase 0 answered at 16.37 s, read at 0.9986).
  std::printf("right repeat: %d of 4 along the slope, %d straight\n", right[0], right[1]);
}

}  // namespace

namespace {

// A query at normal speed in heavy noise: its first pass can read a slope from chance votes
// near the true line, and the offset at the query's first frame, extrapolated along that
// slope, lands a frame or two off. The refinement pass measures the speed again; where it
// finds no drift (under a frame across the query), the offset is taken where the line's votes
// lie without the slope. Every refined answer without drift must then be within a frame of its
// true offset (without this, 4 of the 21 here are 1.1-1.5 frames off).
TEST_F(Identify, NoiseTiltsNoOffsetOfAQueryAtNormalSpeed) {
  const dsp::Params p;
  matcher::Identifier id(p);
  const double frames = 10.0 * kRate / p.hop;
  int flat = 0, refined = 0, within = 0;
  for (uint32_t song = 0; song < 8; ++song) {
    for (int k = 0; k < 32; ++k) {
      for (const double snr : {0.0, -3.0}) {
        const int64_t first =
            (300 + 211 * (k % 8) + 37 * song) * static_cast<int64_t>(p.hop) + (k / 8) * p.hop / 4;
        const double start_s = static_cast<double>(first) / kRate;
        const auto q = eval::add_white_noise(excerpt(song, start_s, 10.0), snr, 1000 * song + k);
        const auto& r = id.identify(q, *index_);
        if (r.candidates.empty() || !r.accepted || r.candidates.front().track != song) continue;
        const auto& c = r.candidates.front();
        const double err = c.exact_offset() - static_cast<double>(first) / p.hop;
        // Speed changes and answers at another repeat of the passage are other tests'.
        if (std::abs(c.speed - 1.0) * frames >= 1.0 || std::abs(err) > 3.0) continue;
        ++flat;
        within += std::abs(err) <= 1.0;
        if (r.tried < 2) continue;
        ++refined;
        EXPECT_LE(std::abs(err), 1.0)
            << "song " << song << " at " << start_s << " s, " << snr << " dB: speed " << c.speed;
      }
    }
  }
  std::printf("%d answers without drift, %d of them refined; %d within a frame\n", flat, refined,
              within);
  EXPECT_GE(refined, 10);
  EXPECT_GE(within, flat * 99 / 100);
}

}  // namespace

namespace {

// A digital loop: the same 4 s of samples five times over, each ending in a quiet second. A
// query that starts in that quiet second has full repeats of itself a loop and two on, and a
// partial one a loop back, along which its quiet first second lies before the track's start.
// In noise the words of a quiet second agree by chance only, so the partial line, which leaves
// them out, agrees better over what it covers; but the frames off the track are explained by
// nothing, and such a line must not take the lead.
TEST(IdentifyRepeats, ALineThatRunsOffTheTrackExplainsLess) {
  const dsp::Params p;
  const std::size_t loop = 4 * kRate + 40;
  auto pattern = eval::synth_music(930, {5, kRate, 0.3});
  pattern.resize(loop);
  eval::apply_gain({pattern.data() + loop - kRate, kRate}, -30.0);
  std::vector<float> song;
  for (int k = 0; k < 5; ++k) song.insert(song.end(), pattern.begin(), pattern.end());
  MapIndex index = song_among_others(song, 940);
  matcher::Identifier id(p);
  const std::size_t len = 4 * kRate;
  int n = 0, off_track = 0, found = 0;
  for (int k = 0; k < 40; ++k) {
    const std::size_t start = loop - kRate + static_cast<std::size_t>(k) * 173;
    const std::vector<float> q(song.begin() + static_cast<std::ptrdiff_t>(start),
                               song.begin() + static_cast<std::ptrdiff_t>(start + len));
    const auto& r = id.identify(eval::add_white_noise(q, 10.0, 50 + k), index);
    ++n;
    if (r.candidates.empty() || r.candidates.front().track != 0) continue;
    ++found;
    const double first = r.candidates.front().exact_offset();
    if (first < -1.0) {
      ++off_track;
      std::printf("excerpt at %.3f s answered at %.3f s of the track\n",
                  static_cast<double>(start) / kRate, first * p.frame_seconds());
    }
  }
  EXPECT_EQ(found, n);
  EXPECT_EQ(off_track, 0);
}

}  // namespace

namespace {

// A song that repeats one short figure throughout (0.6 s of drums and chords, 37.5 frames),
// under a melody 14 dB down that does not repeat: every excerpt matches along a line for each
// repeat of the figure, dozens of them almost as strong as the true one, which in noise falls
// just beyond the matcher's five places. Lines of the track nearly as strong as the leader
// beyond those places are weighed with the repeats.
TEST(IdentifyRepeats, TheRightRepeatIsFoundBeyondTheFirstPlaces) {
  const dsp::Params p;
  const std::size_t figure = 6 * kRate / 10;
  const auto backing = eval::synth_music(950, {2, kRate, 0.3});
  std::vector<float> loop;
  while (loop.size() < static_cast<std::size_t>(40 * kRate))
    loop.insert(loop.end(), backing.begin(), backing.begin() + static_cast<long>(figure));
  const auto song = eval::mix_at(loop, eval::synth_music(951, {40, kRate, 0.3}), -14.0);
  MapIndex index = song_among_others(song, 960);
  int right[2] = {0, 0};
  int n = 0;
  for (int way = 0; way < 2; ++way) {
    matcher::IdentifyOptions opt;
    if (way == 0) opt.repeat_candidates = 0;
    matcher::Identifier id(p, {}, opt);
    n = 0;
    for (std::size_t start = 2 * kRate; start + 5 * kRate < song.size(); start += 4001, ++n)
      right[way] += std::abs(repeat_error(id, index, song, start, 5.0, 10.0)) <= 1.0;
  }
  std::printf("right repeat: %d of %d within the first places, %d beyond them too\n", right[0], n,
              right[1]);
  // Measured: 29 of 67 within the first places, 45 beyond them too.
  EXPECT_GE(right[1] - right[0], n / 6);
  EXPECT_GE(right[1], n / 2);
}

}  // namespace

namespace {
// A high passage 1 % off speed: music two octaves up (generated at a quarter of the rate and
// played at the full one: the melody near 2 kHz, the chords and bass at 0.5-1 kHz) loses
// most of its peaks to a 1 % bin shift, at normal speed and at the 0.98 / 1.02 screens alike.
// The screens at 0.99 and 1.01 find it: 141 of these 144 queries are decided right with
// them, 129 without.
TEST(IdentifySpeeds, AHighPassageOnePercentOffIsFoundByTheScreensBetween) {
  const dsp::Params p;
  MapIndex index;
  std::vector<std::vector<float>> songs;
  for (uint32_t s = 0; s < 6; ++s) {
    songs.push_back(eval::synth_music(900 + s, {240, kRate / 4, 0.3}));  // 60 s at kRate
    index.add(s, dsp::fingerprint(p, dsp::Side::index, songs.back()));
  }
  matcher::Identifier id(p);
  int right = 0, n = 0;
  for (const double snr : {99.0, 10.0}) {
    for (const double speed : {0.99, 1.01}) {
      for (uint32_t song = 0; song < 6; ++song) {
        for (int k = 0; k < 6; ++k) {
          const double start_s = 3.0 + 7.4 * k + 0.31 * song;
          const auto& x = songs[song];
          const auto a = static_cast<std::ptrdiff_t>(start_s * kRate);
          const auto len = static_cast<std::ptrdiff_t>(10.0 * speed * kRate);
          auto q = eval::change_speed({x.begin() + a, x.begin() + a + len}, kRate, speed);
          if (snr < 90) q = eval::add_white_noise(q, snr, 77 * song + k);
          const auto& r = id.identify(q, index);
          ++n;
          if (!r.accepted || r.candidates.empty()) continue;
          const auto& c = r.candidates.front();
          right += c.track == song &&
                   std::abs(c.offset * p.frame_seconds() - start_s) <= 2 * p.frame_seconds() &&
                   std::abs(c.speed - speed) <= 0.002 * speed;
        }
      }
    }
  }
  std::printf("%d of %d right\n", right, n);
  EXPECT_GE(right, n * 95 / 100);
}

// Near copies a quarter of a frame apart on the frame grid: a loop of 250.25 frames, its
// melodies 26 dB under the backing, so each repeat differs from the next by a quiet part only.
// An excerpt that starts a quarter of a frame past a reference frame has repeats a loop either
// side at 0 and 1/2 of a frame: read at phases 0 and 1/2 only, one of those lines up with the
// query's frames exactly and its words agree better than the true position's, a quarter of a
// frame off (1 of 60 clean excerpts right, 0 of 60 at 20 dB). Read at four phases, the true
// position lines up too (57 and 54 of 60).
TEST(IdentifyRepeats, NearCopiesOffTheQuerysFrameGridAreToldApart) {
  const dsp::Params p;
  const std::size_t loop = 4 * kRate + p.hop / 4;  // 250.25 frames
  const auto song = test::looped_song(kRate, loop, -26.0);
  MapIndex index = song_among_others(song, 920);
  ASSERT_GE(matcher::IdentifyOptions{}.word_phases, 4);
  for (const double snr : {99.0, 20.0}) {
    int right[2] = {0, 0};
    int n = 0;
    for (int way = 0; way < 2; ++way) {
      matcher::IdentifyOptions opt;
      if (way == 0) opt.word_phases = 2;
      matcher::Identifier id(p, {}, opt);
      n = 0;
      for (std::size_t m = 20; (m + 400) * p.hop < song.size(); m += 14, ++n) {
        const std::size_t start = m * p.hop + p.hop / 4;
        right[way] += std::abs(repeat_error(id, index, song, start, 5.0, snr)) <= 1.0;
      }
    }
    std::printf("%g dB: %d of %d right at two phases, %d at the default\n", snr, right[0], n,
                right[1]);
    EXPECT_GE(right[1], n * 9 / 10) << snr << " dB";
    EXPECT_GT(right[1], right[0]) << snr << " dB";
  }
}

// Repeats that differ in a quiet melody (20 dB under the backing), in heavy noise: which of
// the four frame phases agrees best with a repeat's words is then mostly chance, and the
// best phase of a wrong repeat can beat the true one's. Compared by their mean over the
// phases (IdentifyOptions::word_mean_above), the right repeat leads more often: 5-s excerpts
// at 0 and 5 dB, 120 of 158 right against 98 by the best phase alone.
TEST(IdentifyRepeats, NoisyWordsAreComparedOverEveryPhase) {
  const dsp::Params p;
  const std::size_t loop = 4 * kRate + 40;  // 250.3 frames
  const auto song = test::looped_song(kRate, loop, -20.0);
  MapIndex index = song_among_others(song, 920);
  int right[2] = {0, 0};
  int n = 0;
  for (int way = 0; way < 2; ++way) {
    matcher::IdentifyOptions opt;
    if (way == 0) opt.word_mean_above = 1.0;  // never
    matcher::Identifier id(p, {}, opt);
    n = 0;
    for (const double snr : {0.0, 5.0}) {
      for (std::size_t start = 3000; start + 5 * kRate < song.size(); start += 1501, ++n)
        right[way] += std::abs(repeat_error(id, index, song, start, 5.0, snr)) <= 1.0;
    }
  }
  std::printf("%d of %d right by the best phase, %d by the mean over the phases\n", right[0], n,
              right[1]);
  EXPECT_GE(right[1], right[0] + 5);
}

}  // namespace
