// Where events go: one interface, one file per backend (journald, jsonl, stdout), one factory.
//
// A Sink is driven by exactly one thread, its lane in the EventBus; it may block (disk, journal
// socket) without ever holding up matching, because the bus buffers in front of it.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "config/settings.h"
#include "daemon/event.h"

namespace aircheck::daemon {

class Sink {
 public:
  virtual ~Sink() = default;
  /// Short name for messages and events_dropped ("jsonl", "journald", "stdout").
  virtual std::string_view name() const = 0;
  /// Writes one event. Returns false if it could not be written (the bus counts failures);
  /// never throws.
  virtual bool write(const Event& e) = 0;
  /// Called about every 200 ms while idle or busy (fsync intervals). Never throws.
  virtual void tick() {}
  /// Makes everything written so far durable. Called on shutdown. Never throws.
  virtual void flush() {}
  /// Reopens files (log rotation, SIGHUP). Returns false and keeps writing to the old file if
  /// the new one cannot be opened. Never throws.
  virtual bool reopen() { return true; }
};

/// Builds the sinks the settings ask for: journald if enabled, jsonl if a path is set, stdout
/// if `foreground`. Throws std::runtime_error naming the sink and the remedy when one cannot
/// be set up (unwritable log folder, journald requested in a build without libsystemd).
/// Control thread only.
std::vector<std::unique_ptr<Sink>> make_sinks(const config::SinkSettings& s, bool foreground);

}  // namespace aircheck::daemon
