#include "core/text_fold.h"

#include <climits>
#include <new>
#include <utility>

#include <unicode/casemap.h>
#include <unicode/stringoptions.h>
#include <unicode/utypes.h>

namespace rollout {
namespace {

// Folds `text` into dest[0, capacity). Returns the folded length, which may exceed `capacity`
// (then nothing usable was written), or -1 on an ICU error other than "buffer too small".
int32_t fold_into(std::string_view text, char* dest, int32_t capacity) noexcept {
  UErrorCode status = U_ZERO_ERROR;
  int32_t length = icu::CaseMap::utf8Fold(U_FOLD_CASE_DEFAULT, text.data(), static_cast<int32_t>(text.size()), dest,
                                          capacity, nullptr, status);
  if (status == U_BUFFER_OVERFLOW_ERROR) return length;
  return U_FAILURE(status) ? -1 : length;
}

}  // namespace

bool fold_case(std::string_view text, std::string* out) {
  if (text.size() > INT32_MAX / 4) return false;
  // Full folding grows UTF-8 text by at most a factor of 3 (U+0390, two bytes, folds to three
  // two-byte code points), so the first pass fits; the second is a guard.
  std::string folded(text.size() * 3, '\0');
  int32_t length = fold_into(text, folded.data(), static_cast<int32_t>(folded.size()));
  if (length > static_cast<int32_t>(folded.size())) {
    folded.resize(static_cast<size_t>(length));
    length = fold_into(text, folded.data(), length);
  }
  if (length < 0 || static_cast<size_t>(length) > folded.size()) return false;
  folded.resize(static_cast<size_t>(length));
  *out = std::move(folded);
  return true;
}

FoldedText::FoldedText(std::string_view text) noexcept {
  if (text.size() > INT32_MAX / 4) return;
  int32_t length = fold_into(text, inline_, static_cast<int32_t>(kInline));
  if (length < 0) return;
  if (static_cast<size_t>(length) <= kInline) {
    view_ = std::string_view(inline_, static_cast<size_t>(length));
    ok_ = true;
    return;
  }
  try {
    spill_.resize(static_cast<size_t>(length));
  } catch (const std::bad_alloc&) {
    return;
  }
  int32_t again = fold_into(text, spill_.data(), length);
  if (again != length) return;
  view_ = spill_;
  ok_ = true;
}

}  // namespace rollout
