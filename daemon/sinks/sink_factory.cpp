#include <stdexcept>

#include "daemon/sinks/jsonl_sink.h"
#include "daemon/sinks/sink.h"
#include "daemon/sinks/stdout_sink.h"
#ifdef AIRCHECK_HAVE_SYSTEMD
#include "daemon/sinks/journald_sink.h"
#endif

namespace aircheck::daemon {

std::vector<std::unique_ptr<Sink>> make_sinks(const config::SinkSettings& s, bool foreground) {
  std::vector<std::unique_ptr<Sink>> sinks;
  if (s.journald) {
#ifdef AIRCHECK_HAVE_SYSTEMD
    sinks.push_back(std::make_unique<JournaldSink>());
#else
    throw std::runtime_error(
        "journald sink requested but this build has no libsystemd (rebuild with "
        "-DAIRCHECK_WITH_SYSTEMD=ON or set sinks.journald.enabled: false)");
#endif
  }
  if (!s.jsonl_path.empty()) {
    sinks.push_back(
        std::make_unique<JsonlSink>(s.jsonl_path, s.jsonl_fsync, s.jsonl_fsync_interval_s));
  }
  if (foreground) sinks.push_back(std::make_unique<StdoutSink>(s.console));
  return sinks;
}

}  // namespace aircheck::daemon
