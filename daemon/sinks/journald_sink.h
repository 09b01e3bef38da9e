// journald sink: sd_journal_sendv with a readable MESSAGE and structured AIRCHECK_* fields, and a
// fixed MESSAGE_ID per event type, so that
//   journalctl MESSAGE_ID=<airing_end id> -o json
// is an airplay log. The ids are listed by message_id().
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/sinks/sink.h"

namespace aircheck::daemon {

/// The 128-bit MESSAGE_ID of an event type as 32 hex digits. Never changes between versions.
std::string_view message_id(EventType t);

class JournaldSink : public Sink {
 public:
  JournaldSink() = default;
  std::string_view name() const override { return "journald"; }
  /// Returns false when the journal refused the entry (no journald: -ENOENT, full socket).
  bool write(const Event& e) override;
  /// Last sd_journal_sendv error (negative errno), 0 if none.
  int last_error() const { return last_error_; }

 private:
  std::vector<std::string> fields_;
  int last_error_ = 0;
};

}  // namespace aircheck::daemon
