// grove/grove.hpp: everything in grove's core, in one include.
#pragma once

#include <grove/diagnostics.hpp>
#include <grove/duration.hpp>
#include <grove/errors.hpp>
#include <grove/green_thread.hpp>
#include <grove/log.hpp>
#include <grove/scheduler.hpp>
#include <grove/timeout.hpp>
#include <grove/version.hpp>
#include <grove/wait.hpp>
