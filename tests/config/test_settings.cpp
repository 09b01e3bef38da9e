#include "config/settings.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace aircheck::config {
namespace {

TEST(Settings, MinimalFileGetsDefaults) {
  const Settings s = parse_settings("index: /srv/idx\n", "a.yaml");
  EXPECT_EQ(s.index, "/srv/idx");
  EXPECT_EQ(s.file, "a.yaml");
  EXPECT_EQ(s.threads, 0u);
  EXPECT_GE(s.worker_threads(), 1u);
  ASSERT_EQ(s.profiles.count("default"), 1u);
  EXPECT_EQ(s.profiles.at("default").window_s, 6.0);
  EXPECT_EQ(s.profiles.at("default").hop_s, 1.0);
  EXPECT_TRUE(s.sinks.journald);
  EXPECT_TRUE(s.sinks.jsonl_path.empty());
  EXPECT_TRUE(s.sources.empty());
}

TEST(Settings, FullFile) {
  const char* text = R"(# comment
index: /var/lib/aircheck/index
threads: 3
status_interval_s: 5
profiles:
  music: {min_votes: 12, min_confidence: 0.5, confirm_windows: 3, min_span_s: 4,
          speeds: [0.97, 1.03], rescaled_speeds: [0.985, 1.015], word_check: false,
          half_step: false, early_pairs: false, follow_speed: false, opening_lines: false}
  spots:
    min_votes: 8
    window_s: 4
    hop_s: 0.5
silence: {threshold_dbfs: -55, min_duration_s: 3}
evidence: {enabled: true, dir: /var/lib/aircheck/clips, format: flac, pre_roll_s: 2, max_s: 60}
sinks:
  queue: 100
  journald: {enabled: false}
  jsonl: {path: /var/log/aircheck/events.jsonl, fsync: always}
  stdout: {format: json}
sources:
  - id: fm1
    kind: alsa
    address: "plughw:1,0"
    options: {channels: 2, rate: 48000}
    profile: music
    matcher: {min_votes: 14}
    progress_interval_s: 10
    evidence: yes
  - id: web
    kind: stream
    address: http://example.org/live.mp3
    profile: spots
    silence: {enabled: false}
)";
  const Settings s = parse_settings(text, "full.yaml");
  EXPECT_EQ(s.threads, 3u);
  EXPECT_EQ(s.worker_threads(), 3u);
  EXPECT_EQ(s.status_interval_s, 5.0);
  ASSERT_EQ(s.profiles.size(), 3u);
  EXPECT_EQ(s.silence.threshold_dbfs, -55.0);
  EXPECT_TRUE(s.evidence.enabled);
  EXPECT_EQ(s.evidence.format, "flac");
  EXPECT_EQ(s.sinks.queue, 100u);
  EXPECT_FALSE(s.sinks.journald);
  EXPECT_EQ(s.sinks.jsonl_path, "/var/log/aircheck/events.jsonl");
  EXPECT_EQ(s.sinks.jsonl_fsync, FsyncPolicy::always);
  EXPECT_EQ(s.sinks.console, ConsoleFormat::json);
  ASSERT_EQ(s.sources.size(), 2u);
  const SourceSettings& fm = s.sources[0];
  EXPECT_EQ(fm.id, "fm1");
  EXPECT_EQ(fm.kind, "alsa");
  EXPECT_EQ(fm.address, "plughw:1,0");
  EXPECT_EQ(fm.options.at("rate"), "48000");
  EXPECT_EQ(fm.match.name, "music");
  EXPECT_EQ(fm.match.min_votes, 14u);      // source override
  EXPECT_EQ(fm.match.confirm_windows, 3);  // from the profile
  EXPECT_EQ(fm.match.speeds, (std::vector<double>{0.97, 1.03}));
  EXPECT_EQ(fm.match.rescaled_speeds, (std::vector<double>{0.985, 1.015}));
  EXPECT_TRUE(s.sources[1].match.speeds.empty());
  EXPECT_EQ(s.sources[1].match.rescaled_speeds, (std::vector<double>{0.98, 1.02}));  // default
  EXPECT_FALSE(fm.match.word_check);
  EXPECT_TRUE(s.sources[1].match.word_check);  // the default
  EXPECT_FALSE(fm.match.half_step);
  EXPECT_TRUE(s.sources[1].match.half_step);  // the default
  EXPECT_FALSE(fm.match.early_pairs);
  EXPECT_TRUE(s.sources[1].match.early_pairs);  // the default
  EXPECT_FALSE(fm.match.follow_speed);
  EXPECT_TRUE(s.sources[1].match.follow_speed);  // the default
  EXPECT_FALSE(fm.match.opening_lines);
  EXPECT_TRUE(s.sources[1].match.opening_lines);  // the default
  EXPECT_EQ(fm.progress_interval_s, 10.0);
  EXPECT_TRUE(fm.evidence);
  EXPECT_EQ(fm.silence.threshold_dbfs, -55.0);  // top-level default inherited
  const SourceSettings& web = s.sources[1];
  EXPECT_EQ(web.match.window_s, 4.0);
  EXPECT_EQ(web.match.hop_s, 0.5);
  EXPECT_FALSE(web.silence.enabled);
  EXPECT_EQ(s.source("web"), &s.sources[1]);
  EXPECT_EQ(s.source("nope"), nullptr);
}

