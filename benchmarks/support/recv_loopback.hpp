// SPDX-License-Identifier: MIT
// The receive benchmark's test bed (bench_recv.cpp): TCP loopback
// connections fed by a sender in its own process pinned away from the
// receiving thread, the receiver's CPU clocks, and the fd limit 1,024
// connections need. Nothing here is on a measured path except the clocks.
//
// Threads: the benchmark thread only; the sender is a forked process that
// touches nothing but its own copies of the client sockets.
#pragma once

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace arenakit::bench::recv_loopback {

/// Messages per send(): the sender is a pipelined client, so it outruns the
/// receiver and the receiver is measured saturated.
constexpr std::uint32_t msgs_per_send = 16;

// Socket buffers (SO_SNDBUF / SO_RCVBUF) of 8 MB shared out over the
// connections, 64 KB to 4 MB each: one connection may run far ahead of the
// receiver, 1,024 stay bounded.
inline int socket_buffer(std::uint32_t conns) {
  return static_cast<int>(std::clamp<std::uint32_t>((8U << 20) / conns, 64U << 10, 4U << 20));
}

// --- Placement and CPU time --------------------------------------------------

struct Placement {
  int receiver = -1; // -1: not pinned (one CPU allowed)
  int sender = -1;
};

inline Placement placement() {
  cpu_set_t set;
  CPU_ZERO(&set);
  Placement p;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return p;
  int found[2] = {-1, -1};
  int n = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; ++cpu)
    if (CPU_ISSET(cpu, &set)) found[n++] = cpu;
  if (n == 2) {
    p = {found[0], found[1]};
  } else {
    static bool said = false;
    if (!said)
      std::fprintf(stderr, "bench_recv: one CPU allowed: sender and receiver share it, nothing is pinned "
                           "(cpus_apart=0); the receiver's CPU time still excludes the sender's\n");
    said = true;
  }
  return p;
}

inline bool pin_to(int cpu) {
  if (cpu < 0) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

/// Pins the calling thread for the run; restores its mask afterwards.
class PinnedReceiver {
public:
  explicit PinnedReceiver(int cpu) {
    CPU_ZERO(&saved_);
    have_saved_ = ::sched_getaffinity(0, sizeof saved_, &saved_) == 0;
    pinned_ = pin_to(cpu);
  }
  ~PinnedReceiver() {
    if (pinned_ && have_saved_) ::sched_setaffinity(0, sizeof saved_, &saved_);
  }
  PinnedReceiver(const PinnedReceiver&) = delete;
  PinnedReceiver& operator=(const PinnedReceiver&) = delete;
  bool pinned() const { return pinned_; }

private:
  cpu_set_t saved_;
  bool have_saved_ = false;
  bool pinned_ = false;
};

/// The calling thread's CPU time (user + sys), in ns, exact now: the
/// scheduler's sum_exec_runtime brought up to date by the call.
inline double thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

/// The same total from getrusage(RUSAGE_THREAD) user + sys, in ns: as of the
/// thread's last tick or context switch (up to a tick stale), so only good
/// over a whole run; reported beside the exact figure as a cross-check.
inline double thread_rusage_ns() {
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  const auto us = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec); };
  return (us(ru.ru_utime) + us(ru.ru_stime)) * 1e3;
}

/// Soft RLIMIT_NOFILE raised to the hard limit when @need fds do not fit.
inline bool ensure_fds(std::size_t need, std::string& why) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    why = std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
    return false;
  }
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < need) {
      why = "needs " + std::to_string(need) + " fds but the hard RLIMIT_NOFILE is " +
            std::to_string(lim.rlim_max) + " (raise it: ulimit -Hn)";
      return false;
    }
    lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? need : lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      why = std::string("setrlimit(RLIMIT_NOFILE) to the hard limit: ") + std::strerror(errno);
      return false;
    }
  }
  return true;
}

// --- Connections and the sender process ---------------------------------------

/// @n TCP loopback connections; a forked sender process pinned to
/// @sender_cpu writes @size-byte messages round robin until it is killed.
class Connections {
public:
  Connections(std::uint32_t n, std::uint32_t size, int sender_cpu) {
    if (!ensure_fds(std::size_t{n} * 2 + 64, error_)) return;
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) {
      error_ = std::string("socket: ") + std::strerror(errno);
      return;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    // Accepted sockets inherit the listener's receive buffer size.
    const int buffer = socket_buffer(n);
    ::setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener, SOMAXCONN) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      error_ = std::string("loopback listener: ") + std::strerror(errno);
      ::close(listener);
      return;
    }
    std::vector<int> clients;
    for (std::uint32_t i = 0; i < n; ++i) {
      const int c = ::socket(AF_INET, SOCK_STREAM, 0);
      if (c < 0) break;
      clients.push_back(c);
      const int one = 1;
      const linger hard_close{1, 0}; // RST at exit: no TIME_WAIT pile-up over many runs
      ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::setsockopt(c, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
      ::setsockopt(c, SOL_SOCKET, SO_LINGER, &hard_close, sizeof hard_close);
      if (::connect(c, reinterpret_cast<sockaddr*>(&addr), len) != 0) break;
      const int s = ::accept(listener, nullptr, nullptr);
      if (s < 0) break;
      fds_.push_back(s);
    }
    ::close(listener);
    if (fds_.size() != n) {
      error_ = "could not open " + std::to_string(n) + " loopback connections: " + std::strerror(errno);
      for (int c : clients) ::close(c);
      return;
    }
    const std::size_t chunk = std::size_t{size} * msgs_per_send;
    const std::vector<unsigned char> msg(chunk, 0xA5);
    pid_ = ::fork();
    if (pid_ == 0) {
      pin_to(sender_cpu);
      for (int s : fds_) ::close(s);
      for (;;) {
        for (int c : clients) {
          std::size_t done = 0;
          while (done < chunk) {
            const ssize_t w = ::send(c, msg.data() + done, chunk - done, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) ::_exit(0);
            done += static_cast<std::size_t>(w);
          }
        }
      }
    }
    for (int c : clients) ::close(c);
    if (pid_ < 0) error_ = std::string("fork: ") + std::strerror(errno);
  }
  ~Connections() {
    stop_sender();
    for (int s : fds_) ::close(s);
  }
  Connections(const Connections&) = delete;
  Connections& operator=(const Connections&) = delete;

  void stop_sender() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  const std::string& error() const { return error_; }
  const std::vector<int>& fds() const { return fds_; }

private:
  std::vector<int> fds_;
  pid_t pid_ = -1;
  std::string error_;
};

} // namespace arenakit::bench::recv_loopback
