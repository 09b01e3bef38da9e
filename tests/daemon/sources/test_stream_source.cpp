#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/eval/synth.h"
#include "daemon/source.h"
#include "dsp/decode/decoder.h"
#include "test_media.h"
#include "tests/support/correlation.h"
#include "tests/support/files.h"
#include "tests/support/http_server.h"

namespace aircheck::daemon {
namespace {

using testing::wait_for;
using testing::write_song;

/// What a source delivered: its samples in order, and its health events.
struct Delivered {
  std::vector<float> samples;
  /// The same at their places on the source's clock (a gap in it left as zeros).
  std::vector<float> placed;
  std::vector<HealthEvent> events;
  /// Takes what `src` has for its consumer now.
  void take(Source& src) {
    for (Block b = src.read_block(); !b.samples.empty(); b = src.read_block()) {
      samples.insert(samples.end(), b.samples.begin(), b.samples.end());
      placed.resize(std::max<std::size_t>(placed.size(), b.pos), 0.0f);
      placed.insert(placed.end(), b.samples.begin(), b.samples.end());
    }
    HealthEvent ev{};
    while (src.poll_health(ev)) events.push_back(ev);
  }
  /// Whether read_stream() saw `enough` before it gave up.
  bool ok = false;
};

/// Runs a stream source on `address` (its options after '#') and takes what it delivers until
/// `enough(delivered)` holds or the wait runs out (Delivered::ok says which); then stops it.
template <class Pred>
Delivered read_stream(const std::string& address, Pred enough) {
  auto src = make_source(parse_source_spec("s", address), 8000);
  src->start();
  Delivered d;
  d.ok = wait_for([&] {
    d.take(*src);
    return enough(d);
  });
  src->stop();
  return d;
}

/// One file over loopback HTTP. Connection 1 is cut after `cut_bytes`; later connections get
/// the whole file and are then held open without data until the server goes.
class TinyHttpServer {
 public:
  TinyHttpServer(std::string body, std::size_t cut_bytes)
      : body_(std::move(body)),
        cut_(cut_bytes),
        server_([this](int fd, int connection, const std::string&) {
          using After = aircheck::test::LoopbackHttpServer::After;
          const std::string head = "HTTP/1.0 200 OK\r\nContent-Type: audio/wav\r\n\r\n";
          aircheck::test::LoopbackHttpServer::send_all(fd, head);
          aircheck::test::LoopbackHttpServer::send_all(
              fd, connection == 1 ? std::string_view(body_).substr(0, cut_) : body_);
          return connection == 1 ? After::close : After::hold;
        }) {}
  std::string url() const { return server_.url("/live.wav"); }
  int connections() const { return server_.connections(); }

