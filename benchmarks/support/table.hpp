// SPDX-License-Identifier: MIT
// Side-by-side comparison table for arenakit's benchmarks, and the
// machine-readable rows the main job's report is built from.
//
// Naming convention: every benchmark is registered as "<scenario>/<impl>"
// (anything after a second '/' is Google Benchmark's own argument suffix and
// is kept as part of the scenario). The table groups runs by scenario, one row
// per implementation, with the median time per item and the ratio to the
// scenario's first arenakit row (impl names starting with "arenakit" are
// ours; every other row is a peer). Targets registered with
// arenakit::bench::target() are checked at the end and printed as met/MISS:
// they are reports, never a failing exit code (times are not tests).
//
// Peers: a bench declares each optional peer it compares against with
// declare_peer(name, found, package, rows). A peer the binary was built
// without is printed (and written to the report) as "not measured" with the
// package that brings it, so a missing package never silently drops a
// comparison. ARENAKIT_BENCH_FOUND(ARENAKIT_HAVE_X) is true when the build
// defined ARENAKIT_HAVE_X (same meaning as `#if defined(ARENAKIT_HAVE_X)`).
//
// Report rows: with `--arenakit_report=<file>` (stripped before Google
// Benchmark sees the flags) or the environment variable
// ARENAKIT_BENCH_REPORT=<file>, the binary appends JSON Lines to <file>:
//   {"type":"context", binary, date, cpus, mhz, compiler, build, args, ...}
//   {"type":"row", binary, scenario, impl, is_arenakit, peer, package,
//    median_ns, items_per_second, bytes_per_second, repetitions, threads,
//    cv_pct, counters}
//   {"type":"error", binary, scenario, impl, message}       (a run that failed)
//   {"type":"not_measured", binary, scenario, impl, peer, package, reason}
//   {"type":"target", binary, text, scenario, impl, peer_scenario, peer_impl,
//    max_ratio, ours_ns, ref_ns, ratio, status: "met"|"MISS"|"not measured",
//    reason}
// The file is opened before any benchmark runs, so a path that cannot be
// written fails the binary at once (exit 1) instead of after the run.
// ARENAKIT_BENCH_PROGRESS=1 prints one line per finished benchmark to stderr.
//
// Threads: single-threaded (Google Benchmark's reporter thread). Nothing
// here is on a measured path.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <vector>

// ARENAKIT_BENCH_FOUND(ARENAKIT_HAVE_DPDK): true when the macro is defined.
// The name stringified as written differs from its expansion exactly when it
// is defined (to anything but its own name).
#define ARENAKIT_BENCH_STR_(x) #x
#define ARENAKIT_BENCH_STR(x) ARENAKIT_BENCH_STR_(x)
#define ARENAKIT_BENCH_FOUND(macro)                                                                \
  (::arenakit::bench::detail::differs(#macro, ARENAKIT_BENCH_STR(macro)))

namespace arenakit::bench {

namespace detail {
constexpr bool differs(const char* a, const char* b) {
  for (; *a != '\0' && *a == *b; ++a, ++b) {}
  return *a != *b;
}
} // namespace detail

struct Target {
  std::string scenario;   // left side's scenario
  std::string impl;       // left side's implementation
  std::string peer_scenario;
  std::string peer_impl;  // right side
  double max_ratio;       // left / right must be <= max_ratio
  std::string text;       // what the issue asks for, in words
};

inline std::vector<Target>& targets() {
  static std::vector<Target> list;
  return list;
}

/// Register "ours / peer <= max_ratio" for the closing report. Scenarios may
/// differ (e.g. "pair 90% full" vs "pair empty").
inline int target(std::string scenario, std::string impl, std::string peer_scenario,
                  std::string peer_impl, double max_ratio, std::string text) {
  targets().push_back({std::move(scenario), std::move(impl), std::move(peer_scenario),
                       std::move(peer_impl), max_ratio, std::move(text)});
  return 0;
}

struct Peer {
  std::string name;               // "dpdk": as in benchmarks/CMakeLists.txt
  bool found;                     // this binary was built with it
  std::string package;            // the Debian package that brings it
  std::vector<std::string> rows;  // "<scenario>/<impl>" rows it adds when found
};

inline std::vector<Peer>& peers() {
  static std::vector<Peer> list;
  return list;
}

/// Declare an optional peer this binary compares against. Call it for found
/// peers too: their rows are then labelled with the peer and its package.
inline int declare_peer(std::string name, bool found, std::string package,
                        std::vector<std::string> rows = {}) {
  peers().push_back({std::move(name), found, std::move(package), std::move(rows)});
  return 0;
}

namespace detail {

inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\t': out += "\\t"; break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
        out += buf;
      } else {
        out += c;
      }
    }
  }
  return out + "\"";
}

