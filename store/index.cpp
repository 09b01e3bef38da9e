#include "store/index.h"

#include <lmdb.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "dsp/params.h"
#include "store/index_testing.h"
#include "store/lmdb_raii.h"
#include "store/posting_layout.h"

namespace aircheck::store {
namespace {

namespace fs = std::filesystem;

constexpr int kSchema = 2;
constexpr std::size_t kDefaultMapSize = std::size_t{64} << 20;
constexpr unsigned kMaxReaders = 510;
constexpr int kMaxGrowths = 48;
constexpr int kMaxRemaps = 1000;

constexpr const char* kMetaSchema = "schema";
constexpr const char* kMetaFormat = "format";
constexpr const char* kMetaDigest = "format_digest";
constexpr const char* kMetaNextId = "next_id";
constexpr const char* kMetaDistinct = "distinct_hashes";
constexpr const char* kMetaFrames = "frames";
constexpr const char* kMetaFine = "fine_format";

std::atomic<std::size_t> g_initial_map_size{kDefaultMapSize};

/// Transactions this thread holds open through any Gate (see Gate).
thread_local int t_open_txns = 0;

/// Thrown inside a write transaction when the map is full; write() grows the map and retries.
struct MapFull {};

MDB_val val(const void* p, std::size_t n) { return MDB_val{n, const_cast<void*>(p)}; }
MDB_val val(std::string_view s) { return val(s.data(), s.size()); }
std::string_view text(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

std::string hex64(uint64_t x) {
  char buf[17];
  auto [end, ec] = std::to_chars(buf, buf + 16, x, 16);
  (void)ec;
  std::string s(buf, end);
  return std::string(16 - s.size(), '0') + s;
}

std::optional<uint64_t> parse_u64(std::string_view s, int base = 10) {
  uint64_t x = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x, base);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return x;
}

std::string shown(const fs::path& p) { return p.string(); }

std::string mb_free(const fs::path& dir) {
  std::error_code ec;
  const auto sp = fs::space(dir, ec);
  if (ec) return "an unknown amount of";
  return std::to_string(sp.available >> 20) + " MB";
}

uint64_t file_bytes(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

constexpr const char* kRebuild =
    "rebuild the index with `aircheck index add --index NEWDIR FILES...` into a new folder, or "
    "use the aircheck version that built it";

FormatMismatchError format_mismatch(const fs::path& dir, const std::string& stored_text,
                                    const std::string& stored_digest, const Format& format) {
  return FormatMismatchError("index in " + shown(dir) + " was built for fingerprint format \"" +
                             stored_text + "\" (digest " + stored_digest +
                             "), but this aircheck uses \"" + format.text + "\" (digest " +
                             hex64(format.digest) + "): " + kRebuild);
}

std::string remedy(int rc, const fs::path& dir) {
  const std::string d = shown(dir);
  switch (rc) {
    case ENOSPC:
      return "the disk has " + mb_free(dir) + " free: free space on it or move the index";
    case MDB_MAP_FULL:
      return "the index is full and cannot grow: the disk has " + mb_free(dir) + " free";
    case EACCES:
    case EPERM:
    case EROFS:
      return "check that this user may read and write " + d + "/data.mdb and " + d +
             "/lock.mdb (readers need write access to lock.mdb too)";
    case ENOENT:
      return "create the index with `aircheck index add --index " + d + " FILES...`";
    case ENOMEM:
      return "out of memory or address space for the map: free memory and retry";
    case MDB_READERS_FULL:
      return "all " + std::to_string(kMaxReaders) +
             " reader slots are taken: end idle readers, or clear slots of dead processes "
             "with `mdb_stat -rr " +
             d + "`";
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
      return "the index is damaged: rebuild it with `aircheck index add` into a new folder";
    case MDB_VERSION_MISMATCH:
      return "the index files come from another LMDB version: use the aircheck build that "
             "made them, or rebuild the index with `aircheck index add` into a new folder";
    case MDB_PANIC:
      return "LMDB hit a fatal error: restart the process; if it recurs, rebuild the index";
    case MDB_TXN_FULL:
      return "the track has too many hashes for one transaction: split the file";
    case MDB_MAP_RESIZED:
      return "another process grew the index: retry";
    default:
      return "this is unexpected: report it with this message";
  }
}

// ---- the hash list of a track, varint-delta coded ----------------------------------------
// varint(frames), then each distinct hash in ascending order as varint(hash - previous hash),
// the first one from 0. LEB128 varints, 7 bits per byte, low bits first. Removal needs no
// frames per hash: a track's postings of one hash are one run of values.

void put_varint(std::vector<uint8_t>& out, uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<uint8_t>(x | 0x80));
    x >>= 7;
  }
  out.push_back(static_cast<uint8_t>(x));
}

bool get_varint(const uint8_t*& p, const uint8_t* end, uint64_t& x) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) return false;
    const uint8_t b = *p++;
    v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) {
      x = v;
      return true;
    }
  }
  return false;
}

/// `sorted` by (hash, t), without repeats.
std::vector<uint8_t> encode_hashes(std::span<const dsp::TimedHash> sorted, uint64_t frames) {
  std::vector<uint8_t> out;
  out.reserve(sorted.size() * 2 + 10);
  put_varint(out, frames);
  uint32_t prev = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (i > 0 && sorted[i].hash == prev) continue;
    put_varint(out, sorted[i].hash - prev);
    prev = sorted[i].hash;
  }
  return out;
}

bool decode_hashes(const MDB_val& v, std::vector<uint32_t>& out, uint64_t& frames) {
  const auto* p = static_cast<const uint8_t*>(v.mv_data);
  const auto* end = p + v.mv_size;
  if (!get_varint(p, end, frames)) return false;
  uint64_t hash = 0;
  while (p != end) {
    uint64_t d = 0;
    if (!get_varint(p, end, d) || (hash += d) > std::numeric_limits<uint32_t>::max()) {
      return false;
    }
    out.push_back(static_cast<uint32_t>(hash));
  }
  return true;
}

uint64_t frames_of(std::span<const dsp::TimedHash> hashes) {
  uint32_t last = 0;
  for (const auto& h : hashes) last = std::max(last, h.t);
  return hashes.empty() ? 0 : uint64_t{last} + 1;
}

// ---- track metadata as JSON ---------------------------------------------------------------

std::string track_json(const TrackInfo& t) {
  nlohmann::json j{{"id", t.id},
                   {"title", t.title},
                   {"artist", t.artist},
                   {"external_id", t.external_id},
                   {"source", t.source},
                   {"content_hash", t.content_hash},
                   {"duration_s", t.duration_s},
                   {"added_unix", t.added_unix},
                   {"hashes", t.hashes}};
  if (t.first_frame >= 0) j["first_frame"] = t.first_frame;
  return j.dump();
}

