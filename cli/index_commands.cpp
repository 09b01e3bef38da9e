#include "cli/index_commands.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/common.h"
#include "dsp/decode/decoder.h"
#include "dsp/fingerprinter.h"

namespace aircheck::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct ManifestRow {
  std::string title, artist, external_id;
};

// CSV or TSV with a header naming at least `path`; optional title, artist, external_id.
std::map<std::string, ManifestRow> read_manifest(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw CliError(kUsage, file + ": cannot read manifest");
  std::string line;
  if (!std::getline(in, line)) throw CliError(kUsage, file + ":1: empty manifest");
  const char sep = line.find('\t') != std::string::npos ? '\t' : ',';
  auto split = [sep](const std::string& s) {
    std::vector<std::string> f;
    std::string cur;
    bool quoted = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const char c = s[i];
      if (sep == ',' && c == '"') {
        if (quoted && i + 1 < s.size() && s[i + 1] == '"') {
          cur += '"';
          ++i;
        } else
          quoted = !quoted;
      } else if (c == sep && !quoted) {
        f.push_back(cur);
        cur.clear();
      } else if (c != '\r') {
        cur += c;
      }
    }
    f.push_back(cur);
    return f;
  };
  const auto head = split(line);
  int ip = -1, it = -1, ia = -1, ie = -1;
  for (int i = 0; i < static_cast<int>(head.size()); ++i) {
    const auto& h = head[static_cast<std::size_t>(i)];
    if (h == "path")
      ip = i;
    else if (h == "title")
      it = i;
    else if (h == "artist")
      ia = i;
    else if (h == "external_id" || h == "isrc")
      ie = i;
  }
  if (ip < 0)
    throw CliError(
        kUsage,
        file + ":1: manifest header needs a `path` column (and any of title, artist, external_id)");
  std::map<std::string, ManifestRow> rows;
  int lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    const auto f = split(line);
    auto get = [&](int i) {
      return i >= 0 && i < static_cast<int>(f.size()) ? f[static_cast<std::size_t>(i)]
                                                      : std::string();
    };
    if (get(ip).empty())
      throw CliError(kUsage, file + ":" + std::to_string(lineno) + ": empty path");
    std::error_code ec;
    const fs::path key = fs::weakly_canonical(get(ip), ec);
    rows[key.string()] = ManifestRow{get(it), get(ia), get(ie)};
  }
  return rows;
}

struct Prepared {
  bool ok = false;
  std::string error;
  std::string damage;  // describe_damage(): indexed all the same, its gaps kept in time
  store::TrackInfo info;
  std::vector<dsp::TimedHash> hashes;
  std::vector<uint32_t> subband;
  std::vector<uint64_t> fine;
};