// JSON has no inf/nan: a value that is not finite (or not set) is null.
inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

inline const Peer* peer_of_row(const std::string& scenario, const std::string& impl) {
  const std::string full = scenario + "/" + impl;
  for (const auto& p : peers())
    for (const auto& r : p.rows)
      if (r == full || r == impl) return &p;
  return nullptr;
}

inline std::string not_found_reason(const Peer& p) {
  return "built without peer " + p.name + ": not found when configured (Debian package " + p.package + ")";
}

inline bool is_arenakit(const std::string& impl) { return impl.rfind("arenakit", 0) == 0; }

} // namespace detail

class TableReporter : public benchmark::BenchmarkReporter {
public:
  TableReporter() = default;
  /// Also append JSON Lines rows to `report` (opened by the caller, not
  /// closed here), labelled with `binary`; `args` are recorded as given.
  TableReporter(std::FILE* report, std::string binary, std::vector<std::string> args = {})
      : report_(report), binary_(std::move(binary)), args_(std::move(args)) {}

  bool ReportContext(const Context& context) override {
    std::printf("arenakit benchmarks: %d CPUs at %.0f MHz; times are medians, ns per item per thread\n",
                context.cpu_info.num_cpus, context.cpu_info.cycles_per_second / 1e6);
    const char* progress = std::getenv("ARENAKIT_BENCH_PROGRESS");
    progress_ = progress != nullptr && progress[0] != '\0' && std::strcmp(progress, "0") != 0;
    start_ = std::chrono::steady_clock::now();
    if (report_ != nullptr) write_context(context);
    return true;
  }

