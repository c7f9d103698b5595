// timeout_internal.hpp: the hub's side of grove::Timeout.
#pragma once

#include <grove/detail/green_thread_state.hpp>

namespace grove::detail {

// Throws TimeoutError for the outermost fired, not yet raised Timeout of `gt`, or
// clears kPendingTimeout if there is none left.
void raise_fired_timeout(GreenThreadState* gt);

}  // namespace grove::detail
