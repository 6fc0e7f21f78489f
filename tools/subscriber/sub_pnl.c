/* sub_pnl: simulated positions and realized P&L. Contract in sub_pnl.h. */
#include "sub_pnl.h"

#include <errno.h>
#include <stddef.h>

static struct sub_pnl_pos *find(struct sub_pnl_book *b, uint64_t ticket)
{
	for (size_t i = 0; i < SUB_PNL_MAX; i++)
		if (b->p[i].ticket == ticket)
			return &b->p[i];
	return NULL;
}

int sub_pnl_open(struct sub_pnl_book *b, uint64_t ticket, int side, int64_t volume,
		 int64_t price, int64_t contract)
{
	struct sub_pnl_pos *p;

	if (b == NULL || ticket == 0 || (side != 1 && side != -1) || volume <= 0 || price < 0 ||
	    contract <= 0)
		return -EINVAL;
	p = find(b, ticket);
	if (p != NULL) {
		__int128 w = (__int128)p->price * p->volume + (__int128)price * volume;

		if (p->side != side || p->contract != contract)
			return -EINVAL;
		p->volume += volume;
		p->price = (int64_t)(w / p->volume);
		return 0;
	}
	p = find(b, 0);
	if (p == NULL)
		return -ENOSPC;
	*p = (struct sub_pnl_pos){ticket, side, volume, price, contract};
	return 0;
}

int sub_pnl_close(struct sub_pnl_book *b, uint64_t ticket, int64_t volume, int64_t price,
		  int64_t *profit)
{
	struct sub_pnl_pos *p = b != NULL && ticket != 0 ? find(b, ticket) : NULL;
	__int128 v, q;

	if (p == NULL || profit == NULL)
		return -ENOENT;
	if (volume <= 0 || volume > p->volume)
		volume = p->volume;
	v = (__int128)p->side * ((__int128)price - p->price);
	if (__builtin_mul_overflow(v, (__int128)volume, &v) ||
	    __builtin_mul_overflow(v, (__int128)p->contract, &v))
		return -ERANGE;
	q = v / 1000;
	if (2 * (v % 1000) >= 1000)
		q++;
	else if (2 * (v % 1000) <= -1000)
		q--;
	if (q > INT64_MAX || q < INT64_MIN)
		return -ERANGE;
	*profit = (int64_t)q;
	p->volume -= volume;
	if (p->volume == 0)
		p->ticket = 0;
	return 0;
}