Prepared prepare(const fs::path& file) {
  Prepared r;
  try {
    dsp::decode::Metadata meta;
    dsp::decode::OpenOptions opts;
    opts.sample_rate = params().sample_rate;
    std::vector<float> pcm = dsp::decode::decode_all(file.string(), opts, &meta);
    const double secs = static_cast<double>(pcm.size()) / params().sample_rate;
    if (secs < 1.0) {
      r.error =
          file.string() + ": too short to index (" + std::to_string(secs).substr(0, 4) + " s)";
      return r;
    }
    r.damage = dsp::decode::describe_damage(file.string(), meta.decode_errors, meta.filled_s);
    r.hashes = dsp::fingerprint(params(), dsp::Side::index, pcm, &r.subband, &r.fine);
    r.info.title = meta.title.empty() ? file.stem().string() : meta.title;
    r.info.artist = meta.artist;
    r.info.external_id = meta.isrc;
    r.info.source = file.string();
    r.info.duration_s = secs;
    r.info.content_hash = store::content_hash(pcm);
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

std::string fmt_hours(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f h", s / 3600.0);
  return b;
}

}  // namespace

int index_add(const fs::path& dir, const AddOptions& o) {
  std::vector<std::string> missing;
  const auto files = expand_inputs(o.inputs, missing);
  for (const auto& m : missing) std::cerr << "aircheck: " << m << ": no such file or folder\n";
  if (files.empty()) {
    std::cerr << "aircheck: nothing to index\n";
    return missing.empty() ? kOk : kSomeFailed;
  }
  if ((!o.title.empty() || !o.artist.empty() || !o.external_id.empty()) && files.size() != 1)
    throw CliError(
        kUsage, "--title/--artist/--external-id apply to a single file; use --manifest for many");
  std::map<std::string, ManifestRow> manifest;
  if (!o.manifest.empty()) manifest = read_manifest(o.manifest);

  auto index = open_index(dir, store::OpenMode::create);
  const unsigned jobs = o.jobs > 0 ? o.jobs : std::max(1u, std::thread::hardware_concurrency());

  // Workers decode and fingerprint in parallel; this thread is the only writer and writes in
  // input order, so ids follow the order of the inputs.
  std::vector<std::optional<Prepared>> results(files.size());
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<std::size_t> next{0};
  std::size_t written = 0;
  const std::size_t ahead = jobs * 2;
  auto worker = [&] {
    for (;;) {
      std::size_t i;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return next.load() < written + ahead || next.load() >= files.size(); });
        i = next.fetch_add(1);
      }
      if (i >= files.size()) return;
      Prepared p = prepare(files[i]);
      {
        std::lock_guard lock(mu);
        results[i] = std::move(p);
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned j = 0; j < jobs; ++j) pool.emplace_back(worker);

  const bool tty = stderr_is_terminal() && !o.quiet;
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t added = 0, dups = 0, failed = 0, damaged = 0;
  double seconds = 0;
  uint64_t hashes = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    Prepared p;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return results[i].has_value(); });
      p = std::move(*results[i]);
      results[i].reset();
      written = i + 1;
    }
    cv.notify_all();
    std::string line;
    if (!p.ok) {
      ++failed;
      line = "failed  " + p.error;
      std::cerr << (tty ? "\r\033[K" : "") << "aircheck: " << p.error << " (skipped)\n";
    } else if (auto dup = index->find_content(p.info.content_hash)) {
      ++dups;
      line = "skipped " + files[i].string() + " (same audio as track " + std::to_string(*dup) + ")";
      if (!tty && !o.quiet) std::cerr << line << '\n';
    } else {
      std::error_code ec;
      const auto canon = fs::weakly_canonical(files[i], ec).string();
      if (auto m = manifest.find(canon); m != manifest.end()) {
        if (!m->second.title.empty()) p.info.title = m->second.title;
        if (!m->second.artist.empty()) p.info.artist = m->second.artist;
        if (!m->second.external_id.empty()) p.info.external_id = m->second.external_id;
      }
      if (!o.title.empty()) p.info.title = o.title;
      if (!o.artist.empty()) p.info.artist = o.artist;
      if (!o.external_id.empty()) p.info.external_id = o.external_id;
      p.info.added_unix = static_cast<int64_t>(std::time(nullptr));
      try {
        index->add_track(p.info, p.hashes, p.subband, p.fine);
      } catch (const store::StoreError& e) {
        for (auto& t : pool) t.detach();
        throw CliError(kIndexError, e.what());
      }
      ++added;
      if (!p.damage.empty()) {
        ++damaged;
        std::cerr << (tty ? "\r\033[K" : "") << "aircheck: " << p.damage
                  << " (indexed; replace the file for that part to match)\n";
      }
      seconds += p.info.duration_s;
      hashes += p.hashes.size();
      if (!tty && !o.quiet)
        std::cerr << "added   " << p.info.id << '\t' << files[i].string() << '\t'
                  << p.info.duration_s << " s\t" << p.hashes.size() << " hashes\n";
    }
    if (tty) {
      const int width = 30;
      const int fill = static_cast<int>(static_cast<double>(width) * static_cast<double>(i + 1) /
                                        static_cast<double>(files.size()));
      std::cerr << "\r\033[K[" << std::string(static_cast<std::size_t>(fill), '#')
                << std::string(static_cast<std::size_t>(width - fill), ' ') << "] " << i + 1 << '/'
                << files.size() << "  " << fmt_hours(seconds) << "  "
                << files[i].filename().string() << std::flush;
    }
  }
  for (auto& t : pool) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (tty) std::cerr << "\r\033[K";
  if (!o.quiet) {
    std::fprintf(
        stderr,
        "indexed %zu file(s): %zu added (%s, %llu hashes)%s, %zu duplicate(s) skipped, %zu "
        "failed, %.1f s (%.0fx real time)\n",
        files.size(), added, fmt_hours(seconds).c_str(), static_cast<unsigned long long>(hashes),
        damaged > 0 ? (" of them " + std::to_string(damaged) + " damaged").c_str() : "", dups,
        failed, wall, wall > 0 ? seconds / wall : 0.0);
  }
  return failed > 0 || !missing.empty() ? kSomeFailed : kOk;
}

int index_rm(const fs::path& dir, const std::vector<uint32_t>& ids) {
  auto index = open_index(dir, store::OpenMode::read_write);
  int rc = kOk;
  for (uint32_t id : ids) {
    try {
      if (index->remove_track(id)) {
        std::cout << "removed " << id << '\n';
      } else {
        std::cerr << "aircheck: no track " << id << " in " << dir.string() << '\n';
        rc = kSomeFailed;
      }
    } catch (const store::StoreError& e) {
      throw CliError(kIndexError, e.what());
    }
  }
  return rc;
}

