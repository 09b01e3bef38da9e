// The LMDB index against real environments in temporary folders.
#include "store/index.h"

#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/eval/synth.h"
#include "dsp/fingerprinter.h"
#include "dsp/params.h"
#include "store/index_testing.h"
#include "store/posting_layout.h"
#include "tests/support/raw_lmdb.h"

namespace aircheck::store {
namespace {

namespace fs = std::filesystem;
using dsp::TimedHash;

const Format kFormat{0x0123456789abcdefULL, "rate=8000 fft=512 hop=128 fanout=5"};
const Format kOtherFormat{0xfedcba9876543210ULL, "rate=11025 fft=1024 hop=256 fanout=7"};

constexpr double kFramesPerSecond = 62.5;  // 8 kHz, hop 128
/// Bytes in use per posting allowed for 24 minutes of fingerprinted synthesized music: about
/// 19 measured (a small index pays more per posting: a partly filled last page per bucket).
constexpr double kRealBytesPerPostingBound = 25.0;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "aircheck-store-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const char* sub) const { return path_ / sub; }

 private:
  fs::path path_;
};

/// Restores the default initial map size when a test that shrank it ends.
class SmallMap {
 public:
  explicit SmallMap(std::size_t bytes) : old_(testing::initial_map_size()) {
    testing::set_initial_map_size(bytes);
  }
  SmallMap(const SmallMap&) = delete;
  SmallMap& operator=(const SmallMap&) = delete;
  ~SmallMap() { testing::set_initial_map_size(old_); }

 private:
  std::size_t old_;
};

/// A landmark hash list shaped like the index side of the fingerprinter: about 18 anchor peaks
/// per second, 5 pairs each, hash = f1 (8 bits) | df (8 bits) | dt (8 bits).
std::vector<TimedHash> make_hashes(uint32_t seed, double seconds) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> frame_step(1, 6);  // ~3.5 frames apart: ~18 anchors/s
  std::uniform_int_distribution<int> bin(4, 255);
  std::uniform_int_distribution<int> df(-63, 63);
  std::geometric_distribution<int> dt(0.06);  // short pairs are the common ones
  std::vector<TimedHash> out;
  const auto frames = static_cast<uint32_t>(seconds * kFramesPerSecond);
  for (uint32_t t = 0; t < frames; t += static_cast<uint32_t>(frame_step(rng))) {
    const auto f1 = static_cast<uint32_t>(std::min(bin(rng), bin(rng)));  // more energy low
    for (int k = 0; k < 5; ++k) {
      const auto d = static_cast<uint32_t>(std::min(dt(rng) + 1, 63));
      const auto f = static_cast<uint32_t>(df(rng)) & 0xffu;
      out.push_back({f1 << 16 | f << 8 | d, t});
    }
  }
  return out;
}

std::vector<TimedHash> sorted_unique(std::vector<TimedHash> v) {
  std::sort(v.begin(), v.end(),
            [](auto a, auto b) { return a.hash != b.hash ? a.hash < b.hash : a.t < b.t; });
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

TrackInfo info_for(uint32_t seed, double seconds) {
  TrackInfo t;
  t.title = "title " + std::to_string(seed);
  t.artist = "artist";
  t.external_id = "ISRC" + std::to_string(seed);
  t.source = "/music/" + std::to_string(seed) + ".flac";
  t.content_hash = "content-" + std::to_string(seed);
  t.duration_s = seconds;
  return t;
}

uint32_t seed_of(const TrackInfo& t) {
  return static_cast<uint32_t>(std::stoul(t.title.substr(t.title.find(' ') + 1)));
}

/// Checks through `reader`'s current snapshot that track `id` holds exactly the postings of
/// `hashes`. Returns the number of postings of `id` found.
uint64_t check_track_postings(Reader& reader, uint32_t id, const std::vector<TimedHash>& hashes) {
  const auto want = sorted_unique(hashes);
  std::vector<Posting> out;
  uint64_t found = 0;
  for (std::size_t i = 0; i < want.size();) {
    const uint32_t h = want[i].hash;
    std::size_t j = i;
    while (j < want.size() && want[j].hash == h) ++j;
    out.clear();
    reader.lookup(h, out);
    EXPECT_TRUE(std::is_sorted(out.begin(), out.end(), [](Posting a, Posting b) {
      return pack_posting(a) < pack_posting(b);
    }));
    std::vector<uint32_t> got;
    for (const auto& p : out) {
      if (p.track == id) got.push_back(p.t);
    }
    found += got.size();
    std::vector<uint32_t> expect;
    for (std::size_t k = i; k < j; ++k) expect.push_back(want[k].t);
    EXPECT_EQ(got, expect) << "hash " << h << " of track " << id;
    i = j;
  }
  return found;
}

/// Counts, with plain LMDB, postings per track id and distinct hashes. The Index of `dir` must
/// not be open in this process.
struct RawCounts {
  std::map<uint32_t, uint64_t> per_track;
  uint64_t postings = 0;
  uint64_t distinct = 0;
};
RawCounts raw_counts(const fs::path& dir) {
  RawCounts rc;
  MDB_env* env = nullptr;
  EXPECT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 8);
  EXPECT_EQ(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0664), 0);
  MDB_txn* txn = nullptr;
  EXPECT_EQ(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), 0);
  MDB_dbi dbi = 0;
  EXPECT_EQ(mdb_dbi_open(txn, "postings", 0, &dbi), 0);
  MDB_cursor* cur = nullptr;
  EXPECT_EQ(mdb_cursor_open(txn, dbi, &cur), 0);
  MDB_val k;
  MDB_val v;
  std::set<uint32_t> hashes;
  for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, static_cast<MDB_cursor_op>(op)) == 0;
       op = MDB_NEXT) {
    EXPECT_EQ(k.mv_size, sizeof(uint32_t));
    EXPECT_EQ(v.mv_size, sizeof(uint64_t));
    uint32_t key;
    uint64_t x;
    std::memcpy(&key, k.mv_data, sizeof key);
    std::memcpy(&x, v.mv_data, sizeof x);
    ++rc.per_track[layout::posting_of(x).track];
    ++rc.postings;
    hashes.insert(layout::hash_of(key, x));
  }
  rc.distinct = hashes.size();
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return rc;
}