  void ReportRuns(const std::vector<Run>& runs) override {
    // The coefficient of variation of this batch, when repetitions gave one.
    // A percentage aggregate keeps its fraction in the accumulated-time
    // field (GetAdjustedRealTime would scale it by the time unit).
    double cv = NAN;
    for (const Run& run : runs)
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "cv")
        cv = run.real_accumulated_time / static_cast<double>(std::max<benchmark::IterationCount>(run.iterations, 1)) *
             100.0;
    for (const Run& run : runs) {
      std::string scenario, impl;
      split(run, scenario, impl);
      if (run.error_occurred) {
        std::printf("  %s: skipped (%s)\n", run.benchmark_name().c_str(), run.error_message.c_str());
        if (report_ != nullptr)
          std::fprintf(report_, "{\"type\":\"error\",\"binary\":%s,\"scenario\":%s,\"impl\":%s,\"message\":%s}\n",
                       detail::json_string(binary_).c_str(), detail::json_string(scenario).c_str(),
                       detail::json_string(impl).c_str(), detail::json_string(run.error_message).c_str());
        ++done_;
        continue;
      }
      // With repetitions keep the median aggregate; without, the single run.
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
      if (run.run_type == Run::RT_Iteration && run.repetitions > 1) continue;
      double ns = run.GetAdjustedRealTime() * to_ns(run.time_unit);
      double items_per_second = NAN, bytes_per_second = NAN;
      auto items = run.counters.find("items_per_second");
      if (items != run.counters.end() && items->second.value > 0) {
        items_per_second = items->second.value;
        ns = 1e9 / items->second.value;
      }
      auto bytes = run.counters.find("bytes_per_second");
      if (bytes != run.counters.end() && bytes->second.value > 0) bytes_per_second = bytes->second.value;
      // Multi-threaded runs report the rate of all threads together; the
      // table shows the cost per item as one thread sees it.
      if (run.threads > 1) ns *= static_cast<double>(run.threads);
      if (!rows_.count(scenario)) order_.push_back(scenario);
      auto& list = rows_[scenario];
      std::string extra;
      std::vector<std::pair<std::string, double>> counters;
      for (const auto& [key, counter] : run.counters) {
        if (key == "items_per_second" || key == "bytes_per_second") continue;
        char buf[64];
        std::snprintf(buf, sizeof buf, " %s=%.4g", key.c_str(), counter.value);
        extra += buf;
        counters.emplace_back(key, counter.value);
      }
      list.push_back({impl, ns, extra, items_per_second, bytes_per_second,
                      run.repetitions > 0 ? run.repetitions : 1, run.threads,
                      run.run_type == Run::RT_Aggregate ? cv : NAN, std::move(counters)});
      ++done_;
      if (progress_) {
        double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        std::fprintf(stderr, "  [%s %zu, %.1f s] %s/%s %.2f ns\n", binary_.c_str(), done_, elapsed,
                     scenario.c_str(), impl.c_str(), ns);
      }
      std::fflush(stdout);
    }
  }

  void Finalize() override {
    for (const auto& scenario : order_) {
      const auto& list = rows_[scenario];
      const Row* ref = reference(scenario);
      std::printf("\n%s\n", scenario.c_str());
      std::printf("  %-34s %12s %12s\n", "implementation", "ns/item", "vs arenakit");
      for (const auto& row : list) {
        if (ref != nullptr && ref->ns > 0)
          std::printf("  %-34s %12.2f %11.2fx%s\n", row.impl.c_str(), row.ns, row.ns / ref->ns, row.extra.c_str());
        else
          std::printf("  %-34s %12.2f %12s%s\n", row.impl.c_str(), row.ns, "-", row.extra.c_str());
      }
      for (const auto& [impl, peer] : missing_rows(scenario))
        std::printf("  %-34s %12s  %s\n", impl.c_str(), "not measured", detail::not_found_reason(*peer).c_str());
    }
    // Declared rows of a missing peer whose scenario did not run at all
    // (e.g. a peer-only scenario) still get named.
    for (const auto& p : peers()) {
      if (p.found) continue;
      if (p.rows.empty())
        std::printf("\nnot measured: %s: %s\n", p.name.c_str(), detail::not_found_reason(p).c_str());
      for (const auto& r : p.rows) {
        auto slash = r.rfind('/');
        std::string scenario = slash == std::string::npos ? std::string("-") : r.substr(0, slash);
        if (!rows_.count(scenario))
          std::printf("\nnot measured: %s: %s\n", r.c_str(), detail::not_found_reason(p).c_str());
      }
    }
    if (!targets().empty()) {
      std::printf("\ntargets (ratio = ours / reference, from this run)\n");
      for (const auto& t : targets()) {
        const Row* a = find(t.scenario, t.impl);
        const Row* b = find(t.peer_scenario, t.peer_impl);
        if (!a || !b) {
          std::string why = missing_reason(t);
          std::printf("  [n/a ] %s (not measured in this run: %s)\n", t.text.c_str(), why.c_str());
          continue;
        }
        double ratio = a->ns / b->ns;
        std::printf("  [%s] %-60s %.2f ns vs %.2f ns = %.2fx (limit %.2fx)\n",
                    ratio <= t.max_ratio ? "met " : "MISS", t.text.c_str(), a->ns, b->ns, ratio,
                    t.max_ratio);
      }
    }
    std::fflush(stdout);
    if (report_ != nullptr) write_report();
  }

