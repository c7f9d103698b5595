// file_writer_helper: loops durable write_file() of two contents in turn over argv[1],
// forever; tests/core/file_test.cpp kills it with SIGKILL at random moments. The two
// contents differ in size and byte, so a torn file is neither of them.
#include <string>

#include <grove/file.hpp>

#include "file_contents.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  for (unsigned long i = 0;; ++i) grove::write_file(argv[1], i % 2 == 0 ? file_test::content_b() : file_test::content_a(), true);
}
