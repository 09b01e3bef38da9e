// End-to-end tests of the `aircheck` command on generated music: the real binary, real FFmpeg
// decoding, real LMDB index.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "bench/eval/degrade.h"
#include "bench/eval/synth.h"
#include "dsp/decode/decoder.h"
#include "dsp/params.h"
#include "store/index.h"
#include "tests/support/files.h"
#include "tests/support/loops.h"
#include "tests/support/raw_lmdb.h"

using namespace aircheck;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr int kRate = 44100;
constexpr double kFrame = 128.0 / 8000.0;

struct Result {
  int rc;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Result run(const std::string& args, const fs::path& tmp) {
  const std::string cmd = std::string(AIRCHECK_BIN) + " " + args + " >" +
                          (tmp / "out.txt").string() + " 2>" + (tmp / "err.txt").string();
  const int st = std::system(cmd.c_str());
  return Result{WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(tmp / "out.txt"),
                slurp(tmp / "err.txt")};
}

// Six songs shared by the tests of this file, indexed once.
class Cli : public ::testing::Test {
 protected:
  static inline fs::path dir;
  static inline std::vector<std::vector<float>> songs;
  static constexpr int kSongs = 6;

  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/aircheck-cli-XXXXXX";
    dir = mkdtemp(tmpl);
    fs::create_directories(dir / "songs");
    const char* ext[] = {"flac", "mp3", "ogg", "m4a", "wav", "opus"};
    for (int i = 0; i < kSongs; ++i) {
      songs.push_back(eval::synth_music(500 + static_cast<uint64_t>(i), {45.0, kRate, 0.3}));
      dsp::decode::encode_file(
          (dir / "songs" / ("song" + std::to_string(i) + "." + ext[i])).string(), songs.back(),
          kRate, 192000);
    }
    const Result r =
        run("--index " + (dir / "index").string() + " index add " + (dir / "songs").string(), dir);
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  std::string idx() const { return "--index " + (dir / "index").string(); }

  // Track id of song i: files are indexed in sorted path order.
  static uint32_t id_of(int i) { return static_cast<uint32_t>(i + 1); }

  fs::path excerpt(int song, double start_s, double len_s, double snr_db, const std::string& name) {
    const auto& s = songs[static_cast<std::size_t>(song)];
    const auto a = static_cast<std::size_t>(start_s * kRate),
               n = static_cast<std::size_t>(len_s * kRate);
    std::vector<float> x(s.begin() + static_cast<long>(a), s.begin() + static_cast<long>(a + n));
    if (snr_db < 100) {
      double p = 0;
      for (float v : x) p += v * v;
      const double sd = std::sqrt(p / static_cast<double>(n) / std::pow(10.0, snr_db / 10.0));
      const auto noise = eval::white_noise(static_cast<uint64_t>(song * 1000 + a), n);
      for (std::size_t i = 0; i < n; ++i) x[i] += static_cast<float>(sd * noise[i]);
    }
    const fs::path f = dir / (name + ".wav");
    dsp::decode::encode_file(f.string(), x, kRate);
    return f;
  }

  json query(const fs::path& f) {
    const Result r = run(idx() + " query --json " + f.string(), dir);
    EXPECT_EQ(r.rc, 0) << r.err;
    return json::parse(r.out);
  }
};
}  // namespace

TEST_F(Cli, ExcerptAnywhereIsFoundWithTrackAndOffset) {
  std::mt19937 rng(3);
  for (int k = 0; k < 12; ++k) {
    const int song = k % kSongs;
    const double start = 0.5 + std::uniform_real_distribution<double>(0, 37)(rng);
    const json j = query(excerpt(song, start, 5.0, 200, "clean" + std::to_string(k)));
    ASSERT_FALSE(j["matches"].empty()) << "song " << song << " at " << start;
    EXPECT_EQ(j["matches"][0]["track_id"].get<uint32_t>(), id_of(song));
    EXPECT_NEAR(j["matches"][0]["offset_s"].get<double>(), start, kFrame + 0.002)
        << "song " << song;
    EXPECT_GT(j["matches"][0]["confidence"].get<double>(), 0.999);
  }
}