/// Writes one meta value with plain LMDB (the Index of `dir` must not be open).
void raw_put_meta(const fs::path& dir, const std::string& key, const std::string& value) {
  test::raw_write(dir, [&](MDB_txn* txn) {
    MDB_dbi dbi = 0;
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
  });
}

// ---- opening ----------------------------------------------------------------------------------

TEST(Index, MissingIndexIsReportedWithTheRemedy) {
  TempDir tmp;
  const fs::path dir = tmp / "nothing";
  const std::string msg = "no index in " + dir.string() +
                          ": create one with `aircheck index add --index " + dir.string() +
                          " FILES...`";
  for (OpenMode mode : {OpenMode::read_only, OpenMode::read_write}) {
    try {
      Index::open(dir, kFormat, mode);
      FAIL() << "opened a missing index";
    } catch (const NoIndexError& e) {
      EXPECT_EQ(e.what(), msg);
    }
    EXPECT_FALSE(fs::exists(dir));
  }
  fs::create_directories(dir);  // an empty folder is no index either
  EXPECT_THROW(Index::open(dir, kFormat, OpenMode::read_only), NoIndexError);
}

TEST(Index, CreateMakesFolderAndEmptyIndex) {
  TempDir tmp;
  const fs::path dir = tmp / "a" / "b";
  {
    auto index = Index::open(dir, kFormat, OpenMode::create);
    EXPECT_EQ(index->dir(), dir);
    EXPECT_EQ(index->format().digest, kFormat.digest);
    const Stats s = index->stats();
    EXPECT_EQ(s.tracks, 0u);
    EXPECT_EQ(s.postings, 0u);
    EXPECT_EQ(s.distinct_hashes, 0u);
    EXPECT_GT(s.bytes_on_disk, 0u);
    EXPECT_LE(s.bytes_used, s.bytes_on_disk);
    EXPECT_TRUE(index->tracks().empty());
  }
  EXPECT_TRUE(fs::is_regular_file(dir / "data.mdb"));
  EXPECT_TRUE(fs::is_regular_file(dir / "lock.mdb"));
  EXPECT_NO_THROW(Index::open(dir, kFormat, OpenMode::read_only));
}

TEST(Index, FormatMismatchIsRefusedShowingBothFormats) {
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  Index::open(dir, kFormat, OpenMode::create);
  for (OpenMode mode : {OpenMode::read_only, OpenMode::read_write, OpenMode::create}) {
    try {
      Index::open(dir, kOtherFormat, mode);
      FAIL() << "opened an index of another format";
    } catch (const FormatMismatchError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(dir.string()), std::string::npos) << m;
      EXPECT_NE(m.find(kFormat.text), std::string::npos) << m;
      EXPECT_NE(m.find(kOtherFormat.text), std::string::npos) << m;
      EXPECT_NE(m.find("aircheck index add"), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  }
  // The same refusal while the index is open in this process.
  auto open = Index::open(dir, kFormat, OpenMode::read_only);
  EXPECT_THROW(Index::open(dir, kOtherFormat, OpenMode::read_only), FormatMismatchError);
}

TEST(Index, SchemaMismatchIsRefused) {
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  Index::open(dir, kFormat, OpenMode::create);
  raw_put_meta(dir, "schema", "99");
  try {
    Index::open(dir, kFormat, OpenMode::read_write);
    FAIL() << "opened an index of another schema";
  } catch (const FormatMismatchError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("schema version 99"), std::string::npos) << m;
    EXPECT_NE(m.find(dir.string()), std::string::npos) << m;
  }
}

TEST(Index, SameFolderOpenedTwiceSharesOneIndex) {
  TempDir tmp;
  auto a = Index::open(tmp / "idx", kFormat, OpenMode::create);
  auto b = Index::open(tmp.path() / "." / "idx", kFormat, OpenMode::read_write);
  EXPECT_EQ(a.get(), b.get());
}

TEST(Index, ReadOnlyRefusesWrites) {
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  {
    auto w = Index::open(dir, kFormat, OpenMode::create);
    auto info = info_for(1, 10);
    w->add_track(info, make_hashes(1, 10));
  }
  auto r = Index::open(dir, kFormat, OpenMode::read_only);
  auto info = info_for(2, 10);
  EXPECT_THROW(r->add_track(info, make_hashes(2, 10)), StoreError);
  EXPECT_THROW(r->remove_track(1), StoreError);
  EXPECT_EQ(r->tracks().size(), 1u);
  auto reader = r->reader();
  EXPECT_EQ(check_track_postings(*reader, 1, make_hashes(1, 10)),
            sorted_unique(make_hashes(1, 10)).size());
}

// ---- adding, looking up, removing ---------------------------------------------------------------

TEST(Index, AddThenLookupReturnsEveryPosting) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  std::map<uint32_t, uint32_t> seed_by_id;
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    auto info = info_for(seed, 30 + seed);
    const auto hashes = make_hashes(seed, info.duration_s);
    const uint32_t id = index->add_track(info, hashes);
    EXPECT_EQ(id, seed) << "ids count up from 1";
    EXPECT_EQ(info.id, id);
    EXPECT_EQ(info.hashes, sorted_unique(hashes).size());
    EXPECT_GT(info.added_unix, 1600000000);
    seed_by_id[id] = seed;
  }
  auto reader = index->reader();
  reader->begin();
  EXPECT_EQ(reader->track_count(), 12u);
  uint64_t total = 0;
  for (auto [id, seed] : seed_by_id) {
    const auto t = reader->track(id);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->title, info_for(seed, 0).title);
    EXPECT_EQ(t->external_id, info_for(seed, 0).external_id);
    EXPECT_EQ(t->source, info_for(seed, 0).source);
    EXPECT_EQ(t->content_hash, info_for(seed, 0).content_hash);
    EXPECT_DOUBLE_EQ(t->duration_s, 30 + seed);
    const auto hashes = make_hashes(seed, t->duration_s);
    EXPECT_EQ(check_track_postings(*reader, id, hashes), t->hashes);
    total += t->hashes;
  }
  reader->end();
  EXPECT_FALSE(index->track(99));
  const Stats s = index->stats();
  EXPECT_EQ(s.tracks, 12u);
  EXPECT_EQ(s.postings, total);
  EXPECT_DOUBLE_EQ(s.seconds, 12 * 30 + 78);
}

