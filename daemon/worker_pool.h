// A fixed pool of worker threads (default one per core) servicing many sources.
//
// Each SourceRunner is assigned to one worker (the least loaded at the time), so a source's
// ring always has exactly one consumer. A worker loops over its runners, servicing each for a
// bounded amount of audio, and sleeps briefly when none had anything to do. Each worker owns
// its Matcher scratch, its store::Reader (one LMDB read transaction, renewed per window) and a
// track-metadata cache.
//
// Threads: construction, add(), remove(), stop() on the control thread; heartbeats from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "daemon/source_runner.h"
#include "dsp/params.h"
#include "matcher/matcher.h"
#include "store/index.h"

namespace aircheck::daemon {

class EventBus;

class WorkerPool {
 public:
  /// Starts `threads` workers reading `index`. Throws StoreError if a reader cannot be made.
  WorkerPool(unsigned threads, std::shared_ptr<store::Index> index, const dsp::Params& params,
             EventBus& bus);
  ~WorkerPool();  ///< stop()s
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Hands a started runner to the least loaded worker.
  void add(std::shared_ptr<SourceRunner> runner);
  /// Takes a runner away; when this returns, no worker touches it any more.
  void remove(const std::shared_ptr<SourceRunner>& runner);
  /// Stops and joins the workers. Idempotent.
  void stop();

  /// True if every worker has looped within `max_age`.
  bool healthy(std::chrono::steady_clock::duration max_age) const;
  std::size_t size() const { return workers_.size(); }

 private:
  struct Worker {
    std::thread thread;
    std::mutex mu;
    std::vector<std::shared_ptr<SourceRunner>> runners;  // guarded by mu
    uint64_t version = 0;                                // guarded by mu
    std::atomic<uint64_t> seen_version{0};
    std::condition_variable seen_cv;
    std::atomic<int64_t> heartbeat_ns{0};
    std::unique_ptr<store::Reader> reader;
    std::unique_ptr<matcher::Matcher> matcher;
  };
  void run(Worker& w);

  std::vector<std::unique_ptr<Worker>> workers_;
  EventBus& bus_;
  std::atomic<bool> stop_{false};
};

}  // namespace aircheck::daemon