TEST_F(Cli, ExcerptUnderTenDbWhiteNoiseIsFound) {
  std::mt19937 rng(4);
  for (int k = 0; k < 12; ++k) {
    const int song = k % kSongs;
    const double start = 1 + std::uniform_real_distribution<double>(0, 33)(rng);
    const json j = query(excerpt(song, start, 8.0, 10.0, "noisy" + std::to_string(k)));
    ASSERT_FALSE(j["matches"].empty()) << "song " << song << " at " << start;
    EXPECT_EQ(j["matches"][0]["track_id"].get<uint32_t>(), id_of(song));
    EXPECT_NEAR(j["matches"][0]["offset_s"].get<double>(), start, kFrame + 0.002);
  }
}

TEST_F(Cli, NonIndexedAudioGivesNoMatch) {
  for (int k = 0; k < 6; ++k) {
    auto other = k < 4 ? eval::synth_music(7000 + static_cast<uint64_t>(k), {10.0, kRate, 0.3})
                       : eval::synth_babble(static_cast<uint64_t>(k), {10.0, kRate, 0.3});
    const fs::path f = dir / ("other" + std::to_string(k) + ".wav");
    dsp::decode::encode_file(f.string(), other, kRate);
    EXPECT_TRUE(query(f)["matches"].empty()) << f;
  }
}

// --top limits the matches shown, not the candidates the query is matched with: a looping
// song's repeats (one backing pattern under five melodies) are told apart among the matcher's
// candidates, so `--top 1` names the same repeat as the default. Matched with one candidate,
// no repeat is weighed and a third of these excerpts are answered at another repeat.
TEST_F(Cli, TopLimitsTheMatchesShownNotTheRepeatsWeighed) {
  const std::size_t loop = 4 * kRate + 200;
  const auto song = test::looped_song(kRate, loop);
  const fs::path loops = dir / "loops";
  fs::create_directories(loops / "songs");
  dsp::decode::encode_file((loops / "songs" / "loop.wav").string(), song, kRate);
  const std::string li = "--index " + (loops / "index").string();
  ASSERT_EQ(run(li + " index add " + (loops / "songs").string(), dir).rc, 0);
  std::string files;
  std::vector<double> starts;
  for (std::size_t a = kRate / 2; a + 3 * kRate < song.size(); a += 2 * kRate / 3) {
    std::vector<float> x(song.begin() + static_cast<long>(a),
                         song.begin() + static_cast<long>(a + 3 * kRate));
    x = eval::add_white_noise(x, 30.0, a);
    const fs::path f = loops / ("q" + std::to_string(starts.size()) + ".wav");
    dsp::decode::encode_file(f.string(), x, kRate);
    files += " " + f.string();
    starts.push_back(static_cast<double>(a) / kRate);
  }
  const auto answers = [&](const std::string& top) {
    const Result r = run(li + " query --json" + top + files, dir);
    EXPECT_EQ(r.rc, 0) << r.err;
    std::vector<json> out;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  };
  const auto one = answers(" --top 1"), three = answers("");
  ASSERT_EQ(one.size(), starts.size());
  ASSERT_EQ(three.size(), starts.size());
  std::size_t right = 0;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    ASSERT_EQ(one[i]["matches"].size(), 1u) << starts[i];
    EXPECT_EQ(one[i]["matches"][0], three[i]["matches"][0]) << starts[i];
    right += std::abs(one[i]["matches"][0]["offset_s"].get<double>() - starts[i]) <= kFrame;
  }
  EXPECT_GE(right, starts.size() * 9 / 10) << right << " of " << starts.size();
}

TEST_F(Cli, TableOutputAndListing) {
  const fs::path f = excerpt(2, 10.0, 5.0, 200, "table");
  Result r = run(idx() + " query " + f.string(), dir);
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("song2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("00:10.0"), std::string::npos) << r.out;
  r = run(idx() + " index ls --json", dir);
  EXPECT_EQ(r.rc, 0);
  int lines = 0;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line); ++lines) {
    const json t = json::parse(line);
    EXPECT_TRUE(t["title"].get<std::string>().rfind("song", 0) == 0)
        << line;  // file name without extension
    EXPECT_TRUE(fs::exists(t["source"].get<std::string>()));
  }
  EXPECT_EQ(lines, kSongs);
  r = run(idx() + " index stats --json", dir);
  const json s = json::parse(r.out);
  EXPECT_EQ(s["tracks"].get<int>(), kSongs);
  EXPECT_NEAR(s["hours"].get<double>(), kSongs * 45.0 / 3600, 0.001);
  EXPECT_GT(s["postings"].get<int>(), kSongs * 45 * 20);
  EXPECT_EQ(s["fine_tracks"].get<int>(), kSongs);  // every track with its fine words
}

