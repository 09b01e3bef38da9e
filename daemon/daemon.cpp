#include "daemon/daemon.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "daemon/event_bus.h"
#include "daemon/evidence/clip_writer.h"
#include "daemon/notify.h"
#include "daemon/sinks/sink.h"
#include "daemon/source_runner.h"
#include "daemon/worker_pool.h"
#include "dsp/params.h"
#include "store/index.h"

namespace aircheck::daemon {

namespace {

using Clock = std::chrono::steady_clock;

/// How long shutdown waits for sources to drain before giving up on them.
constexpr auto kDrainTimeout = std::chrono::seconds(8);

std::string kind_name(SourceKind k) {
  switch (k) {
    case SourceKind::file:
      return "file";
    case SourceKind::alsa:
      return "alsa";
    case SourceKind::portaudio:
      return "portaudio";
    case SourceKind::stream:
      return "stream";
  }
  return "file";
}

class SignalFd {
 public:
  SignalFd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) {
      throw StartupError(kExitFailure, "cannot block signals");
    }
    fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd_ < 0) {
      throw StartupError(kExitFailure, std::string("signalfd: ") + std::strerror(errno));
    }
  }
  ~SignalFd() { ::close(fd_); }
  SignalFd(const SignalFd&) = delete;
  SignalFd& operator=(const SignalFd&) = delete;

  /// Waits up to `timeout` for a signal; returns its number or 0.
  int wait(std::chrono::milliseconds timeout) const {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r <= 0) return 0;
    signalfd_siginfo info{};
    if (::read(fd_, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) return 0;
    return static_cast<int>(info.ssi_signo);
  }

 private:
  int fd_ = -1;
};

store::Format format_of(const dsp::Params& p) { return store::Format{p.digest(), p.describe()}; }

/// Creates the evidence folder ahead of the first clip, so that a folder that cannot be made is
/// named at start. Not fatal: monitoring runs on, and each clip that fails is reported.
void prepare_evidence_dir(const config::EvidenceSettings& e) {
  if (!e.enabled) return;
  std::error_code ec;
  std::filesystem::create_directories(e.dir, ec);
  if (ec) {
    log_line(LogLevel::warning, "evidence: cannot create " + e.dir + ": " + ec.message() +
                                    "; clips will fail until it can be written");
  }
}

class Daemon {
 public:
  explicit Daemon(const Options& o) : opts_(o), bus_(4096) {}
  int run();

 private:
  std::shared_ptr<SourceRunner> make_runner(const config::SourceSettings& s,
                                            const config::EvidenceSettings& evidence);
  void stop_runner(const std::shared_ptr<SourceRunner>& r);
  void reload();
  void shutdown(const std::string& why);
  std::string status() const;
  void report_down(const std::string& id, const std::string& reason);

  Options opts_;
  config::Settings settings_;
  dsp::Params params_;
  std::shared_ptr<store::Index> index_;
  EventBus bus_;
  std::unique_ptr<ClipWriter> clips_;  // after bus_: it reports to it; before the runners
  std::unique_ptr<WorkerPool> pool_;
  std::map<std::string, std::shared_ptr<SourceRunner>> runners_;
  Notifier notifier_;
};

std::shared_ptr<SourceRunner> Daemon::make_runner(const config::SourceSettings& s,
                                                  const config::EvidenceSettings& evidence) {
  auto source = make_source(to_spec(s), params_.sample_rate);
  return std::make_shared<SourceRunner>(s, std::move(source), params_, evidence, clips_.get());
}

void Daemon::report_down(const std::string& id, const std::string& reason) {
  Event e;
  e.type = EventType::source_down;
  e.source = id;
  e.emitted_utc = unix_now();
  e.utc = e.emitted_utc;
  e.reason = reason;
  bus_.publish(e);
  log_line(LogLevel::warning, "source '" + id + "' is down: " + reason);
}

void Daemon::stop_runner(const std::shared_ptr<SourceRunner>& r) {
  r->stop_and_drain();
  const auto deadline = Clock::now() + kDrainTimeout;
  while (!r->done() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!r->done()) log_line(LogLevel::warning, "source '" + r->id() + "' did not drain in time");
  pool_->remove(r);
}

