// args.hpp: the samples' command lines, "--name value" options (samples only).
//
//   samples::Args args(argc, argv, "usage: udp_echo --port N [--host H]");
//   while (args.next()) {
//     if (args.is("--port")) port = args.number(0, 65535);
//     else if (args.is("--host")) host = args.text();
//     else args.usage();
//   }
//
// An unknown option, an option without its value, or a value that is not a whole
// number in range prints the usage line to stderr and exits with status 2; --help
// and -h print it to stdout and exit with 0.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace samples {

class Args {
 public:
  Args(int argc, char** argv, const char* usage_line) : argc_(argc), argv_(argv), usage_(usage_line) {}

  // Moves to the next argument; false when there are none left.
  bool next() {
    if (++i_ >= argc_) return false;
    current_ = argv_[i_];
    if (current_ == "--help" || current_ == "-h") {
      std::printf("%s\n", usage_);
      std::exit(0);
    }
    return true;
  }

  bool is(const char* name) const { return current_ == name; }
  // An argument that is not an option (a URL, a file name).
  bool positional() const { return current_.rfind("--", 0) != 0; }
  const std::string& current() const { return current_; }

  // The current option's value.
  std::string text() { return value(); }

  long long number(long long lo, long long hi) {
    const std::string v = value();
    char* end = nullptr;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < lo || n > hi) bad_value(v);
    return n;
  }

  double real(double lo, double hi) {
    const std::string v = value();
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(d >= lo && d <= hi)) bad_value(v);
    return d;
  }

  [[noreturn]] void usage() const {
    if (i_ < argc_) std::fprintf(stderr, "unknown option: %s\n", current_.c_str());
    std::fprintf(stderr, "%s\n", usage_);
    std::exit(2);
  }

  // For a check after the loop (a required option missing): just the usage line.
  [[noreturn]] void usage_missing() const {
    std::fprintf(stderr, "%s\n", usage_);
    std::exit(2);
  }

 private:
  std::string value() {
    if (i_ + 1 >= argc_) {
      std::fprintf(stderr, "%s needs a value\n%s\n", current_.c_str(), usage_);
      std::exit(2);
    }
    return argv_[++i_];
  }

  [[noreturn]] void bad_value(const std::string& v) const {
    std::fprintf(stderr, "bad value for %s: '%s'\n%s\n", argv_[i_ - 1], v.c_str(), usage_);
    std::exit(2);
  }

  int argc_;
  char** argv_;
  const char* usage_;
  int i_ = 0;
  std::string current_;
};

// The options of a server sample that takes no others: --port N [--host H]
// [--max-connections N] (0: no limit) [--hubs N] (hubs serving, each on an OS thread
// of its own; 1: the main thread's only) [--workers N] (prefork worker processes; 0:
// serve in this process) [--stats] (each SIGUSR2 prints a stats line: stats_signal.hpp).
struct ServerArgs {
  std::string host = "127.0.0.1";
  long long port = -1;
  std::size_t max_connections = 0;
  std::size_t hubs = 1;
  std::size_t workers = 0;
  bool stats = false;
};

inline ServerArgs server_args(int argc, char** argv, const char* usage_line) {
  ServerArgs out;
  Args args(argc, argv, usage_line);
  while (args.next()) {
    if (args.is("--port")) out.port = args.number(0, 65535);
    else if (args.is("--host")) out.host = args.text();
    else if (args.is("--max-connections")) out.max_connections = static_cast<std::size_t>(args.number(0, 1LL << 40));
    else if (args.is("--hubs")) out.hubs = static_cast<std::size_t>(args.number(1, 1024));
    else if (args.is("--workers")) out.workers = static_cast<std::size_t>(args.number(0, 1024));
    else if (args.is("--stats")) out.stats = true;
    else args.usage();
  }
  if (out.port < 0) args.usage_missing();
  return out;
}

}  // namespace samples
