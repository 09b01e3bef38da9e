// `aircheck eval queries|programme|speed`: the evaluation commands (see bench/eval/).
#pragma once

namespace CLI {
class App;
}

namespace aircheck::cli {

/// Registers the `eval` subcommand and its `queries`, `programme` and `speed` subcommands on
/// `app`. Their callbacks run the evaluation and throw CliError (usage, index errors) or
/// std::exception on failure, for main()'s top-level catch.
void add_eval_commands(CLI::App& app);

}  // namespace aircheck::cli