std::optional<TrackInfo> parse_track(std::string_view s) {
  const auto j = nlohmann::json::parse(s, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  try {
    TrackInfo t;
    t.id = j.value("id", uint32_t{0});
    t.title = j.value("title", std::string{});
    t.artist = j.value("artist", std::string{});
    t.external_id = j.value("external_id", std::string{});
    t.source = j.value("source", std::string{});
    t.content_hash = j.value("content_hash", std::string{});
    t.duration_s = j.value("duration_s", 0.0);
    t.added_unix = j.value("added_unix", int64_t{0});
    t.hashes = j.value("hashes", uint64_t{0});
    t.first_frame = j.value("first_frame", int64_t{-1});
    return t;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

// ---- the map-resize gate --------------------------------------------------------------------
// mdb_env_set_mapsize() must not run while any transaction of this process is open (LMDB does
// not check read transactions). Every transaction of an Index enters its Gate and leaves it when
// it ends; a resize waits for the count to drop to zero and holds new entries back meanwhile.
// A thread that already holds a transaction is let in even while a resize waits, so that it can
// finish and let the resize run; a thread holding one can therefore never resize itself.
class Gate {
 public:
  void enter() {
    std::unique_lock lk(m_);
    if (t_open_txns == 0) cv_.wait(lk, [&] { return !resizing_; });
    ++active_;
    ++t_open_txns;
  }
  void leave() noexcept {
    --t_open_txns;
    std::lock_guard lk(m_);
    if (--active_ == 0) cv_.notify_all();
  }
  /// Runs f with no transaction of this Gate open. The caller holds none (checked by caller).
  template <class F>
  void exclusive(F&& f) {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return !resizing_; });
    resizing_ = true;
    struct Done {
      Gate& g;
      ~Done() {
        g.resizing_ = false;
        g.cv_.notify_all();
      }
    } done{*this};
    cv_.wait(lk, [&] { return active_ == 0; });
    f();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int active_ = 0;
  bool resizing_ = false;
};

/// One entry of a Gate, left on destruction unless released.
class GateHold {
 public:
  explicit GateHold(Gate& g) : g_(&g) { g.enter(); }
  GateHold(const GateHold&) = delete;
  GateHold& operator=(const GateHold&) = delete;
  ~GateHold() { leave(); }
  void leave() noexcept {
    if (g_ != nullptr) std::exchange(g_, nullptr)->leave();
  }
  /// Keeps the entry; the caller leaves the Gate itself later.
  void keep() noexcept { g_ = nullptr; }

 private:
  Gate* g_;
};

// ---- indexes open in this process -----------------------------------------------------------
// LMDB forbids opening one environment twice in a process, so open() hands out the Index that is
// already open. An entry stays until the Index's environment is closed.
struct Registry {
  std::mutex m;
  std::condition_variable cv;
  std::map<std::string, std::weak_ptr<Index>> open;
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;  // never destroyed: Index objects may outlive static teardown
    pthread_atfork([] { registry().m.lock(); }, [] { registry().m.unlock(); },
                   [] {
                     // The child must open indexes anew; the inherited ones belong to the parent.
                     registry().open.clear();
                     registry().m.unlock();
                   });
    return reg;
  }();
  return *r;
}

}  // namespace

namespace testing {
void set_initial_map_size(std::size_t bytes) { g_initial_map_size.store(bytes); }
std::size_t initial_map_size() { return g_initial_map_size.load(); }
}  // namespace testing

// ---- Index::Impl -----------------------------------------------------------------------------

struct Index::Impl {
  Impl(fs::path d, Format f, OpenMode m) : dir(std::move(d)), format(std::move(f)), mode(m) {}
  ~Impl() {
    // In a child after fork() the environment belongs to the parent: closing it here would
    // release the parent's reader slots.
    if (pid != getpid()) (void)env.release();
  }

  fs::path dir;
  Format format;
  OpenMode mode;
  std::string registry_key;
  pid_t pid = getpid();
  lmdb::Env env;
  MDB_dbi postings = 0;
  MDB_dbi tracks = 0;
  MDB_dbi hashes = 0;
  MDB_dbi subband = 0;
  MDB_dbi fine = 0;
  bool fine_usable = false;  // "fine" exists and holds words of this build's layout
  MDB_dbi content = 0;
  MDB_dbi meta = 0;
  mutable Gate gate;
  std::mutex write_mutex;
  std::weak_ptr<Index> self;

  [[noreturn]] void fail(int rc, std::string_view what) const {
    throw StoreError("index " + shown(dir) + ": " + std::string(what) + ": " + mdb_strerror(rc) +
                     "; " + remedy(rc, dir));
  }
  void check(int rc, std::string_view what) const {
    if (rc != MDB_SUCCESS) fail(rc, what);
  }
  /// In a write transaction: a full map unwinds to write(), which grows it and retries.
  void check_w(int rc, std::string_view what) const {
    if (rc == MDB_MAP_FULL) throw MapFull{};
    check(rc, what);
  }
  [[noreturn]] void damaged(std::string_view what) const {
    throw StoreError("index " + shown(dir) + ": " + std::string(what) +
                     "; the index is damaged: rebuild it with `aircheck index add` into a new "
                     "folder");
  }

  void open_env(bool exists);
  void open_databases();
  /// Checks schema and format. Returns false when the meta database holds no schema yet.
  bool verify_meta(MDB_txn* txn) const;
  void write_meta(MDB_txn* txn);

  std::optional<std::string> get_meta(MDB_txn* txn, const char* key) const {
    MDB_val k = val(std::string_view(key));
    MDB_val v;
    const int rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    check(rc, "cannot read the index metadata");
    return std::string(text(v));
  }
  uint64_t get_meta_u64(MDB_txn* txn, const char* key) const {
    const auto s = get_meta(txn, key);
    if (!s) return 0;
    const auto x = parse_u64(*s);
    if (!x) damaged(std::string("metadata \"") + key + "\" is not a number");
    return *x;
  }
  void put_meta(MDB_txn* txn, const char* key, std::string_view value) const {
    MDB_val k = val(std::string_view(key));
    MDB_val v = val(value);
    check_w(mdb_put(txn, meta, &k, &v, 0), "cannot write the index metadata");
  }

