#include "daemon/sinks/jsonl_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace aircheck::daemon {

namespace {

int open_log(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

}  // namespace

JsonlSink::JsonlSink(std::string path, config::FsyncPolicy policy, double fsync_interval_s)
    : path_(std::move(path)),
      policy_(policy),
      interval_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(fsync_interval_s))),
      last_sync_(std::chrono::steady_clock::now()) {
  fd_ = open_log(path_);
  if (fd_ < 0) {
    throw std::runtime_error("jsonl sink: cannot open " + path_ +
                             " for appending: " + std::strerror(errno) +
                             " (check that the folder exists and is writable by the daemon)");
  }
}

JsonlSink::~JsonlSink() {
  if (fd_ >= 0) {
    sync();
    ::close(fd_);
  }
}

bool JsonlSink::write(const Event& e) {
  line_ = to_json_line(e);
  line_ += '\n';
  // O_APPEND and one write() per line: readers never see interleaved partial lines.
  std::size_t done = 0;
  while (done < line_.size()) {
    const ssize_t n = ::write(fd_, line_.data() + done, line_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  dirty_ = true;
  if (policy_ == config::FsyncPolicy::always) sync();
  return true;
}

void JsonlSink::sync() {
  if (!dirty_) return;
  ::fdatasync(fd_);
  dirty_ = false;
  last_sync_ = std::chrono::steady_clock::now();
}

void JsonlSink::tick() {
  if (policy_ == config::FsyncPolicy::interval && dirty_ &&
      std::chrono::steady_clock::now() - last_sync_ >= interval_) {
    sync();
  }
}

void JsonlSink::flush() { sync(); }

bool JsonlSink::reopen() {
  const int fd = open_log(path_);
  if (fd < 0) return false;
  sync();
  ::close(fd_);
  fd_ = fd;
  return true;
}

}  // namespace aircheck::daemon