private:
  struct Row {
    std::string impl;
    double ns;
    std::string extra;
    double items_per_second = NAN;
    double bytes_per_second = NAN;
    std::int64_t repetitions = 1;
    std::int64_t threads = 1;
    double cv_pct = NAN;
    std::vector<std::pair<std::string, double>> counters;
  };
  static double to_ns(benchmark::TimeUnit unit) {
    switch (unit) {
    case benchmark::kNanosecond: return 1;
    case benchmark::kMicrosecond: return 1e3;
    case benchmark::kMillisecond: return 1e6;
    case benchmark::kSecond: return 1e9;
    }
    return 1;
  }

  static void split(const Run& run, std::string& scenario, std::string& impl) {
    const std::string& name = run.run_name.function_name;
    auto slash = name.find('/');
    scenario = slash == std::string::npos ? name : name.substr(0, slash);
    impl = slash == std::string::npos ? std::string("-") : name.substr(slash + 1);
    if (!run.run_name.args.empty()) scenario += "/" + run.run_name.args;
  }

  const Row* find(const std::string& scenario, const std::string& impl) const {
    auto it = rows_.find(scenario);
    if (it == rows_.end()) return nullptr;
    for (const auto& row : it->second)
      if (row.impl == impl) return &row;
    return nullptr;
  }

  // The scenario's first arenakit row: what every ratio is taken against.
  const Row* reference(const std::string& scenario) const {
    auto it = rows_.find(scenario);
    if (it == rows_.end()) return nullptr;
    for (const auto& row : it->second)
      if (detail::is_arenakit(row.impl)) return &row;
    return nullptr;
  }

  // Rows of peers this binary was built without, declared for `scenario`.
  static std::vector<std::pair<std::string, const Peer*>> missing_rows(const std::string& scenario) {
    std::vector<std::pair<std::string, const Peer*>> out;
    for (const auto& p : peers()) {
      if (p.found) continue;
      for (const auto& r : p.rows) {
        auto slash = r.rfind('/');
        if (slash != std::string::npos && r.substr(0, slash) == scenario) out.emplace_back(r.substr(slash + 1), &p);
      }
    }
    return out;
  }

  std::string missing_reason(const Target& t) const {
    for (const auto& [scenario, impl] : {std::pair{t.scenario, t.impl}, std::pair{t.peer_scenario, t.peer_impl}}) {
      if (find(scenario, impl) != nullptr) continue;
      const Peer* p = detail::peer_of_row(scenario, impl);
      if (p != nullptr && !p->found) return scenario + "/" + impl + ": " + detail::not_found_reason(*p);
      return scenario + "/" + impl + " did not run (filtered out or failed)";
    }
    return "not run";
  }

  void write_context(const Context& context) {
    char date[32] = "unknown";
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    if (gmtime_r(&now, &tm) != nullptr) std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
#if defined(__clang__)
    const std::string compiler = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    const std::string compiler = std::string("g++ ") + __VERSION__;
#else
    const std::string compiler = "unknown";
#endif
#if defined(NDEBUG)
    const char* build = "optimized (NDEBUG)";
#else
    const char* build = "assertions on (no NDEBUG)";
#endif
    std::string args = "[";
    for (std::size_t i = 0; i < args_.size(); ++i) args.append(i ? "," : "").append(detail::json_string(args_[i]));
    args += "]";
    std::string load = "[";
    for (std::size_t i = 0; i < context.cpu_info.load_avg.size(); ++i)
      load.append(i ? "," : "").append(detail::json_number(context.cpu_info.load_avg[i]));
    load += "]";
    const char* scaling = context.cpu_info.scaling == benchmark::CPUInfo::ENABLED    ? "enabled"
                          : context.cpu_info.scaling == benchmark::CPUInfo::DISABLED ? "disabled"
                                                                                     : "unknown";
    std::fprintf(report_,
                 "{\"type\":\"context\",\"binary\":%s,\"date\":%s,\"cpus\":%d,\"mhz\":%s,"
                 "\"cpu_scaling\":%s,\"load_avg\":%s,\"compiler\":%s,\"build\":%s,\"args\":%s}\n",
                 detail::json_string(binary_).c_str(), detail::json_string(date).c_str(), context.cpu_info.num_cpus,
                 detail::json_number(context.cpu_info.cycles_per_second / 1e6).c_str(),
                 detail::json_string(scaling).c_str(), load.c_str(), detail::json_string(compiler).c_str(),
                 detail::json_string(build).c_str(), args.c_str());
  }

  void write_report() {
    const std::string bin = detail::json_string(binary_);
    for (const auto& scenario : order_) {
      for (const auto& row : rows_[scenario]) {
        const Peer* p = detail::peer_of_row(scenario, row.impl);
        std::string counters = "{";
        for (std::size_t i = 0; i < row.counters.size(); ++i)
          counters.append(i ? "," : "")
              .append(detail::json_string(row.counters[i].first))
              .append(":")
              .append(detail::json_number(row.counters[i].second));
        counters += "}";
        std::fprintf(report_,
                     "{\"type\":\"row\",\"binary\":%s,\"scenario\":%s,\"impl\":%s,\"is_arenakit\":%s,"
                     "\"peer\":%s,\"package\":%s,\"median_ns\":%s,\"items_per_second\":%s,"
                     "\"bytes_per_second\":%s,\"repetitions\":%lld,\"threads\":%lld,\"cv_pct\":%s,"
                     "\"counters\":%s}\n",
                     bin.c_str(), detail::json_string(scenario).c_str(), detail::json_string(row.impl).c_str(),
                     detail::is_arenakit(row.impl) ? "true" : "false",
                     p ? detail::json_string(p->name).c_str() : "null",
                     p ? detail::json_string(p->package).c_str() : "null", detail::json_number(row.ns).c_str(),
                     detail::json_number(row.items_per_second).c_str(),
                     detail::json_number(row.bytes_per_second).c_str(), static_cast<long long>(row.repetitions),
                     static_cast<long long>(row.threads), detail::json_number(row.cv_pct).c_str(), counters.c_str());
      }
    }
    for (const auto& p : peers()) {
      if (p.found) continue;
      std::vector<std::string> rows = p.rows;
      if (rows.empty()) rows.push_back("-/" + p.name);
      for (const auto& r : rows) {
        auto slash = r.rfind('/');
        std::string scenario = slash == std::string::npos ? std::string("-") : r.substr(0, slash);
        std::string impl = slash == std::string::npos ? r : r.substr(slash + 1);
        std::fprintf(report_,
                     "{\"type\":\"not_measured\",\"binary\":%s,\"scenario\":%s,\"impl\":%s,\"peer\":%s,"
                     "\"package\":%s,\"reason\":%s}\n",
                     bin.c_str(), detail::json_string(scenario).c_str(), detail::json_string(impl).c_str(),
                     detail::json_string(p.name).c_str(), detail::json_string(p.package).c_str(),
                     detail::json_string(detail::not_found_reason(p)).c_str());
      }
    }
    for (const auto& t : targets()) {
      const Row* a = find(t.scenario, t.impl);
      const Row* b = find(t.peer_scenario, t.peer_impl);
      double ratio = (a && b && b->ns > 0) ? a->ns / b->ns : NAN;
      const char* status = !(a && b) ? "not measured" : ratio <= t.max_ratio ? "met" : "MISS";
      std::string reason = (a && b) ? std::string() : missing_reason(t);
      std::fprintf(report_,
                   "{\"type\":\"target\",\"binary\":%s,\"text\":%s,\"scenario\":%s,\"impl\":%s,"
                   "\"peer_scenario\":%s,\"peer_impl\":%s,\"max_ratio\":%s,\"ours_ns\":%s,\"ref_ns\":%s,"
                   "\"ratio\":%s,\"status\":%s,\"reason\":%s}\n",
                   bin.c_str(), detail::json_string(t.text).c_str(), detail::json_string(t.scenario).c_str(),
                   detail::json_string(t.impl).c_str(), detail::json_string(t.peer_scenario).c_str(),
                   detail::json_string(t.peer_impl).c_str(), detail::json_number(t.max_ratio).c_str(),
                   detail::json_number(a ? a->ns : NAN).c_str(), detail::json_number(b ? b->ns : NAN).c_str(),
                   detail::json_number(ratio).c_str(), detail::json_string(status).c_str(),
                   detail::json_string(reason).c_str());
    }
    std::fflush(report_);
  }

  std::vector<std::string> order_;
  std::map<std::string, std::vector<Row>> rows_;
  std::FILE* report_ = nullptr;
  std::string binary_;
  std::vector<std::string> args_;
  bool progress_ = false;
  std::size_t done_ = 0;
  std::chrono::steady_clock::time_point start_{};
};

