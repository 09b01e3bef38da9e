#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/index_commands.h"
#include "dsp/decode/decoder.h"
#include "dsp/fingerprinter.h"
#include "matcher/identify.h"
#include "matcher/matcher.h"

namespace aircheck::cli {
using nlohmann::json;

namespace {
constexpr double kMinQuerySeconds = 1.0;

// A secondary candidate is reported only with at least this share of the best one's votes:
// weaker ones are repeats of the same material elsewhere in a track, not another airing.
constexpr double kSecondaryShare = 0.25;

std::string clock_text(double s) {
  char b[32];
  const double a = std::abs(s);
  const int m = static_cast<int>(a / 60);
  std::snprintf(b, sizeof b, "%s%02d:%06.3f", s < 0 ? "-" : "", m, a - 60.0 * m);
  return b;
}
}  // namespace

int query(const std::filesystem::path& dir, const QueryOptions& o) {
  auto index = open_index(dir, store::OpenMode::read_only);
  auto reader = index->reader();
  matcher::MatchParams mp;
  if (o.min_votes > 0) mp.min_votes = o.min_votes;
  if (o.min_confidence >= 0) mp.min_confidence = o.min_confidence;
  // --top limits what is shown, not what is matched: the repeats of a looping track are told
  // apart among the matcher's own candidates, as `aircheck eval queries` measures them.
  mp.top_k = std::max(mp.top_k, o.top);
  matcher::IdentifyOptions io;
  if (!o.speeds.empty()) io.speeds = o.speeds;
  matcher::Identifier id(params(), mp, io);
  const matcher::Matcher& m = id.matcher();
  const double fs = params().frame_seconds();
  int rc = kOk;
  std::vector<float> pcm;
  for (const auto& file : o.files) {
    dsp::decode::Metadata meta;
    try {
      dsp::decode::OpenOptions opts;
      opts.sample_rate = params().sample_rate;
      pcm = dsp::decode::decode_all(file, opts, &meta);
    } catch (const std::exception& e) {
      std::cerr << "aircheck: " << e.what() << " (skipped)\n";
      rc = kSomeFailed;
      continue;
    }
    const double secs = static_cast<double>(pcm.size()) / params().sample_rate;
    if (secs < kMinQuerySeconds) {
      std::fprintf(stderr,
                   "aircheck: %s: too short to decide (%.2f s of audio; need at least %.0f s)\n",
                   file.c_str(), secs, kMinQuerySeconds);
      rc = kSomeFailed;
      continue;
    }
    const std::string damage =
        dsp::decode::describe_damage(file, meta.decode_errors, meta.filled_s);
    if (!damage.empty()) std::cerr << "aircheck: " << damage << "\n";
    reader->begin();
    const matcher::Identification& found = id.identify(pcm, *reader);
    const auto& cands = found.candidates;
    json matches = json::array();
    for (const auto& c : cands) {
      if (matches.size() >= std::max(1u, o.top)) break;
      if (!m.accepted(c)) continue;
      if (!matches.empty() && c.votes < kSecondaryShare * cands[0].votes) continue;
      const auto t = reader->track(c.track);
      matches.push_back(json{
          {"track_id", c.track},
          {"title", t ? t->title : ""},
          {"artist", t ? t->artist : ""},
          {"external_id", t ? t->external_id : ""},
          {"source", t ? t->source : ""},
          {"offset_s", std::round(c.exact_offset() * fs * 1000.0) / 1000.0},
          {"score", c.votes},
          {"confidence", c.confidence},
          {"matched_s", (c.ref_last - c.ref_first + 1) * fs},
          {"speed", std::round(c.speed * 10000.0) / 10000.0},
      });
    }
    reader->end();
    if (o.json) {
      json out{{"query", file},
               {"matches", matches},
               {"speeds_matched", found.tried},
               {"speeds_screened", found.screened},
               {"repeats_weighed", found.verified}};
      if (!damage.empty()) {
        out["damaged_packets"] = meta.decode_errors;
        out["lost_s"] = std::round(meta.filled_s * 1000.0) / 1000.0;
      }
      std::cout << out.dump() << std::endl;
      continue;
    }
    std::cout << file << "  (" << secs << " s, " << found.hashes << " hashes, " << found.tried
              << (found.tried == 1 ? " speed" : " speeds") << " matched";
    if (found.screened > 0) std::cout << ", " << found.screened << " screened";
    if (found.verified > 0) std::cout << ", " << found.verified << " repeats weighed";
    std::cout << ")\n";
    if (matches.empty()) {
      if (!cands.empty())
        std::printf(
            "  no match (best: track %u with %u votes, confidence %.2f: below the decision rule)\n",
            cands[0].track, cands[0].votes, cands[0].confidence);
      else
        std::printf("  no match\n");
      continue;
    }
    if (found.verified > 0)
      std::printf(
          "  (the track repeats this passage: the first is the repeat that explains the query "
          "best, by its anchors at every frame phase and its sub-band energy words, not by "
          "score)\n");
    std::printf("  %-3s %-6s %-32s %-12s %6s %5s %8s %7s\n", "#", "track", "title", "offset",
                "score", "conf", "matched", "speed");
    int rank = 0;
    for (const auto& j : matches) {
      std::printf("  %-3d %-6u %-32.32s %-12s %6u %5.2f %6.1f s %7.4f\n", ++rank,
                  j["track_id"].get<unsigned>(), j["title"].get<std::string>().c_str(),
                  clock_text(j["offset_s"].get<double>()).c_str(), j["score"].get<unsigned>(),
                  j["confidence"].get<double>(), j["matched_s"].get<double>(),
                  j["speed"].get<double>());
    }
  }
  return rc;
}

}  // namespace aircheck::cli