TEST(Index, LookupAppendsAndCountsAndMissesCleanly) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  TrackInfo a;
  TrackInfo b;
  const std::vector<TimedHash> ha{{7, 100}, {7, 3}, {9, 5}, {7, 3}};  // one repeat
  const std::vector<TimedHash> hb{{7, 1}, {1u << 31, 2}};
  index->add_track(a, ha);
  index->add_track(b, hb);
  EXPECT_EQ(a.hashes, 3u);
  auto reader = index->reader();
  std::vector<Posting> out{{42, 42}};
  EXPECT_EQ(reader->lookup(12345, out), 0u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(reader->lookup(7, out), 3u);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].track, 42u);
  EXPECT_EQ(out[1].track, a.id);
  EXPECT_EQ(out[1].t, 3u);
  EXPECT_EQ(out[2].track, a.id);
  EXPECT_EQ(out[2].t, 100u);
  EXPECT_EQ(out[3].track, b.id);
  EXPECT_EQ(out[3].t, 1u);
  out.clear();
  EXPECT_EQ(reader->lookup(1u << 31, out), 1u);
  EXPECT_EQ(out[0].track, b.id);
  EXPECT_EQ(index->stats().distinct_hashes, 3u);
  EXPECT_EQ(reader->indexed_frames(), 101u + 3u);
  index->remove_track(a.id);
  EXPECT_EQ(reader->indexed_frames(), 3u);
  EXPECT_EQ(index->stats().distinct_hashes, 2u);
}

TEST(Index, ManyPostingsUnderOneHashAreReadAcrossPages) {
  // Thousands of values under one key live in a sub-database of several pages.
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  std::vector<TimedHash> hashes;
  for (uint32_t t = 0; t < 5000; ++t) hashes.push_back({77, t * 3});
  TrackInfo a;
  TrackInfo b;
  index->add_track(a, hashes);
  index->add_track(b, hashes);
  auto reader = index->reader();
  std::vector<Posting> out;
  reader->begin();
  ASSERT_EQ(reader->lookup(77, out), 10000u);
  reader->end();
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].track, i < 5000 ? a.id : b.id);
    EXPECT_EQ(out[i].t, (i % 5000) * 3);
  }
}

// lookup_track seeks to one track's run within a hash's postings: it must return exactly the
// postings lookup() returns for that track, for tracks present, absent, first and last in the
// run, and for runs spread over several pages.
TEST(Index, LookupTrackIsLookupFilteredToTheTrack) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  std::vector<uint32_t> ids;
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    auto info = info_for(seed, 40);
    auto hashes = make_hashes(seed, info.duration_s);
    for (uint32_t t = 0; t < 2000; ++t) hashes.push_back({77, t * 2 + seed});  // multi-page run
    ids.push_back(index->add_track(info, hashes));
  }
  auto reader = index->reader();
  reader->begin();
  std::vector<uint32_t> probe = {77, 12345};
  for (const auto& h : make_hashes(3, 40)) probe.push_back(h.hash);
  std::size_t nonempty = 0;
  std::vector<Posting> all, one;
  for (const uint32_t h : probe) {
    all.clear();
    reader->lookup(h, all);
    for (uint32_t track : {ids.front(), ids[2], ids.back(), ids.back() + 1}) {
      std::vector<Posting> want;
      for (const auto& p : all)
        if (p.track == track) want.push_back(p);
      one.assign(1, Posting{9, 9});  // appends after what is there
      ASSERT_EQ(reader->lookup_track(h, track, one), want.size()) << h << " " << track;
      ASSERT_EQ(one.size(), want.size() + 1);
      for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(one[i + 1].track, want[i].track);
        EXPECT_EQ(one[i + 1].t, want[i].t);
      }
      nonempty += !want.empty();
    }
  }
  reader->end();
  EXPECT_GT(nonempty, probe.size());  // the probe found postings of several tracks
}

TEST(Index, RemoveDeletesAllItsPostingsAndKeepsOthers) {
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  std::vector<uint32_t> ids;
  {
    auto index = Index::open(dir, kFormat, OpenMode::create);
    for (uint32_t seed = 1; seed <= 5; ++seed) {
      auto info = info_for(seed, 60);
      ids.push_back(index->add_track(info, make_hashes(seed, 60)));
    }
    const Stats before = index->stats();
    const auto removed = index->track(ids[2]);
    ASSERT_TRUE(removed);
    EXPECT_TRUE(index->remove_track(ids[2]));
    EXPECT_FALSE(index->remove_track(ids[2]));
    EXPECT_FALSE(index->remove_track(999));
    EXPECT_FALSE(index->track(ids[2]));

    const Stats after = index->stats();
    EXPECT_EQ(after.tracks, 4u);
    EXPECT_EQ(after.postings, before.postings - removed->hashes);
    EXPECT_NEAR(after.seconds, 240, 1e-9);

    auto reader = index->reader();
    reader->begin();
    EXPECT_EQ(check_track_postings(*reader, ids[2], {}), 0u);
    std::vector<Posting> out;
    for (const auto& h : make_hashes(3, 60)) {
      out.clear();
      reader->lookup(h.hash, out);
      for (const auto& p : out) EXPECT_NE(p.track, ids[2]);
    }
    for (uint32_t seed : {1u, 2u, 4u, 5u}) {
      EXPECT_EQ(check_track_postings(*reader, ids[seed - 1], make_hashes(seed, 60)),
                sorted_unique(make_hashes(seed, 60)).size());
    }
    reader->end();
  }
  const RawCounts raw = raw_counts(dir);
  EXPECT_EQ(raw.per_track.count(ids[2]), 0u);
  auto index = Index::open(dir, kFormat, OpenMode::read_only);
  EXPECT_EQ(index->stats().distinct_hashes, raw.distinct);
  EXPECT_EQ(index->stats().postings, raw.postings);
}

TEST(Index, RemovingEverythingLeavesAnEmptyIndex) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  std::vector<uint32_t> ids;
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    auto info = info_for(seed, 20);
    ids.push_back(index->add_track(info, make_hashes(seed, 20)));
  }
  for (uint32_t id : ids) EXPECT_TRUE(index->remove_track(id));
  const Stats s = index->stats();
  EXPECT_EQ(s.tracks, 0u);
  EXPECT_EQ(s.postings, 0u);
  EXPECT_EQ(s.distinct_hashes, 0u);
  auto reader = index->reader();
  EXPECT_EQ(reader->track_count(), 0u);
}