  /// After MDB_MAP_RESIZED: maps the size another process grew the index to.
  void adopt_map_size() const {
    if (t_open_txns > 0) {
      throw StoreError("index " + shown(dir) +
                       ": another process grew the index while this thread holds a Reader "
                       "snapshot: call Reader::end() on this thread and retry");
    }
    gate.exclusive([&] { check(mdb_env_set_mapsize(env.get(), 0), "cannot map the grown index"); });
  }

  /// After MDB_MAP_FULL: doubles the map, unless the disk could not hold it anyway.
  void grow_map() {
    MDB_envinfo info;
    check(mdb_env_info(env.get(), &info), "cannot read the map size");
    const std::size_t cur = info.me_mapsize;
    std::error_code ec;
    const auto sp = fs::space(dir, ec);
    const uint64_t room = file_bytes(dir / "data.mdb") + (ec ? 0 : sp.available);
    if (cur >= room || cur > std::numeric_limits<std::size_t>::max() / 2) {
      fail(MDB_MAP_FULL, "cannot grow the map beyond " + std::to_string(cur >> 20) + " MB");
    }
    if (t_open_txns > 0) {
      throw StoreError("index " + shown(dir) +
                       ": the map must grow, but this thread holds a Reader snapshot: call "
                       "Reader::end() before add_track() or remove_track()");
    }
    gate.exclusive([&] { check(mdb_env_set_mapsize(env.get(), cur * 2), "cannot grow the map"); });
  }

  /// Runs body(txn) in a read transaction that is aborted afterwards.
  template <class F>
  auto read(std::string_view what, F&& body) const {
    for (int i = 0;; ++i) {
      GateHold hold(gate);
      MDB_txn* raw = nullptr;
      const int rc = mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &raw);
      if (rc == MDB_MAP_RESIZED && i < kMaxRemaps) {
        hold.leave();
        adopt_map_size();
        continue;
      }
      check(rc, what);
      lmdb::Txn txn(raw);
      return body(txn.get());
    }
  }

  /// Runs body(txn) in a write transaction and commits it; on a full map aborts, grows the
  /// map and runs body again from the start.
  template <class F>
  auto write(std::string_view what, F&& body) {
    if (mode == OpenMode::read_only) {
      throw StoreError("index " + shown(dir) + ": " + std::string(what) +
                       ": the index was opened read-only; open it with OpenMode::read_write");
    }
    std::lock_guard wl(write_mutex);
    int growths = 0;
    for (int remaps = 0;;) {
      GateHold hold(gate);
      MDB_txn* raw = nullptr;
      int rc = mdb_txn_begin(env.get(), nullptr, 0, &raw);
      if (rc == MDB_MAP_RESIZED && remaps++ < kMaxRemaps) {
        hold.leave();
        adopt_map_size();
        continue;
      }
      check(rc, what);
      lmdb::Txn txn(raw);
      try {
        auto result = body(txn.get());
        rc = txn.commit();
        if (rc != MDB_MAP_FULL) {
          check(rc, what);
          return result;
        }
      } catch (const MapFull&) {
        txn.abort();
      }
      hold.leave();
      if (++growths > kMaxGrowths) fail(MDB_MAP_FULL, what);
      grow_map();
    }
  }

  std::optional<TrackInfo> track_in(MDB_txn* txn, uint32_t id) const {
    MDB_val k = val(&id, sizeof id);
    MDB_val v;
    const int rc = mdb_get(txn, tracks, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    check(rc, "cannot read track " + std::to_string(id));
    auto t = parse_track(text(v));
    if (!t) damaged("the metadata of track " + std::to_string(id) + " is not valid JSON");
    t->frames = frames_in(txn, id);
    return t;
  }
  // The first varint of the track's "hashes" record; 0 if it has none.
  uint64_t frames_in(MDB_txn* txn, uint32_t id) const {
    MDB_val k = val(&id, sizeof id);
    MDB_val v;
    const int rc = mdb_get(txn, hashes, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    check(rc, "cannot read the hash list of track " + std::to_string(id));
    const auto* p = static_cast<const uint8_t*>(v.mv_data);
    uint64_t frames = 0;
    if (!get_varint(p, p + v.mv_size, frames))
      damaged("the hash list of track " + std::to_string(id) + " is truncated");
    return frames;
  }
  uint64_t track_count_in(MDB_txn* txn) const {
    MDB_stat st;
    check(mdb_stat(txn, tracks, &st), "cannot count tracks");
    return st.ms_entries;
  }
};

void Index::Impl::open_env(bool exists) {
  MDB_env* raw = nullptr;
  check(mdb_env_create(&raw), "cannot create an LMDB environment");
  env = lmdb::Env(raw);
  check(mdb_env_set_maxdbs(raw, 8), "cannot configure the environment");
  check(mdb_env_set_maxreaders(raw, kMaxReaders), "cannot configure the environment");
  const std::size_t initial = g_initial_map_size.load();
  // An existing index keeps the size stored in it; a new one starts modest.
  if (!exists) check(mdb_env_set_mapsize(raw, initial), "cannot set the map size");
  // MDB_NOTLS: reader slots belong to transactions, so a Reader may move between threads.
  const unsigned flags = MDB_NOTLS | (mode == OpenMode::read_only ? MDB_RDONLY : 0u);
  const int rc = mdb_env_open(raw, dir.c_str(), flags, 0664);
  if (rc == ENOENT && mode != OpenMode::create) {
    throw NoIndexError("no index in " + shown(dir) +
                       ": create one with `aircheck index add --index " + shown(dir) +
                       " FILES...`");
  }
  check(rc, "cannot open");
  // LMDB maps the file and trusts it: a data file cut short (an interrupted copy, a full disk)
  // would end the process with SIGBUS at the first read of a page past its end. The meta page
  // says how far the index's pages reach.
  {
    MDB_envinfo info;
    MDB_stat st;
    check(mdb_env_info(raw, &info), "cannot read the environment");
    check(mdb_env_stat(raw, &st), "cannot read the environment");
    const uint64_t needed = (uint64_t{info.me_last_pgno} + 1) * st.ms_psize;
    std::error_code ec;
    const uint64_t have = std::filesystem::file_size(dir / "data.mdb", ec);
    if (!ec && have < needed) {
      damaged("data.mdb is cut short (" + std::to_string(have) + " bytes of the " +
              std::to_string(needed) + " its pages reach; an interrupted copy or a full disk)");
    }
  }
  if (mode != OpenMode::read_only) {
    MDB_envinfo info;
    check(mdb_env_info(raw, &info), "cannot read the map size");
    if (info.me_mapsize < initial)
      check(mdb_env_set_mapsize(raw, initial), "cannot set the map size");
  }
  int dead = 0;
  check(mdb_reader_check(raw, &dead), "cannot clear reader slots of dead processes");
}

bool Index::Impl::verify_meta(MDB_txn* txn) const {
  const auto schema = get_meta(txn, kMetaSchema);
  if (!schema) return false;
  if (parse_u64(*schema) != uint64_t{kSchema}) {
    throw FormatMismatchError("index in " + shown(dir) + " has schema version " + *schema +
                              ", but this aircheck reads version " + std::to_string(kSchema) +
                              ": " + kRebuild);
  }
  const auto digest = get_meta(txn, kMetaDigest);
  if (!digest || parse_u64(*digest, 16) != format.digest) {
    throw format_mismatch(dir, get_meta(txn, kMetaFormat).value_or("(none)"),
                          digest.value_or("(none)"), format);
  }
  return true;
}

void Index::Impl::write_meta(MDB_txn* txn) {
  put_meta(txn, kMetaSchema, std::to_string(kSchema));
  put_meta(txn, kMetaFormat, format.text);
  put_meta(txn, kMetaDigest, hex64(format.digest));
  put_meta(txn, kMetaNextId, "1");
  put_meta(txn, kMetaFine, dsp::Params::kFineFormat);
  put_meta(txn, kMetaDistinct, "0");
  put_meta(txn, kMetaFrames, "0");
}

void Index::Impl::open_databases() {
  constexpr unsigned kPostings = MDB_INTEGERKEY | MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP;
  constexpr unsigned kById = MDB_INTEGERKEY;
  constexpr unsigned kContent = MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP;
  const auto open_all = [&](MDB_txn* txn, unsigned create) {
    check(mdb_dbi_open(txn, "postings", kPostings | create, &postings), "cannot open \"postings\"");
    check(mdb_dbi_open(txn, "tracks", kById | create, &tracks), "cannot open \"tracks\"");
    check(mdb_dbi_open(txn, "hashes", kById | create, &hashes), "cannot open \"hashes\"");
    check(mdb_dbi_open(txn, "subband", kById | create, &subband), "cannot open \"subband\"");
    check(mdb_dbi_open(txn, "content", kContent | create, &content), "cannot open \"content\"");
    // "fine" came later than the others: an index written before has none (its tracks are
    // compared without fine words; a writer adds the database, below).
    const int rc = mdb_dbi_open(txn, "fine", kById | create, &fine);
    if (rc != MDB_NOTFOUND) check(rc, "cannot open \"fine\"");
    fine_usable = rc == MDB_SUCCESS;
  };
  const auto check_fine_format = [&](MDB_txn* txn) {
    // Fine words of another layout are not read (nor written beside).
    if (fine_usable) fine_usable = get_meta(txn, kMetaFine) == dsp::Params::kFineFormat;
  };
  const NoIndexError no_index("no index in " + shown(dir) +
                              ": create one with `aircheck index add --index " + shown(dir) +
                              " FILES...`");
  {
    // A read transaction first: opening an existing index takes no writer lock.
    MDB_txn* raw = nullptr;
    check(mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &raw), "cannot begin a transaction");
    lmdb::Txn txn(raw);
    const int rc = mdb_dbi_open(raw, "meta", 0, &meta);
    if (rc != MDB_NOTFOUND) {
      check(rc, "cannot open \"meta\"");
      if (verify_meta(raw)) {
        open_all(raw, 0);
        check_fine_format(raw);
        const bool add_fine =
            !fine_usable && mode != OpenMode::read_only && !get_meta(raw, kMetaFine).has_value();
        check(txn.commit(), "cannot open the databases");
        if (add_fine) {
          // An index written before fine words: its writer adds the database, and the tracks
          // added from now on have them.
          MDB_txn* w = nullptr;
          check(mdb_txn_begin(env.get(), nullptr, 0, &w), "cannot begin a write transaction");
          lmdb::Txn wtxn(w);
          check(mdb_dbi_open(w, "fine", kById | MDB_CREATE, &fine), "cannot create \"fine\"");
          put_meta(w, kMetaFine, dsp::Params::kFineFormat);
          check(wtxn.commit(), "cannot add the fine words' database");
          fine_usable = true;
        }
        return;
      }
    }
  }
  if (mode != OpenMode::create) throw no_index;
  MDB_txn* raw = nullptr;
  check(mdb_txn_begin(env.get(), nullptr, 0, &raw), "cannot begin a write transaction");
  lmdb::Txn txn(raw);
  check(mdb_dbi_open(raw, "meta", MDB_CREATE, &meta), "cannot create \"meta\"");
  open_all(raw, MDB_CREATE);
  try {
    if (!verify_meta(raw)) write_meta(raw);  // another process may have created it meanwhile
    check_fine_format(raw);
  } catch (const MapFull&) {
    fail(MDB_MAP_FULL, "cannot create the index");
  }
  check(txn.commit(), "cannot create the index");
}

