#include "core/text_fold.h"

#include <gtest/gtest.h>

#include <string>

namespace rollout {
namespace {

std::string folded(std::string_view text) {
  std::string out = "unchanged";
  EXPECT_TRUE(fold_case(text, &out)) << text;
  return out;
}

TEST(TextFold, FoldsAscii) {
  EXPECT_EQ(folded("Hello, WORLD 42"), "hello, world 42");
  EXPECT_EQ(folded(""), "");
}

TEST(TextFold, FoldsBeyondAscii) {
  EXPECT_EQ(folded("ÉCOLE"), "école");
  EXPECT_EQ(folded("STRASSE"), folded("straße"));   // ß folds to "ss"
  EXPECT_EQ(folded("ẞ"), "ss");                     // capital sharp s
  EXPECT_EQ(folded("ΣΊΣΥΦΟΣ"), folded("σίσυφος"));  // final sigma folds like sigma
  EXPECT_EQ(folded("ПРИВЕТ"), "привет");
  EXPECT_EQ(folded("ﬃ"), "ffi");
  EXPECT_EQ(folded("Ａ"), "ａ");  // full-width letters
  EXPECT_EQ(folded("𐐀"), "𐐨");    // Deseret, outside the BMP
}

TEST(TextFold, GrowsUpToThreeTimes) {
  // U+0390 (two bytes) folds to three two-byte code points.
  std::string text;
  for (int i = 0; i < 100; i++) text += "\u0390";
  std::string out = folded(text);
  EXPECT_EQ(out.size(), text.size() * 3);
  EXPECT_EQ(out.substr(0, 6), "\u03b9\u0308\u0301");
}

TEST(TextFold, DoesNotNormalize) {
  EXPECT_NE(folded("\u00e9"), folded("e\u0301"));  // precomposed é vs e + combining acute
}

TEST(TextFold, KeepsIllFormedBytes) {
  EXPECT_EQ(folded("A\xff"
                   "B"),
            "a\xff"
            "b");
}

TEST(FoldedText, ShortTextMatchesFoldCase) {
  FoldedText f("MiXeD Ünïcödé");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.view(), folded("MiXeD Ünïcödé"));
}

TEST(FoldedText, LongTextSpillsAndStillMatches) {
  std::string text;
  for (int i = 0; i < 500; i++) text += "ÄB\u0390";
  FoldedText f(text);
  ASSERT_TRUE(f.ok());
  EXPECT_GT(f.view().size(), 256u);
  EXPECT_EQ(f.view(), folded(text));
}

TEST(FoldedText, FoldedLengthExactlyAtTheInlineLimit) {
  for (size_t n : {255u, 256u, 257u}) {
    FoldedText f(std::string(n, 'Q'));
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f.view(), std::string(n, 'q'));
  }
}

}  // namespace
}  // namespace rollout
