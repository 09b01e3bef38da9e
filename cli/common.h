// Shared pieces of the `aircheck` command line: exit codes, index location, file discovery.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "dsp/params.h"
#include "store/index.h"

namespace aircheck::cli {

/// Documented exit codes of `aircheck` (README, "Exit codes").
enum Exit : int {
  kOk = 0,          ///< everything done
  kSomeFailed = 1,  ///< some inputs failed (named on stderr); the rest were processed
  kUsage = 2,       ///< bad command line
  kIndexError = 3,  ///< index missing, built with other parameters, or unusable
  kInternal = 4,    ///< unexpected error
};

/// A one-line user-facing error with its exit code; main() prints it and exits.
class CliError : public std::runtime_error {
 public:
  CliError(int code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

/// --index, else $AIRCHECK_INDEX, else $XDG_DATA_HOME/aircheck/index, else
/// ~/.local/share/aircheck/index.
std::filesystem::path default_index_dir();

/// The fingerprint format of this build.
const dsp::Params& params();
store::Format format();

/// Opens the index, mapping store errors to CliError(kIndexError).
std::shared_ptr<store::Index> open_index(const std::filesystem::path& dir, store::OpenMode mode);

/// Expands files and folders (recursively, audio/video extensions only, sorted) into files.
/// Paths that do not exist are returned in `missing`.
std::vector<std::filesystem::path> expand_inputs(const std::vector<std::string>& inputs,
                                                 std::vector<std::string>& missing);

bool stderr_is_terminal();

/// Default speed hypotheses of a query ("1,0.98,1.02,0.96,1.04,0.94,1.06,0.99,1.01").
inline constexpr const char* kDefaultSpeeds = "1,0.98,1.02,0.96,1.04,0.94,1.06,0.99,1.01";

/// A comma-separated list of numbers given to `option`. Each must pass `ok`, else a usage
/// error "OPTION: 'ITEM' is not WHAT". No number at all is a usage error "OPTION: IF_EMPTY".
std::vector<double> parse_number_list(const std::string& text, const std::string& option,
                                      bool (*ok)(double), const std::string& what,
                                      const std::string& if_empty);

/// "1,0.98,1.02" -> speeds; throws CliError(kUsage) naming `option` and the bad item.
std::vector<double> parse_speeds(const std::string& text, const std::string& option);
/// Help text of a --speeds option: the default list and what short queries screen of it.
std::string speeds_help();

}  // namespace aircheck::cli
