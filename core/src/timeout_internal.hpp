// timeout_internal.hpp: the hub's side of grove::Timeout.
#pragma once

#include <grove/detail/green_thread_state.hpp>

namespace grove::detail {

// Throws TimeoutError for the outermost fired, not yet raised Timeout of `gt` that
// may be raised at exception-unwinding depth `unwinding` (`gt`'s
// std::uncaught_exceptions()): any one at 0, else only one made at that depth (in a
// destructor running during that unwinding). Clears kPendingTimeout if no fired
// Timeout is left; returns without throwing if those left belong to another depth.
void raise_fired_timeout(GreenThreadState* gt, unsigned unwinding);

}  // namespace grove::detail