TEST(Index, IdsAreNeverReused) {
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  {
    auto index = Index::open(dir, kFormat, OpenMode::create);
    TrackInfo a;
    TrackInfo b;
    TrackInfo c;
    EXPECT_EQ(index->add_track(a, make_hashes(1, 5)), 1u);
    EXPECT_EQ(index->add_track(b, make_hashes(2, 5)), 2u);
    EXPECT_TRUE(index->remove_track(2));
    EXPECT_TRUE(index->remove_track(1));
    EXPECT_EQ(index->add_track(c, make_hashes(3, 5)), 3u);
  }
  auto index = Index::open(dir, kFormat, OpenMode::read_write);
  TrackInfo d;
  EXPECT_EQ(index->add_track(d, make_hashes(4, 5)), 4u);
  EXPECT_EQ(index->tracks().size(), 2u);
}

TEST(Index, PersistsAcrossReopen) {
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  {
    auto index = Index::open(dir, kFormat, OpenMode::create);
    for (uint32_t seed = 1; seed <= 3; ++seed) {
      auto info = info_for(seed, 45);
      index->add_track(info, make_hashes(seed, 45));
    }
  }
  auto index = Index::open(dir, kFormat, OpenMode::read_only);
  const auto tracks = index->tracks();
  ASSERT_EQ(tracks.size(), 3u);
  auto reader = index->reader();
  reader->begin();
  for (const auto& t : tracks) {
    EXPECT_EQ(t.title, info_for(seed_of(t), 0).title);
    EXPECT_EQ(check_track_postings(*reader, t.id, make_hashes(seed_of(t), 45)), t.hashes);
  }
  reader->end();
  EXPECT_EQ(index->find_content("content-2"), std::optional<uint32_t>(2));
}

// A data file cut short (an interrupted copy, a full disk) is refused at open, naming the file
// and what is missing: LMDB maps the file, and a read past its end would end the process with
// SIGBUS instead.
TEST(Index, AnIndexCutShortIsRefusedAtOpen) {
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  {
    auto index = Index::open(dir, kFormat, OpenMode::create);
    for (uint32_t seed = 1; seed <= 3; ++seed) {
      auto info = info_for(seed, 120);
      index->add_track(info, make_hashes(seed, 120));
    }
  }
  const auto size = fs::file_size(dir / "data.mdb");
  fs::resize_file(dir / "data.mdb", size / 2);
  for (const OpenMode mode : {OpenMode::read_only, OpenMode::read_write}) {
    try {
      auto index = Index::open(dir, kFormat, mode);
      auto reader = index->reader();
      reader->begin();
      for (const auto& t : index->tracks())
        check_track_postings(*reader, t.id, make_hashes(1, 120));
      reader->end();
      FAIL() << "an index cut short was opened";
    } catch (const StoreError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(dir.string()), std::string::npos) << what;
      EXPECT_NE(what.find("data.mdb is cut short"), std::string::npos) << what;
      EXPECT_NE(what.find("rebuild"), std::string::npos) << what;
    }
  }
}

// A track records where its fingerprinted audio begins and ends (first hashed frame, last + 1):
// the daemon places airing boundaries by them (a quiet intro or fade has no hashes).
TEST(Index, TrackKnowsWhereItsHashesBeginAndEnd) {
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  auto hashes = make_hashes(4, 45);
  uint32_t lo = UINT32_MAX, hi = 0;
  for (auto& h : hashes) {
    h.t += 125;  // a quiet intro of 2 s
    lo = std::min(lo, h.t);
    hi = std::max(hi, h.t);
  }
  ASSERT_EQ(lo, 125u + make_hashes(4, 45).front().t);
  {
    auto index = Index::open(dir, kFormat, OpenMode::create);
    auto info = info_for(4, 49);
    index->add_track(info, hashes);
    EXPECT_EQ(info.first_frame, static_cast<int64_t>(lo));
    EXPECT_EQ(info.frames, uint64_t{hi} + 1);
  }
  auto index = Index::open(dir, kFormat, OpenMode::read_only);
  const auto t = index->track(1);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->first_frame, static_cast<int64_t>(lo));
  EXPECT_EQ(t->frames, uint64_t{hi} + 1);
  const auto all = index->tracks();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].first_frame, static_cast<int64_t>(lo));
}

// The sub-band words of a track are stored as given and read back by frame range (clipped
// to the track), in and outside a snapshot; a track added without words has none; removing a
// track removes its words.
TEST(Index, SubbandWordsAreReadByFrameRange) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  std::vector<uint32_t> words(1000);
  std::mt19937 rng(3);
  for (auto& w : words) w = static_cast<uint32_t>(rng());
  auto a = info_for(1, 16);
  const uint32_t with = index->add_track(a, make_hashes(1, 16), words);
  auto b = info_for(2, 16);
  const uint32_t without = index->add_track(b, make_hashes(2, 16));
  auto reader = index->reader();
  std::vector<uint32_t> out(300, 0);
  EXPECT_EQ(reader->subband(with, 100, 300, out.data()), 300u);  // its own snapshot
  EXPECT_TRUE(std::equal(out.begin(), out.end(), words.begin() + 100));
  reader->begin();
  EXPECT_EQ(reader->subband(with, 900, 300, out.data()), 100u);  // clipped at the end
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 100, words.begin() + 900));
  EXPECT_EQ(reader->subband(with, 1000, 10, out.data()), 0u);
  EXPECT_EQ(reader->subband(without, 0, 10, out.data()), 0u);
  EXPECT_EQ(reader->subband(77, 0, 10, out.data()), 0u);
  reader->end();
  ASSERT_TRUE(index->remove_track(with));
  EXPECT_EQ(reader->subband(with, 0, 10, out.data()), 0u);
}

std::vector<uint64_t> random_fine(std::size_t n, unsigned seed) {
  std::vector<uint64_t> fine(n);
  std::mt19937_64 rng(seed);
  constexpr uint64_t kMask = (uint64_t{1} << dsp::Params::kFineBands) - 1;
  for (auto& w : fine) w = rng() & kMask;
  return fine;
}