TEST_F(Cli, AddRemoveReopenAndDuplicates) {
  const fs::path own = dir / "own-index";
  const std::string oi = "--index " + own.string();
  ASSERT_EQ(run(oi + " index add " + (dir / "songs/song0.flac").string() + " " +
                    (dir / "songs/song1.mp3").string(),
                dir)
                .rc,
            0);
  // The same audio again, under another name: skipped as a duplicate.
  fs::copy_file(dir / "songs/song0.flac", dir / "copy.flac", fs::copy_options::overwrite_existing);
  Result r = run(oi + " index add " + (dir / "copy.flac").string(), dir);
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.err.find("skipped"), std::string::npos) << r.err;
  const fs::path q0 = excerpt(0, 20, 5, 200, "rm0"), q1 = excerpt(1, 20, 5, 200, "rm1");
  auto top = [&](const fs::path& f) {
    const Result q = run(oi + " query --json " + f.string(), dir);
    const json j = json::parse(q.out);
    return j["matches"].empty() ? 0u : j["matches"][0]["track_id"].get<uint32_t>();
  };
  EXPECT_EQ(top(q0), 1u);
  EXPECT_EQ(run(oi + " index rm 1", dir).rc, 0);
  EXPECT_EQ(top(q0), 0u);                         // gone, and its postings with it
  EXPECT_EQ(top(q1), 2u);                         // the other track is untouched
  EXPECT_EQ(run(oi + " index rm 1", dir).rc, 1);  // no such track any more
  // Re-adding gets a new id; ids are never reused.
  ASSERT_EQ(run(oi + " index add " + (dir / "songs/song0.flac").string(), dir).rc, 0);
  EXPECT_EQ(top(q0), 3u);
}

