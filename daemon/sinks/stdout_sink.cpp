#include "daemon/sinks/stdout_sink.h"

#include <cstdio>

namespace aircheck::daemon {

bool StdoutSink::write(const Event& e) {
  std::string line = format_ == config::ConsoleFormat::json ? to_json_line(e) : to_text(e);
  line += '\n';
  const bool ok = std::fwrite(line.data(), 1, line.size(), stdout) == line.size();
  return std::fflush(stdout) == 0 && ok;
}

void StdoutSink::flush() { std::fflush(stdout); }

}  // namespace aircheck::daemon