// The fine words of a track (6 bytes a frame on disk) are read back as given, by frame range
// clipped to the track; a track added without them has none; removing a track removes them.
TEST(Index, FineWordsAreReadByFrameRange) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  const auto fine = random_fine(1000, 5);
  auto a = info_for(1, 16);
  const uint32_t with = index->add_track(a, make_hashes(1, 16), {}, fine);
  auto b = info_for(2, 16);
  const uint32_t without = index->add_track(b, make_hashes(2, 16));
  auto reader = index->reader();
  std::vector<uint64_t> out(300, 0);
  EXPECT_EQ(reader->fine(with, 100, 300, out.data()), 300u);
  EXPECT_TRUE(std::equal(out.begin(), out.end(), fine.begin() + 100));
  reader->begin();
  EXPECT_EQ(reader->fine(with, 900, 300, out.data()), 100u);  // clipped at the end
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 100, fine.begin() + 900));
  EXPECT_EQ(reader->fine(with, 1000, 10, out.data()), 0u);
  EXPECT_EQ(reader->fine(without, 0, 10, out.data()), 0u);
  reader->end();
  ASSERT_TRUE(index->remove_track(with));
  EXPECT_EQ(reader->fine(with, 0, 10, out.data()), 0u);
}

// An index written before fine words (no "fine" database) opens read-only as it is, its
// tracks without fine words; the first writer adds the database, and the tracks added from
// then on have them. Fine words of another layout are not read.
TEST(Index, AnIndexWithoutFineWordsOpensAndGainsThem) {
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  const auto fine = random_fine(500, 6);
  uint32_t old_id = 0;
  {
    auto index = Index::open(dir, kFormat, OpenMode::create);
    auto a = info_for(1, 16);
    old_id = index->add_track(a, make_hashes(1, 16), {}, fine);
  }
  test::raw_drop_fine(dir);
  std::vector<uint64_t> out(100, 0);
  {
    auto index = Index::open(dir, kFormat, OpenMode::read_only);
    auto reader = index->reader();
    EXPECT_EQ(reader->fine(old_id, 0, 100, out.data()), 0u);
    std::vector<Posting> postings;
    EXPECT_GT(reader->lookup(make_hashes(1, 16).front().hash, postings), 0u);
  }
  uint32_t new_id = 0;
  {
    auto index = Index::open(dir, kFormat, OpenMode::read_write);
    auto b = info_for(2, 16);
    new_id = index->add_track(b, make_hashes(2, 16), {}, fine);
    auto reader = index->reader();
    EXPECT_EQ(reader->fine(new_id, 0, 100, out.data()), 100u);
    EXPECT_TRUE(std::equal(out.begin(), out.end(), fine.begin()));
    EXPECT_EQ(reader->fine(old_id, 0, 100, out.data()), 0u);
    // The earlier track gets them afterwards (`aircheck index upgrade`); an absent one not.
    const auto later = random_fine(400, 7);
    EXPECT_TRUE(index->set_fine(old_id, later));
    EXPECT_EQ(reader->fine(old_id, 350, 100, out.data()), 50u);  // clipped at its 400 frames
    EXPECT_TRUE(std::equal(out.begin(), out.begin() + 50, later.begin() + 350));
    EXPECT_EQ(reader->fine(old_id, 300, 100, out.data()), 100u);
    EXPECT_TRUE(std::equal(out.begin(), out.end(), later.begin() + 300));
    EXPECT_FALSE(index->set_fine(9999, later));
  }
  raw_put_meta(dir, "fine_format", "fine/v0 another layout");
  {
    auto index = Index::open(dir, kFormat, OpenMode::read_write);
    auto reader = index->reader();
    EXPECT_EQ(reader->fine(new_id, 0, 100, out.data()), 0u);
    EXPECT_THROW(index->set_fine(new_id, fine), StoreError);
  }
}

TEST(Index, DuplicateContentIsFound) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  auto a = info_for(1, 10);
  auto b = info_for(2, 10);
  b.content_hash = a.content_hash;  // the same audio under another name
  auto c = info_for(3, 10);
  c.content_hash.clear();
  index->add_track(a, make_hashes(1, 10));
  index->add_track(b, make_hashes(1, 10));
  index->add_track(c, make_hashes(3, 10));
  EXPECT_EQ(index->find_content(a.content_hash), a.id);
  EXPECT_FALSE(index->find_content("content-unknown"));
  EXPECT_FALSE(index->find_content(""));
  EXPECT_FALSE(index->find_content(std::string(1000, 'x')));
  EXPECT_TRUE(index->remove_track(a.id));
  EXPECT_EQ(index->find_content(a.content_hash), b.id);
  EXPECT_TRUE(index->remove_track(b.id));
  EXPECT_FALSE(index->find_content(a.content_hash));
}

TEST(Index, ContentHashTellsAudioApartBySample) {
  std::vector<float> pcm(8000);
  for (std::size_t i = 0; i < pcm.size(); ++i)
    pcm[i] = 0.3f * std::sin(0.01f * static_cast<float>(i * i % 977));
  const std::string h = content_hash(pcm);
  EXPECT_EQ(h.size(), 32u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos) << h;
  EXPECT_EQ(content_hash(std::vector<float>(pcm)), h);
  auto other = pcm;
  other[4321] = std::nextafter(other[4321], 1.0f);  // one sample, one bit
  EXPECT_NE(content_hash(other), h);
  EXPECT_NE(content_hash(std::span<const float>(pcm).first(7999)), h);
  EXPECT_NE(content_hash({}), h);
}

TEST(Index, MapGrowsWhenFull) {
  const SmallMap small(1 << 20);
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  uint64_t total = 0;
  {
    auto index = Index::open(dir, kFormat, OpenMode::create);
    for (uint32_t seed = 1; seed <= 16; ++seed) {
      auto info = info_for(seed, 600);
      index->add_track(info, make_hashes(seed, 600));
      total += info.hashes;
    }
    const Stats s = index->stats();
    EXPECT_EQ(s.postings, total);
    EXPECT_GT(s.bytes_on_disk, uint64_t{8} << 20) << "the map must have doubled 3 times";
    auto reader = index->reader();
    reader->begin();
    for (const auto& t : index->tracks()) {
      EXPECT_EQ(check_track_postings(*reader, t.id, make_hashes(seed_of(t), 600)), t.hashes);
    }
    reader->end();
  }
  const RawCounts raw = raw_counts(dir);
  EXPECT_EQ(raw.postings, total);
  auto index = Index::open(dir, kFormat, OpenMode::read_only);
  EXPECT_EQ(index->stats().distinct_hashes, raw.distinct);
}

