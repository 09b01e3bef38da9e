#include "bench/eval/programme_eval.h"
#include "bench/eval/stats.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench/eval/indexing.h"
#include "bench/eval/programme.h"
#include "bench/eval/random.h"
#include "bench/eval/refs.h"
#include "bench/eval/speech.h"

extern "C" {
#include <libavutil/log.h>
}

extern char** environ;

namespace aircheck::eval {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json jnum(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

std::optional<double> number_field(const json& e, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (e.contains(n) && e[n].is_number()) return e[n].get<double>();
  }
  return std::nullopt;
}

// Runs argv with stdout/stderr to `log`; returns the exit status (-1: could not start).
int run_logged(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

std::vector<DetectedAiring> parse_airings(const fs::path& jsonl) {
  std::ifstream in(jsonl);
  if (!in) throw std::runtime_error(jsonl.string() + ": cannot open");
  std::vector<DetectedAiring> out;
  std::map<std::string, DetectedAiring> open;  // by (source, track), started but not ended
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json e;
    try {
      e = json::parse(line);
    } catch (const json::exception& ex) {
      throw std::runtime_error(jsonl.string() + ":" + std::to_string(lineno) + ": " + ex.what());
    }
    const std::string type = e.value("type", "");
    if (type != "airing_start" && type != "airing_end") continue;
    DetectedAiring d;
    d.track = e.value("track_id", 0u);
    d.start_s = number_field(e, {"start_pos_s"}).value_or(0);
    d.end_s = number_field(e, {"end_pos_s"}).value_or(d.start_s);
    d.ref_start_s = number_field(e, {"ref_start_s"}).value_or(0);
    d.ref_end_s = number_field(e, {"ref_end_s"}).value_or(d.ref_start_s);
    d.confidence = number_field(e, {"confidence"}).value_or(0);
    // An airing of one track on one source cannot overlap itself: its end closes its start.
    const std::string key = e.value("source", "") + "/" + std::to_string(d.track);
    if (type == "airing_start") {
      d.announced_s = number_field(e, {"detected_pos_s", "decided_pos_s", "pos_s", "at_pos_s"});
      open[key] = d;
    } else {
      if (auto it = open.find(key); it != open.end()) {
        d.announced_s = it->second.announced_s;
        open.erase(it);
      } else {
        d.announced_s = number_field(e, {"detected_pos_s", "decided_pos_s"});
      }
      out.push_back(d);
    }
  }
  for (auto& [k, d] : open) out.push_back(d);
  std::sort(out.begin(), out.end(),
            [](const DetectedAiring& a, const DetectedAiring& b) { return a.start_s < b.start_s; });
  return out;
}

void run_programme_eval(const ProgrammeEvalOptions& opt) {
  const int threads = opt.threads > 0
                          ? opt.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!fs::exists(opt.aircheckd)) {
    throw std::runtime_error("eval programme: daemon not found at " + opt.aircheckd.string() +
                             "; build aircheckd or pass --aircheckd PATH");
  }
  fs::create_directories(opt.out);
  av_log_set_level(AV_LOG_ERROR);
  const auto refs = list_refs(opt.refs_dir);
  std::vector<RefTrack> others;
  for (const auto& d : opt.negatives) {
    auto v = list_refs(d);
    others.insert(others.end(), v.begin(), v.end());
  }
  const auto indexed = ensure_indexed(opt.index_dir, refs, opt.params, threads, opt.verbose);

  fs::path work = opt.work;
  bool temp_work = false;
  if (work.empty()) {
    work = fs::temp_directory_path() / ("aircheck-programme-" + std::to_string(::getpid()));
    temp_work = true;
  }
  fs::create_directories(work);
  const fs::path wav = work / "programme.wav";
  ProgrammeOptions po;
  po.minutes = opt.minutes;
  po.seed = opt.seed;
  const auto speech = SpeechPool::make(po.sample_rate, mix64(opt.seed, 0x5BEEC4), 8, 25);
  if (opt.verbose)
    std::cerr << "generating a " << opt.minutes << " min programme into " << wav.string() << "\n";
  const auto prog = make_programme(refs, indexed.ids, others, speech, po, wav);

