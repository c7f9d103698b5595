// commands.hpp: kv_server's command table.
#pragma once

#include <span>
#include <string_view>

namespace kv {

class Client;

// Runs one request (argv[0] is the command name, any case) and appends its reply to
// c.out(). Unknown commands and wrong argument counts get redis's error replies.
// Parks only in BLPOP / BRPOP.
void execute(Client& c, std::span<const std::string_view> argv);

}  // namespace kv
