// systemd service-manager notifications (sd_notify), and log lines for stderr.
//
// Without libsystemd in the build, or when not started by systemd (no $NOTIFY_SOCKET), every
// call is a harmless no-op. Control thread only.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace aircheck::daemon {

class Notifier {
 public:
  Notifier();
  void ready(const std::string& status);
  void status(const std::string& status);
  void watchdog();
  void stopping(const std::string& status);
  void reloading();
  /// The watchdog period systemd expects (WATCHDOG_USEC for this process), if enabled.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

 private:
  void send(const std::string& state);
  std::optional<std::chrono::microseconds> watchdog_;
};

enum class LogLevel { error = 3, warning = 4, notice = 5, info = 6 };

/// One line to stderr, with a "<N>" priority prefix when stderr is the journal (JOURNAL_STREAM).
/// Any thread.
void log_line(LogLevel level, const std::string& message);

}  // namespace aircheck::daemon
