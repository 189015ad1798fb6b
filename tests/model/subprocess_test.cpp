// RunInChildren (model/util/subprocess.h): results in item order whatever the completion order,
// exceptions and crashes of a child reported as that item's error, the same results in one
// process (jobs == 1), and the parent's memory untouched by the children.
#include "model/util/subprocess.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "model/util/error.h"

namespace convscale {
namespace {

// Item i returns i * i as text after sleeping longer for earlier items (so they finish last);
// item 3 throws InputError, item 4 RuntimeError.
std::string Work(size_t i) {
  ::usleep(static_cast<useconds_t>((6 - i) * 20000));
  if (i == 3) throw InputError("item 3: bad input");
  if (i == 4) throw RuntimeError("item 4: failed");
  return std::to_string(i * i);
}

void ExpectResults(const std::vector<ChildResult>& r) {
  ASSERT_EQ(r.size(), 6u);
  for (size_t i : {0, 1, 2, 5}) {
    EXPECT_TRUE(r[i].ok) << i << ": " << r[i].error;
    EXPECT_EQ(r[i].data, std::to_string(i * i));
  }
  EXPECT_FALSE(r[3].ok);
  EXPECT_TRUE(r[3].input_error);
  EXPECT_EQ(r[3].error, "item 3: bad input");
  EXPECT_FALSE(r[4].ok);
  EXPECT_FALSE(r[4].input_error);
  EXPECT_EQ(r[4].error, "item 4: failed");
}

TEST(RunInChildren, ResultsInItemOrderWithErrors) {
  ExpectResults(RunInChildren(6, 3, Work));
}

TEST(RunInChildren, OneJobRunsInThisProcessWithTheSameResults) {
  ExpectResults(RunInChildren(6, 1, Work));
}

TEST(RunInChildren, ChildrenDoNotChangeTheParent) {
  int touched = 0;
  const auto r = RunInChildren(2, 2, [&](size_t i) {
    touched = 1;
    return std::to_string(i);
  });
  EXPECT_EQ(touched, 0);
  EXPECT_EQ(r[1].data, "1");
}

TEST(RunInChildren, ACrashIsThatItemsError) {
  const auto r = RunInChildren(2, 2, [](size_t i) -> std::string {
    if (i == 1) std::abort();
    return "fine";
  });
  EXPECT_TRUE(r[0].ok);
  EXPECT_EQ(r[0].data, "fine");
  EXPECT_FALSE(r[1].ok);
  EXPECT_EQ(r[1].error, "the child process was killed by signal 6 (Aborted)");
}

TEST(AvailableCpus, AtLeastOne) {
  EXPECT_GE(AvailableCpus(), 1);
}

}  // namespace
}  // namespace convscale