std::string Daemon::status() const {
  std::size_t live = 0;
  int open = 0;
  uint64_t started = 0;
  for (const auto& [id, r] : runners_) {
    if (!r->done()) ++live;
    open += r->open_airings();
    started += r->airings_started();
  }
  std::ostringstream os;
  os << live << "/" << runners_.size() << " sources running, " << open << " airing(s) open, "
     << started << " airing(s) so far, " << bus_.published() << " events";
  if (const uint64_t d = bus_.dropped(); d > 0) os << " (" << d << " dropped by slow sinks)";
  if (clips_ && settings_.evidence.enabled) {
    os << ", " << clips_->written() << " clip(s) written";
    if (const uint64_t f = clips_->failed() + clips_->dropped(); f > 0)
      os << " (" << f << " failed or dropped)";
  }
  return os.str();
}

void Daemon::reload() {
  notifier_.reloading();
  config::Settings next;
  try {
    next = build_settings(opts_);
  } catch (const config::ConfigError& e) {
    log_line(LogLevel::error,
             std::string("reload refused, keeping the running configuration: ") + e.what());
    notifier_.ready(status());
    return;
  }
  if (next.index != settings_.index) {
    log_line(LogLevel::warning, "index: changed to " + next.index +
                                    "; this needs a restart (still using " + settings_.index + ")");
    next.index = settings_.index;
  }
  if (next.threads != settings_.threads) {
    log_line(LogLevel::warning, "threads: a change needs a restart");
    next.threads = settings_.threads;
  }
  if (!(next.sinks == settings_.sinks)) {
    try {
      bus_.set_sinks(make_sinks(next.sinks, opts_.foreground), next.sinks.queue);
    } catch (const std::exception& e) {
      log_line(LogLevel::error, std::string("sinks unchanged: ") + e.what());
      next.sinks = settings_.sinks;
      bus_.reopen();
    }
  } else {
    bus_.reopen();
  }
  // Sources: stop removed and changed ones, start new and changed ones, keep the rest. Sources
  // with evidence also restart when the evidence section changed (their clips follow it).
  const bool evidence_changed = !(next.evidence == settings_.evidence);
  if (evidence_changed) prepare_evidence_dir(next.evidence);
  for (auto it = runners_.begin(); it != runners_.end();) {
    const config::SourceSettings* s = next.source(it->first);
    if (s == nullptr || !(*s == it->second->settings()) ||
        (evidence_changed && (s->evidence || it->second->settings().evidence))) {
      log_line(LogLevel::info,
               "source '" + it->first + (s ? "' changed: restarting" : "' removed: stopping"));
      stop_runner(it->second);
      it = runners_.erase(it);
    } else {
      ++it;
    }
  }
  for (const config::SourceSettings& s : next.sources) {
    if (runners_.count(s.id)) continue;
    try {
      auto r = make_runner(s, next.evidence);
      r->start();
      pool_->add(r);
      runners_[s.id] = std::move(r);
      log_line(LogLevel::info, "source '" + s.id + "' started");
    } catch (const std::exception& e) {
      report_down(s.id, e.what());
    }
  }
  settings_ = std::move(next);
  notifier_.ready(status());
}

