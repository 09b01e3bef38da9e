// A loopback HTTP server for tests of network sources: it listens on 127.0.0.1 (an ephemeral
// port), reads each request's head and hands the connection to a handler, one connection at a
// time, on its own thread. The handler writes the whole response (status line included) and
// says whether the connection is closed afterwards or held open without data until the server
// is destroyed (a stalled sender).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace aircheck::test {

class LoopbackHttpServer {
 public:
  enum class After { close, hold };
  /// `connection` counts from 1; `path` is the request's target ("/live.wav").
  using Handler = std::function<After(int fd, int connection, const std::string& path)>;

  explicit LoopbackHttpServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
          ::listen(fd_, 4) == 0;
    socklen_t len = sizeof a;
    if (ok_) ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;
  ~LoopbackHttpServer() {
    stop_ = true;
    thread_.join();
    for (int c : held_) ::close(c);
    if (fd_ >= 0) ::close(fd_);
  }

  /// Whether the socket is listening.
  bool ok() const { return ok_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int connections() const { return connections_.load(); }
  /// True once the server is being destroyed: a handler streaming for a while stops.
  bool stopping() const { return stop_.load(); }

  /// Writes all of `s`; false once the peer has gone.
  static bool send_all(int fd, std::string_view s) {
    std::size_t done = 0;
    while (done < s.size()) {
      const ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string req;
      char buf[1024];
      while (req.find("\r\n\r\n") == std::string::npos) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 2000) <= 0) break;
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      // "GET /path HTTP/1.1"
      const auto sp1 = req.find(' ');
      const auto sp2 = sp1 == std::string::npos ? sp1 : req.find(' ', sp1 + 1);
      const std::string path =
          sp2 == std::string::npos ? std::string() : req.substr(sp1 + 1, sp2 - sp1 - 1);
      const int k = ++connections_;
      if (handler_(c, k, path) == After::hold) {
        held_.push_back(c);
      } else {
        ::close(c);
      }
    }
  }

  Handler handler_;
  int fd_ = -1;
  bool ok_ = false;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::vector<int> held_;
  std::thread thread_;
};

}  // namespace aircheck::test
