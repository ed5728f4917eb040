/* ABI size checks run at compile time via skbtracer_abi.h. */
#include "skbtracer_abi.h"
#include "skbtracer_probes.h"

#define ST_STR_(x) #x
#define ST_STR(x) ST_STR_(x)

static const struct st_probe_row probe_rows[ST_PROBE_COUNT] = {
#define ST_PROBE(ID, name, system, group, kind, dflt, summary)                                    \
	[ST_PROBE_##ID] = { "ST_PROBE_" #ID, #name, #system, group, ST_STR(ST_PROBE_PROGRAM(name)), \
			    summary, ST_PROBE_KIND_##kind, dflt },
#include "skbtracer_probes.def"
#undef ST_PROBE
};

const struct st_probe_row *st_probe_lookup(unsigned int id)
{
	return id < ST_PROBE_COUNT ? &probe_rows[id] : 0;
}