// ---- Reader ----------------------------------------------------------------------------------

namespace {

class IndexReader final : public Reader {
 public:
  IndexReader(std::shared_ptr<Index> owner, const Index::Impl& impl)
      : owner_(std::move(owner)), impl_(impl) {
    begin();  // allocates the transaction and cursor that begin() renews from now on
    end();
  }
  IndexReader(const IndexReader&) = delete;
  IndexReader& operator=(const IndexReader&) = delete;
  ~IndexReader() override {
    if (impl_.pid != getpid()) {
      // In a child after fork(): the reader slot belongs to the parent.
      (void)cursor_.release();
      (void)txn_.release();
      return;
    }
    end();
    cursor_.reset();
    txn_.abort();
  }

  void begin() override {
    if (active_) end();
    for (int remaps = 0;; ++remaps) {
      GateHold hold(impl_.gate);
      int rc = 0;
      if (txn_) {
        rc = mdb_txn_renew(txn_.get());
      } else {
        MDB_txn* raw = nullptr;
        rc = mdb_txn_begin(impl_.env.get(), nullptr, MDB_RDONLY, &raw);
        if (rc == MDB_SUCCESS) txn_ = lmdb::Txn(raw);
      }
      if (rc == MDB_MAP_RESIZED && remaps < kMaxRemaps) {
        txn_.abort();
        hold.leave();
        impl_.adopt_map_size();
        continue;
      }
      impl_.check(rc, "cannot take a read snapshot");
      if (cursor_) {
        rc = mdb_cursor_renew(txn_.get(), cursor_.get());
      } else {
        MDB_cursor* raw = nullptr;
        rc = mdb_cursor_open(txn_.get(), impl_.postings, &raw);
        if (rc == MDB_SUCCESS) cursor_ = lmdb::Cursor(raw);
      }
      if (rc != MDB_SUCCESS) {
        mdb_txn_reset(txn_.get());
        impl_.fail(rc, "cannot open a cursor on \"postings\"");
      }
      hold.keep();
      active_ = true;
      return;
    }
  }

