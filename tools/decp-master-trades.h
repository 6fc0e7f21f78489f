/*
 * Trade files for decp-master: the list of trades every simulated master replays (each
 * master stamps its own master id and sequence numbers).
 *
 * CSV (file name not ending in .jsonl): one trade per line, '#' comments and an optional
 * header line starting with "symbol":
 *     symbol,order_type,volume,price,sl,tp,position_ticket
 *     EURUSD,BUY,0.10,1.08120,1.07900,1.08500,1001
 * JSONL (*.jsonl): one object per line with the same keys; decimals as JSON strings
 * ("volume":"0.10"), integers may be JSON integers (a JSON real is refused: it would pass
 * through binary floating point). sl and tp may be omitted (0 = none):
 *     {"symbol":"EURUSD","order_type":"BUY","volume":"0.10","price":"1.08120",
 *      "sl":"0","tp":"0","position_ticket":1001}
 * order_type: BUY SELL BUY_LIMIT SELL_LIMIT BUY_STOP SELL_STOP CLOSE MODIFY CLOSE_PARTIAL.
 * volume has at most 2 decimals (lots), prices at most 5 (proto_money.h scales).
 */
#ifndef DECP_MASTER_TRADES_H
#define DECP_MASTER_TRADES_H

#include <stddef.h>
#include <stdint.h>

struct dm_trade {
	char symbol[33];
	int order_type;        /* decp.OrderType value */
	int64_t volume;        /* 0.01 lot */
	int64_t price, sl, tp; /* 1e-5 */
	uint64_t ticket;
};

/*
 * Load path into a new array (*out, *n). Returns 0, or -1 after printing
 * "path:line: what is wrong" to stderr (also for an empty file).
 */
int dm_trades_load(const char *path, struct dm_trade **out, size_t *n);

/* Synthetic trade number i (deterministic: BUY/SELL/MODIFY/CLOSE cycle on 6 symbols). */
void dm_trade_synthetic(uint64_t i, struct dm_trade *t);

#endif
