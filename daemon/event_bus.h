// Fan-out of events to sinks, off the matching path.
//
//   workers ──publish()──▶ per-sink bounded queue ──▶ sink thread ──▶ Sink::write()
//
// Each sink has its own queue and thread, so a slow sink (a stalled disk, a busy journal) never
// holds up matching or the other sinks: when its queue is full, new events for that sink are
// dropped and counted, and the sink writes one events_dropped event once it catches up.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "daemon/event.h"
#include "daemon/sinks/sink.h"

namespace aircheck::daemon {

class EventBus {
 public:
  /// `capacity`: events buffered per sink before dropping.
  explicit EventBus(std::size_t capacity);
  ~EventBus();  ///< stop()s
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  /// Replaces all sinks: drains and flushes the current ones, then starts one thread per new
  /// sink. Control thread only. Never throws after the new sinks have been built.
  void set_sinks(std::vector<std::unique_ptr<Sink>> sinks, std::size_t capacity);

  /// Queues `e` for every sink. Any thread; never blocks on a sink (takes short locks only);
  /// not real-time safe (allocates).
  void publish(const Event& e);

  /// Asks every sink to reopen its files (SIGHUP). Asynchronous; control thread.
  void reopen();

  /// Writes everything queued, flushes each sink and joins the threads. Idempotent.
  void stop();

  /// Totals over the sinks of this bus since it was made.
  uint64_t published() const { return published_.load(std::memory_order_relaxed); }
  uint64_t dropped() const;
  uint64_t failed() const;

 private:
  struct Lane {
    std::unique_ptr<Sink> sink;
    std::size_t capacity = 0;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Event> queue;
    bool stopping = false;
    bool reopen = false;
    uint64_t dropped_unreported = 0;
    std::atomic<uint64_t> dropped{0};
    std::atomic<uint64_t> failed{0};
    std::thread thread;
  };
  static void run(Lane& lane);
  static void stop_lanes(std::vector<std::unique_ptr<Lane>>& lanes);

  mutable std::shared_mutex lanes_mu_;  // publish() shares; set_sinks()/stop() exclusive
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::size_t capacity_;
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> dropped_retired_{0};
  std::atomic<uint64_t> failed_retired_{0};
};

}  // namespace aircheck::daemon
