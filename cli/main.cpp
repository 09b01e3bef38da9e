// aircheck: build and manage the reference index, query files, evaluate.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/common.h"
#include "cli/index_commands.h"
#if __has_include("cli/eval_command.h")
#include "cli/eval_command.h"
#define AIRCHECK_HAVE_EVAL 1
#endif

int main(int argc, char** argv) {
  using namespace aircheck::cli;
  CLI::App app{"aircheck: audio fingerprint index and queries for broadcast monitoring"};
  app.require_subcommand(1);
  std::string index_dir;
  app.add_option("--index", index_dir,
                 "index folder (default: $AIRCHECK_INDEX, else ~/.local/share/aircheck/index)")
      ->envname("AIRCHECK_INDEX");
  auto dir = [&] {
    return index_dir.empty() ? default_index_dir() : std::filesystem::path(index_dir);
  };
  int rc = kOk;

  auto* idx = app.add_subcommand("index", "manage the reference index");
  idx->require_subcommand(1);
  AddOptions add;
  auto* add_cmd =
      idx->add_subcommand("add", "fingerprint files or folders (recursive) into the index");
  add_cmd->add_option("paths", add.inputs, "audio/video files or folders")->required();
  add_cmd->add_option("--manifest", add.manifest,
                      "CSV/TSV with columns path,title,artist,external_id");
  add_cmd->add_option("--title", add.title, "title (single file)");
  add_cmd->add_option("--artist", add.artist, "artist (single file)");
  add_cmd->add_option("--external-id", add.external_id, "ISRC or spot code (single file)");
  add_cmd->add_option("-j,--jobs", add.jobs, "fingerprinting threads (default: one per core)");
  add_cmd->add_flag("-q,--quiet", add.quiet, "print errors only");
  add_cmd->callback([&] { rc = index_add(dir(), add); });

  std::vector<uint32_t> rm_ids;
  auto* rm_cmd = idx->add_subcommand("rm", "remove tracks by id");
  rm_cmd->add_option("ids", rm_ids, "track ids")->required();
  rm_cmd->callback([&] { rc = index_rm(dir(), rm_ids); });

  bool ls_json = false, stats_json = false;
  auto* ls_cmd = idx->add_subcommand("ls", "list indexed tracks");
  ls_cmd->add_flag("--json", ls_json, "one JSON object per line");
  ls_cmd->callback([&] { rc = index_ls(dir(), ls_json); });
  auto* st_cmd =
      idx->add_subcommand("stats", "tracks, hours, postings, bytes on disk, bytes per hour");
  st_cmd->add_flag("--json", stats_json, "JSON output");
  st_cmd->callback([&] { rc = index_stats(dir(), stats_json); });
  bool upgrade_quiet = false;
  auto* up_cmd = idx->add_subcommand(
      "upgrade", "add the fine words to tracks indexed before them, from their source files");
  up_cmd->add_flag("-q,--quiet", upgrade_quiet, "print errors only");
  up_cmd->callback([&] { rc = index_upgrade(dir(), upgrade_quiet); });

  QueryOptions q;
  auto* q_cmd = app.add_subcommand("query", "identify audio files against the index");
  q_cmd->add_option("files", q.files, "audio files")->required();
  q_cmd->add_flag("--json", q.json, "one JSON object per query file");
  q_cmd->add_option("--top", q.top, "matches shown per query (default 3)");
  q_cmd->add_option("--min-votes", q.min_votes, "decision rule: minimum agreeing hashes");
  q_cmd->add_option("--min-confidence", q.min_confidence, "decision rule: minimum confidence 0..1");
  auto speeds = std::make_shared<std::string>(kDefaultSpeeds);
  q_cmd->add_option("--speeds", *speeds, speeds_help());
  q_cmd->callback([&q, &rc, &dir, speeds] {
    q.speeds = parse_speeds(*speeds, "--speeds");
    rc = query(dir(), q);
  });

#ifdef AIRCHECK_HAVE_EVAL
  add_eval_commands(app);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  } catch (const CliError& e) {
    std::cerr << "aircheck: " << e.what() << '\n';
    return e.code();
  } catch (const std::exception& e) {
    std::cerr << "aircheck: " << e.what() << '\n';
    return kInternal;
  }
  return rc;
}
