// A canary for the machine's own stalls, as cyclictest is: a real-time thread (SCHED_FIFO) held
// to one CPU wakes every PERIOD_US on an absolute CLOCK_MONOTONIC deadline and notes how late it
// woke. Nothing in the guest that runs as an ordinary process can keep it waiting, so a late
// wake-up is time the CPU did not run it: the hypervisor running something else on that virtual
// CPU, or waking it from idle late, or the kernel with interrupts or preemption off. It sees a
// stall only when one of its deadlines falls in it.
//
//   canary CPU PERIOD_US THRESHOLD_US MAX_S
//
// Runs until SIGTERM or SIGINT, MAX_S seconds, or the end of the process that started it. stdout: "ready" once it runs as a real-time
// thread, one line per wake-up later than THRESHOLD_US, "DEADLINE_NS LATE_NS", then one JSON line
// of counts: wake-ups, and how many were
// late by less than 20, 50, 100, 200 and 500 us, 1 and 5 ms, and by more. Exits 2 on bad
// arguments, 3 when it may not run as a real-time thread on that CPU (it needs CAP_SYS_NICE).
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int signal) {
  (void)signal;
  stop = 1;
}

static uint64_t ns(struct timespec t) {
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static long number(const char *text, const char *what, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
    fprintf(stderr, "canary: %s must be a whole number from %ld to %ld, got \"%s\"\n", what, min, max, text);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: canary CPU PERIOD_US THRESHOLD_US MAX_S\n");
    return 2;
  }
  int cpu = (int)number(argv[1], "CPU", 0, CPU_SETSIZE - 1);
  uint64_t period = (uint64_t)number(argv[2], "PERIOD_US", 50, 1000000) * 1000;
  uint64_t threshold = (uint64_t)number(argv[3], "THRESHOLD_US", 1, 1000000) * 1000;
  uint64_t max = (uint64_t)number(argv[4], "MAX_S", 1, 86400) * 1000000000ull;

  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    fprintf(stderr, "canary: cannot run on CPU %d: %s\n", cpu, strerror(errno));
    return 3;
  }
  struct sched_param param = {.sched_priority = 80};
  if (sched_setscheduler(0, SCHED_FIFO, &param) != 0) {
    fprintf(stderr, "canary: cannot run as a real-time thread (SCHED_FIFO): %s\n", strerror(errno));
    return 3;
  }
  // No SA_RESTART: a signal ends the sleep it comes in. Set before "ready", so that a stop sent
  // once it is ready always ends it with its counts.
  struct sigaction action = {.sa_handler = on_signal};
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  // It stops with the process that started it, rather than at MAX_S.
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) stop = 1;
  printf("ready\n");
  fflush(stdout);

  static const uint64_t BOUNDS[] = {20000, 50000, 100000, 200000, 500000, 1000000, 5000000};
  uint64_t counts[8] = {0};
  uint64_t wakes = 0;
  struct timespec next, now;
  clock_gettime(CLOCK_MONOTONIC, &next);
  uint64_t end = ns(next) + max;
  while (!stop) {
    next.tv_nsec += (long)period;
    while (next.tv_nsec >= 1000000000) {
      next.tv_nsec -= 1000000000;
      next.tv_sec++;
    }
    if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0) continue;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t late = ns(now) > ns(next) ? ns(now) - ns(next) : 0;
    wakes++;
    int bucket = 0;
    while (bucket < 7 && late >= BOUNDS[bucket]) bucket++;
    counts[bucket]++;
    if (late > threshold) printf("%llu %llu\n", (unsigned long long)ns(next), (unsigned long long)late);
    // A stall longer than a period skips the deadlines it covered rather than waking for each.
    if (late > period) next = now;
    if (ns(now) >= end) break;
  }
  printf("{\"cpu\":%d,\"periodUs\":%llu,\"wakes\":%llu,\"lateUs\":{", cpu, (unsigned long long)(period / 1000),
         (unsigned long long)wakes);
  static const char *NAMES[] = {"<20", "<50", "<100", "<200", "<500", "<1000", "<5000", ">=5000"};
  for (int i = 0; i < 8; i++) printf("%s\"%s\":%llu", i ? "," : "", NAMES[i], (unsigned long long)counts[i]);
  printf("}}\n");
  return 0;
}