struct BadCase {
  const char* text;
  const char* error;
};

TEST(Settings, BadFilesNameThePlace) {
  const std::vector<BadCase> cases = {
      {"", "bad.yaml:1:1: the file is empty (expected at least 'index:')"},
      {"threads: 2\n", "bad.yaml:1:1: missing required key 'index' (the index folder)"},
      {"index: /x\nindx: /y\n",
       "bad.yaml:2:1: unknown key 'indx' in the top level (expected one of: index, threads, "
       "status_interval_s, profiles, silence, evidence, sinks, sources)"},
      {"index: /x\nindex: /y\n", "bad.yaml:2:1: duplicate key 'index' in the top level"},
      {"index: /x\nthreads: many\n",
       "bad.yaml:2:10: threads (or 'auto'): expected a whole number, got 'many'"},
      {"index: /x\nthreads: 0\n",
       "bad.yaml:2:10: threads (or 'auto'): 0 is out of range (expected 1 to 1024)"},
      {"index: [a, b]\n", "bad.yaml:1:8: index: expected a single value, got a list"},
      {"index: /x\nsources: {id: a}\n", "bad.yaml:2:10: sources: expected a list of sources"},
      {"index: /x\nsources:\n  - id: a\n    kind: file\n",
       "bad.yaml:3:5: sources[0]: missing required key 'address'"},
      {"index: /x\nsources:\n  - id: a\n    kind: tape\n    address: /a.wav\n",
       "bad.yaml:4:11: sources[0].kind: expected one of file, alsa, portaudio, stream, got 'tape'"},
      {"index: /x\nsources:\n  - id: a b\n    kind: file\n    address: /a.wav\n",
       "bad.yaml:3:9: sources[0].id: source id 'a b' may only hold letters, digits, '_', '-' and "
       "'.'"},
      {"index: /x\nsources:\n  - {id: a, kind: file, address: /a.wav}\n"
       "  - {id: a, kind: file, address: /b.wav}\n",
       "bad.yaml:4:10: sources[1].id: duplicate source id 'a'"},
      {"index: /x\nsources:\n  - {id: a, kind: file, address: /a.wav, profile: talk}\n",
       "bad.yaml:3:51: sources[0].profile: unknown profile 'talk' (defined: default)"},
      {"index: /x\nsources:\n  - {id: a, kind: file, address: /a.wav, colour: red}\n",
       "bad.yaml:3:42: unknown key 'colour' in sources[0] (expected one of: id, kind, address, "
       "options, profile, matcher, progress_interval_s, silence, evidence)"},
      {"index: /x\nsources:\n  - id: a\n    kind: file\n    address: /a.wav\n    matcher:\n"
       "      min_votes: -3\n",
       "bad.yaml:7:18: sources[0].matcher.min_votes: -3 is out of range (expected 1 to 100000)"},
      {"index: /x\nprofiles:\n  spots: {min_confidence: 1.5}\n",
       "bad.yaml:3:27: profiles.spots.min_confidence: 1.5 is out of range (expected 0 to 1)"},
      {"index: /x\nprofiles:\n  spots: {window_s: 2, hop_s: 3}\n",
       "bad.yaml:3:10: profiles.spots: hop_s (3.000000) must not exceed window_s (2.000000)"},
      {"index: /x\nprofiles:\n  spots: {speeds: 1.03}\n",
       "bad.yaml:3:19: profiles.spots.speeds: expected a list of playback speeds, e.g. [0.97, "
       "1.03]"},
      {"index: /x\nprofiles:\n  spots: {speeds: [0.98, 1]}\n",
       "bad.yaml:3:26: profiles.spots.speeds: 1 is normal speed, which is always matched; list "
       "only other speeds"},
      {"index: /x\nprofiles:\n  spots: {rescaled_speeds: [1.02, 1.022]}\n",
       "bad.yaml:3:35: profiles.spots.rescaled_speeds: speeds closer than 0.005 to each other"},
      {"index: /x\nprofiles:\n  spots: {speeds: [1.2]}\n",
       "bad.yaml:3:20: profiles.spots.speeds: 1.2 is out of range (expected 0.9 to 1.1)"},
      {"index: /x\nprofiles:\n  spots: {window_s: abc}\n",
       "bad.yaml:3:21: profiles.spots.window_s: expected a number, got 'abc'"},
      {"index: /x\nsinks:\n  jsonl: {path: /l.jsonl, fsync: sometimes}\n",
       "bad.yaml:3:34: sinks.jsonl.fsync: expected one of never, interval, always, got "
       "'sometimes'"},
      {"index: /x\nsinks:\n  stdout: {format: xml}\n",
       "bad.yaml:3:20: sinks.stdout.format: expected one of text, json, got 'xml'"},
      {"index: /x\nprofiles:\n  spots: {word_check: often}\n",
       "bad.yaml:3:23: profiles.spots.word_check: expected true or false, got 'often'"},
      {"index: /x\nprofiles:\n  spots: {half_step: 2}\n",
       "bad.yaml:3:22: profiles.spots.half_step: expected true or false, got '2'"},
      {"index: /x\nprofiles:\n  spots: {early_pairs: yes please}\n",
       "bad.yaml:3:24: profiles.spots.early_pairs: expected true or false, got 'yes please'"},
      {"index: /x\nprofiles:\n  spots: {follow_speed: 1.02}\n",
       "bad.yaml:3:25: profiles.spots.follow_speed: expected true or false, got '1.02'"},
      {"index: /x\nsinks:\n  journald: {enabled: maybe}\n",
       "bad.yaml:3:23: sinks.journald.enabled: expected true or false, got 'maybe'"},
      {"index: /x\nsinks:\n  kafka: {}\n",
       "bad.yaml:3:3: unknown key 'kafka' in sinks (expected one of: queue, journald, jsonl, "
       "stdout)"},
      {"index: /x\nevidence: {enabled: true}\n",
       "bad.yaml:2:11: evidence: 'dir' is required when enabled is true"},
      {"index: /x\nevidence: {enabled: false, format: mp3}\n",
       "bad.yaml:2:36: evidence.format: expected one of ogg, flac, got 'mp3'"},
      {"index: /x\nevidence: {pre_roll_s: 10, max_s: 5}\n",
       "bad.yaml:2:11: evidence: pre_roll_s (10.000000) must be less than max_s (5.000000), which "
       "includes it"},
      {"index: /x\nsources:\n  - {id: a, kind: file, address: /a.wav, evidence: true}\n",
       "bad.yaml:3:5: sources[0].evidence: needs the top-level evidence section with enabled: "
       "true"},
      {"index: /x\nsilence: {threshold_dbfs: 3}\n",
       "bad.yaml:2:27: silence.threshold_dbfs: 3 is out of range (expected -150 to 0)"},
      {"index: /x\nsources:\n  - id: a\n    kind: file\n   address: oops\n",
       "bad.yaml:5:4: YAML syntax error: end of sequence not found"},
      {"index: /x\nsources:\n  - {id: a, kind: file, address: /a.wav, options: [pace]}\n",
       "bad.yaml:3:51: sources[0].options: expected a mapping of option names to values"},
      {"- index\n", "bad.yaml:1:1: the top level: expected a mapping of keys to values"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.text);
    try {
      parse_settings(c.text, "bad.yaml");
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()), c.error);
    }
  }
}

