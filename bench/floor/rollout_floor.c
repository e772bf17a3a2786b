/*
 * The physical limit of pg_rollout's bucketing, for bench/sql_bench.sh: GrowthBook hash v2 of a
 * bigint id (bucket = fnv1a32(decimal(fnv1a32(salt || decimal(id)))) % 10000) and the test for a
 * 30% rollout (bucket <= 3000), with nothing else: no flag lookup, no cache check. The salt's
 * FNV state is computed on the first call and kept in fn_extra, so the salt must not change
 * between the rows of one call site, and it must be ASCII (its bytes are its UTF-16 code units).
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;

#define FNV_OFFSET_BASIS 0x811c9dc5u
#define FNV_PRIME 0x01000193u
#define ROLLOUT_BASIS_POINTS 3000

/* "00" "01" ... "99" */
static const char digit_pairs[201] =
	"0001020304050607080910111213141516171819"
	"2021222324252627282930313233343536373839"
	"4041424344454647484950515253545556575859"
	"6061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/*
 * Writes the decimal digits of the id so that they end at `end`; returns where they start. For
 * ids of a few digits a plain loop measured as fast as a two-digit table.
 */
static inline char *
id_digits_backwards(uint64 v, char *end)
{
	char	   *p = end;

	do
	{
		*--p = (char) ('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return p;
}

/*
 * The same for the inner 32-bit digest, two digits per 32-bit division: on the two serial FNV
 * passes' critical path, this measured fastest (a 64-bit pair loop was slower than both).
 */
static inline char *
digest_digits_backwards(uint32 v, char *end)
{
	char	   *p = end;

	while (v >= 100)
	{
		const uint32 pair = (v % 100) * 2;

		v /= 100;
		*--p = digit_pairs[pair + 1];
		*--p = digit_pairs[pair];
	}
	if (v >= 10)
	{
		*--p = digit_pairs[v * 2 + 1];
		*--p = digit_pairs[v * 2];
	}
	else
		*--p = (char) ('0' + v);
	return p;
}

static inline uint32
fnv_bytes(uint32 h, const char *p, const char *end)
{
	for (; p < end; p++)
		h = (h ^ (unsigned char) *p) * FNV_PRIME;
	return h;
}

PG_FUNCTION_INFO_V1(rollout_floor);

Datum
rollout_floor(PG_FUNCTION_ARGS)
{
	const int64 id = PG_GETARG_INT64(0);
	uint32	   *salted = (uint32 *) fcinfo->flinfo->fn_extra;
	char		buf[24];
	char	   *end = buf + sizeof buf;
	char	   *start;
	uint32		h;

	if (unlikely(salted == NULL))
	{
		text	   *salt = PG_GETARG_TEXT_PP(1);

		salted = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(uint32));
		*salted = fnv_bytes(FNV_OFFSET_BASIS, VARDATA_ANY(salt), VARDATA_ANY(salt) + VARSIZE_ANY_EXHDR(salt));
		fcinfo->flinfo->fn_extra = salted;
	}

	start = id_digits_backwards(id < 0 ? (uint64) 0 - (uint64) id : (uint64) id, end);
	if (id < 0)
		*--start = '-';
	h = fnv_bytes(*salted, start, end);
	start = digest_digits_backwards(h, end);
	h = fnv_bytes(FNV_OFFSET_BASIS, start, end);
	PG_RETURN_BOOL(h % 10000 <= ROLLOUT_BASIS_POINTS);
}