  void end() override {
    if (!active_) return;
    mdb_txn_reset(txn_.get());
    active_ = false;
    impl_.gate.leave();
  }

  std::size_t lookup_track(uint32_t hash, uint32_t track, std::vector<Posting>& out) override {
    return in_snapshot([&] { return lookup_track_active(hash, track, out); });
  }
  std::size_t lookup(uint32_t hash, std::vector<Posting>& out) override {
    return in_snapshot([&] { return lookup_active(hash, out); });
  }

  std::optional<TrackInfo> track(uint32_t id) override {
    return in_snapshot([&] { return impl_.track_in(txn_.get(), id); });
  }

  uint64_t track_count() override {
    return in_snapshot([&] { return impl_.track_count_in(txn_.get()); });
  }

  PostingTotals posting_totals() override {
    return in_snapshot([&] {
      PostingTotals t;
      MDB_stat st;
      impl_.check(mdb_stat(txn_.get(), impl_.postings, &st), "cannot read statistics");
      t.postings = st.ms_entries;
      t.distinct_hashes = impl_.get_meta_u64(txn_.get(), kMetaDistinct);
      return t;
    });
  }

  uint64_t indexed_frames() override {
    return in_snapshot([&] { return impl_.get_meta_u64(txn_.get(), kMetaFrames); });
  }

  std::size_t fine(uint32_t track, uint64_t from, std::size_t count, uint64_t* out) override {
    if (!impl_.fine_usable) return 0;
    constexpr std::size_t kBytes = dsp::Params::kFineBytes;
    return per_frame(impl_.fine, "fine words", kBytes, track, from, count,
                     [&](const unsigned char* b, std::size_t n) {
                       for (std::size_t i = 0; i < n; ++i, b += kBytes) {  // little-endian
                         uint64_t w = 0;
                         for (std::size_t j = 0; j < kBytes; ++j) w |= uint64_t{b[j]} << (8 * j);
                         out[i] = w;
                       }
                     });
  }

  std::size_t subband(uint32_t track, uint64_t from, std::size_t count, uint32_t* out) override {
    return per_frame(impl_.subband, "sub-band words", sizeof(uint32_t), track, from, count,
                     [&](const unsigned char* b, std::size_t n) {
                       // LMDB keeps values 2-byte aligned only: copied bytewise.
                       std::memcpy(out, b, n * sizeof(uint32_t));
                     });
  }

 private:
  /// A track's value in `dbi` holding `bytes` per frame: copy(first byte of frame `from`, n)
  /// for frames from .. from + count - 1 as far as it has them; returns n.
  template <class Copy>
  std::size_t per_frame(MDB_dbi dbi, const char* what, std::size_t bytes, uint32_t track,
                        uint64_t from, std::size_t count, Copy&& copy) {
    return in_snapshot([&]() -> std::size_t {
      MDB_val k = val(&track, sizeof track);
      MDB_val v;
      const int rc = mdb_get(txn_.get(), dbi, &k, &v);
      if (rc == MDB_NOTFOUND) return 0;
      impl_.check(rc,
                  std::string("cannot read the ") + what + " of track " + std::to_string(track));
      if (v.mv_size % bytes != 0)
        impl_.damaged(std::string("the ") + what + " of track " + std::to_string(track) +
                      " are truncated");
      const std::size_t frames = v.mv_size / bytes;
      if (from >= frames) return 0;
      const std::size_t n = std::min<std::size_t>(count, frames - from);
      copy(static_cast<const unsigned char*>(v.mv_data) + from * bytes, n);
      return n;
    });
  }

  template <class F>
  auto in_snapshot(F&& f) -> decltype(f()) {
    if (active_) return f();
    begin();
    struct Ender {
      IndexReader& r;
      ~Ender() { r.end(); }
    } ender{*this};
    return f();
  }

  // The hash's run starts at the first value >= first_value(hash) in its bucket (found by
  // LMDB's binary search, which skips the tree descent while the cursor's page already holds
  // the bucket: lookups in ascending hash order stay cheap). From there the run is read in
  // place from the bucket's duplicate pages, a page per MDB_GET_MULTIPLE/MDB_NEXT_MULTIPLE.
  std::size_t lookup_active(uint32_t hash, std::vector<Posting>& out) {
    MDB_cursor* cur = cursor_.get();
    const char* what = "cannot read postings";
    uint32_t key = layout::key_of(hash);
    uint64_t from = layout::first_value(hash);
    MDB_val k = val(&key, sizeof key);
    MDB_val d = val(&from, sizeof from);
    int rc = mdb_cursor_get(cur, &k, &d, MDB_GET_BOTH_RANGE);
    if (rc == MDB_NOTFOUND) return 0;
    impl_.check(rc, what);
    if (d.mv_size != sizeof(uint64_t)) impl_.damaged("a posting has a wrong size");
    const uint32_t low = layout::low_of(hash);
    uint64_t v;
    std::memcpy(&v, d.mv_data, sizeof v);
    if (layout::value_low(v) != low) return 0;
    const std::size_t start = out.size();
    std::size_t count = 0;
    impl_.check(mdb_cursor_count(cur, &count), what);
    if (count == 1) {  // a lone value sits in the key's node, not in a duplicate page
      out.push_back(layout::posting_of(v));
      return 1;
    }
    const auto at = reinterpret_cast<std::uintptr_t>(d.mv_data);
    rc = mdb_cursor_get(cur, &k, &d, MDB_GET_MULTIPLE);  // the whole page holding `at`
    impl_.check(rc, what);
    auto base = reinterpret_cast<std::uintptr_t>(d.mv_data);
    if (d.mv_size % sizeof v != 0 || at < base || at >= base + d.mv_size ||
        (at - base) % sizeof v != 0) {
      impl_.damaged("a page of postings is malformed");
    }
    std::size_t i = (at - base) / sizeof v;
    for (;;) {
      const auto* p = static_cast<const unsigned char*>(d.mv_data);
      const std::size_t n = d.mv_size / sizeof v;
      for (; i < n; ++i) {
        std::memcpy(&v, p + i * sizeof v, sizeof v);
        if (layout::value_low(v) != low) return out.size() - start;
        out.push_back(layout::posting_of(v));
      }
      rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_MULTIPLE);
      if (rc == MDB_NOTFOUND) break;
      impl_.check(rc, what);
      if (d.mv_size % sizeof v != 0) impl_.damaged("a page of postings is malformed");
      i = 0;
    }
    return out.size() - start;
  }

