// SPDX-License-Identifier: MIT
/**
 * @file detail/sanitizer.hpp
 * @brief Telling LeakSanitizer about leaks we make on purpose.
 *
 * An arena destroyed while users still hold slots keeps its shards (and their
 * bookkeeping) alive rather than free memory under them. That is a deliberate
 * leak; LeakSanitizer is told so it reports the bugs, not the policy.
 */
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define ARENAKIT_HAS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define ARENAKIT_HAS_LSAN 1
#endif
#endif

#if defined(ARENAKIT_HAS_LSAN)
#include <sanitizer/lsan_interface.h>
#endif

namespace arenakit::detail {

inline void deliberately_leaked(const void* p) noexcept {
#if defined(ARENAKIT_HAS_LSAN)
  __lsan_ignore_object(p);
#else
  (void)p;
#endif
}

} // namespace arenakit::detail