  {
    json t = json::array();
    for (const auto& a : prog.truth) {
      t.push_back({{"track_id", a.track},
                   {"ref_id", a.ref_id},
                   {"start_s", a.start_s},
                   {"end_s", a.end_s},
                   {"ref_start_s", a.ref_start_s},
                   {"ref_end_s", a.ref_end_s},
                   {"speed", a.speed},
                   {"fade_in_s", a.fade_in_s},
                   {"fade_out_s", a.fade_out_s}});
    }
    json items = json::array();
    for (const auto& it : prog.items) {
      items.push_back({{"kind", it.kind},
                       {"source", it.source},
                       {"start_s", it.start_s},
                       {"end_s", it.end_s},
                       {"src_start_s", it.src_start_s},
                       {"speed", it.speed},
                       {"gain_db", it.gain_db},
                       {"effects", it.effects},
                       {"voice_over_s", it.voice_over_s}});
    }
    std::ofstream f(opt.out / "truth.json");
    f << json{{"duration_s", prog.duration_s}, {"airings", t}, {"items", items}}.dump(1) << "\n";
  }

  const fs::path jsonl = opt.out / "airings.jsonl";
  const fs::path log = opt.out / "aircheckd.log";
  std::error_code ec;
  fs::remove(jsonl, ec);
  std::vector<std::string> args = {opt.aircheckd.string(),
                                   "--foreground",
                                   "--index",
                                   fs::absolute(opt.index_dir).string(),
                                   "--source",
                                   "prog=file:" + fs::absolute(wav).string() + "?pace=fast",
                                   "--jsonl",
                                   fs::absolute(jsonl).string()};
  if (!opt.daemon_config.empty()) {
    args.push_back("--config");
    args.push_back(fs::absolute(opt.daemon_config).string());
  }
  if (opt.verbose)
    std::cerr << "running " << opt.aircheckd.string() << " (log: " << log.string() << ")\n";
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = run_logged(args, log);
  const double daemon_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!opt.keep_audio) {
    fs::remove(wav, ec);
    if (temp_work) fs::remove_all(work, ec);
  }
  if (rc != 0) {
    throw std::runtime_error("eval programme: aircheckd exited with status " + std::to_string(rc) +
                             "; see " + log.string());
  }
  const auto detected = fs::exists(jsonl) ? parse_airings(jsonl) : std::vector<DetectedAiring>{};
  const auto s = score_programme(prog.truth, detected, prog.duration_s);

  const auto edge_json = [](const ProgrammeScores::EdgeErrors& e) {
    return json{{"n", e.n}, {"p50", jnum(e.p50)}, {"p95", jnum(e.p95)}};
  };
  const json edges = {{"start_cut", edge_json(s.start_cut)},
                      {"start_fade", edge_json(s.start_fade)},
                      {"end_cut", edge_json(s.end_cut)},
                      {"end_fade", edge_json(s.end_fade)}};
  json per_airing = json::array();
  for (std::size_t t = 0; t < prog.truth.size(); ++t) {
    const auto& a = prog.truth[t];
    per_airing.push_back({{"ref_id", a.ref_id},
                          {"start_s", a.start_s},
                          {"found", s.first_detection[t] >= 0},
                          {"start_err_s", jnum(s.start_err[t])},
                          {"end_err_s", jnum(s.end_err[t])},
                          {"latency_s", jnum(s.latency[t])},
                          {"fade_in_s", a.fade_in_s},
                          {"start_edge", a.fade_in_s > 0 ? "crossfade" : "cut"},
                          {"end_edge", a.fade_out_s > 0 ? "crossfade" : "cut"},
                          {"speed", a.speed}});
  }
  json j = {{"recall", s.recall},
            {"precision", s.precision},
            {"false_airings_per_hour", s.false_per_hour},
            {"truth_airings", s.truth},
            {"detected_airings", s.detections},
            {"found", s.found},
            {"correct", s.correct},
            {"false_airings", s.false_airings},
            {"fragments", s.fragments},
            {"start_err_s", {{"p50", jnum(s.start_err_p50)}, {"p95", jnum(s.start_err_p95)}}},
            {"end_err_s", {{"p50", jnum(s.end_err_p50)}, {"p95", jnum(s.end_err_p95)}}},
            {"edge_err_s", edges},
            {"airings", per_airing},
            {"ref_offset_err_s", {{"p50", jnum(s.ref_err_p50)}, {"p95", jnum(s.ref_err_p95)}}},
            {"detection_latency_s",
             {{"n", s.latency_n},
              {"p50", jnum(s.latency_p50)},
              {"p95", jnum(s.latency_p95)},
              {"p99", jnum(s.latency_p99)}}},
            {"programme_s", prog.duration_s},
            {"daemon_wall_s", daemon_s},
            {"seed", opt.seed},
            {"refs", refs.size()},
            {"command", opt.command_line}};
  {
    std::ofstream f(opt.out / "programme.json");
    f << j.dump(2) << "\n";
  }
  std::size_t n_speed = 0, n_reenc = 0, n_vo = 0, n_whole = 0;
  for (const auto& it : prog.items) {
    if (it.kind != "indexed") continue;
    n_speed += it.effects.find("speed") != std::string::npos;
    n_reenc += it.effects.find("reencode") != std::string::npos;
    n_vo += it.effects.find("voice-over") != std::string::npos;
  }
  for (const auto& a : prog.truth) n_whole += a.ref_start_s == 0;
  const auto edge_row = [](const char* what, const ProgrammeScores::EdgeErrors& e) {
    return std::string("| ") + what + " p50 / p95 (n) | " +
           (e.n ? format_fixed(e.p50, 2) + " / " + format_fixed(e.p95, 2) + " s (" +
                      std::to_string(e.n) + ")"
                : std::string("–")) +
           " |\n";
  };
  std::ostringstream md;
  md << "# aircheck eval programme\n\n`" << opt.command_line << "`\n\n"
     << "Programme: " << format_fixed(prog.duration_s / 60, 1) << " min, seed " << opt.seed << ", "
     << prog.truth.size() << " airings of indexed tracks (" << n_whole << " from the start, "
     << n_speed << " sped up 1–3 %, " << n_reenc << " re-encoded, " << n_vo << " with voice-over), "
     << prog.items.size() - prog.truth.size()
     << " other items (non-indexed music, speech, silence). aircheckd ran "
     << format_fixed(daemon_s, 1) << " s.\n\n"
     << "| measure | value |\n|---|---:|\n"
     << "| airing recall | " << format_fixed(100 * s.recall) << " % (" << s.found << "/" << s.truth
     << ") |\n"
     << "| airing precision | " << format_fixed(100 * s.precision) << " % (" << s.correct << "/"
     << s.detections << ") |\n"
     << "| false airings per hour | " << format_fixed(s.false_per_hour) << " (" << s.false_airings
     << ") |\n"
     << "| fragments (extra airings of one play) | " << s.fragments << " |\n"
     << "| start-time error p50 / p95 | " << format_fixed(s.start_err_p50) << " / "
     << format_fixed(s.start_err_p95) << " s |\n"
     << "| end-time error p50 / p95 | " << format_fixed(s.end_err_p50) << " / "
     << format_fixed(s.end_err_p95) << " s |\n"
     << edge_row("start-time error at cuts", s.start_cut)
     << edge_row("start-time error at crossfades (fade-in start)", s.start_fade)
     << edge_row("end-time error at cuts", s.end_cut)
     << edge_row("end-time error at crossfades (fade-out end)", s.end_fade)
     << "| reference-offset error p50 / p95 | " << format_fixed(s.ref_err_p50, 2) << " / "
     << format_fixed(s.ref_err_p95, 2) << " s |\n"
     << "| detection latency p50 / p95 | "
     << (s.latency_n ? format_fixed(s.latency_p50) + " / " + format_fixed(s.latency_p95) + " s"
                     : std::string("not reported by the daemon"))
     << " |\n\n"
     << "A detection is correct when it names the track of a ground-truth airing and at least half "
        "of it lies "
        "inside that airing. Start error uses the first correct detection of an airing, end error "
        "the last; "
        "ground-truth bounds include fades (an item is \"on air\" from its fade-in start to its "
        "fade-out end). "
        "Ground truth: `truth.json`; the daemon's events: `airings.jsonl`.\n";
  std::ofstream(opt.out / "programme.md") << md.str();
  if (opt.verbose) std::cerr << "wrote " << (opt.out / "programme.md").string() << "\n";
}

}  // namespace aircheck::eval
