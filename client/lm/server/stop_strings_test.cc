// OpenAI's `stop`: the reply ends before the first stop string, and what streams out never
// holds a piece of one.

#include "client/lm/server/stop_strings.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ferry::lm::server {
namespace {

TEST(StopStringsTest, TheTextEndsBeforeTheFirstStopString) {
  StopStrings stops({"\n\n", "END"});
  std::string sent;
  for (const char* piece : {"Hello", " wor", "ld", "\n", "\nmore"}) sent += stops.Add(piece);
  EXPECT_TRUE(stops.stopped());
  EXPECT_EQ(sent, "Hello world");
  EXPECT_EQ(stops.Add("after"), "");
  EXPECT_EQ(stops.Finish(), "");
}

TEST(StopStringsTest, AnEndThatMayBeginAStopStringWaits) {
  StopStrings stops({"</answer>"});
  EXPECT_EQ(stops.Add("42 </ans"), "42 ");
  EXPECT_EQ(stops.Add("wer is"), "</answer is");  // not the stop string after all
  EXPECT_EQ(stops.Add(" <"), " ");
  EXPECT_EQ(stops.Finish(), "<");  // the reply ended without it: nothing is lost
  EXPECT_FALSE(stops.stopped());
}

TEST(StopStringsTest, TheEarliestOfSeveralWins) {
  StopStrings stops({"b", "abc"});
  EXPECT_EQ(stops.Add("xxabc"), "xx");  // "abc" starts before "b"
  EXPECT_TRUE(stops.stopped());
}

TEST(StopStringsTest, MultiByteCharactersAreNeverSplit) {
  StopStrings stops({"é!"});
  EXPECT_EQ(stops.Add("caf\xC3\xA9"), "caf");  // é may begin "é!"
  EXPECT_EQ(stops.Add("?"), "\xC3\xA9?");
}

TEST(StopStringsTest, NoStopStringsSendsEverythingAtOnce) {
  StopStrings stops({"", ""});
  EXPECT_EQ(stops.Add("abc"), "abc");
  EXPECT_EQ(stops.Finish(), "");
}

}  // namespace
}  // namespace ferry::lm::server
