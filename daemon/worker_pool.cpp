#include "daemon/worker_pool.h"

#include <algorithm>

#include "daemon/event_bus.h"

namespace aircheck::daemon {

namespace {

/// How often a worker re-reads the index's posting totals for the posting caps.
constexpr int64_t kCapsRefreshNs = 10'000'000'000;

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

WorkerPool::WorkerPool(unsigned threads, std::shared_ptr<store::Index> index,
                       const dsp::Params& params, EventBus& bus)
    : bus_(bus) {
  for (unsigned i = 0; i < std::max(1u, threads); ++i) {
    auto w = std::make_unique<Worker>();
    w->reader = index->reader();
    w->matcher = std::make_unique<matcher::Matcher>(params);
    w->heartbeat_ns = steady_ns();
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    Worker* p = w.get();
    p->thread = std::thread([this, p] { run(*p); });
  }
}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::run(Worker& w) {
  WorkerContext ctx;
  ctx.matcher = w.matcher.get();
  ctx.reader = w.reader.get();
  ctx.bus = &bus_;
  std::vector<std::shared_ptr<SourceRunner>> mine;
  uint64_t version = 0;
  int64_t caps_due_ns = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    const int64_t now_ns = steady_ns();
    w.heartbeat_ns.store(now_ns, std::memory_order_relaxed);
    if (now_ns >= caps_due_ns) {
      // The caps follow the index as tracks are added while the daemon runs.
      try {
        const store::PostingTotals t = w.reader->posting_totals();
        ctx.posting_caps = stream_posting_caps(t.postings, t.distinct_hashes);
        ctx.track_count = w.reader->track_count();
        ctx.indexed_frames = w.reader->indexed_frames();
      } catch (const store::StoreError&) {
        // Keeps the caps it had; the windows' own reads report what is wrong.
      }
      caps_due_ns = now_ns + kCapsRefreshNs;
    }
    {
      std::lock_guard lock(w.mu);
      if (w.version != version) {
        mine = w.runners;
        version = w.version;
      }
    }
    if (w.seen_version.load(std::memory_order_relaxed) != version) {
      w.seen_version.store(version, std::memory_order_release);
      w.seen_cv.notify_all();
    }
    bool busy = false;
    for (const auto& r : mine) busy |= r->service(ctx);
    if (!busy) {
      std::unique_lock lock(w.mu);
      w.seen_cv.wait_for(lock, std::chrono::milliseconds(5),
                         [&] { return w.version != version || stop_.load(); });
    }
  }
  w.seen_version.store(UINT64_MAX, std::memory_order_release);
  w.seen_cv.notify_all();
}

void WorkerPool::add(std::shared_ptr<SourceRunner> runner) {
  Worker* best = nullptr;
  std::size_t least = SIZE_MAX;
  for (auto& w : workers_) {
    std::lock_guard lock(w->mu);
    if (w->runners.size() < least) {
      least = w->runners.size();
      best = w.get();
    }
  }
  {
    std::lock_guard lock(best->mu);
    best->runners.push_back(std::move(runner));
    ++best->version;
  }
  best->seen_cv.notify_all();
}

void WorkerPool::remove(const std::shared_ptr<SourceRunner>& runner) {
  for (auto& w : workers_) {
    std::unique_lock lock(w->mu);
    auto it = std::find(w->runners.begin(), w->runners.end(), runner);
    if (it == w->runners.end()) continue;
    w->runners.erase(it);
    const uint64_t v = ++w->version;
    w->seen_cv.notify_all();
    w->seen_cv.wait(lock, [&] { return w->seen_version.load(std::memory_order_acquire) >= v; });
    return;
  }
}

void WorkerPool::stop() {
  if (stop_.exchange(true)) return;
  for (auto& w : workers_) {
    { std::lock_guard lock(w->mu); }
    w->seen_cv.notify_all();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

bool WorkerPool::healthy(std::chrono::steady_clock::duration max_age) const {
  const int64_t now = steady_ns();
  const int64_t max_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(max_age).count();
  return std::all_of(workers_.begin(), workers_.end(), [&](const auto& w) {
    return now - w->heartbeat_ns.load(std::memory_order_relaxed) <= max_ns;
  });
}

}  // namespace aircheck::daemon
