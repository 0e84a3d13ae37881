/* SPDX-License-Identifier: BSD-2-Clause */
/* One logger for every bpfsplit program: one event per line, key=value fields,
 * levels raised by -v; libbpf's own messages are routed through it. */
#ifndef BS_LOG_H
#define BS_LOG_H

enum bs_log_level { BS_LOG_ERROR = 0, BS_LOG_WARN = 1, BS_LOG_INFO = 2, BS_LOG_DEBUG = 3 };

void bs_log_set_level(enum bs_log_level level);
enum bs_log_level bs_log_get_level(void);
/* Route libbpf's output through bs_log (warnings as warn, the rest as debug). */
void bs_log_capture_libbpf(void);

/* fmt holds the key=value fields after "level=... msg=..." is written. */
void bs_log(enum bs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define bs_err(...) bs_log(BS_LOG_ERROR, __VA_ARGS__)
#define bs_warn(...) bs_log(BS_LOG_WARN, __VA_ARGS__)
#define bs_info(...) bs_log(BS_LOG_INFO, __VA_ARGS__)
#define bs_debug(...) bs_log(BS_LOG_DEBUG, __VA_ARGS__)

#endif