  // The run of (hash, track) starts at the first value >= first_value(hash, track): one seek,
  // then the values are read while they still belong to that hash and track.
  std::size_t lookup_track_active(uint32_t hash, uint32_t track, std::vector<Posting>& out) {
    if (track > layout::kMaxTrack) return 0;
    MDB_cursor* cur = cursor_.get();
    const char* what = "cannot read postings";
    uint32_t key = layout::key_of(hash);
    uint64_t from = layout::first_value(hash, track);
    MDB_val k = val(&key, sizeof key);
    MDB_val d = val(&from, sizeof from);
    int rc = mdb_cursor_get(cur, &k, &d, MDB_GET_BOTH_RANGE);
    const uint32_t low = layout::low_of(hash);
    const std::size_t start = out.size();
    while (rc == 0) {
      if (d.mv_size != sizeof(uint64_t)) impl_.damaged("a posting has a wrong size");
      uint64_t v;
      std::memcpy(&v, d.mv_data, sizeof v);
      const Posting p = layout::posting_of(v);
      if (layout::value_low(v) != low || p.track != track) break;
      out.push_back(p);
      rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_DUP);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) impl_.check(rc, what);
    return out.size() - start;
  }

  std::shared_ptr<Index> owner_;  // keeps the environment open while this reader lives
  const Index::Impl& impl_;
  lmdb::Txn txn_;        // reset between snapshots, renewed by begin()
  lmdb::Cursor cursor_;  // on "postings", renewed with the transaction
  bool active_ = false;
};

}  // namespace

// ---- Index -----------------------------------------------------------------------------------

Index::Index(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Index::~Index() {
  auto& reg = registry();
  std::lock_guard lk(reg.m);
  const std::string key = impl_->registry_key;
  impl_.reset();  // closes the environment before another open() of the folder may proceed
  const auto it = reg.open.find(key);
  if (it != reg.open.end() && it->second.expired()) reg.open.erase(it);
  reg.cv.notify_all();
}

std::shared_ptr<Index> Index::open(const fs::path& dir, const Format& format, OpenMode mode) {
  const NoIndexError no_index("no index in " + shown(dir) +
                              ": create one with `aircheck index add --index " + shown(dir) +
                              " FILES...`");
  std::error_code ec;
  const bool exists = fs::is_regular_file(dir / "data.mdb", ec);
  if (!exists && mode != OpenMode::create) throw no_index;
  if (mode == OpenMode::create) {
    fs::create_directories(dir, ec);
    if (ec) {
      throw StoreError("index " + shown(dir) + ": cannot create the folder: " + ec.message() +
                       "; check the path and that this user may write there");
    }
  }
  std::string key = fs::weakly_canonical(fs::absolute(dir, ec), ec).string();
  if (key.empty()) key = dir.string();

  auto& reg = registry();
  std::shared_ptr<Index> existing;
  {
    std::unique_lock lk(reg.m);
    for (;;) {
      const auto it = reg.open.find(key);
      if (it == reg.open.end()) break;
      existing = it->second.lock();
      if (existing) break;
      reg.cv.wait(lk);  // its last handle is closing the environment
    }
    if (!existing) {
      auto impl = std::make_unique<Impl>(dir, format, mode);
      impl->registry_key = key;
      impl->open_env(exists);
      impl->open_databases();
      Impl* raw = impl.get();
      std::shared_ptr<Index> sp(new Index(std::move(impl)));
      raw->self = sp;
      reg.open[key] = sp;
      return sp;
    }
  }
  // Outside the registry lock: dropping `existing` may close the index, which takes that lock.
  const Impl& im = *existing->impl_;
  if (im.format.digest != format.digest) {
    throw format_mismatch(dir, im.format.text, hex64(im.format.digest), format);
  }
  if (im.mode == OpenMode::read_only && mode != OpenMode::read_only) {
    throw StoreError("index " + shown(dir) +
                     ": already open read-only in this process; drop every handle to it before "
                     "opening it for writing");
  }
  return existing;
}

const fs::path& Index::dir() const { return impl_->dir; }
const Format& Index::format() const { return impl_->format; }

namespace {

/// The first value under `hash`'s bucket at or above `from` (in a writer's cursor on
/// "postings"), if any; the cursor is left on it.
std::optional<uint64_t> seek_value(const Index::Impl& im, MDB_cursor* cur, uint32_t hash,
                                   uint64_t from, std::string_view what) {
  uint32_t key = layout::key_of(hash);
  MDB_val k = val(&key, sizeof key);
  MDB_val d = val(&from, sizeof from);
  const int rc = mdb_cursor_get(cur, &k, &d, MDB_GET_BOTH_RANGE);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  im.check_w(rc, what);
  if (d.mv_size != sizeof(uint64_t)) im.damaged("a posting has a wrong size");
  uint64_t v;
  std::memcpy(&v, d.mv_data, sizeof v);
  return v;
}

/// Fine words as stored: dsp::Params::kFineBytes bytes each, little-endian.
std::vector<unsigned char> pack_fine(std::span<const uint64_t> fine) {
  constexpr std::size_t kBytes = dsp::Params::kFineBytes;
  std::vector<unsigned char> bytes(fine.size() * kBytes);
  for (std::size_t i = 0; i < fine.size(); ++i)
    for (std::size_t j = 0; j < kBytes; ++j)
      bytes[i * kBytes + j] = static_cast<unsigned char>(fine[i] >> (8 * j));
  return bytes;
}

bool holds(uint32_t hash, const std::optional<uint64_t>& v) {
  return v && layout::value_low(*v) == layout::low_of(hash);
}

}  // namespace

uint32_t Index::add_track(TrackInfo& info, std::span<const dsp::TimedHash> hashes,
                          std::span<const uint32_t> subband, std::span<const uint64_t> fine) {
  Impl& im = *impl_;
  std::vector<unsigned char> fine_bytes;
  if (im.fine_usable) fine_bytes = pack_fine(fine);
  std::vector<dsp::TimedHash> sorted(hashes.begin(), hashes.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.t < b.t;
  });
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  const uint64_t frames = frames_of(sorted);
  if (frames > uint64_t{layout::kMaxFrame} + 1) {
    throw StoreError("index " + shown(im.dir) + ": the track is too long: a hash at frame " +
                     std::to_string(frames - 1) + ", but the index holds frames below " +
                     std::to_string(uint64_t{layout::kMaxFrame} + 1) +
                     ": split the file into parts");
  }
  const std::vector<uint8_t> packed = encode_hashes(sorted, frames);
  const auto max_key = static_cast<std::size_t>(mdb_env_get_maxkeysize(im.env.get()));
  if (info.content_hash.size() > max_key) {
    throw StoreError("index " + shown(im.dir) + ": content hash of " +
                     std::to_string(info.content_hash.size()) + " bytes is longer than " +
                     std::to_string(max_key) + ": pass a hex digest");
  }
  TrackInfo stored = info;
  stored.hashes = sorted.size();
  stored.frames = frames;
  stored.first_frame = -1;
  for (const auto& h : sorted) {
    if (stored.first_frame < 0 || h.t < stored.first_frame) stored.first_frame = h.t;
  }
  if (stored.added_unix == 0) {
    stored.added_unix = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  }
  const char* what = "cannot add a track";

  im.write(what, [&](MDB_txn* txn) {
    const uint64_t next = std::max<uint64_t>(im.get_meta_u64(txn, kMetaNextId), 1);
    if (next > layout::kMaxTrack) {
      throw StoreError("index " + shown(im.dir) + ": all " + std::to_string(layout::kMaxTrack) +
                       " track ids are used: rebuild the index into a new folder");
    }
    const auto id = static_cast<uint32_t>(next);
    stored.id = id;

    uint64_t new_hashes = 0;
    {
      MDB_cursor* raw = nullptr;
      im.check_w(mdb_cursor_open(txn, im.postings, &raw), what);
      lmdb::Cursor cur(raw);
      // In (hash, t) order, which is (key, value) order. A hash whose run would end its
      // bucket is appended (APPENDDUP), which fills pages instead of splitting them.
      for (std::size_t i = 0; i < sorted.size();) {
        const uint32_t h = sorted[i].hash;
        const auto first = seek_value(im, cur.get(), h, layout::first_value(h), what);
        if (!holds(h, first)) ++new_hashes;
        // Nothing at or above this track's run: the run goes at the end of its bucket.
        const bool append =
            !first ||
            (holds(h, first) && !seek_value(im, cur.get(), h, layout::first_value(h, id), what));
        uint32_t key = layout::key_of(h);
        for (; i < sorted.size() && sorted[i].hash == h; ++i) {
          uint64_t v = layout::value_of(h, {id, sorted[i].t});
          MDB_val k = val(&key, sizeof key);
          MDB_val d = val(&v, sizeof v);
          const int rc = mdb_cursor_put(cur.get(), &k, &d, append ? MDB_APPENDDUP : MDB_NODUPDATA);
          if (rc == MDB_KEYEXIST) im.damaged("a posting of a new track is already stored");
          im.check_w(rc, what);
        }
      }
    }

    const std::string json = track_json(stored);
    MDB_val k = val(&id, sizeof id);
    MDB_val d = val(json);
    int rc = mdb_put(txn, im.tracks, &k, &d, MDB_APPEND);
    if (rc == MDB_KEYEXIST) im.damaged("track id " + std::to_string(id) + " is already taken");
    im.check_w(rc, what);
    d = val(packed.data(), packed.size());
    rc = mdb_put(txn, im.hashes, &k, &d, MDB_APPEND);
    if (rc == MDB_KEYEXIST) im.damaged("track id " + std::to_string(id) + " is already taken");
    im.check_w(rc, what);
    if (!subband.empty()) {
      d = val(subband.data(), subband.size_bytes());
      rc = mdb_put(txn, im.subband, &k, &d, MDB_APPEND);
      if (rc == MDB_KEYEXIST) im.damaged("track id " + std::to_string(id) + " is already taken");
      im.check_w(rc, what);
    }
    if (!fine_bytes.empty()) {
      d = val(fine_bytes.data(), fine_bytes.size());
      rc = mdb_put(txn, im.fine, &k, &d, MDB_APPEND);
      if (rc == MDB_KEYEXIST) im.damaged("track id " + std::to_string(id) + " is already taken");
      im.check_w(rc, what);
    }
    if (!stored.content_hash.empty()) {
      MDB_val ck = val(stored.content_hash);
      MDB_val cv = val(&id, sizeof id);
      im.check_w(mdb_put(txn, im.content, &ck, &cv, 0), what);
    }
    im.put_meta(txn, kMetaNextId, std::to_string(uint64_t{id} + 1));
    im.put_meta(txn, kMetaDistinct,
                std::to_string(im.get_meta_u64(txn, kMetaDistinct) + new_hashes));
    im.put_meta(txn, kMetaFrames, std::to_string(im.get_meta_u64(txn, kMetaFrames) + frames));
    return id;
  });
  info = stored;
  return info.id;
}