TEST(Index, BytesPerPostingOfARealisticIndex) {
  // 100 tracks of 3.5 minutes: about six hours of audio.
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  for (uint32_t seed = 1; seed <= 100; ++seed) {
    auto info = info_for(seed, 210);
    index->add_track(info, make_hashes(seed, 210));
  }
  const Stats s = index->stats();
  const double per_posting = static_cast<double>(s.bytes_used) / static_cast<double>(s.postings);
  const double hours = s.seconds / 3600;
  std::printf(
      "[ measure  ] %llu postings, %llu distinct hashes, %.1f h: %.1f bytes used per "
      "posting, %.1f on disk; %.1f MB used per hour\n",
      static_cast<unsigned long long>(s.postings),
      static_cast<unsigned long long>(s.distinct_hashes), hours, per_posting,
      static_cast<double>(s.bytes_on_disk) / static_cast<double>(s.postings),
      static_cast<double>(s.bytes_used) / hours / 1e6);
  RecordProperty("bytes_used_per_posting", std::to_string(per_posting));
  EXPECT_LT(per_posting, 40.0);
  EXPECT_LE(s.bytes_used, s.bytes_on_disk);
}

TEST(Index, BytesPerPostingOfRealFingerprints) {
  // Index-side fingerprints of synthesized songs: the hash distribution of real music (few
  // distinct hashes, crowded low bins), which random hashes do not have.
  constexpr double kSeconds = 120;
  constexpr int kTracks = 12;
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  for (int i = 0; i < kTracks; ++i) {
    const auto pcm = eval::synth_music(static_cast<uint64_t>(1000 + i), {kSeconds, 8000, 0.3});
    const auto hashes = dsp::fingerprint(dsp::Params{}, dsp::Side::index, pcm);
    auto info = info_for(static_cast<uint32_t>(i), kSeconds);
    index->add_track(info, hashes);
  }
  const Stats s = index->stats();
  const double per_posting = static_cast<double>(s.bytes_used) / static_cast<double>(s.postings);
  const double hours = s.seconds / 3600;
  std::printf(
      "[ measure  ] real fingerprints: %llu postings (%.1f per s), %llu distinct hashes, %.2f h: "
      "%.1f bytes used per posting; %.2f MB used per hour\n",
      static_cast<unsigned long long>(s.postings), static_cast<double>(s.postings) / s.seconds,
      static_cast<unsigned long long>(s.distinct_hashes), hours, per_posting,
      static_cast<double>(s.bytes_used) / hours / 1e6);
  RecordProperty("real_bytes_used_per_posting", std::to_string(per_posting));
  EXPECT_GT(s.postings, uint64_t{20} * kTracks * 120) << "the fingerprinter made few hashes";
  EXPECT_LT(per_posting, kRealBytesPerPostingBound);
}

// ---- the posting layout ---------------------------------------------------------------------

TEST(Layout, ValuesRoundTripAndSortByLowBitsTrackThenFrame) {
  using namespace layout;
  const uint32_t hashes[] = {0, 1, 0x3fff, 0x4000, 0x00abcdef, 0x00ffffff, 0xffffffff};
  for (uint32_t h : hashes) {
    for (Posting p : {Posting{1, 0}, Posting{kMaxTrack, kMaxFrame}, Posting{12345, 678}}) {
      const uint64_t v = value_of(h, p);
      EXPECT_EQ(posting_of(v).track, p.track);
      EXPECT_EQ(posting_of(v).t, p.t);
      EXPECT_EQ(hash_of(key_of(h), v), h);
      EXPECT_GE(v, first_value(h));
      EXPECT_GE(v, first_value(h, p.track));
      EXPECT_EQ(v >> kTrackShift, first_value(h, p.track) >> kTrackShift);
    }
  }
  // Within a bucket: low bits first, then track, then frame.
  EXPECT_LT(value_of(0x4001, {kMaxTrack, kMaxFrame}), value_of(0x4002, {1, 0}));
  EXPECT_LT(value_of(0x4001, {1, kMaxFrame}), value_of(0x4001, {2, 0}));
  EXPECT_LT(value_of(0x4001, {2, 5}), value_of(0x4001, {2, 6}));
  EXPECT_EQ(key_of(0x4001), key_of(0x7fff));
  EXPECT_NE(key_of(0x3fff), key_of(0x4000));
}

TEST(Layout, NeighbouringHashesInABucketStayApart) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  // Hashes around bucket edges and next to each other; each track has its own frames.
  const std::vector<uint32_t> hashes{0x3ffe, 0x3fff, 0x4000,     0x4001,     0x4002,
                                     0x7fff, 0x8000, 0x00ffffff, 0x01000000, 0xffffffff};
  std::map<uint32_t, std::vector<Posting>> want;
  for (uint32_t track = 1; track <= 3; ++track) {
    std::vector<TimedHash> list;
    for (std::size_t i = 0; i < hashes.size(); ++i) {
      if ((i + track) % 3 == 0) continue;  // not every track holds every hash
      for (uint32_t t : {uint32_t{900} - 100 * track, uint32_t{7} * track}) {
        list.push_back({hashes[i], t});
      }
    }
    TrackInfo info;
    ASSERT_EQ(index->add_track(info, list), track);
    for (const auto& h : sorted_unique(list)) want[h.hash].push_back({track, h.t});
  }
  auto reader = index->reader();
  reader->begin();
  std::vector<Posting> out;
  for (const uint32_t h : hashes) {  // ascending, as the matcher asks
    out.clear();
    EXPECT_EQ(reader->lookup(h, out), want[h].size()) << h;
    ASSERT_EQ(out.size(), want[h].size());
    for (std::size_t i = 0; i < out.size(); ++i) {
      EXPECT_EQ(out[i].track, want[h][i].track) << h;
      EXPECT_EQ(out[i].t, want[h][i].t) << h;
    }
  }
  for (const uint32_t h : {0x3ffdu, 0x4003u, 0x7ffeu, 0xfffffffeu, 0u}) {
    EXPECT_EQ(reader->lookup(h, out), 0u) << h;
  }
  reader->end();
  EXPECT_EQ(index->stats().distinct_hashes, hashes.size());
  EXPECT_TRUE(index->remove_track(2));
  reader->begin();
  for (const uint32_t h : hashes) {
    out.clear();
    reader->lookup(h, out);
    for (const auto& p : out) EXPECT_NE(p.track, 2u);
  }
  reader->end();
  EXPECT_EQ(index->stats().distinct_hashes, hashes.size());  // tracks 1 and 3 cover them all
}

