// SPDX-License-Identifier: MIT
// Side-by-side comparison table for arenakit's benchmarks.
//
// Naming convention: every benchmark is registered as "<scenario>/<impl>"
// (anything after a second '/' is Google Benchmark's own argument suffix and
// is kept as part of the scenario). The table groups runs by scenario, one row
// per implementation, with the median time per item and the ratio to the
// scenario's first arenakit row. Targets registered with
// arenakit::bench::target() are checked at the end and printed as met/missed:
// they are reports, never a failing exit code (times are not tests).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace arenakit::bench {

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

class TableReporter : public benchmark::BenchmarkReporter {
public:
  bool ReportContext(const Context& context) override {
    std::printf("arenakit benchmarks: %d CPUs at %.0f MHz; times are medians, ns per item per thread\n",
                context.cpu_info.num_cpus, context.cpu_info.cycles_per_second / 1e6);
    return true;
  }

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) {
        std::printf("  %s: skipped (%s)\n", run.benchmark_name().c_str(), run.error_message.c_str());
        continue;
      }
      // With repetitions keep the median aggregate; without, the single run.
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
      if (run.run_type == Run::RT_Iteration && run.repetitions > 1) continue;
      std::string name = run.run_name.function_name;
      std::string args = run.run_name.args;
      auto slash = name.find('/');
      std::string scenario = slash == std::string::npos ? name : name.substr(0, slash);
      std::string impl = slash == std::string::npos ? std::string("-") : name.substr(slash + 1);
      if (!args.empty()) scenario += "/" + args;
      double ns = run.GetAdjustedRealTime() * to_ns(run.time_unit);
      auto items = run.counters.find("items_per_second");
      if (items != run.counters.end() && items->second.value > 0) ns = 1e9 / items->second.value;
      // Multi-threaded runs report the rate of all threads together; the
      // table shows the cost per item as one thread sees it.
      if (run.threads > 1) ns *= static_cast<double>(run.threads);
      if (!rows_.count(scenario)) order_.push_back(scenario);
      auto& list = rows_[scenario];
      std::string extra;
      for (const auto& [key, counter] : run.counters) {
        if (key == "items_per_second") continue;
        char buf[64];
        std::snprintf(buf, sizeof buf, " %s=%.4g", key.c_str(), counter.value);
        extra += buf;
      }
      list.push_back({impl, ns, extra});
      std::fflush(stdout);
    }
  }

  void Finalize() override {
    for (const auto& scenario : order_) {
      const auto& list = rows_[scenario];
      double ref = 0;
      for (const auto& row : list)
        if (row.impl.rfind("arenakit", 0) == 0) {
          ref = row.ns;
          break;
        }
      std::printf("\n%s\n", scenario.c_str());
      std::printf("  %-34s %12s %12s\n", "implementation", "ns/item", "vs arenakit");
      for (const auto& row : list) {
        if (ref > 0)
          std::printf("  %-34s %12.2f %11.2fx%s\n", row.impl.c_str(), row.ns, row.ns / ref, row.extra.c_str());
        else
          std::printf("  %-34s %12.2f %12s%s\n", row.impl.c_str(), row.ns, "-", row.extra.c_str());
      }
    }
    if (!targets().empty()) {
      std::printf("\ntargets (ratio = ours / reference, from this run)\n");
      for (const auto& t : targets()) {
        const Row* a = find(t.scenario, t.impl);
        const Row* b = find(t.peer_scenario, t.peer_impl);
        if (!a || !b) {
          std::printf("  [n/a ] %s (not measured in this run)\n", t.text.c_str());
          continue;
        }
        double ratio = a->ns / b->ns;
        std::printf("  [%s] %-60s %.2f ns vs %.2f ns = %.2fx (limit %.2fx)\n",
                    ratio <= t.max_ratio ? "met " : "MISS", t.text.c_str(), a->ns, b->ns, ratio,
                    t.max_ratio);
      }
    }
    std::fflush(stdout);
  }

private:
  struct Row {
    std::string impl;
    double ns;
    std::string extra;
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

  const Row* find(const std::string& scenario, const std::string& impl) const {
    auto it = rows_.find(scenario);
    if (it == rows_.end()) return nullptr;
    for (const auto& row : it->second)
      if (row.impl == impl) return &row;
    return nullptr;
  }

  std::vector<std::string> order_;
  std::map<std::string, std::vector<Row>> rows_;
};

/// main() for every arenakit benchmark binary: defaults to 5 repetitions,
/// reports medians only, prints the side-by-side table. Flags given on the
/// command line win over these defaults.
inline int run_main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  auto given = [&](const char* flag) {
    for (int i = 1; i < argc; ++i)
      if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) return true;
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
  TableReporter table;
  benchmark::RunSpecifiedBenchmarks(&table);
  benchmark::Shutdown();
  return 0;
}

} // namespace arenakit::bench

#define ARENAKIT_BENCH_MAIN()                                                                      \
  int main(int argc, char** argv) { return ::arenakit::bench::run_main(argc, argv); }
