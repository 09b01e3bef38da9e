// The daemon's lifecycle: the composition root of aircheckd.
//
// Bring-up, in order: settings (config file + command line) -> index (store::Index, read
// only) -> dsp plans (one Fingerprinter per source) -> sinks -> sources (capture starts) ->
// workers. Then READY=1. The control thread waits on a signalfd:
//   SIGTERM, SIGINT  stop capture, drain what is buffered, close open airings, write the
//                    queued evidence clips (bounded: ClipWriter::kStopTimeout), flush the
//                    sinks, STOPPING=1, return kExitOk;
//   SIGHUP           re-read the config file, validate it whole, then apply the difference:
//                    start new sources, stop removed ones, restart changed ones, leave the rest
//                    running (a change of the evidence section restarts the sources with
//                    evidence); rebuild sinks whose settings changed, else reopen their files.
// Every ~250 ms it sends WATCHDOG=1 if every worker's heartbeat is fresh, and STATUS= with a
// live summary every status_interval_s. When every source was finite (file) and has ended, it
// shuts down by itself as for SIGTERM.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config/settings.h"

namespace aircheck::daemon {

/// Exit codes of aircheckd (also listed in `aircheckd --help`).
enum ExitCode : int {
  kExitOk = 0,       ///< clean stop (signal, or every finite source ended)
  kExitFailure = 1,  ///< unexpected runtime failure
  kExitUsage = 2,    ///< bad command line
  kExitConfig = 3,   ///< invalid configuration (file:line:col on stderr)
  kExitIndex = 4,    ///< the index cannot be opened (missing, other format, damaged)
  kExitSinks = 5,    ///< a sink cannot be set up (log folder not writable, ...)
  kExitSources = 6,  ///< a source cannot be set up at start (missing file, bad device)
};

/// A bring-up failure, carrying the exit code it maps to.
class StartupError : public std::runtime_error {
 public:
  StartupError(ExitCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

/// What the command line asked for. Overrides are applied on top of the config file at start
/// and again at every SIGHUP reload.
struct Options {
  std::string config_file;  ///< "" = no file: everything from the command line
  bool foreground = false;  ///< adds the stdout sink
  std::string index;        ///< overrides index:
  std::vector<std::pair<std::string, std::string>> sources;  ///< --source ID=SPEC, added
  std::string jsonl;                                         ///< overrides sinks.jsonl.path
  /// Non-empty: evidence clips into this folder for every source (evidence.enabled, .dir and
  /// each source's evidence: true).
  std::string evidence_dir;
  std::optional<bool> journald;
  std::optional<config::ConsoleFormat> console;
  std::optional<unsigned> threads;
};

/// The effective settings: the config file (if any) with the command line applied.
/// Throws config::ConfigError (a file problem, or a bad --source, with line 0).
config::Settings build_settings(const Options& o);

/// Runs the daemon until it is told to stop. Blocks SIGTERM, SIGINT and SIGHUP in the calling
/// thread (call it before starting other threads). Returns the exit code; throws StartupError
/// when bring-up fails (nothing is left running then).
int run_daemon(const Options& o);

}  // namespace aircheck::daemon
