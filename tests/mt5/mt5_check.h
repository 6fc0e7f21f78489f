/*
 * mt5_check: pass/fail counting for tests/mt5's programs, native and Windows (Wine), from any
 * thread. CHECK(cond, fmt, ...) counts a pass, or counts a failure and prints
 * "FAIL file:line: message" on stderr.
 */
#ifndef DECP_MT5_CHECK_H
#define DECP_MT5_CHECK_H

#if defined(__GNUC__) && !defined(_WIN32)
__attribute__((format(printf, 4, 5)))
#endif
void mt5_check(int ok, const char *file, int line, const char *fmt, ...);

/* Checks counted so far. */
int mt5_passed(void);
int mt5_failed(void);

#define CHECK(cond, ...) mt5_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#endif
