#include "daemon/notify.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#ifdef AIRCHECK_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace aircheck::daemon {

Notifier::Notifier() {
#ifdef AIRCHECK_HAVE_SYSTEMD
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_ = std::chrono::microseconds(static_cast<int64_t>(usec));
  }
#endif
}

void Notifier::send(const std::string& state) {
#ifdef AIRCHECK_HAVE_SYSTEMD
  sd_notify(0, state.c_str());
#else
  (void)state;
#endif
}

void Notifier::ready(const std::string& status) { send("READY=1\nSTATUS=" + status); }
void Notifier::status(const std::string& status) { send("STATUS=" + status); }
void Notifier::watchdog() { send("WATCHDOG=1"); }
void Notifier::stopping(const std::string& status) { send("STOPPING=1\nSTATUS=" + status); }
void Notifier::reloading() { send("RELOADING=1"); }

namespace {

bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  unsigned long dev = 0, ino = 0;
  if (std::sscanf(js, "%lu:%lu", &dev, &ino) != 2) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

}  // namespace

void log_line(LogLevel level, const std::string& message) {
  static const bool journal = stderr_is_journal();
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (journal)
    std::fprintf(stderr, "<%d>%s\n", static_cast<int>(level), message.c_str());
  else
    std::fprintf(stderr, "aircheckd: %s\n", message.c_str());
  std::fflush(stderr);
}

}  // namespace aircheck::daemon
