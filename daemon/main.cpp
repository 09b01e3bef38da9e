// aircheckd: continuous broadcast monitoring. See daemon/daemon.h for the lifecycle and
// daemon/event.h for the JSON-lines event schema.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "config/settings.h"
#include "daemon/daemon.h"
#include "daemon/notify.h"

namespace {

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0  clean stop (SIGTERM/SIGINT, or every file source ended)\n"
    "  1  unexpected runtime failure\n"
    "  2  bad command line\n"
    "  3  invalid configuration (FILE:LINE:COL: message)\n"
    "  4  the index cannot be opened\n"
    "  5  a sink cannot be set up\n"
    "  6  a source cannot be set up at start\n"
    "\n"
    "Source specs: file:PATH[?pace=realtime|fast&start=ISO8601], alsa:PCM, pa:DEVICE,\n"
    "http://... https://... udp://... srt://... rtmp://... (stream).\n"
    "Example: aircheckd --foreground --index /srv/index --source fm1=file:/rec/fm1.flac?pace=fast "
    "--jsonl airings.jsonl\n";

int check_config(const std::string& path) {
  try {
    const aircheck::config::Settings s = aircheck::config::load_settings(path);
    std::printf("%s: OK: index %s, %zu source(s), %zu profile(s), %u worker thread(s)\n",
                path.c_str(), s.index.c_str(), s.sources.size(), s.profiles.size(),
                s.worker_threads());
    for (const auto& src : s.sources) {
      std::printf("  source %s: %s %s (profile %s)\n", src.id.c_str(), src.kind.c_str(),
                  src.address.c_str(), src.match.name.c_str());
    }
    return aircheck::daemon::kExitOk;
  } catch (const aircheck::config::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return aircheck::daemon::kExitConfig;
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace aircheck::daemon;
  CLI::App app{"aircheckd: monitors live audio sources for indexed tracks and reports airings"};
  app.footer(kExitCodes);
  Options o;
  std::string check;
  std::vector<std::string> sources;
  std::string console;
  bool journald = false, no_journald = false;
  unsigned threads = 0;
  app.add_option("--config", o.config_file, "YAML configuration file")->check(CLI::ExistingFile);
  app.add_option("--check-config", check, "validate a configuration file and exit");
  app.add_flag("--foreground", o.foreground, "also print events on stdout");
  app.add_option("--index", o.index, "index folder (overrides index:)");
  app.add_option("--source", sources, "ID=SPEC, repeatable (added to the config's sources)");
  app.add_option("--jsonl", o.jsonl, "JSON-lines event log (overrides sinks.jsonl.path)");
  app.add_option("--evidence-dir", o.evidence_dir,
                 "write an evidence clip of every airing of every source into this folder "
                 "(sets evidence.enabled and evidence.dir)");
  app.add_flag("--journald", journald, "send events to journald");
  app.add_flag("--no-journald", no_journald, "do not send events to journald");
  app.add_option("--stdout-format", console, "text or json (with --foreground)")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--threads", threads, "worker threads (default: one per core)")
      ->check(CLI::Range(1u, 1024u));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int r = app.exit(e);
    return r == 0 ? kExitOk : kExitUsage;
  }
  if (!check.empty()) return check_config(check);
  for (const std::string& s : sources) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "aircheckd: --source %s: expected ID=SPEC\n", s.c_str());
      return kExitUsage;
    }
    o.sources.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  if (journald) o.journald = true;
  if (no_journald) o.journald = false;
  if (!console.empty()) {
    o.console = console == "json" ? aircheck::config::ConsoleFormat::json
                                  : aircheck::config::ConsoleFormat::text;
  }
  if (threads > 0) o.threads = threads;
  if (o.config_file.empty() && o.index.empty()) {
    std::fprintf(stderr, "aircheckd: give --config FILE, or --index DIR with --source ID=SPEC\n");
    return kExitUsage;
  }
  try {
    return run_daemon(o);
  } catch (const StartupError& e) {
    log_line(LogLevel::error, e.what());
    return e.code();
  } catch (const std::exception& e) {
    log_line(LogLevel::error, std::string("fatal: ") + e.what());
    return kExitFailure;
  }
}