/// main() for every arenakit benchmark binary: defaults to 5 repetitions,
/// reports medians only, prints the side-by-side table. Flags given on the
/// command line win over these defaults. `--arenakit_report=<file>` (or
/// ARENAKIT_BENCH_REPORT=<file>) appends the rows as JSON Lines.
inline int run_main(int argc, char** argv) {
  std::vector<char*> args;
  args.push_back(argv[0]);
  std::string report_path;
  static const char report_flag[] = "--arenakit_report=";
  std::vector<std::string> recorded;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], report_flag, sizeof report_flag - 1) == 0) {
      report_path = argv[i] + sizeof report_flag - 1;
      if (report_path.empty()) {
        std::fprintf(stderr, "%s: --arenakit_report= needs a file name\n", argv[0]);
        return 1;
      }
      continue;
    }
    args.push_back(argv[i]);
    recorded.emplace_back(argv[i]);
  }
  if (report_path.empty()) {
    const char* env = std::getenv("ARENAKIT_BENCH_REPORT");
    if (env != nullptr) report_path = env;
  }
  auto given = [&](const char* flag) {
    for (std::size_t i = 1; i < args.size(); ++i)
      if (std::strncmp(args[i], flag, std::strlen(flag)) == 0) return true;
    return false;
  };
  static char reps[] = "--benchmark_repetitions=5";
  static char aggr[] = "--benchmark_report_aggregates_only=true";
  static char mint[] = "--benchmark_min_time=0.1";
  if (!given("--benchmark_repetitions")) args.push_back(reps);
  if (!given("--benchmark_report_aggregates_only")) args.push_back(aggr);
  if (!given("--benchmark_min_time")) args.push_back(mint);
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  // Open the report before anything runs: a bad path fails now, not after
  // minutes of measuring. Appended, so one file can collect several binaries.
  std::FILE* report = nullptr;
  if (!report_path.empty()) {
    report = std::fopen(report_path.c_str(), "a");
    if (report == nullptr) {
      std::fprintf(stderr, "%s: cannot write report %s: %s\n", argv[0], report_path.c_str(), std::strerror(errno));
      return 1;
    }
  }
  const char* slash = std::strrchr(argv[0], '/');
  TableReporter table(report, slash != nullptr ? slash + 1 : argv[0], std::move(recorded));
  benchmark::RunSpecifiedBenchmarks(&table);
  benchmark::Shutdown();
  if (report != nullptr && std::fclose(report) != 0) {
    std::fprintf(stderr, "%s: writing report %s failed: %s\n", argv[0], report_path.c_str(), std::strerror(errno));
    return 1;
  }
  return 0;
}

} // namespace arenakit::bench

#define ARENAKIT_BENCH_MAIN()                                                                      \
  int main(int argc, char** argv) { return ::arenakit::bench::run_main(argc, argv); }