 private:
  std::string body_;
  std::size_t cut_;
  aircheck::test::LoopbackHttpServer server_;
};

TEST(StreamSource, ReconnectsAfterACutAndReportsAStall) {
  const std::string path = write_song("stream.wav", 4, 8000, 9);
  const std::string body = aircheck::test::read_file(path);
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
  // up (conn 1) -> down (cut) -> up (conn 2, after ~1 s backoff) -> down (stalled: 1 s after
  // the whole file, sent at once, would have played).
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

/// A synthesized song of `seconds` (seed `seed`) as HLS, 2-s AAC segments beside `playlist` in
/// the folder `name` of the test's temporary folder; the folder.
std::filesystem::path write_hls(const std::string& name, const std::string& playlist,
                                double seconds, uint64_t seed) {
  eval::SynthOptions o;
  o.seconds = seconds;
  o.sample_rate = 16000;
  const std::vector<float> song = eval::synth_music(seed, o);
  const auto dir = testing::temp_dir() / name;
  std::filesystem::create_directories(dir);
  dsp::decode::encode_file((dir / playlist).string(), song, o.sample_rate, 64000);
  return dir;
}

/// A 200 response carrying `body`.
std::string ok_response(const std::string& body) {
  return "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// `seconds` of synthesized music (seed `seed`, 16 kHz) encoded at 32 kbit/s as `name` in the
/// test's folder (its extension chooses the codec); the path.
std::filesystem::path write_station(const std::string& name, double seconds, uint64_t seed) {
  eval::SynthOptions o;
  o.seconds = seconds;
  o.sample_rate = 16000;
  const auto path = testing::temp_dir() / name;
  dsp::decode::encode_file(path.string(), eval::synth_music(seed, o), o.sample_rate, 32000);
  return path;
}

/// Sends `body` from byte `from` on `fd` as a station airs it: at `bytes_per_s`, 0.1 s ahead of
/// real time, until it is sent, the peer goes or `server` stops. With `every`, `between(sent)`
/// is called each time a multiple of `every` bytes has gone (ICY metadata).
void send_as_aired(const aircheck::test::LoopbackHttpServer& server, int fd, std::string_view body,
                   std::size_t from, double bytes_per_s, std::size_t every = 0,
                   const std::function<void(std::size_t)>& between = {}) {
  using Server = aircheck::test::LoopbackHttpServer;
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t sent = from;
  while (sent < body.size() && !server.stopping()) {
    const std::chrono::duration<double> t = std::chrono::steady_clock::now() - t0;
    const auto want =
        std::min(body.size(), from + static_cast<std::size_t>((t.count() + 0.1) * bytes_per_s));
    while (sent < want) {
      const std::size_t n = every ? std::min(want, (sent / every + 1) * every) - sent : want - sent;
      if (!Server::send_all(fd, body.substr(sent, n))) return;
      sent += n;
      if (every && sent % every == 0) between(sent);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// An Icecast server starts a listener where its burst begins, mid-frame. FFmpeg, unsure of such
// a start, probed for seconds before it opened the stream, beyond stall_s here (the MP3 never
// came up). Now it decides within 8 KB, from the content: the
// AAC stream is served as audio/mpeg, as a misconfigured station does, and read as AAC.
TEST(StreamSource, AStationJoinedMidFrameOpensWithinAFewFrames) {
  struct Case {
    const char* file;
    const char* type;
  };
  for (const Case c : {Case{"mid.mp3", "audio/mpeg"}, Case{"mid.aac", "audio/mpeg"}}) {
    SCOPED_TRACE(c.file);
    const auto path = write_station(c.file, 8, 57);
    const std::string body = aircheck::test::read_file(path);
    const double bytes_per_s = static_cast<double>(body.size()) / 8;
    constexpr std::size_t kJoinAt = 1001;  // bytes: inside a frame
    using Server = aircheck::test::LoopbackHttpServer;
    Server server([&](int fd, int, const std::string&) {
      Server::send_all(fd, std::string("HTTP/1.0 200 OK\r\nContent-Type: ") + c.type + "\r\n\r\n");
      send_as_aired(server, fd, body, kJoinAt, bytes_per_s);
      return Server::After::close;
    });
    const Delivered d = read_stream(server.url("/live") + "#stall_s=5",
                                    [](const Delivered& got) { return got.events.size() >= 2; });
    ASSERT_TRUE(d.ok) << "got " << d.events.size() << " events, " << d.samples.size() << " samples";
    EXPECT_EQ(d.events[0].type, HealthEvent::Type::up) << d.events[0].reason;
    EXPECT_EQ(d.events[1].type, HealthEvent::Type::down);  // the server closed the stream
    EXPECT_NE(d.events[1].reason.find(server.url("/live")), std::string::npos);
    // All but the part frame it was joined in, and the same audio as the file decoded whole.
    EXPECT_GT(d.samples.size(), static_cast<std::size_t>(7 * 8000));
    const std::vector<float> want = testing::decode_at(path.string(), 8000);
    EXPECT_GT(aircheck::test::best_correlation(d.samples, want, 4000), 0.95);
  }
}

// An Icecast / SHOUTcast station sends its "now playing" between the audio, every icy-metaint
// bytes, to a listener that asks (as FFmpeg does). The source reports each new title once: the
// one on air when it joined at the stream's first sample, a change at the audio it came after;
// and delivers the audio without the metadata.
TEST(StreamSource, ReportsAStationsNowPlayingWhenItChanges) {
  const auto path = write_station("icy.mp3", 8, 58);
  const std::string body = aircheck::test::read_file(path);
  const double bytes_per_s = static_cast<double>(body.size()) / 8;
  constexpr std::size_t kMetaInt = 1000;  // audio bytes between metadata blocks (1/4 s)
  const std::string first = "Artist One - First Song", second = "Caf\xe9 del Mar - Second";
  const double change_s = 4;  // the second title goes with the audio from here
  // One metadata block: its length in 16-byte units, then StreamTitle='...'; zero-padded.
  const auto block = [](const std::string& title) {
    std::string m = "StreamTitle='" + title + "';";
    m.resize((m.size() + 15) / 16 * 16, '\0');
    return static_cast<char>(m.size() / 16) + m;
  };
  using Server = aircheck::test::LoopbackHttpServer;
  Server server([&](int fd, int, const std::string&) {
    Server::send_all(fd,
                     "HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\nicy-name: Test FM\r\n"
                     "icy-metaint: " +
                         std::to_string(kMetaInt) + "\r\n\r\n");
    send_as_aired(server, fd, body, 0, bytes_per_s, kMetaInt, [&](std::size_t sent) {
      const double at = static_cast<double>(sent) / bytes_per_s;
      Server::send_all(fd, block(at < change_s ? first : second));
    });
    return Server::After::close;
  });
  const Delivered d = read_stream(server.url("/live") + "#stall_s=5", [](const Delivered& got) {
    return !got.events.empty() && got.events.back().type == HealthEvent::Type::down;
  });
  ASSERT_TRUE(d.ok) << "got " << d.events.size() << " events, " << d.samples.size() << " samples";
  std::vector<HealthEvent> titles;
  for (const HealthEvent& e : d.events)
    if (e.type == HealthEvent::Type::title) titles.push_back(e);
  ASSERT_EQ(titles.size(), 2u);
  EXPECT_EQ(titles[0].reason, first);
  EXPECT_EQ(titles[1].reason, second);  // as sent: Latin-1 (the daemon's event converts it)
  std::printf("  titles at %.3f s and %.3f s (the change at %.1f s)\n",
              static_cast<double>(titles[0].pos) / 8000, static_cast<double>(titles[1].pos) / 8000,
              change_s);
  EXPECT_EQ(titles[0].pos, d.events[0].pos);  // on air when the stream was joined
  EXPECT_NEAR(static_cast<double>(titles[1].pos) / 8000, change_s, 0.5);
  // Every frame's audio, and none of the metadata in it.
  EXPECT_GT(d.samples.size(), static_cast<std::size_t>(7.5 * 8000));
  const std::vector<float> want = testing::decode_at(path.string(), 8000);
  EXPECT_GT(aircheck::test::best_correlation(d.samples, want, 800), 0.97);
}

TEST(StreamSource, ReadsAnHlsPlaylistAndItsSegmentsOverHttp) {
  // A station's HLS: a playlist of 2-s AAC segments over HTTP. The source reads the playlist,
  // then each segment in turn, and delivers the audio whole and in order; at the playlist's
  // end it reports the stream down.
  const auto dir = write_hls("hls", "live.m3u8", 7, 41);
  ASSERT_TRUE(std::filesystem::exists(dir / "live0.ts"));
  using Server = aircheck::test::LoopbackHttpServer;
  Server server([&](int fd, int, const std::string& path) {
    const std::string name = path.substr(path.find_last_of('/') + 1);
    const auto file = dir / name;
    if (path.rfind("/hls/", 0) != 0 || name.empty() || !std::filesystem::exists(file)) {
      Server::send_all(fd, "HTTP/1.0 404 Not Found\r\n\r\n");
    } else {
      const std::string body = aircheck::test::read_file(file);
      Server::send_all(fd, ok_response(body));
    }
    return Server::After::close;
  });
  const std::string url = server.url("/hls/live.m3u8");
  const Delivered d =
      read_stream(url + "#stall_s=5", [](const Delivered& got) { return got.events.size() >= 2; });
  const std::vector<float>& got = d.samples;
  const std::vector<HealthEvent>& events = d.events;
  ASSERT_TRUE(d.ok) << "got " << events.size() << " events, " << got.size() << " samples";
  EXPECT_EQ(events[0].type, HealthEvent::Type::up);
  EXPECT_EQ(events[1].type, HealthEvent::Type::down);
  EXPECT_NE(events[1].reason.find("end of stream"), std::string::npos) << events[1].reason;
  EXPECT_GE(server.connections(), 5);  // the playlist and four segments
  // The same audio as the playlist decoded from disk, sample for sample.
  const std::vector<float> want = testing::decode_at((dir / "live.m3u8").string(), 8000);
  EXPECT_NEAR(static_cast<double>(got.size()), 7.0 * 8000, 0.3 * 8000);
  ASSERT_GE(got.size(), 6 * 8000u);
  ASSERT_GE(want.size(), 6 * 8000u);
  std::size_t same = 0;
  for (std::size_t i = 0; i < 6 * 8000u; ++i) same += std::abs(got[i] - want[i]) < 1e-4f;
  EXPECT_GE(same, 6 * 8000u * 99 / 100);
}

TEST(StreamSource, FollowsALiveHlsPlaylistAsItGrows) {
  // A live HLS station: a sliding playlist of the last three 2-s segments, a segment more
  // every 2 s, reloaded by the reader; the playlist ends after 16 s. The source starts three
  // segments back, as players do, and delivers every sample from there, in order and without
  // a gap, then reports the end: no stall while it waits for a segment.
  const auto dir = write_hls("hlslive", "all.m3u8", 16, 43);
  // The segments and their lengths, from the finished playlist.
  std::vector<std::pair<std::string, double>> segments;
  {
    std::istringstream in(aircheck::test::read_file(dir / "all.m3u8"));
    double length = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("#EXTINF:", 0) == 0) length = std::stod(line.substr(8));
      if (!line.empty() && line[0] != '#') segments.emplace_back(line, length);
    }
  }
  ASSERT_GE(segments.size(), 6u);
  const auto t0 = std::chrono::steady_clock::now();
  using Server = aircheck::test::LoopbackHttpServer;
  Server server([&](int fd, int, const std::string& path) {
    const std::string name = path.substr(path.find_last_of('/') + 1);
    if (name == "live.m3u8") {
      // Three segments out at the start; the next each time its length has passed.
      const std::chrono::duration<double> since = std::chrono::steady_clock::now() - t0;
      std::size_t out = 0;
      for (double end = 0; out < segments.size(); ++out) {
        end += segments[out].second;
        if (out >= 3 && end > since.count() + segments[0].second * 3) break;
      }
      const std::size_t first = out > 3 ? out - 3 : 0;
      std::ostringstream m;
      m << "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:" << first
        << "\n";
      for (std::size_t i = first; i < out; ++i)
        m << "#EXTINF:" << segments[i].second << ",\n" << segments[i].first << "\n";
      if (out == segments.size()) m << "#EXT-X-ENDLIST\n";
      const std::string body = m.str();
      Server::send_all(fd, ok_response(body));
    } else if (std::filesystem::exists(dir / name) && name.find(".ts") != std::string::npos) {
      const std::string body = aircheck::test::read_file(dir / name);
      Server::send_all(fd, ok_response(body));
    } else {
      Server::send_all(fd, "HTTP/1.0 404 Not Found\r\n\r\n");
    }
    return Server::After::close;
  });
  // stall_s below the segments' length: the reader waits that long for each next one, with
  // the audio already delivered still to play.
  auto src = make_source(
      parse_source_spec("hls", server.url("/hlslive/live.m3u8") + "#stall_s=1.5"), 8000);
  src->start();
  Delivered d;
  uint64_t next = 0, jumps = 0;
  const bool ok = wait_for(
      [&] {
        for (Block b = src->read_block(); !b.samples.empty(); b = src->read_block()) {
          jumps += b.pos != next;
          next = b.pos + b.samples.size();
          d.samples.insert(d.samples.end(), b.samples.begin(), b.samples.end());
        }
        HealthEvent ev{};
        while (src->poll_health(ev)) d.events.push_back(ev);
        return d.events.size() >= 2;
      },
      40);
  src->stop();
  ASSERT_TRUE(ok) << d.events.size() << " events, " << d.samples.size() << " samples";
  EXPECT_EQ(d.events[0].type, HealthEvent::Type::up);
  EXPECT_EQ(d.events[1].type, HealthEvent::Type::down);
  EXPECT_NE(d.events[1].reason.find("end of stream"), std::string::npos) << d.events[1].reason;
  EXPECT_EQ(jumps, 0u);
  // The whole song, as its finished playlist decodes from disk.
  const std::vector<float> want = testing::decode_at((dir / "all.m3u8").string(), 8000);
  EXPECT_NEAR(static_cast<double>(d.samples.size()), static_cast<double>(want.size()), 0.1 * 8000);
  EXPECT_GT(aircheck::test::best_correlation(want, d.samples, 800), 0.99);
}

/// Whether the ffmpeg tool is installed with `protocol` (an output URL scheme).
bool ffmpeg_has(const std::string& protocol) {
  const std::string cmd =
      "ffmpeg -hide_banner -protocols 2>/dev/null | grep -qx ' *" + protocol + "'";
  return std::system(cmd.c_str()) == 0;
}

/// A TCP (or UDP) port free on 127.0.0.1 right now.
uint16_t free_port(int type) {
  const int fd = ::socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class ServedByFfmpeg : public ::testing::TestWithParam<const char*> {};

TEST_P(ServedByFfmpeg, TheStreamIsReadWholeAndItsEndReported) {
  // The ffmpeg tool as the server (an RTMP server a player pulls from; an SRT listener with
  // an MPEG-TS), a song at its real-time pace: the source reads it and reports its end.
  const std::string kind = GetParam();
  if (!ffmpeg_has(kind)) GTEST_SKIP() << "the ffmpeg tool is missing or lacks " << kind;
  const std::string song = write_song("served.flac", 5, 8000, 51);
  const std::vector<float> want = testing::decode_at(song, 8000);
  const uint16_t port = free_port(kind == "srt" ? SOCK_DGRAM : SOCK_STREAM);
  const std::string url = kind == "srt" ? "srt://127.0.0.1:" + std::to_string(port)
                                        : "rtmp://127.0.0.1:" + std::to_string(port) + "/live/air";
  const std::string out = kind == "srt" ? "-c:a mp2 -ar 48000 -f mpegts '" + url + "?mode=listener'"
                                        : "-c:a aac -ar 44100 -f flv -listen 1 '" + url + "'";
  const std::string cmd = "ffmpeg -loglevel quiet -nostdin -re -i " + song + " " + out;
  std::thread server([cmd] { (void)std::system(cmd.c_str()); });
  // Until the stream has come and gone: an up, then a down.
  const Delivered d = read_stream(url + "#stall_s=5", [](const Delivered& got) {
    const auto up = std::find_if(got.events.begin(), got.events.end(), [](const HealthEvent& e) {
      return e.type == HealthEvent::Type::up;
    });
    return up != got.events.end() && std::any_of(up, got.events.end(), [](const HealthEvent& e) {
             return e.type == HealthEvent::Type::down;
           });
  });
  server.join();
  ASSERT_TRUE(d.ok) << kind << ": " << d.events.size() << " events, " << d.samples.size()
                    << " samples";
  EXPECT_NEAR(static_cast<double>(d.samples.size()), 5.0 * 8000, 0.5 * 8000);
  EXPECT_GT(aircheck::test::best_correlation(want, d.samples, 2400), 0.8);
}

INSTANTIATE_TEST_SUITE_P(Protocols, ServedByFfmpeg, ::testing::Values("rtmp", "srt"));

/// Sends `ts` (an MPEG-TS) to 127.0.0.1:`port` in datagrams of 7 packets, as a multicast
/// head-end does, at `speed` times its real-time rate (`seconds` long), over and over until
/// destroyed.
class UdpSender {
 public:
  UdpSender(std::string ts, double seconds, uint16_t port, double speed)
      : ts_(std::move(ts)), thread_([this, seconds, port, speed] {
          const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
          sockaddr_in to{};
          to.sin_family = AF_INET;
          to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          to.sin_port = htons(port);
          constexpr std::size_t kDatagram = 7 * 188;
          const double per_s = static_cast<double>(ts_.size()) / seconds * speed;
          const auto t0 = std::chrono::steady_clock::now();
          std::size_t sent = 0;
          while (!stop_) {
            const std::chrono::duration<double> d = std::chrono::steady_clock::now() - t0;
            while (static_cast<double>(sent) < d.count() * per_s) {
              const std::size_t at = sent % ts_.size();
              const std::size_t n = std::min(kDatagram, ts_.size() - at);
              ::sendto(fd, ts_.data() + at, n, 0, reinterpret_cast<const sockaddr*>(&to),
                       sizeof to);
              sent += n;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
          ::close(fd);
        }) {}
  ~UdpSender() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::string ts_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(StreamSource, ReadsTheProgramAskedForOfAUdpTransportStream) {
  // Two stations in one MPEG-TS over UDP: program 1 quiet (-30 dB), program 2 at full level.
  // Each source reads the program its address names; one naming a program the stream lacks
  // reports down, saying so.
  constexpr int kRate = 16000;
  constexpr double kSeconds = 6;
  eval::SynthOptions o;
  o.seconds = kSeconds;
  o.sample_rate = kRate;
  std::vector<float> quiet = eval::synth_music(31, o);
  for (float& v : quiet) v *= 0.03f;
  const std::vector<float> loud = eval::synth_music(32, o);
  const std::string ts_path = (testing::temp_dir() / "mux.ts").string();
  const std::span<const float> programs[] = {quiet, loud};
  dsp::decode::encode_streams(ts_path, programs, kRate, 128000);
  const std::string ts = aircheck::test::read_file(ts_path);

  const auto level = [&](int program) {
    const uint16_t port = free_port(SOCK_DGRAM);
    auto src = make_source(
        parse_source_spec("tv", "udp://127.0.0.1:" + std::to_string(port) +
                                    "#program=" + std::to_string(program) + "&stall_s=5"),
        8000);
    src->start();
    UdpSender sender(ts, kSeconds, port, 4.0);
    Delivered d;
    const std::vector<float>& got = d.samples;
    const std::vector<HealthEvent>& events = d.events;
    // 3 s of audio, after its first half second.
    const bool ok = wait_for([&] {
      d.take(*src);
      return got.size() >= 28000 ||
             (!events.empty() && events.back().type == HealthEvent::Type::down);
    });
    src->stop();
    EXPECT_TRUE(ok);
    if (!events.empty() && events.front().type == HealthEvent::Type::down) {
      return std::pair(-1.0, events.front().reason);
    }
    double sum = 0;
    for (std::size_t i = 4000; i < got.size(); ++i) sum += static_cast<double>(got[i]) * got[i];
    return std::pair(
        got.size() > 4000 ? std::sqrt(sum / static_cast<double>(got.size() - 4000)) : 0.0,
        std::string());
  };
  const auto [rms1, why1] = level(1);
  const auto [rms2, why2] = level(2);
  std::printf("  program 1 rms %.4f, program 2 rms %.4f\n", rms1, rms2);
  EXPECT_GT(rms1, 0.0) << why1;
  EXPECT_GT(rms2, 0.0) << why2;
  EXPECT_GT(rms2, 10 * rms1) << "program 2 is the loud one";
  const auto [rms7, why7] = level(7);
  EXPECT_LT(rms7, 0.0) << "no program 7 in the stream, yet audio came";
  EXPECT_NE(why7.find("no program 7"), std::string::npos) << why7;
}

// A transport stream that lost datagrams on the way (a multicast feed over a busy network):
// two bursts of five datagrams of 7 packets, about 0.4 s of audio each, filled with silence,
// and between them 3 s lost at once (an interruption), skipped on the source's clock. What
// follows each loss keeps its time, from the stream's timestamps: the audio after each lies
// where it lies in the stream decoded whole. The losses are reported, naming the URL, before
// the stream's end. Without the filling everything after a loss came that much early.
TEST(StreamSource, PacketsLostOnTheWayKeepTheirTimeAndAreReported) {
  constexpr int kRate = 16000;
  constexpr double kSeconds = 12;
  eval::SynthOptions o;
  o.seconds = kSeconds;
  o.sample_rate = kRate;
  const std::vector<float> music = eval::synth_music(61, o);
  const std::string ts_path = (testing::temp_dir() / "lossy.ts").string();
  const std::span<const float> programs[] = {music};
  dsp::decode::encode_streams(ts_path, programs, kRate, 128000);
  const std::string ts = aircheck::test::read_file(ts_path);
  constexpr std::size_t kDatagram = 7 * 188;
  const double bytes_per_s = static_cast<double>(ts.size()) / kSeconds;
  std::string lossy;
  std::size_t lost_bytes = 0;
  for (std::size_t at = 0; at < ts.size(); at += kDatagram) {
    const double t = static_cast<double>(at) / bytes_per_s;
    const bool lost = (t >= 2 && t < 2.4) || (t >= 4 && t < 7) || (t >= 9 && t < 9.4);
    if (lost) {
      lost_bytes += std::min(kDatagram, ts.size() - at);
    } else {
      lossy.append(ts, at, kDatagram);
    }
  }
  std::printf("  %zu of %zu bytes lost\n", lost_bytes, ts.size());

  using Server = aircheck::test::LoopbackHttpServer;
  Server server([&](int fd, int, const std::string&) {
    Server::send_all(fd, "HTTP/1.0 200 OK\r\nContent-Type: video/mp2t\r\n\r\n");
    send_as_aired(server, fd, lossy, 0, bytes_per_s * 3);
    return Server::After::close;
  });
  const Delivered d = read_stream(server.url("/feed.ts") + "#stall_s=5", [](const Delivered& got) {
    return !got.events.empty() && got.events.back().type == HealthEvent::Type::down;
  });
  ASSERT_TRUE(d.ok) << d.events.size() << " events, " << d.samples.size() << " samples";

  const std::vector<float> whole = testing::decode_at(ts_path, 8000);
  const double skipped = static_cast<double>(d.placed.size() - d.samples.size()) / 8000;
  std::printf("  delivered %.3f s over %.3f s of the clock, the stream decoded whole %.3f s\n",
              static_cast<double>(d.samples.size()) / 8000,
              static_cast<double>(d.placed.size()) / 8000,
              static_cast<double>(whole.size()) / 8000);
  // The 3-s interruption, and the parts of the frames on its edges, skipped on the clock.
  EXPECT_GT(skipped, 2.95);
  EXPECT_LT(skipped, 3.4);
  // After each loss, against the same stretch of the whole stream: alike within 10 ms of where
  // they belong (without the filling and the skip 0.10 and 0.15 after the first two, and no
  // audio at all where the last stretch belongs: the stream came 4 s short).
  const auto alike = [&](double from_s, double to_s) {
    const auto a = static_cast<std::ptrdiff_t>(from_s * 8000);
    const auto n = static_cast<std::ptrdiff_t>((to_s - from_s) * 8000);
    double best = -1;
    for (std::ptrdiff_t lag = -80; lag <= 80; ++lag) {
      double ab = 0, aa = 0, bb = 0;
      for (std::ptrdiff_t i = a; i < a + n; ++i) {
        const auto k = static_cast<std::size_t>(i);
        const auto l = static_cast<std::size_t>(i + lag);
        if (k >= d.placed.size() || l >= whole.size()) break;
        ab += d.placed[k] * whole[l];
        aa += d.placed[k] * d.placed[k];
        bb += whole[l] * whole[l];
      }
      best = std::max(best, ab / std::sqrt(aa * bb + 1e-20));
    }
    return best;
  };
  EXPECT_GT(alike(2.6, 3.9), 0.9) << "after the first burst";
  EXPECT_GT(alike(7.2, 8.9), 0.9) << "after the interruption";
  EXPECT_GT(alike(9.6, 11.5), 0.9) << "after the last burst";

  uint64_t lost = 0;
  bool before_down = true;
  for (std::size_t i = 0; i < d.events.size(); ++i) {
    const HealthEvent& e = d.events[i];
    if (e.type != HealthEvent::Type::damage) continue;
    lost += e.count;
    std::printf("  damage %.3f-%.3f s: %s\n", static_cast<double>(e.from_pos) / 8000,
                static_cast<double>(e.pos) / 8000, e.reason.c_str());
    before_down = before_down && i + 1 < d.events.size();
    EXPECT_NE(e.reason.find(server.url("/feed.ts")), std::string::npos) << e.reason;
    EXPECT_LE(e.from_pos, e.pos);
  }
  std::printf("  reported lost: %.3f s\n", static_cast<double>(lost) / 8000);
  EXPECT_GT(lost, static_cast<uint64_t>(3.8 * 8000));
  EXPECT_LT(lost, static_cast<uint64_t>(4.6 * 8000));
  EXPECT_TRUE(before_down);
}

}  // namespace
}  // namespace aircheck::daemon