TEST(Layout, TooLongATrackIsRefused) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  TrackInfo longest;
  index->add_track(longest, std::vector<TimedHash>{{5, 0}, {5, layout::kMaxFrame}});
  std::vector<Posting> out;
  auto reader = index->reader();
  ASSERT_EQ(reader->lookup(5, out), 2u);
  EXPECT_EQ(out[1].t, layout::kMaxFrame);
  TrackInfo too_long;
  try {
    index->add_track(too_long, std::vector<TimedHash>{{5, 1}, {6, layout::kMaxFrame + 1}});
    FAIL() << "stored a frame beyond the layout";
  } catch (const StoreError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("too long"), std::string::npos) << m;
    EXPECT_NE(m.find("split"), std::string::npos) << m;
  }
  EXPECT_EQ(index->tracks().size(), 1u);
  EXPECT_EQ(index->stats().postings, 2u);
}

TEST(Layout, RunningOutOfTrackIdsIsRefused) {
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  Index::open(dir, kFormat, OpenMode::create);
  raw_put_meta(dir, "next_id", std::to_string(layout::kMaxTrack));
  auto index = Index::open(dir, kFormat, OpenMode::read_write);
  TrackInfo last;
  EXPECT_EQ(index->add_track(last, make_hashes(1, 5)), layout::kMaxTrack);
  auto reader = index->reader();
  EXPECT_EQ(check_track_postings(*reader, layout::kMaxTrack, make_hashes(1, 5)), last.hashes);
  TrackInfo more;
  try {
    index->add_track(more, make_hashes(2, 5));
    FAIL() << "gave out a track id beyond the layout";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("track ids are used"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(index->remove_track(layout::kMaxTrack));
  EXPECT_EQ(index->stats().postings, 0u);
}

TEST(Layout, IndexOfTheFirstSchemaIsRefused) {
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  Index::open(dir, kFormat, OpenMode::create);
  raw_put_meta(dir, "schema", "1");
  try {
    Index::open(dir, kFormat, OpenMode::read_only);
    FAIL() << "opened an index of the one-node-per-hash schema";
  } catch (const FormatMismatchError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("schema version 1,"), std::string::npos) << m;
    EXPECT_NE(m.find("aircheck index add"), std::string::npos) << m;
  }
}

// ---- readers ------------------------------------------------------------------------------------

TEST(Reader, SeesTracksAddedAfterItsSnapshotAtTheNextBegin) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  auto reader = index->reader();
  reader->begin();
  EXPECT_EQ(reader->track_count(), 0u);
  auto info = info_for(1, 20);
  index->add_track(info, make_hashes(1, 20));
  EXPECT_EQ(reader->track_count(), 0u) << "a snapshot does not change";
  EXPECT_FALSE(reader->track(info.id));
  reader->end();
  reader->begin();
  EXPECT_EQ(reader->track_count(), 1u);
  EXPECT_EQ(check_track_postings(*reader, info.id, make_hashes(1, 20)), info.hashes);
  reader->end();
}

TEST(Reader, OutsideBeginEndEachCallTakesItsOwnSnapshot) {
  const SmallMap small(1 << 20);
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  auto reader = index->reader();
  EXPECT_EQ(reader->track_count(), 0u);
  auto info = info_for(1, 20);
  index->add_track(info, make_hashes(1, 20));
  EXPECT_EQ(reader->track_count(), 1u);
  EXPECT_TRUE(reader->track(info.id));
  std::vector<Posting> out;
  EXPECT_GT(reader->lookup(make_hashes(1, 20)[0].hash, out), 0u);
  // The writer may grow the map: no snapshot is left open behind the caller's back.
  for (uint32_t seed = 2; seed <= 4; ++seed) {
    auto more = info_for(seed, 300);
    index->add_track(more, make_hashes(seed, 300));
  }
  EXPECT_EQ(reader->track_count(), 4u);
}

TEST(Reader, PostingTotalsAreTheStatsCountsOfItsSnapshot) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  auto reader = index->reader();
  EXPECT_EQ(reader->posting_totals().postings, 0u);
  EXPECT_EQ(reader->posting_totals().distinct_hashes, 0u);
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    auto info = info_for(seed, 200);
    index->add_track(info, make_hashes(seed, 200));
    const PostingTotals t = reader->posting_totals();
    const Stats s = index->stats();
    EXPECT_GT(t.postings, 0u);
    EXPECT_EQ(t.postings, s.postings);
    EXPECT_EQ(t.distinct_hashes, s.distinct_hashes);
  }
  reader->begin();
  const PostingTotals before = reader->posting_totals();
  index->remove_track(1);
  EXPECT_EQ(reader->posting_totals().postings, before.postings) << "a snapshot does not change";
  reader->end();
  EXPECT_LT(reader->posting_totals().postings, before.postings);
  EXPECT_EQ(reader->posting_totals().postings, index->stats().postings);
}

TEST(Reader, MayBeCreatedOnOneThreadAndUsedOnAnother) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  auto info = info_for(1, 30);
  index->add_track(info, make_hashes(1, 30));
  auto reader = index->reader();
  uint64_t found = 0;
  std::thread worker([&] {
    reader->begin();
    found = check_track_postings(*reader, info.id, make_hashes(1, 30));
    reader->end();
  });
  worker.join();
  EXPECT_EQ(found, info.hashes);
  index.reset();  // the reader keeps the environment open
  reader->begin();
  EXPECT_EQ(reader->track_count(), 1u);
  reader->end();
}

