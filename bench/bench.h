/* bench.h - `make bench`: every figure is printed and recorded in bench.json as
 * {name, value, unit, yardstick, yardstick_value, ratio}. Sections are functions
 * bench_<what>(void) in bench/bench_<what>.c, called from bench/main.c. */
#ifndef VIDGEN_BENCH_H
#define VIDGEN_BENCH_H
/* Record one figure; yardstick may be NULL (then yard_value is ignored). */
void bench_record(const char *name, double value, const char *unit, const char *yardstick, double yard_value);
double bench_now(void); /* monotonic seconds */
/* Best-of-reps timing helper: runs fn(ctx) reps times, returns the fastest seconds. */
double bench_time(void (*fn)(void *), void *ctx, int reps);
/* OpenMP threads for the vidgen calls that follow. */
void bench_set_threads(int t);
/* Records the 1-minute load average as a figure and warns when it exceeds the cores. */
void bench_note_load(const char *section);
#endif
