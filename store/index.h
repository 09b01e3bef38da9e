// The reference index: an LMDB environment in a folder.
//
// Databases (the schema is owned here and nowhere else):
//   "postings" MDB_INTEGERKEY|MDB_DUPSORT|MDB_DUPFIXED|MDB_INTEGERDUP
//              key uint32 hash -> values uint64 pack_posting(track, t)
//   "tracks"   MDB_INTEGERKEY  key uint32 track id -> JSON TrackInfo
//   "hashes"   MDB_INTEGERKEY  key uint32 track id -> the track's TimedHash[] (for exact removal)
//   "content"  key 32-byte content digest text -> uint32 track id (duplicate detection)
//   "meta"     key text -> value text: "schema", "format", "format_digest", "next_id"
//
// One writer process at a time (LMDB's writer lock); any number of readers, in this and other
// processes, at the same time. Every track is added or removed in a single write transaction,
// so after a crash the index holds each track wholly or not at all.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "dsp/types.h"
#include "store/posting.h"

namespace aircheck::store {

/// Errors carry one line naming the index folder and the remedy.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// The folder holds no index (open without create).
class NoIndexError : public StoreError {
 public:
  using StoreError::StoreError;
};
/// The index was built with other fingerprint parameters.
class FormatMismatchError : public StoreError {
 public:
  using StoreError::StoreError;
};

/// The fingerprint format an index is bound to (see dsp::Params::describe/digest).
struct Format {
  uint64_t digest = 0;
  std::string text;
};

struct TrackInfo {
  uint32_t id = 0;             ///< assigned by add_track(); never reused
  std::string title;
  std::string artist;
  std::string external_id;     ///< ISRC, ad-spot code, ... as the user gave it
  std::string source;          ///< path of the indexed file as given
  std::string content_hash;    ///< hex digest of the decoded audio, for duplicate detection
  double duration_s = 0;       ///< in seconds
  int64_t added_unix = 0;      ///< seconds since the epoch
  uint64_t hashes = 0;         ///< postings stored for this track
};

struct Stats {
  uint64_t tracks = 0;
  double seconds = 0;          ///< total duration of the indexed tracks
  uint64_t postings = 0;
  uint64_t distinct_hashes = 0;
  uint64_t bytes_on_disk = 0;  ///< size of data.mdb
  uint64_t bytes_used = 0;     ///< pages in use * page size
};

enum class OpenMode { read_only, read_write, create };

class Reader;

/// An open index environment. Thread-safe to share; create one per process.
class Index {
 public:
  /// Opens the index in `dir`. `create` makes the folder and an empty index if absent.
  /// Throws NoIndexError, FormatMismatchError (message shows both formats), StoreError.
  static std::shared_ptr<Index> open(const std::filesystem::path& dir, const Format& format,
                                     OpenMode mode);
  ~Index();

  const std::filesystem::path& dir() const;
  const Format& format() const;

  // ---- writing (one thread, one process at a time) ----
  /// Adds a track and its hashes in one transaction; fills in and returns the new id.
  /// Grows the map as needed. Throws StoreError.
  uint32_t add_track(TrackInfo& info, std::span<const dsp::TimedHash> hashes);
  /// Removes a track and all its postings in one transaction. Returns false if absent.
  bool remove_track(uint32_t id);

  // ---- reading (any thread) ----
  std::optional<TrackInfo> track(uint32_t id) const;
  std::vector<TrackInfo> tracks() const;
  /// Id of an indexed track with this content hash, if any.
  std::optional<uint32_t> find_content(const std::string& content_hash) const;
  Stats stats() const;

  /// A reader for one thread (the matcher's PostingLookup). See Reader.
  std::unique_ptr<Reader> reader();

  struct Impl;
 private:
  explicit Index(std::unique_ptr<Impl>);
  std::unique_ptr<Impl> impl_;
};

/// A read-only view for one thread. begin() takes a snapshot (renewing a reset LMDB read
/// transaction: no allocation), end() releases it; tracks added by a writer are seen from
/// the next begin(). lookup() outside begin()/end() opens a snapshot implicitly.
class Reader : public PostingLookup {
 public:
  virtual void begin() = 0;
  virtual void end() = 0;
  /// Track metadata within the current snapshot.
  virtual std::optional<TrackInfo> track(uint32_t id) = 0;
  /// Number of tracks in the current snapshot.
  virtual uint64_t track_count() = 0;
};

}  // namespace aircheck::store
