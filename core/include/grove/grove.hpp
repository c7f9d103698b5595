// grove/grove.hpp: everything in grove's core, in one include.
#pragma once

#include <grove/async_result.hpp>
#include <grove/channel.hpp>
#include <grove/diagnostics.hpp>
#include <grove/duration.hpp>
#include <grove/errors.hpp>
#include <grove/event.hpp>
#include <grove/fork.hpp>
#include <grove/green_thread.hpp>
#include <grove/group.hpp>
#include <grove/local.hpp>
#include <grove/lock.hpp>
#include <grove/log.hpp>
#include <grove/pool.hpp>
#include <grove/queue.hpp>
#include <grove/schedule_seed.hpp>
#include <grove/scheduler.hpp>
#include <grove/semaphore.hpp>
#include <grove/signal.hpp>
#include <grove/thread_pool.hpp>
#include <grove/timeout.hpp>
#include <grove/version.hpp>
#include <grove/wait.hpp>
