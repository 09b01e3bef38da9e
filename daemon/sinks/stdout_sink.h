// Console sink for --foreground: one line per event on stdout, human-readable or JSON.
#pragma once

#include "daemon/sinks/sink.h"

namespace aircheck::daemon {

class StdoutSink : public Sink {
 public:
  explicit StdoutSink(config::ConsoleFormat format) : format_(format) {}
  std::string_view name() const override { return "stdout"; }
  bool write(const Event& e) override;
  void flush() override;

 private:
  config::ConsoleFormat format_;
};

}  // namespace aircheck::daemon