TEST(Settings, LoadFromFileAndMissingFile) {
  const auto dir = std::filesystem::temp_directory_path() / "aircheck_test_settings";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "ok.yaml").string();
  {
    std::ofstream out(path);
    out << "index: /srv/idx\nsources:\n  - {id: f, kind: file, address: /a.flac, options: {pace: "
           "fast}}\n";
  }
  const Settings s = load_settings(path);
  EXPECT_EQ(s.file, path);
  ASSERT_EQ(s.sources.size(), 1u);
  EXPECT_EQ(s.sources[0].options.at("pace"), "fast");

  const auto missing = (dir / "missing.yaml").string();
  try {
    load_settings(missing);
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              missing + ":0:0: cannot open the configuration file for reading");
  }
  std::filesystem::remove_all(dir);
}

TEST(Settings, EqualityDetectsChangedSources) {
  const Settings a =
      parse_settings("index: /x\nsources:\n  - {id: a, kind: file, address: /a.wav}\n", "a");
  const Settings b =
      parse_settings("index: /x\nsources:\n  - {id: a, kind: file, address: /b.wav}\n", "b");
  const Settings c =
      parse_settings("index: /x\nsources:\n  - {id: a, kind: file, address: /a.wav}\n", "c");
  EXPECT_FALSE(a.sources[0] == b.sources[0]);
  EXPECT_TRUE(a.sources[0] == c.sources[0]);
}

TEST(Settings, ShippedExampleIsValid) {
  const Settings s = load_settings(AIRCHECK_EXAMPLE_CONFIG);
  EXPECT_EQ(s.index, "/var/lib/aircheck/index");
  EXPECT_EQ(s.profiles.size(), 3u);
  EXPECT_TRUE(s.sources.empty());
  EXPECT_EQ(s.sinks.jsonl_path, "/var/log/aircheck/events.jsonl");
}

TEST(Settings, EmptySourcesListIsAllowed) {
  EXPECT_TRUE(parse_settings("index: /x\nsources:\n", "a").sources.empty());
  EXPECT_TRUE(parse_settings("index: /x\nsources: []\n", "a").sources.empty());
}

}  // namespace
}  // namespace aircheck::config
