#include "daemon/event_bus.h"

#include <chrono>
#include <utility>

namespace aircheck::daemon {

EventBus::EventBus(std::size_t capacity) : capacity_(capacity) {}

EventBus::~EventBus() { stop(); }

void EventBus::run(Lane& lane) {
  std::deque<Event> batch;
  for (;;) {
    bool reopen = false;
    bool stopping = false;
    uint64_t dropped = 0;
    {
      std::unique_lock lock(lane.mu);
      lane.cv.wait_for(lock, std::chrono::milliseconds(200),
                       [&] { return lane.stopping || lane.reopen || !lane.queue.empty(); });
      batch.swap(lane.queue);
      reopen = std::exchange(lane.reopen, false);
      stopping = lane.stopping;
      dropped = std::exchange(lane.dropped_unreported, 0);
    }
    if (reopen) lane.sink->reopen();
    for (const Event& e : batch) {
      if (!lane.sink->write(e)) lane.failed.fetch_add(1, std::memory_order_relaxed);
    }
    batch.clear();
    if (dropped > 0) {
      Event d;
      d.type = EventType::events_dropped;
      d.emitted_utc = unix_now();
      d.utc = d.emitted_utc;
      d.sink = std::string(lane.sink->name());
      d.count = dropped;
      if (!lane.sink->write(d)) lane.failed.fetch_add(1, std::memory_order_relaxed);
    }
    lane.sink->tick();
    if (stopping) {
      std::lock_guard lock(lane.mu);
      if (lane.queue.empty()) break;
    }
  }
  lane.sink->flush();
}

void EventBus::set_sinks(std::vector<std::unique_ptr<Sink>> sinks, std::size_t capacity) {
  std::vector<std::unique_ptr<Lane>> fresh;
  for (auto& s : sinks) {
    auto lane = std::make_unique<Lane>();
    lane->sink = std::move(s);
    lane->capacity = capacity;
    fresh.push_back(std::move(lane));
  }
  std::vector<std::unique_ptr<Lane>> old;
  {
    std::unique_lock lock(lanes_mu_);
    old.swap(lanes_);
    lanes_ = std::move(fresh);
    capacity_ = capacity;
    for (auto& lane : lanes_) {
      Lane* l = lane.get();
      l->thread = std::thread([l] { run(*l); });
    }
  }
  stop_lanes(old);
  for (auto& lane : old) {
    dropped_retired_ += lane->dropped.load();
    failed_retired_ += lane->failed.load();
  }
}

void EventBus::stop_lanes(std::vector<std::unique_ptr<Lane>>& lanes) {
  for (auto& lane : lanes) {
    {
      std::lock_guard lock(lane->mu);
      lane->stopping = true;
    }
    lane->cv.notify_one();
  }
  for (auto& lane : lanes) {
    if (lane->thread.joinable()) lane->thread.join();
  }
}

void EventBus::publish(const Event& e) {
  published_.fetch_add(1, std::memory_order_relaxed);
  std::shared_lock lock(lanes_mu_);
  for (auto& lane : lanes_) {
    bool queued = false;
    {
      std::lock_guard l(lane->mu);
      if (lane->queue.size() < lane->capacity) {
        lane->queue.push_back(e);
        queued = true;
      } else {
        ++lane->dropped_unreported;
      }
    }
    if (queued)
      lane->cv.notify_one();
    else
      lane->dropped.fetch_add(1, std::memory_order_relaxed);
  }
}

void EventBus::reopen() {
  std::shared_lock lock(lanes_mu_);
  for (auto& lane : lanes_) {
    {
      std::lock_guard l(lane->mu);
      lane->reopen = true;
    }
    lane->cv.notify_one();
  }
}

void EventBus::stop() {
  std::vector<std::unique_ptr<Lane>> old;
  {
    std::unique_lock lock(lanes_mu_);
    old.swap(lanes_);
  }
  stop_lanes(old);
  for (auto& lane : old) {
    dropped_retired_ += lane->dropped.load();
    failed_retired_ += lane->failed.load();
  }
}

uint64_t EventBus::dropped() const {
  uint64_t n = dropped_retired_.load();
  std::shared_lock lock(lanes_mu_);
  for (const auto& lane : lanes_) n += lane->dropped.load(std::memory_order_relaxed);
  return n;
}

uint64_t EventBus::failed() const {
  uint64_t n = failed_retired_.load();
  std::shared_lock lock(lanes_mu_);
  for (const auto& lane : lanes_) n += lane->failed.load(std::memory_order_relaxed);
  return n;
}

}  // namespace aircheck::daemon
