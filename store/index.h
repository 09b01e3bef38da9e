// The reference index: an LMDB environment in a folder.
//
// Databases (the schema is owned here and nowhere else):
//   "postings" MDB_INTEGERKEY|MDB_DUPSORT|MDB_DUPFIXED|MDB_INTEGERDUP
//              key uint32 hash >> 14 -> values uint64 (hash & 0x3fff, track, t); bit layout in
//              store/posting_layout.h
//   "tracks"   MDB_INTEGERKEY  key uint32 track id -> JSON TrackInfo (without `frames`, which
//              comes from "hashes")
//   "hashes"   MDB_INTEGERKEY  key uint32 track id -> the track's distinct hashes (for exact
//              removal): LEB128 varints, the track's frames (last t + 1), then the ascending
//              hashes as deltas
//   "subband"  MDB_INTEGERKEY  key uint32 track id -> the track's sub-band energy words
//              (dsp::Fingerprinter::collect_subband), one uint32 per frame, little-endian
//   "fine"     MDB_INTEGERKEY  key uint32 track id -> the track's fine words
//              (dsp::Fingerprinter::collect_fine), dsp::Params::kFineBytes bytes per frame,
//              little-endian; layout named by meta "fine_format". An index written before
//              has no "fine" (its writer adds it; its earlier tracks have no fine words).
//   "content"  MDB_DUPSORT|MDB_DUPFIXED|MDB_INTEGERDUP
//              key content digest text -> uint32 track ids (duplicate detection)
//   "meta"     key text -> value text: "schema", "format", "format_digest" (16 hex digits),
//              "next_id", "distinct_hashes", "frames" (decimal), "fine_format"
//
// One writer process at a time (LMDB's writer lock); any number of readers, in this and other
// processes, at the same time. Every track is added or removed in a single write transaction,
// so after a crash the index holds each track wholly or not at all.
//
// The map starts at 64 MiB and doubles whenever a write finds it full. Growing remaps the file,
// which LMDB allows only while no transaction of this process is open: a growth waits until
// every Reader snapshot of this process has ended, and holds new ones back meanwhile. Keep
// snapshots short (one per batch of lookups). A Reader that finds the index grown by another
// process remaps it the same way at its next begin().
//
// Errors: every failure is thrown as StoreError (or a subclass) whose one-line message names the
// index folder and the remedy. Nothing here belongs on the audio thread. Reader::lookup() inside
// begin()/end() takes no lock and allocates only to grow the caller's vector (it may still fault
// in pages of the map).
//
// fork(): a child must not use or destroy Index or Reader objects inherited from its parent
// (leave with _exit()); it may open the index anew.
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

/// The key TrackInfo::content_hash holds: a hex digest (128 bits, two FNV-1a lanes) of the
/// decoded PCM at the fingerprint rate. Every writer of an index (`aircheck index add`,
/// `aircheck eval`) uses it, so one finds the other's tracks as duplicates.
std::string content_hash(std::span<const float> pcm);

struct TrackInfo {
  uint32_t id = 0;  ///< assigned by add_track(); never reused
  std::string title;
  std::string artist;
  std::string external_id;   ///< ISRC, ad-spot code, ... as the user gave it
  std::string source;        ///< path of the indexed file as given
  std::string content_hash;  ///< content_hash() of the decoded audio, for duplicate detection
  double duration_s = 0;     ///< in seconds
  int64_t added_unix = 0;    ///< seconds since the epoch
  uint64_t hashes = 0;       ///< postings stored for this track
  /// Frames up to the track's last hashed frame, inclusive (where its fingerprinted audio ends:
  /// a quiet fade or tail after it yields no hashes). Read from the index; 0 when unknown.
  uint64_t frames = 0;
  /// The track's first hashed frame (where its fingerprinted audio begins: a quiet intro
  /// yields no hashes); -1 when unknown (tracks indexed before it was recorded).
  int64_t first_frame = -1;
};

struct Stats {
  uint64_t tracks = 0;
  double seconds = 0;  ///< total duration of the indexed tracks
  uint64_t postings = 0;
  uint64_t distinct_hashes = 0;
  uint64_t bytes_on_disk = 0;  ///< size of data.mdb
  uint64_t bytes_used = 0;     ///< pages in use * page size
  uint64_t fine_tracks = 0;    ///< tracks with fine words (of this build's layout)
};

/// How many postings an index holds, of how many distinct hashes.
struct PostingTotals {
  uint64_t postings = 0;
  uint64_t distinct_hashes = 0;
};

enum class OpenMode { read_only, read_write, create };

class Reader;