// An index written before fine words (the database dropped with plain LMDB): `index upgrade`
// reads each track's source again and adds its fine words; a track whose source has changed
// since (other audio under its name) or is gone is named and skipped, exit code 1; a second
// run finds the rest done.
TEST_F(Cli, UpgradeAddsFineWordsFromTheSourcesAndNamesWhatItCannot) {
  const fs::path own = dir / "upgrade-index";
  const fs::path in = dir / "upgrade-songs";
  fs::create_directories(in);
  const char* files[] = {"song0.flac", "song1.mp3", "song2.ogg"};
  for (int k = 0; k < 3; ++k)
    fs::copy_file(dir / "songs" / files[k], in / files[k], fs::copy_options::overwrite_existing);
  const std::string oi = "--index " + own.string();
  ASSERT_EQ(run(oi + " index add -q " + in.string(), dir).rc, 0);
  const auto fine_tracks = [&] {
    const Result r = run(oi + " index stats --json", dir);
    return json::parse(r.out)["fine_tracks"].get<int>();
  };
  ASSERT_EQ(fine_tracks(), 3);
  test::raw_drop_fine(own);
  ASSERT_EQ(fine_tracks(), 0);
  // song1.mp3 now holds other audio; song2.ogg is gone.
  fs::copy_file(dir / "songs/song4.wav", in / "song1.mp3", fs::copy_options::overwrite_existing);
  fs::remove(in / "song2.ogg");
  Result r = run(oi + " index upgrade", dir);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find((in / "song1.mp3").string() + " has changed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find((in / "song2.ogg").string() + " is gone"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("1 track(s) given fine words, 0 had them, 2 skipped"), std::string::npos)
      << r.out;
  EXPECT_EQ(fine_tracks(), 1);
  r = run(oi + " index upgrade", dir);
  EXPECT_NE(r.out.find("0 track(s) given fine words, 1 had them, 2 skipped"), std::string::npos)
      << r.out;
}

TEST_F(Cli, CorruptAndTruncatedFilesAreNamedAndSkipped) {
  const fs::path in = dir / "mixed";
  fs::create_directories(in);
  std::ofstream(in / "broken.mp3") << std::string(20000, '\x55');
  std::ofstream(in / "empty.flac");
  fs::copy_file(dir / "songs/song3.m4a", in / "good.m4a", fs::copy_options::overwrite_existing);
  fs::copy_file(dir / "songs/song0.flac", in / "cut.flac", fs::copy_options::overwrite_existing);
  fs::resize_file(in / "cut.flac", fs::file_size(in / "cut.flac") / 3);
  const Result r =
      run("--index " + (dir / "mixed-index").string() + " index add " + in.string(), dir);
  EXPECT_EQ(r.rc, 1) << "exit code says some failed";
  EXPECT_NE(r.err.find((in / "broken.mp3").string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find((in / "empty.flac").string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2 added"), std::string::npos)
      << r.err;  // good.m4a and the readable part of cut.flac
  EXPECT_NE(r.err.find("2 failed"), std::string::npos) << r.err;
}

// A recording damaged early on (a logger's file with bad blocks): the packets lost are filled
// with silence from the file's timestamps, so the longer part after the damage is matched at
// the file's own time, not moved earlier by what was lost; the damage is named on stderr and
// in the JSON. Indexed, such a file is added with a warning.
TEST_F(Cli, DamagedFilesKeepTheirTimeAndAreReported) {
  const fs::path f = dir / "damaged.flac";
  fs::copy_file(dir / "songs/song0.flac", f, fs::copy_options::overwrite_existing);
  test::overwrite_bytes(f, 40, 0.2, 0.35, 11);  // between 20 % and 35 % of the file
  const Result r = run(idx() + " query --json " + f.string(), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find(f.string() + ": damaged: "), std::string::npos) << r.err;
  const json j = json::parse(r.out);
  EXPECT_GT(j["damaged_packets"].get<int>(), 0);
  EXPECT_GT(j["lost_s"].get<double>(), 0.1);
  ASSERT_FALSE(j["matches"].empty());
  EXPECT_EQ(j["matches"][0]["track_id"].get<uint32_t>(), id_of(0));
  EXPECT_NEAR(j["matches"][0]["offset_s"].get<double>(), 0.0, kFrame) << r.out;
  EXPECT_NEAR(j["matches"][0]["speed"].get<double>(), 1.0, 0.002) << r.out;

  const Result add =
      run("--index " + (dir / "damaged-index").string() + " index add " + f.string(), dir);
  EXPECT_EQ(add.rc, 0) << add.err;
  EXPECT_NE(add.err.find(f.string() + ": damaged: "), std::string::npos) << add.err;
  EXPECT_NE(add.err.find("1 added"), std::string::npos) << add.err;
  EXPECT_NE(add.err.find("1 damaged"), std::string::npos) << add.err;
}

TEST_F(Cli, ClearErrorsForMissingIndexOtherParametersAndShortQueries) {
  const fs::path q = excerpt(0, 5, 5, 200, "errq");
  Result r = run("--index " + (dir / "nowhere").string() + " query " + q.string(), dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("no index"), std::string::npos) << r.err;
  // An index built with other fingerprint parameters.
  const fs::path other = dir / "other-format";
  store::Index::open(other, store::Format{0x1234, "landmark/v0 rate=11025"},
                     store::OpenMode::create);
  r = run("--index " + other.string() + " query " + q.string(), dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("rate=11025"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  const fs::path tiny = excerpt(0, 5, 0.4, 200, "tiny");
  r = run(idx() + " query " + tiny.string(), dir);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("too short"), std::string::npos) << r.err;
  r = run(idx() + " index frobnicate", dir);
  EXPECT_EQ(r.rc, 2);
}

TEST_F(Cli, KilledIngestLeavesAConsistentIndex) {
  // Many files so that the kill lands in the middle of ingest.
  const fs::path in = dir / "many";
  fs::create_directories(in);
  for (int i = 0; i < 24; ++i)
    fs::copy_file(dir / "songs/song4.wav", in / ("w" + std::to_string(i) + ".wav"),
                  fs::copy_options::overwrite_existing);
  // Make each copy distinct audio so none is skipped as a duplicate: flip one sample.
  for (int i = 0; i < 24; ++i) {
    std::fstream f(in / ("w" + std::to_string(i) + ".wav"),
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000 + 2 * i);
    f.put(static_cast<char>(i + 1));
  }
  const fs::path kidx = dir / "killed-index";
  for (int attempt = 0; attempt < 3; ++attempt) {
    fs::remove_all(kidx);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      execl(AIRCHECK_BIN, AIRCHECK_BIN, "--index", kidx.c_str(), "index", "add", "-q", "-j", "1",
            in.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + 250 * attempt));
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st)) continue;  // finished before the kill: try again, later
    // The index opens, and every track present holds exactly its postings.
    Result r = run("--index " + kidx.string() + " index stats --json", dir);
    ASSERT_EQ(r.rc, 0) << r.err;
    const json stats = json::parse(r.out);
    r = run("--index " + kidx.string() + " index ls --json", dir);
    ASSERT_EQ(r.rc, 0) << r.err;
    uint64_t sum = 0;
    int tracks = 0;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line); ++tracks)
      sum += json::parse(line)["hashes"].get<uint64_t>();
    EXPECT_EQ(tracks, stats["tracks"].get<int>());
    EXPECT_EQ(sum, stats["postings"].get<uint64_t>());
    EXPECT_EQ(tracks, stats["fine_tracks"].get<int>());  // and its fine words
    EXPECT_LT(tracks, 24);
    // Ingest resumes: duplicates of what made it in are skipped, the rest is added.
    r = run("--index " + kidx.string() + " index add -q " + in.string(), dir);
    EXPECT_EQ(r.rc, 0) << r.err;
    r = run("--index " + kidx.string() + " index stats --json", dir);
    EXPECT_EQ(json::parse(r.out)["tracks"].get<int>(), 24);
    return;
  }
  GTEST_SKIP() << "ingest finished before every kill attempt; nothing to check";
}

