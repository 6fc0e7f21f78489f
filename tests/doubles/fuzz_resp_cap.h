/*
 * fuzz_resp_cap.h: what the fuzz targets that feed bytes to hiredis's reader keep out.
 *
 * hiredis 0.14 (Debian 12) allocates an array's element table as soon as it reads the
 * header ("*454607001\r\n": calloc of 3.6 GB for twelve input bytes) and has no limit
 * to set (maxelements came in 1.0). That is hiredis's behaviour, not our parsers', and
 * the servers it reads are the operator's own Redis nodes; so the targets skip an
 * input that announces an array longer than FUZZ_RESP_MAX_ELEMENTS and fuzz the rest.
 * A bulk string is allocated only once all of it has arrived, so it needs no cap.
 * The scan is over all bytes, also inside bulk strings: it skips a little too much,
 * never too little.
 */
#ifndef DECP_FUZZ_RESP_CAP_H
#define DECP_FUZZ_RESP_CAP_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_RESP_MAX_ELEMENTS 4096

/* 1 when some '*' in data is followed by a count above FUZZ_RESP_MAX_ELEMENTS */
static inline int fuzz_resp_too_long(const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t n = 0;

		if (data[i] != '*')
			continue;
		for (size_t j = i + 1; j < len && data[j] >= '0' && data[j] <= '9'; j++) {
			n = n * 10 + (data[j] - '0');
			if (n > FUZZ_RESP_MAX_ELEMENTS)
				return 1;
		}
	}
	return 0;
}

#endif
