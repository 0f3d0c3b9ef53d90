/* Fault injection: move this process's wall clock from outside, without root.
 *
 * Built by tests/faults/test_clock_jump.py and loaded with LD_PRELOAD. It interposes
 * clock_gettime (CLOCK_REALTIME and CLOCK_REALTIME_COARSE only; the monotonic clocks are
 * left alone, as a real step of the system clock leaves them), gettimeofday and time, and
 * adds an offset in nanoseconds to what the C library returns. The offset is a native
 * int64 at the start of the file named by STATION_FAULT_CLOCK_FILE, mapped once (shared)
 * and read on every call, so the test changes the clock of the running process by
 * writing 8 bytes to that file. No file, or a file shorter than 8 bytes: offset 0.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* struct timeval as the kernel and the C library lay it out on LP64 Linux; <sys/time.h> is
 * not included so that our gettimeofday needs to agree with no header's prototype. */
struct shim_timeval {
    long tv_sec;
    long tv_usec;
};

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct shim_timeval *, void *);
typedef time_t (*time_fn)(time_t *);

static clock_gettime_fn real_clock_gettime;
static gettimeofday_fn real_gettimeofday;
static time_fn real_time;
static volatile int64_t *offset_ns;  /* NULL until mapped (or when there is no file) */
static int mapped;                   /* 1 once the file was looked at */

static void shim_init(void) {
    if (!real_clock_gettime)
        real_clock_gettime = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
    if (!real_gettimeofday)
        real_gettimeofday = (gettimeofday_fn)dlsym(RTLD_NEXT, "gettimeofday");
    if (!real_time)
        real_time = (time_fn)dlsym(RTLD_NEXT, "time");
    if (__atomic_load_n(&mapped, __ATOMIC_ACQUIRE))
        return;
    const char *path = getenv("STATION_FAULT_CLOCK_FILE");
    if (path && *path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(int64_t)) {
                void *p = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
                if (p != MAP_FAILED)
                    offset_ns = (volatile int64_t *)p;
            }
            close(fd);
        }
    }
    __atomic_store_n(&mapped, 1, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void shim_load(void) { shim_init(); }

static int64_t shim_offset(void) {
    if (!__atomic_load_n(&mapped, __ATOMIC_ACQUIRE))
        shim_init();
    if (!offset_ns)
        return 0;
    /* the writer stores 8 bytes at once; read until two reads agree in case it did not */
    int64_t a = *offset_ns, b;
    while ((b = *offset_ns) != a)
        a = b;
    return a;
}

int clock_gettime(clockid_t id, struct timespec *tp) {
    if (!real_clock_gettime)
        shim_init();
    int rc = real_clock_gettime(id, tp);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        int64_t off = shim_offset();
        if (off) {
            int64_t ns = (int64_t)tp->tv_nsec + off % 1000000000LL;
            int64_t sec = (int64_t)tp->tv_sec + off / 1000000000LL;
            while (ns < 0) { ns += 1000000000LL; sec -= 1; }
            while (ns >= 1000000000LL) { ns -= 1000000000LL; sec += 1; }
            tp->tv_sec = (time_t)sec;
            tp->tv_nsec = (long)ns;
        }
    }
    return rc;
}

int gettimeofday(struct shim_timeval *tv, void *tz) {
    if (!real_gettimeofday)
        shim_init();
    int rc = real_gettimeofday(tv, tz);
    if (rc == 0 && tv) {
        int64_t off = shim_offset();
        if (off) {
            int64_t us = (int64_t)tv->tv_usec + (off % 1000000000LL) / 1000;
            int64_t sec = (int64_t)tv->tv_sec + off / 1000000000LL;
            while (us < 0) { us += 1000000; sec -= 1; }
            while (us >= 1000000) { us -= 1000000; sec += 1; }
            tv->tv_sec = (long)sec;
            tv->tv_usec = (long)us;
        }
    }
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        if (!real_time)
            shim_init();
        return real_time(out);
    }
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
