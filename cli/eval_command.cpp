#include "cli/eval_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "bench/eval/condition.h"
#include "bench/eval/param_overrides.h"
#include "bench/eval/programme_eval.h"
#include "bench/eval/query_eval.h"
#include "bench/eval/speed_eval.h"
#include "cli/common.h"

namespace aircheck::cli {
namespace {

namespace fs = std::filesystem;

struct Shared {
  std::string index, refs, out;
  std::vector<std::string> negatives;
  std::vector<std::string> set;  // fingerprint parameter overrides, KEY=VALUE
  uint64_t seed = 1;
  int threads = 0;
  bool quiet = false;
  std::string lengths = "1,2,3,5,10";
  std::string conditions =
      "clean,white:20,white:10,white:5,white:0,mp3:64,aac:64,speed:0.97,speed:0.98,speed:0.99,"
      "speed:1.01,"
      "speed:1.02,speed:1.03,speed:1.05,tempo:0.97,tempo:1.03,band:tel,band:am,compress,reverb,"
      "speech:-6";
  int n = 100;
  std::string speeds = kDefaultSpeeds;
  int speech_negatives = -1;
  bool no_plots = false;
  bool details = false;
  double minutes = 30;
  std::string aircheckd, work, daemon_config;
  bool keep_audio = false;
  double fp_minutes = 20;
  int steps = 4, queries = 200;
  std::string command_line;
};

std::vector<double> parse_lengths(const std::string& s) {
  return parse_number_list(
      s, "--lengths", [](double v) { return v > 0 && v <= 120; }, "a length in seconds (0, 120]",
      "empty list");
}

std::vector<fs::path> paths(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

fs::path self_dir() {
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path(".") : exe.parent_path();
}

// The command line as given (options in declaration order), for the reports.
std::string command_line(const CLI::App& c) {
  std::string out = "aircheck eval " + c.get_name();
  for (const auto* o : c.get_options()) {
    if (o->count() == 0) continue;
    const auto& names = o->get_lnames();
    out += " --" + (names.empty() ? o->get_single_name() : names.front());
    if (o->get_expected_min() == 0) continue;
    for (const auto& r : o->results()) out += " " + r;
  }
  return out;
}

// Runs `fn`, mapping index errors to the documented exit code.
template <typename F>
void guarded(F&& fn) {
  try {
    fn();
  } catch (const store::StoreError& e) {
    throw CliError(kIndexError, e.what());
  } catch (const std::invalid_argument& e) {
    throw CliError(kUsage, e.what());
  }
}

}  // namespace

void add_eval_commands(CLI::App& app) {
  auto s = std::make_shared<Shared>();
  auto* eval = app.add_subcommand(
      "eval", "accuracy, robustness and speed evaluation (reports, JSON, plots)");
  eval->require_subcommand(1);
  auto common = [&](CLI::App* c, bool with_index) {
    if (with_index) {
      c->add_option("--index", s->index,
                    "index folder (created, and filled with --refs where it lacks them)")
          ->required();
    }
    c->add_option("--refs", s->refs,
                  "reference folder: audio files (recursive) or corpus layout (refs.tsv)")
        ->required();
    c->add_option("--out", s->out, "output folder for the reports")->required();
    c->add_option("--seed", s->seed, "seed of every random draw (default 1)");
    c->add_option("-j,--threads", s->threads, "threads (default: one per core)");
    c->add_flag("-q,--quiet", s->quiet, "no progress on stderr");
  };

  auto* q =
      eval->add_subcommand("queries", "query-level accuracy by excerpt length and degradation");
  common(q, true);
  q->add_option("--negatives", s->negatives,
                "folder(s) of audio not in the index, for the false-match rate");
  q->add_option("--n", s->n, "excerpts per (length, condition) cell (default 100)");
  q->add_option("--lengths", s->lengths,
                "excerpt lengths in seconds, comma-separated (default 1,2,3,5,10)");
  q->add_option("--conditions", s->conditions,
                "comma-separated: clean, white:DB, mp3:KBPS, aac:KBPS, speed:RATIO, tempo:RATIO, "
                "band:tel|am, "
                "compress, reverb[:RT60], speech:DB");
  q->add_option("--speech-negatives", s->speech_negatives,
                "generated speech excerpts per length (default n/4)");
  q->add_option("--speeds", s->speeds, speeds_help());
  q->add_option("--set", s->set,
                "fingerprint parameter KEY=VALUE instead of this build's default, repeatable "
                "(e.g. --set index_peaks=18 --set query_fanout=10); index-side keys need an "
                "--index built for them: give each set its own folder");
  q->add_flag("--no-plots", s->no_plots, "skip the PNG plots");
  q->add_flag("--details", s->details, "also write queries.tsv, one line per query");
  q->callback([s, q] {
    guarded([&] {
      s->command_line = command_line(*q);
      eval::QueryEvalOptions o;
      o.index_dir = s->index;
      o.refs_dir = s->refs;
      o.negatives = paths(s->negatives);
      o.seed = s->seed;
      o.n = s->n;
      o.lengths = parse_lengths(s->lengths);
      o.conditions = eval::parse_conditions(s->conditions);
      o.identify.speeds = parse_speeds(s->speeds, "--speeds");
      o.speech_negatives = s->speech_negatives;
      o.out = s->out;
      o.threads = s->threads;
      o.plots = !s->no_plots;
      o.details = s->details;
      o.verbose = !s->quiet;
      o.command_line = s->command_line;
      try {
        o.params = eval::with_overrides(params(), s->set);
      } catch (const std::invalid_argument& e) {
        throw CliError(kUsage, std::string("--set: ") + e.what());
      }
      o.overrides = s->set;
      eval::run_query_eval(o);
    });
  });

  auto* p = eval->add_subcommand("programme",
                                 "a generated broadcast programme through aircheckd, scored");
  common(p, true);
  p->add_option("--negatives", s->negatives, "non-indexed music for the gaps");
  p->add_option("--minutes", s->minutes, "programme length (default 30)");
  p->add_option("--aircheckd", s->aircheckd, "daemon binary (default: next to aircheck)");
  p->add_option("--work", s->work, "folder for the programme audio (default: a temp folder)");
  p->add_flag("--keep-audio", s->keep_audio, "keep the programme WAV");
  p->add_option("--daemon-config", s->daemon_config,
                "aircheckd configuration to run with (e.g. profiles.default.speeds)")
      ->check(CLI::ExistingFile);
  p->callback([s, p] {
    guarded([&] {
      s->command_line = command_line(*p);
      eval::ProgrammeEvalOptions o;
      o.index_dir = s->index;
      o.refs_dir = s->refs;
      o.negatives = paths(s->negatives);
      o.seed = s->seed;
      o.minutes = s->minutes;
      o.out = s->out;
      o.aircheckd = s->aircheckd.empty() ? self_dir() / "aircheckd" : fs::path(s->aircheckd);
      if (s->aircheckd.empty() && !fs::exists(o.aircheckd)) {
        o.aircheckd = self_dir().parent_path() / "daemon" / "aircheckd";  // build tree layout
      }
      o.work = s->work;
      o.keep_audio = s->keep_audio;
      o.daemon_config = s->daemon_config;
      o.threads = s->threads;
      o.verbose = !s->quiet;
      o.command_line = s->command_line;
      o.params = params();
      eval::run_programme_eval(o);
    });
  });

  auto* sp = eval->add_subcommand(
      "speed", "fingerprinting speed, ingest rate, index size, latency vs index size");
  common(sp, false);
  sp->add_option("--scratch-index", s->index,
                 "scratch index folder, emptied first (default: a temp folder)");
  sp->add_option("--grow-with", s->negatives, "more audio folders to grow the index with");
  sp->add_option("--fingerprint-minutes", s->fp_minutes,
                 "audio for the x-real-time measurement (default 20)");
  sp->add_option("--steps", s->steps, "index sizes measured (default 4)");
  sp->add_option("--queries", s->queries, "queries per index size (default 200)");
  sp->callback([s, sp] {
    guarded([&] {
      s->command_line = command_line(*sp);
      eval::SpeedEvalOptions o;
      o.refs_dir = s->refs;
      o.extra = paths(s->negatives);
      o.index_dir = s->index;
      o.out = s->out;
      o.seed = s->seed;
      o.fingerprint_minutes = s->fp_minutes;
      o.steps = s->steps;
      o.queries = s->queries;
      o.verbose = !s->quiet;
      o.command_line = s->command_line;
      o.params = params();
      eval::run_speed_eval(o);
    });
  });
}

}  // namespace aircheck::cli