bool Index::set_fine(uint32_t id, std::span<const uint64_t> fine) {
  Impl& im = *impl_;
  const std::string what = "cannot store the fine words of track " + std::to_string(id);
  if (!im.fine_usable) {
    throw StoreError(
        "index " + shown(im.dir) + ": " + what + ": its fine words are of another layout (" +
        im.read(what, [&](MDB_txn* txn) { return im.get_meta(txn, kMetaFine).value_or("none"); }) +
        "); rebuild it with `aircheck index add` into a new folder");
  }
  const std::vector<unsigned char> bytes = pack_fine(fine);
  return im.write(what, [&](MDB_txn* txn) {
    if (!im.track_in(txn, id)) return false;
    MDB_val k = val(&id, sizeof id);
    MDB_val d = val(bytes.data(), bytes.size());
    im.check_w(mdb_put(txn, im.fine, &k, &d, 0), what);
    return true;
  });
}

bool Index::remove_track(uint32_t id) {
  Impl& im = *impl_;
  const std::string what = "cannot remove track " + std::to_string(id);
  return im.write(what, [&](MDB_txn* txn) {
    // Read everything first: values from mdb_get are invalid after the next write.
    const auto info = im.track_in(txn, id);
    MDB_val k = val(&id, sizeof id);
    MDB_val d;
    std::vector<uint32_t> list;
    uint64_t frames = 0;
    int rc = mdb_get(txn, im.hashes, &k, &d);
    if (rc == MDB_SUCCESS) {
      if (!decode_hashes(d, list, frames)) {
        im.damaged("the hash list of track " + std::to_string(id) + " is unreadable");
      }
    } else if (rc != MDB_NOTFOUND) {
      im.check_w(rc, what);
    }
    if (!info && rc == MDB_NOTFOUND) return false;

    uint64_t gone_hashes = 0;
    if (id <= layout::kMaxTrack) {
      MDB_cursor* raw = nullptr;
      im.check_w(mdb_cursor_open(txn, im.postings, &raw), what);
      lmdb::Cursor cur(raw);
      for (const uint32_t h : list) {
        // The track's run of this hash: values from first_value(h, id) while (low, track) match.
        const uint64_t run = layout::first_value(h, id) >> layout::kTrackShift;
        bool removed = false;
        for (;;) {
          const auto v = seek_value(im, cur.get(), h, layout::first_value(h, id), what);
          if (!v || *v >> layout::kTrackShift != run) break;
          im.check_w(mdb_cursor_del(cur.get(), 0), what);
          removed = true;
        }
        if (removed && !holds(h, seek_value(im, cur.get(), h, layout::first_value(h), what))) {
          ++gone_hashes;
        }
      }
    }

    for (MDB_dbi dbi : {im.tracks, im.hashes, im.subband}) {
      rc = mdb_del(txn, dbi, &k, nullptr);
      if (rc != MDB_NOTFOUND) im.check_w(rc, what);
    }
    if (im.fine_usable) {
      rc = mdb_del(txn, im.fine, &k, nullptr);
      if (rc != MDB_NOTFOUND) im.check_w(rc, what);
    }
    if (info && !info->content_hash.empty()) {
      MDB_val ck = val(info->content_hash);
      MDB_val cv = val(&id, sizeof id);
      rc = mdb_del(txn, im.content, &ck, &cv);
      if (rc != MDB_NOTFOUND) im.check_w(rc, what);
    }
    const uint64_t distinct = im.get_meta_u64(txn, kMetaDistinct);
    im.put_meta(txn, kMetaDistinct, std::to_string(distinct - std::min(distinct, gone_hashes)));
    const uint64_t total_frames = im.get_meta_u64(txn, kMetaFrames);
    im.put_meta(txn, kMetaFrames, std::to_string(total_frames - std::min(total_frames, frames)));
    return true;
  });
}