TEST_F(Cli, EvalQueriesWithOtherParametersBuildsItsOwnIndexAndRefusesAnotherFormat) {
  const fs::path eidx = dir / "eval-index-set";
  const std::string base = "eval queries --refs " + (dir / "songs").string() +
                           " --n 3 --lengths 5 --conditions clean,white:10 --speeds 1 "
                           "--speech-negatives 0 --no-plots -q -j 1";
  const fs::path out = dir / "eval-set";
  Result r = run(base + " --index " + eidx.string() + " --out " + out.string() +
                     " --set index_peaks=10 --set query_fanout=6",
                 dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  json rep = json::parse(slurp(out / "report.json"));
  const std::string params = rep["setup"]["params"].get<std::string>();
  EXPECT_NE(params.find("density=31/10 "), std::string::npos) << params;
  EXPECT_EQ(rep["setup"]["params_query_side"], "query_peaks=28 query_fanout=6");
  EXPECT_EQ(rep["setup"]["overrides"], json({"index_peaks=10", "query_fanout=6"}));
  EXPECT_EQ(rep["setup"]["indexed_now"].get<int>(), kSongs);
  EXPECT_EQ(rep["index"]["tracks"].get<int>(), kSongs);
  EXPECT_GT(rep["index"]["bytes_used_per_hour"].get<double>(), 0);
  const std::string md = slurp(out / "report.md");
  EXPECT_NE(md.find("query side: `query_peaks=28 query_fanout=6` (set: `index_peaks=10 "
                    "query_fanout=6`)"),
            std::string::npos)
      << md;
  // The excerpts are found with these parameters: clean and 10 dB, 5 s, all right.
  for (const auto& c : rep["cells"]) EXPECT_EQ(c["top1"].get<double>(), 1.0) << c.dump();
  // The index holds index_peaks=10 postings: fewer than the defaults' index of the same songs.
  const auto dflt = store::Index::open(dir / "index", store::Format{dsp::Params{}.digest(), ""},
                                       store::OpenMode::read_only);
  EXPECT_LT(rep["index"]["postings"].get<uint64_t>(), dflt->stats().postings);

  // Another query side on the same index: reused, nothing indexed again.
  r = run(base + " --index " + eidx.string() + " --out " + (dir / "eval-set2").string() +
              " --set index_peaks=10 --set query_peaks=36",
          dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  rep = json::parse(slurp(dir / "eval-set2" / "report.json"));
  EXPECT_EQ(rep["setup"]["indexed_now"].get<int>(), 0);
  EXPECT_EQ(rep["setup"]["params_query_side"], "query_peaks=36 query_fanout=8");

  // Other index-side parameters on that index, or the defaults' index with --set: refused,
  // naming the parameters, with the index error code.
  r = run(base + " --index " + eidx.string() + " --out " + (dir / "eval-set3").string() +
              " --set index_peaks=12",
          dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("other fingerprint parameters"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--set index_peaks=12"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("density=31/10 "), std::string::npos) << "the index's format: " << r.err;
  r = run(base + " " + idx() + " --out " + (dir / "eval-set3").string() + " --set min_level=1.5",
          dir);
  EXPECT_EQ(r.rc, 3);
  EXPECT_NE(r.err.find("other fingerprint parameters"), std::string::npos) << r.err;
  // Bad --set: usage error naming the key and the allowed keys; nothing is run.
  r = run(base + " --index " + eidx.string() + " --out " + (dir / "eval-set4").string() +
              " --set index_peak=12",
          dir);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown key 'index_peak'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("allowed keys: sample_rate,"), std::string::npos) << r.err;
  r = run(base + " --index " + eidx.string() + " --out " + (dir / "eval-set4").string() +
              " --set band_weight=lots",
          dir);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("band_weight takes a decimal number"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "eval-set4"));
}

TEST_F(Cli, EvalQueriesCountsAnAnswerAtALoopsCopyOfTheSamplesApart) {
  // A track that loops: one 3-s phrase four times, the very samples each time, so every 5-s
  // excerpt has another offset with the same audio; beside it a song that does not loop.
  const fs::path refs = dir / "loopset";
  fs::create_directories(refs);
  const auto phrase = eval::synth_music(611, {3.0, kRate, 0.3});
  std::vector<float> loop;
  for (int k = 0; k < 4; ++k) loop.insert(loop.end(), phrase.begin(), phrase.end());
  dsp::decode::encode_file((refs / "loop.wav").string(), loop, kRate, 0);
  dsp::decode::encode_file((refs / "song.flac").string(), songs[0], kRate, 0);
  const fs::path out = dir / "eval-loop";
  const Result r = run("eval queries --refs " + refs.string() + " --index " +
                           (dir / "eval-index-loop").string() + " --out " + out.string() +
                           " --n 16 --lengths 5 --conditions clean --speeds 1 "
                           "--speech-negatives 0 --no-plots -q -j 1",
                       dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  const json rep = json::parse(slurp(out / "report.json"));
  ASSERT_EQ(rep["cells"].size(), 1u);
  const auto& c = rep["cells"][0];
  const double n = c["n"].get<double>();
  const double same = c["same_sample_misses"].get<double>();
  // Every answer names the right track at an offset holding the excerpt's samples; those at
  // another copy are misses of the strict top-1 and counted apart.
  EXPECT_EQ(c["top1_track"].get<double>(), 1.0) << c.dump();
  EXPECT_EQ(c["top1_same_samples"].get<double>(), 1.0) << c.dump();
  EXPECT_NEAR(c["top1"].get<double>() + same / n, 1.0, 1e-9) << c.dump();
  EXPECT_GE(same, 1.0) << "no fingerprint tells the copies apart: some answers land at another";
  EXPECT_LE(same, c["near_copy_misses"].get<double>());
  EXPECT_LE(c["near_copy_misses"].get<double>(), c["repeat_misses"].get<double>());
  const std::string md = slurp(out / "report.md");
  EXPECT_NE(md.find("very samples counted as right"), std::string::npos) << md;
  // The eval's index keys its tracks by the same content hash as `aircheck index add`: adding
  // the same files there finds them as duplicates and adds nothing.
  const std::string eidx = "--index " + (dir / "eval-index-loop").string();
  Result a = run(eidx + " index add " + refs.string(), dir);
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_NE(a.err.find("(same audio as track"), std::string::npos) << a.err;
  a = run(eidx + " index stats --json", dir);
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(json::parse(a.out)["tracks"].get<int>(), 2);
}
