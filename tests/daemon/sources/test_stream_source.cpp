#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "daemon/source.h"
#include "test_media.h"

namespace aircheck::daemon {
namespace {

using testing::wait_for;
using testing::write_song;

/// A loopback HTTP server for one file. Connection 1 is cut after `cut_bytes`; later
/// connections get the whole file and are then held open without data until stop.
class TinyHttpServer {
 public:
  TinyHttpServer(std::string body, std::size_t cut_bytes)
      : body_(std::move(body)), cut_(cut_bytes) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyHttpServer() {
    stop_ = true;
    thread_.join();
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/live.wav"; }
  int connections() const { return connections_.load(); }

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
      const int k = ++connections_;
      const std::string head = "HTTP/1.0 200 OK\r\nContent-Type: audio/wav\r\n\r\n";
      send_all(c, head);
      send_all(c, k == 1 ? body_.substr(0, cut_) : body_);
      if (k == 1) {
        ::close(c);
      } else {
        held_.push_back(c);
      }
    }
  }
  static void send_all(int c, const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) {
      const ssize_t n = ::send(c, s.data() + done, s.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }

  std::string body_;
  std::size_t cut_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::vector<int> held_;
  std::thread thread_;
};

TEST(StreamSource, ReconnectsAfterACutAndReportsAStall) {
  const std::string path = write_song("stream.wav", 4, 8000, 9);
  std::ifstream f(path, std::ios::binary);
  const std::string body{std::istreambuf_iterator<char>(f), {}};
  TinyHttpServer server(body, body.size() / 2);

  auto src = make_source(parse_source_spec("net", server.url() + "#stall_s=1"), 8000);
  src->start();
  std::vector<HealthEvent> events;
  uint64_t samples = 0, next = 0, samples_at_first_down = 0;
  bool forward = true;
  const auto pump = [&] {
    for (Block b = src->read_block(); !b.samples.empty(); b = src->read_block()) {
      forward = forward && b.pos >= next;
      next = b.pos + b.samples.size();
      samples += b.samples.size();
    }
    HealthEvent ev{};
    while (src->poll_health(ev)) {
      if (ev.type == HealthEvent::Type::down && samples_at_first_down == 0) {
        samples_at_first_down = samples;
      }
      events.push_back(ev);
    }
  };
  // up (conn 1) -> down (cut) -> up (conn 2, after ~1 s backoff) -> down (stalled after 1 s).
  const bool ok = wait_for([&] {
    pump();
    return events.size() >= 4;
  });
  src->stop();  // the next reconnect attempt is pending or blocking; stop must end it
  ASSERT_TRUE(ok) << "got " << events.size() << " events";
  EXPECT_EQ(events[0].type, HealthEvent::Type::up);
  EXPECT_EQ(events[1].type, HealthEvent::Type::down);
  EXPECT_NE(events[1].reason.find(server.url()), std::string::npos) << events[1].reason;
  EXPECT_EQ(events[2].type, HealthEvent::Type::up);
  EXPECT_EQ(events[3].type, HealthEvent::Type::down);
  EXPECT_NE(events[3].reason.find("stalled"), std::string::npos) << events[3].reason;
  EXPECT_GE(server.connections(), 2);
  EXPECT_TRUE(forward);
  EXPECT_GT(samples_at_first_down, 8000u);             // about half of 4 s arrived before the cut
  EXPECT_GT(samples, samples_at_first_down + 16000u);  // and the whole file after reconnecting
  EXPECT_GE(events[2].pos, events[1].pos);
}

TEST(StreamSource, UnreachableUrlReportsDownNamingTheUrlAndStopsPromptly) {
  // A listening socket that never accepts: the connect succeeds, the request hangs.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/x.mp3";
  auto src = make_source(parse_source_spec("dead", url + "#stall_s=0.5"), 8000);
  src->start();
  HealthEvent ev{};
  ASSERT_TRUE(wait_for([&] { return src->poll_health(ev); }));
  EXPECT_EQ(ev.type, HealthEvent::Type::down);
  EXPECT_NE(ev.reason.find(url), std::string::npos) << ev.reason;
  src->stop();
  ::close(fd);
}

}  // namespace
}  // namespace aircheck::daemon
