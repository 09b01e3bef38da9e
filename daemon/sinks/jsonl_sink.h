// JSON-lines sink: one event per line (daemon/event.h has the schema), appended to a file.
#pragma once

#include <chrono>
#include <string>

#include "daemon/sinks/sink.h"

namespace aircheck::daemon {

class JsonlSink : public Sink {
 public:
  /// Opens (creates, appends to) `path`. Throws std::runtime_error naming the path and errno
  /// text if it cannot be opened. `fsync_interval_s` applies to FsyncPolicy::interval.
  JsonlSink(std::string path, config::FsyncPolicy policy, double fsync_interval_s);
  ~JsonlSink() override;
  JsonlSink(const JsonlSink&) = delete;
  JsonlSink& operator=(const JsonlSink&) = delete;

  std::string_view name() const override { return "jsonl"; }
  bool write(const Event& e) override;
  void tick() override;
  void flush() override;
  bool reopen() override;

 private:
  void sync();
  std::string path_;
  config::FsyncPolicy policy_;
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point last_sync_;
  int fd_ = -1;
  bool dirty_ = false;
  std::string line_;
};

}  // namespace aircheck::daemon
