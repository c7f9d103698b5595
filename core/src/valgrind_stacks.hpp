// valgrind_stacks.hpp: tells valgrind where green-thread stacks are.
//
// memcheck follows the stack pointer: a small move is a call or a return, and it marks
// the bytes between the old and the new value undefined or inaccessible. A switch from
// one green thread to another moves the stack pointer between two slots of the same
// arena, often by less than memcheck's --max-stackframe, so without help memcheck takes
// it for a huge frame and reports errors on memory nobody misused (or misses real ones).
// Each slot registered as a stack of its own (VALGRIND_STACK_REGISTER) makes a switch a
// switch.
//
// A slot is registered once, when the stack pool carves it, and stays registered while
// it is pooled and reused: spawn and exit make no valgrind call at all, so callgrind's
// instruction counts (bench/callgrind) do not change, and natively the cost is one
// RUNNING_ON_VALGRIND check (a few instructions that do nothing) per slot carved and
// per pool destroyed. Without valgrind/valgrind.h at build time these do nothing.
#pragma once

#include <cstddef>

namespace grove::detail {

// Under valgrind, registers the stack [lo, lo + size) of a slot `owner` (a stack pool)
// just carved. Otherwise nothing. Never throws.
void valgrind_register_stack(const void* owner, char* lo, std::size_t size) noexcept;

// Under valgrind, deregisters every stack `owner` registered (before it unmaps them).
void valgrind_forget_stacks(const void* owner) noexcept;

}  // namespace grove::detail