/// An open index environment. Thread-safe to share; create one per process.
class Index {
 public:
  /// Opens the index in `dir`. `create` makes the folder and an empty index if absent.
  /// Throws NoIndexError, FormatMismatchError (message shows both formats), StoreError.
  /// Any thread. Opening a folder already open in this process returns the same Index (LMDB
  /// forbids two environments on one file in a process); asking for writes on one opened
  /// read_only throws StoreError. The index stays open while any returned pointer or Reader
  /// lives.
  static std::shared_ptr<Index> open(const std::filesystem::path& dir, const Format& format,
                                     OpenMode mode);
  ~Index();

  const std::filesystem::path& dir() const;
  const Format& format() const;

  // ---- writing (one thread, one process at a time) ----
  /// Adds a track and its hashes in one transaction; fills in and returns the new id.
  /// Repeated (hash, t) pairs are stored once; on return info.id, info.hashes (postings
  /// stored) and, if it was 0, info.added_unix are set. Several tracks may share a
  /// content_hash (find_content returns the lowest id); an empty one is not indexed.
  /// Grows the map as needed. Throws StoreError (read-only index, disk full, a content_hash
  /// longer than 511 bytes, a hash at frame 2^24 or later (74 h at 16-ms frames), the
  /// 2^26 - 1 track ids used up, or, if the map must grow, when the calling thread holds a Reader
  /// snapshot). Calls from several threads are serialized; another process that writes waits
  /// for LMDB's writer lock.
  /// `subband`: the track's sub-band energy words (one per frame; may be empty), which
  /// verification of repeats reads (PostingLookup::subband); `fine`: its fine words (one per
  /// frame; may be empty; PostingLookup::fine).
  uint32_t add_track(TrackInfo& info, std::span<const dsp::TimedHash> hashes,
                     std::span<const uint32_t> subband = {}, std::span<const uint64_t> fine = {});
  /// Stores the fine words of track `id` (one per frame), replacing any, in one transaction:
  /// for a track indexed before fine words (`aircheck index upgrade`). Returns false if the
  /// track is absent. Throws StoreError as add_track, and when the index keeps no fine words
  /// of this build's layout (`fine_format` of another build).
  bool set_fine(uint32_t id, std::span<const uint64_t> fine);
  /// Removes a track and all its postings in one transaction. Returns false if absent.
  /// Its id is never given out again. Throws StoreError as add_track.
  bool remove_track(uint32_t id);

  // ---- reading (any thread; each call is one snapshot; results are copies) ----
  std::optional<TrackInfo> track(uint32_t id) const;
  std::vector<TrackInfo> tracks() const;
  /// Id of an indexed track with this content hash, if any.
  std::optional<uint32_t> find_content(const std::string& content_hash) const;
  Stats stats() const;

  /// A reader for one thread (the matcher's PostingLookup). See Reader. Allocates its LMDB
  /// transaction and cursor now and keeps one of LMDB's 510 reader slots while it lives;
  /// holds the Index open. Any thread.
  std::unique_ptr<Reader> reader();

  struct Impl;

 private:
  explicit Index(std::unique_ptr<Impl>);
  std::unique_ptr<Impl> impl_;
};

/// A read-only view for one thread. begin() takes a snapshot (renewing a reset LMDB read
/// transaction: no allocation), end() releases it; tracks added by a writer are seen from
/// the next begin(). lookup() outside begin()/end() opens a snapshot implicitly.
///
/// Exactly: a call to lookup(), track() or track_count() outside begin()/end() takes its own
/// snapshot and releases it before returning, so two such calls may see different states.
/// A Reader is used by one thread at a time; it may be created on one thread and used on
/// another, but begin() and its end() must be called on the same thread. While a snapshot is
/// open, the index map cannot grow (see the file comment): the writer waits for end(). Postings
/// and TrackInfo returned are copies. Errors throw StoreError (damaged index, no free reader
/// slot, or a remap of a grown index needed while this thread holds another snapshot).
class Reader : public PostingLookup {
 public:
  /// Takes a snapshot; if one is open, takes a fresh one. Allocation-free after the first.
  /// May wait while this process grows the map.
  virtual void begin() = 0;
  /// Releases the snapshot; harmless without one. Allocation-free.
  virtual void end() = 0;
  /// Track metadata within the current snapshot.
  virtual std::optional<TrackInfo> track(uint32_t id) = 0;
  /// Number of tracks in the current snapshot.
  virtual uint64_t track_count() = 0;
  /// Postings and distinct hashes in the current snapshot (Stats::postings and
  /// Stats::distinct_hashes, without Index::stats()'s pass over the tracks).
  virtual PostingTotals posting_totals() = 0;
  // indexed_frames() (PostingLookup): the sum over tracks of (last hashed frame + 1), kept in
  // "meta" by add_track/remove_track; in frames.
};

}  // namespace aircheck::store