std::optional<TrackInfo> Index::track(uint32_t id) const {
  return impl_->read("cannot read a track", [&](MDB_txn* txn) { return impl_->track_in(txn, id); });
}

std::vector<TrackInfo> Index::tracks() const {
  const Impl& im = *impl_;
  return im.read("cannot list tracks", [&](MDB_txn* txn) {
    std::vector<TrackInfo> out;
    MDB_cursor* raw = nullptr;
    im.check(mdb_cursor_open(txn, im.tracks, &raw), "cannot list tracks");
    lmdb::Cursor cur(raw);
    MDB_val k;
    MDB_val v;
    int rc;
    while ((rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) == MDB_SUCCESS) {
      auto t = parse_track(text(v));
      if (!t) im.damaged("the metadata of a track is not valid JSON");
      t->frames = im.frames_in(txn, t->id);
      out.push_back(std::move(*t));
    }
    if (rc != MDB_NOTFOUND) im.check(rc, "cannot list tracks");
    return out;
  });
}

std::optional<uint32_t> Index::find_content(const std::string& content_hash) const {
  const Impl& im = *impl_;
  if (content_hash.empty() ||
      content_hash.size() > static_cast<std::size_t>(mdb_env_get_maxkeysize(im.env.get()))) {
    return std::nullopt;
  }
  return im.read("cannot look up content", [&](MDB_txn* txn) -> std::optional<uint32_t> {
    MDB_val k = val(content_hash);
    MDB_val v;
    const int rc = mdb_get(txn, im.content, &k, &v);  // the first (lowest) id
    if (rc == MDB_NOTFOUND) return std::nullopt;
    im.check(rc, "cannot look up content");
    if (v.mv_size != sizeof(uint32_t)) im.damaged("a content entry has a wrong size");
    uint32_t id;
    std::memcpy(&id, v.mv_data, sizeof id);
    return id;
  });
}

Stats Index::stats() const {
  const Impl& im = *impl_;
  const char* what = "cannot read statistics";
  return im.read(what, [&](MDB_txn* txn) {
    Stats s;
    MDB_stat st;
    s.tracks = im.track_count_in(txn);
    im.check(mdb_stat(txn, im.postings, &st), what);
    s.postings = st.ms_entries;
    s.distinct_hashes = im.get_meta_u64(txn, kMetaDistinct);
    if (im.fine_usable) {
      im.check(mdb_stat(txn, im.fine, &st), what);
      s.fine_tracks = st.ms_entries;
    }
    {
      MDB_cursor* raw = nullptr;
      im.check(mdb_cursor_open(txn, im.tracks, &raw), what);
      lmdb::Cursor cur(raw);
      MDB_val k;
      MDB_val v;
      int rc;
      while ((rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) == MDB_SUCCESS) {
        if (auto t = parse_track(text(v))) s.seconds += t->duration_s;
      }
      if (rc != MDB_NOTFOUND) im.check(rc, what);
    }
    // Pages in use: every page up to the last one written, less those on the free list
    // (database 0, each value a count followed by that many page numbers).
    std::size_t free_pages = 0;
    {
      MDB_cursor* raw = nullptr;
      im.check(mdb_cursor_open(txn, 0, &raw), what);
      lmdb::Cursor cur(raw);
      MDB_val k;
      MDB_val v;
      int rc;
      while ((rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) == MDB_SUCCESS) {
        std::size_t n = 0;
        if (v.mv_size >= sizeof n) std::memcpy(&n, v.mv_data, sizeof n);
        free_pages += n;
      }
      if (rc != MDB_NOTFOUND) im.check(rc, what);
    }
    MDB_envinfo info;
    im.check(mdb_env_info(im.env.get(), &info), what);
    MDB_stat es;
    im.check(mdb_env_stat(im.env.get(), &es), what);
    const std::size_t pages = info.me_last_pgno + 1;
    s.bytes_used = uint64_t{pages - std::min(pages, free_pages)} * es.ms_psize;
    s.bytes_on_disk = file_bytes(im.dir / "data.mdb");
    return s;
  });
}

std::unique_ptr<Reader> Index::reader() {
  auto owner = impl_->self.lock();
  return std::make_unique<IndexReader>(std::move(owner), *impl_);
}

std::string content_hash(std::span<const float> pcm) {
  uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
  for (const float f : pcm) {
    uint32_t v = 0;
    std::memcpy(&v, &f, sizeof v);
    for (int k = 0; k < 4; ++k) {
      const auto byte = static_cast<uint8_t>(v >> (8 * k));
      a = (a ^ byte) * 0x100000001b3ull;
      b = (b ^ byte ^ 0x5a) * 0x100000001b3ull;
    }
  }
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

}  // namespace aircheck::store
