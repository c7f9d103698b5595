// Files: each call runs in the thread pool; only the calling green thread waits.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <grove/buffered_file.hpp>
#include <grove/file.hpp>
#include <grove/grove.hpp>

int main() {
  const std::string path = "/tmp/grove-example-files." + std::to_string(::getpid());
  // Durable: a temporary file, fsync, rename over the path, fsync of the directory;
  // a crash leaves the old content or the new one, never a torn file.
  grove::write_file(path, "alpha\nbeta\n", /*durable=*/true);

  grove::File log = grove::File::open(path, O_WRONLY | O_APPEND);
  log.write("gamma\n");
  log.fdatasync();
  log.close();

  grove::File in = grove::File::open(path);
  grove::BufferedFile lines(in);
  int n = 0;
  for (std::string line; !(line = lines.read_line(1024)).empty();) ++n;

  // Errors: an error_code, or a std::system_error whose message names the path.
  std::error_code ec;
  grove::read_file("/no/such/file", ec);
  std::printf("%d lines; missing file: %s\n", n, ec.message().c_str());
  ::unlink(path.c_str());
  return n == 3 && ec == std::errc::no_such_file_or_directory ? 0 : 1;
}
