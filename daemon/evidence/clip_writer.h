// Evidence clips on disk: the one thread that encodes and writes them, off the matching path.
//
//   workers ──submit(job)──▶ bounded queue ──▶ clip thread: FFmpeg encode ──▶ NAME.part
//                                                ──▶ fsync ──▶ rename(NAME.part, NAME)
//
// A file under its final name is always complete: it is written as NAME.part, flushed to disk,
// then renamed in one step. A clip that cannot be written (disk full, folder not writable,
// encoder error) has its .part removed and is reported as a clip_failed event naming the path
// and the reason; nothing is retried and the daemon carries on. When the queue is full the job
// is refused at once and reported the same way: a worker never waits for the disk.
//
// Formats (evidence.format): "ogg" writes Ogg/Opus (narrowband, kOpusBitrate) named .opus;
// "flac" writes FLAC, lossless. Clips are mono at the fingerprint rate (8 kHz).
//
// Threads: construction, stop() and destruction on the control thread; submit() from any
// thread; `report` is called from the submitting thread (refusals) and the clip thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "daemon/event.h"

namespace aircheck::daemon {

/// Opus bit rate of "ogg" clips, in bit/s: transparent enough for 8 kHz mono speech and music.
inline constexpr int64_t kOpusBitrate = 16000;

/// One clip to write. Owns its audio.
struct ClipJob {
  std::string source;      ///< source id (for clip_failed)
  uint32_t track_id = 0;   ///< (for clip_failed)
  double start_utc = 0;    ///< the airing's start, Unix seconds (for clip_failed)
  std::string path;        ///< final path, from clip_path()
  std::string format;      ///< "ogg" or "flac"
  int sample_rate = 8000;  ///< of pcm, in Hz
  std::vector<float> pcm;  ///< mono
};

/// The file extension of a clip format: "ogg" -> "opus", "flac" -> "flac". Throws
/// std::invalid_argument for any other format.
std::string_view clip_extension(std::string_view format);

/// The final path of a clip: DIR/SOURCE/YYYYMMDDTHHMMSS.mmmZ_TRACK.EXT, with the airing's start
/// in UTC (milliseconds truncated). SOURCE is `source` with every character outside
/// [A-Za-z0-9_.-] replaced by '_' and a leading '_' added when it is empty or starts with '.',
/// so it is always one plain folder name inside DIR. Throws as clip_extension().
std::string clip_path(const std::string& dir, const std::string& source, double start_utc,
                      uint32_t track_id, std::string_view format);

/// Writes one clip synchronously: creates its folder, encodes to PATH.part, fsyncs, renames to
/// PATH and fsyncs the folder. Throws std::runtime_error naming the path and the reason, after
/// removing the .part. Any thread (the clip thread, benchmarks, tests).
void write_clip(const ClipJob& job);

class ClipWriter {
 public:
  using Report = std::function<void(const Event&)>;

  /// Starts the clip thread. `report` receives every clip_failed event; it must be callable
  /// from any thread and outlive the writer. The queue holds at most `max_jobs` jobs and
  /// `max_bytes` of audio, except that a job is always accepted into an empty queue.
  explicit ClipWriter(Report report, std::size_t max_jobs = 64,
                      std::size_t max_bytes = std::size_t{64} << 20);
  ~ClipWriter();  ///< stop(kStopTimeout)
  ClipWriter(const ClipWriter&) = delete;
  ClipWriter& operator=(const ClipWriter&) = delete;

  /// How long stop() from the destructor keeps writing queued clips.
  static constexpr std::chrono::milliseconds kStopTimeout{8000};

  /// Queues `job`. Returns true if queued; false if refused (queue full, or stopped), after
  /// reporting clip_failed. Never waits for a write: takes one short lock. Allocates (queue
  /// node); not for the capture path.
  bool submit(ClipJob job);

  /// Reports `job` as clip_failed with `reason` and counts it as dropped, without queueing it
  /// (a clip that cannot even be cut). Any thread.
  void reject(const ClipJob& job, const std::string& reason);

  /// Writes what is queued for up to `timeout`, reports the rest as clip_failed, joins the
  /// thread. Idempotent. Control thread. A write in progress is finished, not interrupted.
  void stop(std::chrono::milliseconds timeout);

  /// Totals since construction (any thread).
  uint64_t written() const;
  uint64_t failed() const;   ///< write errors
  uint64_t dropped() const;  ///< refused by submit() or left unwritten at stop()

 private:
  void run();
  void fail(const ClipJob& job, const std::string& reason);

  Report report_;
  const std::size_t max_jobs_;
  const std::size_t max_bytes_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ClipJob> queue_;                        // guarded by mu_
  std::size_t queued_bytes_ = 0;                     // guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
  std::chrono::steady_clock::time_point deadline_;   // guarded by mu_
  uint64_t written_ = 0, failed_ = 0, dropped_ = 0;  // guarded by mu_
  std::thread thread_;
};

}  // namespace aircheck::daemon
