#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "daemon/source.h"
#include "daemon/sources/options.h"

namespace aircheck::daemon {
namespace {

struct Row {
  std::string spec;
  SourceKind kind;
  std::string address;
  std::map<std::string, std::string> options;
};

TEST(SourceSpec, ParsesEveryKind) {
  const Row rows[] = {
      {"file:/srv/a.wav", SourceKind::file, "/srv/a.wav", {}},
      {"file:rel/b.mp3?pace=fast", SourceKind::file, "rel/b.mp3", {{"pace", "fast"}}},
      {"file:/x.flac?pace=realtime&start=2026-01-01T10:00:00Z",
       SourceKind::file,
       "/x.flac",
       {{"pace", "realtime"}, {"start", "2026-01-01T10:00:00Z"}}},
      {"alsa:hw:1,0", SourceKind::alsa, "hw:1,0", {}},
      {"alsa:plughw:CARD=USB,DEV=0?rate=44100",
       SourceKind::alsa,
       "plughw:CARD=USB,DEV=0",
       {{"rate", "44100"}}},
      {"alsa:default", SourceKind::alsa, "default", {}},
      {"pa:3", SourceKind::portaudio, "3", {}},
      {"pa:USB Audio CODEC", SourceKind::portaudio, "USB Audio CODEC", {}},
      {"http://radio.example:8000/live.mp3",
       SourceKind::stream,
       "http://radio.example:8000/live.mp3",
       {}},
      {"https://cdn.example/hls/master.m3u8?token=abc",
       SourceKind::stream,
       "https://cdn.example/hls/master.m3u8?token=abc",
       {}},
      {"udp://@239.1.1.1:5000#program=3&stall_s=5&gap_fill_s=0.5",
       SourceKind::stream,
       "udp://@239.1.1.1:5000",
       {{"program", "3"}, {"stall_s", "5"}, {"gap_fill_s", "0.5"}}},
      {"rtp://239.1.1.2:5004", SourceKind::stream, "rtp://239.1.1.2:5004", {}},
      {"srt://host:9000?mode=caller", SourceKind::stream, "srt://host:9000?mode=caller", {}},
      {"rtmp://host/app/key", SourceKind::stream, "rtmp://host/app/key", {}},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(r.spec);
    const SourceSpec s = parse_source_spec("id1", r.spec);
    EXPECT_EQ(s.id, "id1");
    EXPECT_EQ(s.kind, r.kind);
    EXPECT_EQ(s.address, r.address);
    EXPECT_EQ(s.options, r.options);
  }
}

TEST(SourceSpec, RejectsBadSpecsNamingThemAndWhatIsExpected) {
  const std::pair<std::string, std::string> rows[] = {
      {"", "expected file:PATH"},
      {"/srv/a.wav", "expected file:PATH"},
      {"ftp://host/x", "expected file:PATH"},
      {"file:", "empty address"},
      {"file:/a.wav?pace=slow", "expected realtime or fast"},
      {"file:/a.wav?start=yesterday", "ISO 8601"},
      {"file:/a.wav?start=2026-01-01T10:00:00", "ISO 8601"},
      {"file:/a.wav?colour=red", "unknown option 'colour'"},
      {"file:/a.wav?pace", "not KEY=VALUE"},
      {"file:/a.wav?pace=fast&pace=fast", "given twice"},
      {"udp://@239.1.1.1:5000#program=x", "program=x"},
      {"http://h/x#stall_s=-1", "stall_s=-1"},
      {"udp://@239.1.1.1:5000#gap_fill_s=30", "gap_fill_s=30"},
      {"alsa:hw:0?rate=12", "rate=12"},
      {"http://", "no host"},
  };
  for (const auto& [spec, why] : rows) {
    SCOPED_TRACE(spec);
    try {
      parse_source_spec("s7", spec);
      ADD_FAILURE() << "accepted";
    } catch (const std::invalid_argument& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("'s7'"), std::string::npos) << msg;
      EXPECT_NE(msg.find("'" + spec + "'"), std::string::npos) << msg;
      EXPECT_NE(msg.find(why), std::string::npos) << msg;
    }
  }
}

TEST(SourceSpec, ParsesUtcTimes) {
  EXPECT_DOUBLE_EQ(sources::parse_utc("2026-01-01T10:00:00Z"), 1767261600.0);
  EXPECT_DOUBLE_EQ(sources::parse_utc("2026-01-01T11:00:00.25+01:00"), 1767261600.25);
  EXPECT_DOUBLE_EQ(sources::parse_utc("1970-01-01T00:00:00-00:30"), 1800.0);
  EXPECT_THROW(sources::parse_utc("2026-13-01T10:00:00Z"), std::invalid_argument);
  EXPECT_THROW(sources::parse_utc("2026-01-01 10:00:00Z"), std::invalid_argument);
}

TEST(SourceSpec, MakeSourceValidatesAndNamesMissingBackends) {
  SourceSpec s{"a", SourceKind::file, "/x.wav", {{"pace", "sometimes"}}};
  EXPECT_THROW(make_source(s, 8000), std::invalid_argument);
  s.options.clear();
  EXPECT_THROW(make_source(s, 10), std::invalid_argument);
  EXPECT_NE(make_source(s, 8000), nullptr);
#ifndef AIRCHECK_HAVE_ALSA
  try {
    make_source({"b", SourceKind::alsa, "default", {}}, 8000);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("AIRCHECK_WITH_ALSA"), std::string::npos);
  }
#endif
#ifndef AIRCHECK_HAVE_PORTAUDIO
  try {
    make_source({"c", SourceKind::portaudio, "0", {}}, 8000);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("AIRCHECK_WITH_PORTAUDIO"), std::string::npos);
  }
#endif
}

TEST(SourceSpec, StartFailsForAMissingFile) {
  auto src = make_source(parse_source_spec("m", "file:/nonexistent/dir/a.wav"), 8000);
  EXPECT_THROW(src->start(), std::runtime_error);
  src->stop();
}

}  // namespace
}  // namespace aircheck::daemon