TEST(Reader, BeginWhileInASnapshotRefreshesIt) {
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  auto reader = index->reader();
  reader->begin();
  TrackInfo a;
  index->add_track(a, make_hashes(1, 5));
  reader->begin();
  EXPECT_EQ(reader->track_count(), 1u);
  reader->end();
  reader->end();  // a second end() is harmless
}

TEST(Reader, AdoptsAMapGrownByAnotherProcess) {
  const SmallMap small(1 << 20);
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  auto index = Index::open(dir, kFormat, OpenMode::create);
  auto reader = index->reader();
  EXPECT_EQ(reader->track_count(), 0u);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 0;
    try {
      auto w = Index::open(dir, kFormat, OpenMode::read_write);
      for (uint32_t seed = 1; seed <= 8; ++seed) {
        auto info = info_for(seed, 600);
        w->add_track(info, make_hashes(seed, 600));
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 1;
    }
    _exit(code);  // no destructors of the parent's objects in the child
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_GT(fs::file_size(dir / "data.mdb"), uint64_t{4} << 20) << "the child grew the map";

  reader->begin();
  EXPECT_EQ(reader->track_count(), 8u);
  for (uint32_t id = 1; id <= 8; ++id) {
    const auto t = reader->track(id);
    ASSERT_TRUE(t);
    EXPECT_EQ(check_track_postings(*reader, id, make_hashes(seed_of(*t), 600)), t->hashes);
  }
  reader->end();
  EXPECT_EQ(index->stats().tracks, 8u);
  // This process's writer continues on the grown map.
  auto info = info_for(9, 600);
  EXPECT_EQ(index->add_track(info, make_hashes(9, 600)), 9u);
}

// ---- crashes and concurrency --------------------------------------------------------------------

/// Checks that every track in `dir` holds all its postings and no posting lacks its track.
void expect_whole_tracks(const fs::path& dir, double seconds) {
  uint64_t sum = 0;
  std::set<uint32_t> ids;
  {
    auto index = Index::open(dir, kFormat, OpenMode::read_write);
    auto reader = index->reader();
    reader->begin();
    for (const auto& t : index->tracks()) {
      EXPECT_EQ(t.hashes, sorted_unique(make_hashes(seed_of(t), seconds)).size());
      EXPECT_EQ(check_track_postings(*reader, t.id, make_hashes(seed_of(t), seconds)), t.hashes);
      sum += t.hashes;
      ids.insert(t.id);
    }
    reader->end();
    EXPECT_EQ(index->stats().postings, sum);
  }
  const RawCounts raw = raw_counts(dir);
  EXPECT_EQ(raw.postings, sum);
  for (const auto& [id, n] : raw.per_track) EXPECT_TRUE(ids.count(id)) << "orphan postings";
  auto index = Index::open(dir, kFormat, OpenMode::read_only);
  EXPECT_EQ(index->stats().distinct_hashes, raw.distinct);
}

TEST(Crash, KilledWriterLeavesEachTrackWholeOrAbsent) {
  constexpr double kSeconds = 1200;  // ~100k postings per track: a long transaction
  TempDir tmp;
  const fs::path dir = tmp / "idx";
  Index::open(dir, kFormat, OpenMode::create);
  std::mt19937 rng(7);
  uint32_t next_seed = 1;
  for (int round = 0; round < 3; ++round) {
    int pipefd[2];
    ASSERT_EQ(pipe(pipefd), 0);
    const uint32_t first = next_seed;
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(pipefd[0]);
      try {
        auto index = Index::open(dir, kFormat, OpenMode::read_write);
        for (uint32_t seed = first;; ++seed) {
          const auto hashes = make_hashes(seed, kSeconds);
          auto info = info_for(seed, kSeconds);
          const char go = 1;
          if (write(pipefd[1], &go, 1) != 1) _exit(2);
          index->add_track(info, hashes);
        }
      } catch (...) {
        _exit(1);
      }
    }
    close(pipefd[1]);
    // Let the child finish a couple of tracks, then kill it a little way into another one.
    const int starts = 2 + round;
    for (int i = 0; i < starts; ++i) {
      char go = 0;
      ASSERT_EQ(read(pipefd[0], &go, 1), 1);
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 60)(rng)));
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    close(pipefd[0]);
    EXPECT_TRUE(WIFSIGNALED(status));
    next_seed = first + static_cast<uint32_t>(starts) + 1;
    expect_whole_tracks(dir, kSeconds);
  }
  auto index = Index::open(dir, kFormat, OpenMode::read_only);
  EXPECT_GE(index->tracks().size(), 3u);
}

TEST(Concurrency, ReadersRunWhileTheWriterAddsRemovesAndGrows) {
  const SmallMap small(1 << 20);  // growths happen while readers hold snapshots
  constexpr double kSeconds = 120;
  TempDir tmp;
  auto index = Index::open(tmp / "idx", kFormat, OpenMode::create);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> checked{0};
  std::vector<std::thread> readers;
  readers.reserve(3);
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      auto reader = index->reader();
      std::mt19937 rng(static_cast<uint32_t>(r));
      while (!done.load()) {
        reader->begin();
        const uint64_t n = reader->track_count();
        // Ids run 1..n+removed; probe a few, and every track seen must be whole.
        for (int k = 0; k < 3; ++k) {
          const auto id = std::uniform_int_distribution<uint32_t>(1, 40)(rng);
          if (const auto t = reader->track(id)) {
            EXPECT_EQ(check_track_postings(*reader, id, make_hashes(seed_of(*t), kSeconds)),
                      t->hashes);
            checked.fetch_add(1);
          }
        }
        (void)n;
        // Also through the Index, from this thread, between snapshots.
        reader->end();
        (void)index->stats();
      }
    });
  }
  std::thread writer([&] {
    for (uint32_t seed = 1; seed <= 40; ++seed) {
      auto info = info_for(seed, kSeconds);
      index->add_track(info, make_hashes(seed, kSeconds));
      if (seed % 5 == 0) index->remove_track(seed - 2);
    }
    done.store(true);
  });
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_GT(checked.load(), 0u);
  EXPECT_EQ(index->tracks().size(), 32u);
  EXPECT_GT(index->stats().bytes_on_disk, uint64_t{2} << 20);
}

}  // namespace
}  // namespace aircheck::store
