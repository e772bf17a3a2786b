// Points in time for the before/after constraint operators, as microseconds since the Unix
// epoch (1970-01-01T00:00:00Z). Parsing never allocates.
#pragma once

#include <cstdint>
#include <string_view>

namespace rollout {

// Parses an RFC 3339 / ISO 8601 date-time in extended format:
//   YYYY-MM-DD                       midnight UTC
//   YYYY-MM-DDThh:mm[:ss[.fraction]][offset]
// where the separator is 'T', 't' or one space (as PostgreSQL prints timestamptz), the
// fraction has any number of digits (read to the microsecond, further digits truncated), and
// the offset is 'Z', 'z', +hh, +hhmm or +hh:mm (or '-'); no offset means UTC. Years are
// 0000-9999; the date must exist (leap years included); seconds may be 60 (a leap second,
// counted as the first second of the next minute). Returns false when `text` is anything else.
bool parse_timestamp(std::string_view text, int64_t* micros) noexcept;

// Unix epoch seconds (fractions allowed) as microseconds, rounded to the nearest. Returns false
// for a non-finite number or one beyond the years 0000-9999.
bool epoch_seconds_to_micros(double seconds, int64_t* micros) noexcept;

}  // namespace rollout
