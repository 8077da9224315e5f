/*
 * The Date field every response carries (RFC 9110 6.6.1), as an
 * IMF-fixdate.  Formatting a time costs a gmtime_r and a strftime, about
 * a microsecond, so each thread formats it once a second and every
 * response of that second copies the cached text.  The coarse real-time
 * clock is read through the vDSO without a system call; its few
 * milliseconds of resolution do not matter to a field counted in seconds.
 * The names are written here, not by strftime, whose day and month names
 * follow the program's locale.
 */
#define _GNU_SOURCE /* CLOCK_REALTIME_COARSE */
#include <string.h>
#include <time.h>

#include "net/http_conn.h"

static _Thread_local struct {
	time_t sec;
	char text[HTTP_DATE_LEN + 1];
} date_cache;

static char *two_digits(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

const char *http_date_now(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	if (now.tv_sec != date_cache.sec || !date_cache.text[0]) {
		struct tm tm;
		gmtime_r(&now.tv_sec, &tm);
		static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed",
						 "Thu", "Fri", "Sat" };
		static const char months[12][4] = {
			"Jan", "Feb", "Mar", "Apr", "May", "Jun",
			"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
		};
		char *p = date_cache.text;
		memcpy(p, days[tm.tm_wday], 3);
		p = two_digits(memcpy(p + 3, ", ", 2) + 2, tm.tm_mday);
		*p++ = ' ';
		memcpy(p, months[tm.tm_mon], 3);
		p[3] = ' ';
		int year = tm.tm_year + 1900;
		p = two_digits(two_digits(p + 4, year / 100 % 100), year % 100);
		*p++ = ' ';
		p = two_digits(p, tm.tm_hour);
		*p++ = ':';
		p = two_digits(p, tm.tm_min);
		*p++ = ':';
		p = two_digits(p, tm.tm_sec);
		memcpy(p, " GMT", 5);
		date_cache.sec = now.tv_sec;
	}
	return date_cache.text;
}