int index_upgrade(const fs::path& dir, bool quiet) {
  auto index = open_index(dir, store::OpenMode::read_write);
  auto reader = index->reader();
  int upgraded = 0, failed = 0, had = 0;
  try {
    for (const auto& t : index->tracks()) {
      uint64_t first = 0;
      if (reader->fine(t.id, 0, 1, &first) > 0) {
        ++had;
        continue;
      }
      const std::string name = "track " + std::to_string(t.id) + " (" + t.title + ")";
      const auto skip = [&](const std::string& why) {
        std::cerr << "aircheck: " << name << ": " << why << "; `aircheck index rm " << t.id
                  << "` and `aircheck index add` it again to have its fine words\n";
        ++failed;
      };
      std::error_code ec;
      if (t.source.empty() || !fs::is_regular_file(t.source, ec)) {
        skip("its source " + (t.source.empty() ? std::string("is not recorded") : t.source) +
             " is gone");
        continue;
      }
      std::vector<float> pcm;
      try {
        dsp::decode::OpenOptions opts;
        opts.sample_rate = params().sample_rate;
        pcm = dsp::decode::decode_all(t.source, opts, nullptr);
      } catch (const std::exception& e) {
        skip(e.what());
        continue;
      }
      // The same audio as indexed, or its fine words would describe another recording: the
      // fingerprint is deterministic, so the same audio gives the postings the track holds.
      std::vector<uint64_t> fine;
      auto hashes = dsp::fingerprint(params(), dsp::Side::index, pcm, nullptr, &fine);
      std::sort(hashes.begin(), hashes.end(), [](const auto& a, const auto& b) {
        return a.hash != b.hash ? a.hash < b.hash : a.t < b.t;
      });
      hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
      const double secs = static_cast<double>(pcm.size()) / params().sample_rate;
      if (hashes.size() != t.hashes || std::abs(secs - t.duration_s) > 0.01) {
        skip("its source " + t.source + " has changed since it was indexed");
        continue;
      }
      if (!index->set_fine(t.id, fine)) continue;  // removed meanwhile
      ++upgraded;
      if (!quiet) std::cout << "upgraded " << t.id << "  " << t.title << '\n';
    }
  } catch (const store::StoreError& e) {
    throw CliError(kIndexError, e.what());
  }
  if (!quiet) {
    std::cout << upgraded << " track(s) given fine words, " << had << " had them, " << failed
              << " skipped\n";
  }
  return failed > 0 ? kSomeFailed : kOk;
}

static json track_json(const store::TrackInfo& t) {
  return json{{"track_id", t.id},           {"title", t.title},
              {"artist", t.artist},         {"external_id", t.external_id},
              {"source", t.source},         {"duration_s", t.duration_s},
              {"added_unix", t.added_unix}, {"hashes", t.hashes}};
}

int index_ls(const fs::path& dir, bool as_json) {
  auto index = open_index(dir, store::OpenMode::read_only);
  for (const auto& t : index->tracks()) {
    if (as_json) {
      std::cout << track_json(t).dump() << '\n';
    } else {
      std::printf("%6u  %8.1f s  %-32s  %-20s  %s\n", t.id, t.duration_s, t.title.c_str(),
                  t.artist.c_str(), t.source.c_str());
    }
  }
  return kOk;
}

int index_stats(const fs::path& dir, bool as_json) {
  auto index = open_index(dir, store::OpenMode::read_only);
  const auto s = index->stats();
  const double hours = s.seconds / 3600.0;
  const double per_hour = hours > 0 ? static_cast<double>(s.bytes_used) / hours : 0.0;
  if (as_json) {
    std::cout << json{{"tracks", s.tracks},
                      {"hours", hours},
                      {"postings", s.postings},
                      {"distinct_hashes", s.distinct_hashes},
                      {"bytes_on_disk", s.bytes_on_disk},
                      {"bytes_used", s.bytes_used},
                      {"bytes_per_hour", per_hour},
                      {"fine_tracks", s.fine_tracks},
                      {"format", index->format().text}}
                     .dump()
              << '\n';
  } else {
    std::printf("index        %s\n", dir.string().c_str());
    std::printf("tracks       %llu\n", static_cast<unsigned long long>(s.tracks));
    std::printf("audio        %.2f h\n", hours);
    std::printf("postings     %llu (%llu distinct hashes)\n",
                static_cast<unsigned long long>(s.postings),
                static_cast<unsigned long long>(s.distinct_hashes));
    std::printf("on disk      %.1f MB (%.1f MB in use)\n",
                static_cast<double>(s.bytes_on_disk) / 1e6,
                static_cast<double>(s.bytes_used) / 1e6);
    std::printf("per hour     %.2f MB of index per hour of audio\n", per_hour / 1e6);
    std::printf("format       %s\n", index->format().text.c_str());
    // Tracks indexed before fine words have none: their near copies are told apart by the
    // sub-band words alone until `aircheck index upgrade` reads their sources again.
    std::printf(
        "fine words   %llu of %llu tracks%s\n", static_cast<unsigned long long>(s.fine_tracks),
        static_cast<unsigned long long>(s.tracks),
        s.fine_tracks < s.tracks ? " (`aircheck index upgrade` adds them to the others)" : "");
  }
  return kOk;
}

}  // namespace aircheck::cli
