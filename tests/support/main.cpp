// The doctest main shared by grove's test executables.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>

#include <grove/schedule_seed.hpp>

namespace {

// Under GROVE_SCHEDULE_SEED, every test case (and every pass of it for a subcase)
// starts its hub's schedule from the seed again, so a case run alone with -tc replays
// the schedule it had in the whole run (tests/stress/run_seeds.py prints that command).
// The seed is read once: a case that clears or changes it does not change the next.
class ScheduleSeedListener : public doctest::IReporter {
 public:
  explicit ScheduleSeedListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override { seed_ = grove::schedule_seed(); }
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { reseed(); }
  void test_case_reenter(const doctest::TestCaseData&) override { reseed(); }
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}

 private:
  void reseed() {
    if (seed_) grove::set_schedule_seed(*seed_);
  }
  std::optional<std::uint64_t> seed_;
};

}  // namespace

REGISTER_LISTENER("grove-schedule-seed", 1, ScheduleSeedListener);
