// SPDX-License-Identifier: MIT
// Compiled to assembly only, never run (tests/tokens/counts/return_prefetch.cmake):
// the return paths must keep their prefetch-ahead (TokenFormat::page_hint)
// in optimised code. This file instantiates returns and nothing else
// (deliver() and the log compaction prefetch too), so any prefetch in its
// assembly is the returns'. g++ 12 at -O1 and up used to delete it: the
// policy's prefetch() wrapper, whose only effect is __builtin_prefetch,
// was marked const and its calls removed as dead before inlining.
#include <arenakit/tokens/token_tracker.hpp>

#include <span>

#if defined(ARENAKIT_TEST_SINGLE_WRITER)
using Tracker = arenakit::TokenTracker<arenakit::IgnorePageFree, arenakit::SingleWriterRefs>;
arenakit::ReturnOutcome returns(Tracker::Returner& r, std::span<const arenakit::TokenRange32> ranges) {
  return r.return_tokens(ranges);
}
#else
using Tracker = arenakit::TokenTracker<>;
arenakit::ReturnOutcome returns(Tracker& t, arenakit::ConsumerHandle h, std::span<const arenakit::TokenRange32> ranges) {
  return t.return_tokens(h, ranges);
}
#endif
