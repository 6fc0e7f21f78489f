/* cp_fanout_deliv: delivery runs for trust_deliveries. Contract in cp_fanout_deliv.h. */
#include "cp_fanout_deliv.h"

int cp_deliv_sent(struct cp_deliv *d, uint64_t seq, bool live, bool late, int64_t send_ns,
		  int64_t period_ns, struct cp_deliv_run out[2])
{
	struct cp_deliv_run *r = &d->open;
	int n = 0;

	if (r->first != 0 && r->live == live && r->late == late && seq == r->last + 1) {
		r->last = seq;
		if (send_ns > r->last_ns)
			r->last_ns = send_ns; /* a wall clock may step back: the run never shrinks */
		d->dirty = true;
		if (period_ns > 0 && r->last_ns - (d->snap_ns ? d->snap_ns : r->first_ns) >= period_ns &&
		    cp_deliv_take(d, &out[n]))
			n++;
		return n;
	}
	if (r->first != 0 && d->dirty)
		out[n++] = *r;
	*r = (struct cp_deliv_run){seq, seq, send_ns, send_ns, live, late};
	d->snap_ns = 0;
	d->dirty = true;
	return n;
}

bool cp_deliv_take(struct cp_deliv *d, struct cp_deliv_run *out)
{
	if (d->open.first == 0 || !d->dirty)
		return false;
	*out = d->open;
	d->snap_ns = d->open.last_ns;
	d->dirty = false;
	return true;
}