void Daemon::shutdown(const std::string& why) {
  notifier_.stopping(why);
  log_line(LogLevel::info, why + ": draining sources and flushing events");
  for (auto& [id, r] : runners_) r->stop_and_drain();
  const auto deadline = Clock::now() + kDrainTimeout;
  for (auto& [id, r] : runners_) {
    while (!r->done() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  pool_->stop();
  runners_.clear();
  pool_.reset();
  // The drain above closed the open airings: write their clips before the sinks stop.
  if (clips_) clips_->stop(ClipWriter::kStopTimeout);
  bus_.stop();
}

int Daemon::run() {
  SignalFd signals;  // first: every thread started below inherits the blocked mask

  // config
  try {
    settings_ = build_settings(opts_);
  } catch (const config::ConfigError& e) {
    throw StartupError(kExitConfig, e.what());
  }
  if (settings_.index.empty()) {
    throw StartupError(kExitConfig, "no index: give --index DIR or 'index:' in the config file");
  }
  // store
  try {
    index_ = store::Index::open(settings_.index, format_of(params_), store::OpenMode::read_only);
  } catch (const std::exception& e) {
    throw StartupError(kExitIndex, e.what());
  }
  // evidence clips: one writer thread for every source; failures go to the sinks and stderr
  clips_ = std::make_unique<ClipWriter>([this](const Event& e) {
    bus_.publish(e);
    log_line(LogLevel::warning, to_text(e));
  });
  prepare_evidence_dir(settings_.evidence);
  // dsp plans (one fingerprinter per source; sources are created, not started)
  std::vector<std::shared_ptr<SourceRunner>> fresh;
  for (const config::SourceSettings& s : settings_.sources) {
    try {
      fresh.push_back(make_runner(s, settings_.evidence));
    } catch (const std::exception& e) {
      throw StartupError(kExitSources, "source '" + s.id + "': " + e.what());
    }
  }
  // sinks
  try {
    bus_.set_sinks(make_sinks(settings_.sinks, opts_.foreground), settings_.sinks.queue);
  } catch (const std::exception& e) {
    throw StartupError(kExitSinks, e.what());
  }
  // sources
  for (auto& r : fresh) {
    try {
      r->start();
    } catch (const std::exception& e) {
      fresh.clear();
      bus_.stop();
      const std::string what = e.what();
      throw StartupError(kExitSources, what.rfind("source '", 0) == 0
                                           ? what
                                           : "source '" + r->id() + "': " + what);
    }
  }
  // workers
  try {
    pool_ = std::make_unique<WorkerPool>(settings_.worker_threads(), index_, params_, bus_);
  } catch (const std::exception& e) {
    fresh.clear();
    bus_.stop();
    throw StartupError(kExitIndex, e.what());
  }
  for (auto& r : fresh) {
    pool_->add(r);
    runners_[r->id()] = r;
  }
  fresh.clear();

  log_line(LogLevel::info, "up: index " + settings_.index + ", " + std::to_string(runners_.size()) +
                               " source(s), " + std::to_string(pool_->size()) + " worker(s)");
  notifier_.ready(status());

  const auto watchdog = notifier_.watchdog_interval();
  const auto heartbeat_max = watchdog
                                 ? std::max<Clock::duration>(*watchdog / 2, std::chrono::seconds(1))
                                 : Clock::duration(std::chrono::seconds(5));
  const auto status_every = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(settings_.status_interval_s));
  auto next_status = Clock::now() + status_every;
  bool all_finite = true;
  for (const auto& [id, r] : runners_) all_finite &= r->settings().kind == "file";

  for (;;) {
    const int sig = signals.wait(std::chrono::milliseconds(250));
    if (sig == SIGTERM || sig == SIGINT) {
      shutdown(sig == SIGTERM ? "SIGTERM" : "SIGINT");
      return kExitOk;
    }
    if (sig == SIGHUP) {
      log_line(LogLevel::info,
               "SIGHUP: reloading " + (opts_.config_file.empty() ? std::string("the command line")
                                                                 : opts_.config_file));
      reload();
      all_finite = !runners_.empty();
      for (const auto& [id, r] : runners_) all_finite &= r->settings().kind == "file";
    }
    if (watchdog && pool_->healthy(heartbeat_max)) notifier_.watchdog();
    if (Clock::now() >= next_status) {
      notifier_.status(status());
      next_status = Clock::now() + status_every;
    }
    if (all_finite && !runners_.empty() &&
        std::all_of(runners_.begin(), runners_.end(), [](const auto& kv) {
          return kv.second->done() && kv.second->finished_naturally();
        })) {
      shutdown("every source has ended");
      return kExitOk;
    }
  }
}

}  // namespace

config::Settings build_settings(const Options& o) {
  config::Settings s =
      o.config_file.empty() ? config::default_settings() : config::load_settings(o.config_file);
  if (o.config_file.empty()) s.sinks.journald = false;  // ad-hoc runs: only what is asked for
  if (!o.index.empty()) s.index = o.index;
  if (!o.jsonl.empty()) s.sinks.jsonl_path = o.jsonl;
  if (o.journald) s.sinks.journald = *o.journald;
  if (o.console) s.sinks.console = *o.console;
  if (o.threads) s.threads = *o.threads;
  for (const auto& [id, text] : o.sources) {
    if (std::string bad = config::check_source_id(id); !bad.empty()) {
      throw config::ConfigError("--source", 0, 0, bad);
    }
    if (s.source(id) != nullptr) {
      throw config::ConfigError("--source", 0, 0, "duplicate source id '" + id + "'");
    }
    SourceSpec spec;
    try {
      spec = parse_source_spec(id, text);
    } catch (const std::exception& e) {
      throw config::ConfigError("--source", 0, 0, e.what());
    }
    config::SourceSettings src;
    src.id = id;
    src.kind = kind_name(spec.kind);
    src.address = spec.address;
    src.options = spec.options;
    src.match = s.profiles.at("default");
    src.silence = s.silence;
    s.sources.push_back(std::move(src));
  }
  if (!o.evidence_dir.empty()) {
    s.evidence.enabled = true;
    s.evidence.dir = o.evidence_dir;
    for (config::SourceSettings& src : s.sources) src.evidence = true;
  }
  return s;
}

int run_daemon(const Options& o) {
  Daemon d(o);
  return d.run();
}

}  // namespace aircheck::daemon
