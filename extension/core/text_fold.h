// Unicode case folding of UTF-8 text, for case-insensitive constraints.
//
// Full case folding with ICU's default mapping (Unicode CaseFolding.txt, status C and F): two
// texts are equal ignoring case when their foldings are equal, so "STRASSE" matches "straße",
// "ΣΊΣΥΦΟΣ" matches "σίσυφος" and "İ" matches "i̇". No normalization: a precomposed "é" and
// "e" + U+0301 stay different. Ill-formed UTF-8 sequences are kept as they are.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rollout {

// The folding of `text`, for compiling values. Returns false only when ICU reports an error.
// May throw std::bad_alloc.
bool fold_case(std::string_view text, std::string* out);

// The folding of one attribute at match time: held in an inline buffer when it fits, so the
// common short attribute costs no allocation.
class FoldedText {
 public:
  explicit FoldedText(std::string_view text) noexcept;
  FoldedText(const FoldedText&) = delete;
  FoldedText& operator=(const FoldedText&) = delete;

  // False when the text could not be folded (an ICU error or no memory); view() is then empty.
  bool ok() const noexcept { return ok_; }
  std::string_view view() const noexcept { return view_; }

 private:
  static constexpr size_t kInline = 256;
  char inline_[kInline];
  std::string spill_;
  std::string_view view_;
  bool ok_ = false;
};

}  // namespace rollout
